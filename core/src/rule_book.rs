//! The rules the proxy runs: those from the config file (read-only here) and those added
//! through the admin API, compiled into the live [`Hooks`] after every change.
//!
//! API rules live in memory for now; the state log on the clusters (DESIGN.md §6) is what
//! will make them durable and shared between instances.

use crate::hooks::{Hooks, Matcher};
use kafkatwin_builtin_transforms::{CompiledRule, Rule};
use kafkatwin_config::TopicRules;
use kafkatwin_web::{ApiError, RuleView};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// Config rules, API rules, and the hooks compiled from both.
pub struct RuleBook {
    yaml: Vec<TopicRules>,
    api: Mutex<BTreeMap<String, Vec<Rule>>>,
    live: RwLock<Arc<Hooks>>,
}

impl RuleBook {
    /// The book for the config's `transformations` (already validated by the caller).
    pub fn new(yaml: Vec<TopicRules>, hooks: Hooks) -> Self {
        Self {
            yaml,
            api: Mutex::default(),
            live: RwLock::new(Arc::new(hooks)),
        }
    }

    /// The hooks in force now.
    pub fn hooks(&self) -> Arc<Hooks> {
        self.live
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn yaml_rules(&self, topic: &str) -> Vec<RuleView> {
        self.yaml
            .iter()
            .filter(|e| Matcher::of(e).is_some_and(|m| m.matches(topic)))
            .flat_map(|e| e.rules.iter().cloned())
            .map(|rule| RuleView {
                rule,
                origin: "config".into(),
            })
            .collect()
    }

    /// Every rule that applies to `topic`, with where it comes from.
    pub fn list(&self, topic: &str) -> Result<Vec<RuleView>, ApiError> {
        let mut out = self.yaml_rules(topic);
        if let Ok(api) = self.api.lock()
            && let Some(rules) = api.get(topic)
        {
            out.extend(rules.iter().map(|r| RuleView {
                rule: serde_json::to_value(r).unwrap_or(Value::Null),
                origin: "api".into(),
            }));
        }
        if out.is_empty() {
            return Err(ApiError::not_found(format!("no rules for topic {topic:?}")));
        }
        Ok(out)
    }

    fn parse(raw: Value) -> Result<Rule, ApiError> {
        let rule: Rule = serde_json::from_value(raw)
            .map_err(|e| ApiError::bad_request(None, format!("invalid rule: {e}")))?;
        CompiledRule::compile(rule.clone()).map_err(|errors| {
            let first = errors.first();
            ApiError::bad_request(
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

    /// Adds a rule to `topic`; 400 names the field, 409 on a duplicate id.
    pub fn add(&self, topic: &str, raw: Value) -> Result<RuleView, ApiError> {
        let rule = Self::parse(raw)?;
        let taken = self
            .yaml_rules(topic)
            .iter()
            .any(|v| v.rule.get("id").and_then(Value::as_str) == Some(&rule.id));
        let view = RuleView {
            rule: serde_json::to_value(&rule).unwrap_or(Value::Null),
            origin: "api".into(),
        };
        {
            let mut api = self
                .api
                .lock()
                .map_err(|_| ApiError::internal("rule store poisoned"))?;
            let list = api.entry(topic.to_owned()).or_default();
            if taken || list.iter().any(|r| r.id == rule.id) {
                return Err(ApiError::conflict(format!(
                    "topic {topic:?} already has a rule with id {:?}",
                    rule.id
                )));
            }
            list.push(rule);
        }
        self.rebuild()?;
        Ok(view)
    }

    /// Replaces API rule `id` of `topic` (the body's id must match).
    pub fn replace(&self, topic: &str, id: &str, raw: Value) -> Result<RuleView, ApiError> {
        let rule = Self::parse(raw)?;
        if rule.id != id {
            return Err(ApiError::bad_request(
                Some("id".into()),
                format!("the body's id {:?} differs from the path's {id:?}", rule.id),
            ));
        }
        let view = RuleView {
            rule: serde_json::to_value(&rule).unwrap_or(Value::Null),
            origin: "api".into(),
        };
        {
            let mut api = self
                .api
                .lock()
                .map_err(|_| ApiError::internal("rule store poisoned"))?;
            let slot = api
                .get_mut(topic)
                .and_then(|l| l.iter_mut().find(|r| r.id == id))
                .ok_or_else(|| self.missing(topic, id))?;
            *slot = rule;
        }
        self.rebuild()?;
        Ok(view)
    }

    /// Deletes API rule `id` of `topic`.
    pub fn delete(&self, topic: &str, id: &str) -> Result<(), ApiError> {
        {
            let mut api = self
                .api
                .lock()
                .map_err(|_| ApiError::internal("rule store poisoned"))?;
            let list = api.get_mut(topic).ok_or_else(|| self.missing(topic, id))?;
            let before = list.len();
            list.retain(|r| r.id != id);
            if list.len() == before {
                return Err(self.missing(topic, id));
            }
        }
        self.rebuild()
    }

    fn missing(&self, topic: &str, id: &str) -> ApiError {
        let in_config = self
            .yaml_rules(topic)
            .iter()
            .any(|v| v.rule.get("id").and_then(Value::as_str) == Some(id));
        if in_config {
            ApiError::conflict(format!(
                "rule {id:?} of topic {topic:?} comes from the config file; change it there"
            ))
        } else {
            ApiError::not_found(format!("topic {topic:?} has no rule {id:?}"))
        }
    }

    fn rebuild(&self) -> Result<(), ApiError> {
        let mut entries = self.yaml.clone();
        if let Ok(api) = self.api.lock() {
            for (topic, rules) in api.iter() {
                entries.push(TopicRules {
                    topic: Some(topic.clone()),
                    pattern: None,
                    rules: rules
                        .iter()
                        .filter_map(|r| serde_json::to_value(r).ok())
                        .collect(),
                });
            }
        }
        let hooks = Hooks::build(&entries).map_err(|p| {
            ApiError::internal(format!(
                "rules no longer compile: {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        if let Ok(mut live) = self.live.write() {
            *live = Arc::new(hooks);
        }
        Ok(())
    }
}
