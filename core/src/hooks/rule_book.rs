//! The rules the proxy runs: those from the config file (read-only here) and those added
//! through the admin API, compiled into the live [`Hooks`] after every change.
//!
//! API changes are appended to the state log (the `__kafkatwin_state` topic) before they take
//! effect, and every instance applies what it reads from the log: rules survive restarts and
//! reach every instance. Without a log (unit tests) they live in memory.

use crate::base::change_error::ChangeError;
use crate::base::origin::Origin;
use crate::base::sync::{lock, read, write};
use crate::control::control_log::Keeping;
use crate::hooks::{Hooks, Matcher};
use bytes::Bytes;
use kafkatwin_builtin_transforms::Rule;
use kafkatwin_config::TopicRules;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// State-log key prefix for a topic's API rules.
use crate::control::keys::Key;

/// The control-log key of `topic`'s API rules.
fn rules_key(topic: &str) -> String {
    Key::Rules {
        topic: topic.to_owned(),
    }
    .to_string()
}

/// A rule as listed: in the documented shape, with where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRule {
    /// The rule, validated.
    pub rule: Rule,
    /// The config file or the admin API.
    pub origin: Origin,
}

/// Config rules, API rules, and the hooks compiled from both.
pub struct RuleBook {
    yaml: Vec<TopicRules>,
    /// API rules per topic, validated.
    api: Mutex<BTreeMap<String, Vec<Rule>>>,
    live: RwLock<Arc<Hooks>>,
    log: Keeping,
    /// Log offset of the entry last applied per key: the tail may replay entries older than a
    /// change this instance already applied, and those must not undo it.
    applied: Mutex<BTreeMap<String, i64>>,
    /// Held from reading a topic's rules to storing the changed list, so two changes on this
    /// instance never both start from the same rules (one would undo the other).
    changing: tokio::sync::Mutex<()>,
}

impl RuleBook {
    /// The book for the config's `transformations` (already validated by the caller).
    pub fn new(yaml: Vec<TopicRules>, hooks: Hooks, log: Keeping) -> Self {
        Self {
            yaml,
            api: Mutex::default(),
            live: RwLock::new(Arc::new(hooks)),
            log,
            applied: Mutex::default(),
            changing: tokio::sync::Mutex::default(),
        }
    }

    /// Applies an entry read from the state log at `offset` (any instance's change, or our
    /// own); entries older than one already applied for the key are ignored. `None` applies
    /// unconditionally (no log).
    pub fn apply_logged(&self, key: &str, value: Option<Bytes>, offset: Option<i64>) {
        let Some(Key::Rules { topic }) = Key::parse(key) else {
            return;
        };
        if let Some(offset) = offset {
            let mut applied = lock(&self.applied);
            let last = applied.entry(key.to_owned()).or_insert(-1);
            if offset <= *last {
                return;
            }
            *last = offset;
        }
        let rules: Vec<Value> = match value.as_deref().map(serde_json::from_slice::<Vec<Value>>) {
            None => Vec::new(),
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                tracing::warn!("state log entry {key:?} is not a rule list, ignored: {e}");
                return;
            }
        };
        // Entries were validated before they were written; a rule that no longer compiles
        // (an older or newer version wrote it) is left out rather than breaking the rest.
        let rules: Vec<Rule> = rules
            .into_iter()
            .filter_map(|r| Self::parse(r).ok())
            .collect();
        if rules.is_empty() {
            lock(&self.api).remove(&topic);
        } else {
            lock(&self.api).insert(topic.to_owned(), rules);
        }
        if let Err(e) = self.rebuild() {
            tracing::warn!("applying state log entry {key:?}: {e}");
        }
    }

    fn api_rules(&self, topic: &str) -> Vec<Rule> {
        lock(&self.api).get(topic).cloned().unwrap_or_default()
    }

    /// Makes `rules` the API rules of `topic`: through the state log when there is one, so
    /// the change is durable and every instance applies it.
    async fn commit(&self, topic: &str, rules: Vec<Rule>) -> Result<(), ChangeError> {
        let value = serde_json::to_vec(&rules).map_err(|e| ChangeError::internal(e.to_string()))?;
        let key = rules_key(topic);
        let v = (!rules.is_empty()).then_some(value.as_slice());
        let offset = self
            .log
            .store(&key, v, format!("the rules of topic {topic}"))
            .await?;
        self.apply_logged(&key, Some(Bytes::from(value)), offset);
        Ok(())
    }

    /// The state-log offset of `topic`'s last applied API rule change (its version).
    pub fn version(&self, topic: &str) -> Option<i64> {
        let applied = lock(&self.applied);
        applied.get(&rules_key(topic)).copied()
    }

    /// The hooks in force now.
    pub fn hooks(&self) -> Arc<Hooks> {
        read(&self.live).clone()
    }

    fn yaml_rules(&self, topic: &str) -> Vec<ListedRule> {
        self.yaml
            .iter()
            .filter(|e| Matcher::of(e).is_some_and(|m| m.matches(topic)))
            .flat_map(|e| e.rules.iter().cloned())
            .map(|rule| ListedRule {
                rule,
                origin: Origin::Config,
            })
            .collect()
    }

    /// Every rule that applies to `topic`, with where it comes from.
    pub fn list(&self, topic: &str) -> Result<Vec<ListedRule>, ChangeError> {
        let mut out = self.yaml_rules(topic);
        if let Some(rules) = lock(&self.api).get(topic) {
            out.extend(rules.iter().map(|r| ListedRule {
                rule: r.clone(),
                origin: Origin::Api,
            }));
        }
        if out.is_empty() {
            return Err(ChangeError::not_found(format!(
                "no rules for topic {topic:?}"
            )));
        }
        Ok(out)
    }

    /// Reads and validates a rule (built-in actions or a wasm binding) as the admin API or
    /// the control log gives it: the one place a rule is parsed after the config loads.
    fn parse(raw: Value) -> Result<Rule, ChangeError> {
        let rule: Rule = serde_json::from_value(raw)
            .map_err(|e| ChangeError::bad_request(None, format!("invalid rule: {e}")))?;
        kafkatwin_builtin_transforms::validate(rule.clone()).map_err(|errors| {
            let first = errors.first();
            ChangeError::bad_request(
                first.map(|e| e.field.clone()),
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Ok(rule)
    }

    /// Starts a change of `topic`'s rules: 412 when `expected` (the version the admin read,
    /// from `If-Match`) is no longer the current one. Hold the guard until it is stored.
    async fn begin(
        &self,
        topic: &str,
        expected: Option<i64>,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, ChangeError> {
        let guard = self.changing.lock().await;
        crate::base::change_error::check_version(
            &format!("the rules of topic {topic:?}"),
            expected,
            self.version(topic),
        )?;
        Ok(guard)
    }

    /// Adds a rule to `topic`; 400 names the field, 409 on a duplicate id, 412 when
    /// `expected` is stale.
    pub async fn add(
        &self,
        topic: &str,
        raw: Value,
        expected: Option<i64>,
    ) -> Result<ListedRule, ChangeError> {
        let rule = Self::parse(raw)?;
        let _changing = self.begin(topic, expected).await?;
        let taken = self.yaml_rules(topic).iter().any(|v| v.rule.id == rule.id);
        let mut rules = self.api_rules(topic);
        if taken || rules.iter().any(|r| r.id == rule.id) {
            return Err(ChangeError::conflict(format!(
                "topic {topic:?} already has a rule with id {:?}",
                rule.id
            )));
        }
        let view = ListedRule {
            rule: rule.clone(),
            origin: Origin::Api,
        };
        rules.push(rule);
        self.commit(topic, rules).await?;
        Ok(view)
    }

    /// Replaces API rule `id` of `topic` (the body's id must match).
    pub async fn replace(
        &self,
        topic: &str,
        id: &str,
        raw: Value,
        expected: Option<i64>,
    ) -> Result<ListedRule, ChangeError> {
        let rule = Self::parse(raw)?;
        if rule.id != id {
            return Err(ChangeError::bad_request(
                Some("id".into()),
                format!("the body's id {:?} differs from the path's {id:?}", rule.id),
            ));
        }
        let view = ListedRule {
            rule: rule.clone(),
            origin: Origin::Api,
        };
        let _changing = self.begin(topic, expected).await?;
        let mut rules = self.api_rules(topic);
        let slot = rules
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(|| self.missing(topic, id))?;
        *slot = rule;
        self.commit(topic, rules).await?;
        Ok(view)
    }

    /// Deletes API rule `id` of `topic`.
    pub async fn delete(
        &self,
        topic: &str,
        id: &str,
        expected: Option<i64>,
    ) -> Result<(), ChangeError> {
        let _changing = self.begin(topic, expected).await?;
        let mut rules = self.api_rules(topic);
        let before = rules.len();
        rules.retain(|r| r.id != id);
        if rules.len() == before {
            return Err(self.missing(topic, id));
        }
        self.commit(topic, rules).await
    }

    fn missing(&self, topic: &str, id: &str) -> ChangeError {
        let in_config = self.yaml_rules(topic).iter().any(|v| v.rule.id == id);
        if in_config {
            ChangeError::conflict(format!(
                "rule {id:?} of topic {topic:?} comes from the config file; change it there"
            ))
        } else {
            ChangeError::not_found(format!("topic {topic:?} has no rule {id:?}"))
        }
    }

    fn rebuild(&self) -> Result<(), ChangeError> {
        let mut entries = self.yaml.clone();
        for (topic, rules) in lock(&self.api).iter() {
            entries.push(TopicRules {
                topic: Some(topic.clone()),
                pattern: None,
                rules: rules.clone(),
            });
        }
        let hooks = Hooks::build(&entries).map_err(|p| {
            ChangeError::internal(format!(
                "rules no longer compile: {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        *write(&self.live) = Arc::new(hooks);
        Ok(())
    }
}
