//! Compiled rules and rule chains: paths and regexes compiled once, applied per record.

use crate::path::FieldPath;
use crate::rule::{
    Action, Condition, Hook, MaskMode, OnError, OnInvalid, Rule, RuleError, SchemaFormat,
    SchemaPart,
};
use kafkatwin_plugin_sdk::{BatchContext, FetchHook, ProduceHook, RecordView, RejectCode, Verdict};
use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Instant;

/// A record as rules see it: the plugin API's owned record. The value is parsed as JSON only
/// when some rule needs fields.
pub type RecordData = kafkatwin_plugin_sdk::OwnedRecord;

enum Cond {
    Exists(FieldPath),
    Equals(FieldPath, Value),
    Matches(FieldPath, Regex),
    HeaderExists(String),
    HeaderEquals(String, String),
    KeyMatches(Regex),
    AnyOf(Vec<Cond>),
}

enum Act {
    Set(FieldPath, Value),
    Remove(FieldPath),
    Rename(FieldPath, String),
    Mask(FieldPath, MaskMode, usize, String),
    SetHeader(String, String),
    Upper(FieldPath),
    Lower(FieldPath),
}

/// A validated rule, ready to run.
pub struct CompiledRule {
    /// The rule as written.
    pub rule: Rule,
    conds: Vec<Cond>,
    acts: Vec<Act>,
    needs_value: bool,
}

/// What running a chain on one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Rules whose actions ran.
    pub applied: u32,
    /// Rules skipped (conditions false, or value not JSON with `on_invalid: skip`).
    pub skipped: u32,
    /// Whether the record changed.
    pub changed: bool,
}

/// One rule's outcomes over many records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Records the rule applied to.
    pub applied: u64,
    /// Records its conditions (or a non-JSON value) passed over.
    pub skipped: u64,
    /// Records it rejected.
    pub rejected: u64,
    /// Time spent in its conditions and actions, nanoseconds.
    pub nanos: u64,
}

/// Per-rule outcome counts over many records, by rule position (see
/// [`RuleChain::rule_ids`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(pub Vec<RuleCounts>);

/// A record the chain refuses, naming the rule and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?} rejected the record: {reason}")]
pub struct Rejected {
    /// Rule id.
    pub rule: String,
    /// Why.
    pub reason: String,
}

/// A rule that runs an uploaded WASM plugin (its only action is `wasm`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRule {
    /// The rule's id.
    pub rule_id: String,
    /// Disabled rules are kept but never run.
    pub enabled: bool,
    /// The plugin's name.
    pub plugin: String,
    /// `init` settings as string pairs (non-string JSON values are written as JSON).
    pub config: Vec<(String, String)>,
    /// Failure policy.
    pub on_error: OnError,
    /// Where it runs.
    pub hook: Hook,
}

/// A rule that checks records against the schema registry (its only action is
/// `validate_schema`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRule {
    /// The rule's id.
    pub rule_id: String,
    /// Disabled rules are kept but never run.
    pub enabled: bool,
    /// The subject, when not the topic-name strategy's.
    pub subject: Option<String>,
    /// Which part of the record.
    pub part: SchemaPart,
    /// How the record carries its schema.
    pub format: SchemaFormat,
}

impl SchemaRule {
    /// The subject checked for records of `topic`.
    pub fn subject_for(&self, topic: &str) -> String {
        self.subject
            .clone()
            .unwrap_or_else(|| format!("{topic}-{}", self.part.label()))
    }
}

/// A validated rule: built-in actions compiled for the engine, a plugin call, or a schema
/// check.
pub enum Validated {
    /// Built-in conditions and actions.
    Builtin(CompiledRule),
    /// A WASM plugin binding.
    Plugin(PluginRule),
    /// A schema check.
    Schema(SchemaRule),
}

/// Validates a rule whose action is `validate_schema` (at `at`).
fn validate_schema_rule(rule: &Rule, at: usize) -> Result<Validated, Vec<RuleError>> {
    let mut errors = sole_action_checks(
        rule,
        "validate_schema",
        "a validate_schema rule takes no conditions (every record is checked)",
    );
    let err = |field: &str, message: &str| RuleError {
        rule: rule.id.clone(),
        field: field.into(),
        message: message.into(),
    };
    if rule.hook != Hook::Produce {
        errors.push(err("hook", "validate_schema runs on_produce only"));
    }
    let Action::ValidateSchema {
        subject,
        part,
        format,
    } = &rule.actions[at]
    else {
        unreachable!("position found a validate_schema action");
    };
    if subject.as_deref().is_some_and(|s| s.trim().is_empty()) {
        errors.push(err(
            &format!("actions[{at}].subject"),
            "must not be empty (leave it out for <topic>-value / <topic>-key)",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Validated::Schema(SchemaRule {
        rule_id: rule.id.clone(),
        enabled: rule.enabled,
        subject: subject.clone(),
        part: *part,
        format: *format,
    }))
}

/// Validates a rule of either kind, by the same checks; every problem names the rule id and
/// the field.
pub fn validate(rule: Rule) -> Result<Validated, Vec<RuleError>> {
    if let Some(at) = rule
        .actions
        .iter()
        .position(|a| matches!(a, Action::ValidateSchema { .. }))
    {
        return validate_schema_rule(&rule, at);
    }
    let Some(at) = rule
        .actions
        .iter()
        .position(|a| matches!(a, Action::Wasm { .. }))
    else {
        return CompiledRule::compile(rule).map(Validated::Builtin);
    };
    let mut errors = sole_action_checks(
        &rule,
        "wasm",
        "a wasm rule takes no conditions (the plugin decides per record)",
    );
    let err = |field: &str, message: &str| RuleError {
        rule: rule.id.clone(),
        field: field.into(),
        message: message.into(),
    };
    let Action::Wasm {
        plugin,
        config,
        on_error,
    } = &rule.actions[at]
    else {
        unreachable!("position found a wasm action");
    };
    if plugin.trim().is_empty() {
        errors.push(err(
            &format!("actions[{at}].plugin"),
            "must name an uploaded plugin",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let config = config
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), s.clone()),
            other => (k.clone(), other.to_string()),
        })
        .collect();
    Ok(Validated::Plugin(PluginRule {
        rule_id: rule.id.clone(),
        enabled: rule.enabled,
        plugin: plugin.clone(),
        config,
        on_error: *on_error,
        hook: rule.hook,
    }))
}

/// The checks of a rule whose action must be its only one, with no conditions (`wasm`,
/// `validate_schema`), on top of [`common_checks`].
fn sole_action_checks(rule: &Rule, action: &str, no_conditions: &str) -> Vec<RuleError> {
    let mut errors = common_checks(rule);
    let err = |field: &str, message: String| RuleError {
        rule: rule.id.clone(),
        field: field.into(),
        message,
    };
    if rule.actions.len() != 1 {
        errors.push(err(
            "actions",
            format!("a {action} action must be the rule's only action"),
        ));
    }
    if !rule.conditions.is_empty() {
        errors.push(err("conditions", no_conditions.to_owned()));
    }
    errors
}

/// Checks every rule gets, whatever its actions.
fn common_checks(rule: &Rule) -> Vec<RuleError> {
    let mut errors = Vec::new();
    let err = |field: &str, message: &str| RuleError {
        rule: rule.id.clone(),
        field: field.into(),
        message: message.into(),
    };
    if rule.id.trim().is_empty() {
        errors.push(err("id", "must not be empty"));
    }
    if rule.actions.is_empty() {
        errors.push(err("actions", "at least one action is required"));
    }
    if rule.hook == Hook::Auth {
        errors.push(err(
            "hook",
            "must be on_produce or on_fetch (SASL plugins are bound by auth.plugins)",
        ));
    }
    if rule.hook == Hook::Produce && !rule.clients.is_empty() {
        errors.push(err(
            "clients",
            "only on_fetch rules can be limited to clients",
        ));
    }
    errors
}

impl CompiledRule {
    /// Validates and compiles a rule of built-in actions; every problem names the rule id and
    /// the field. A `wasm` action is refused here: use [`validate`].
    pub fn compile(rule: Rule) -> Result<Self, Vec<RuleError>> {
        let mut errors = common_checks(&rule);
        let err = |field: String, message: String| RuleError {
            rule: rule.id.clone(),
            field,
            message,
        };
        let mut conds = Vec::new();
        for (i, c) in rule.conditions.iter().enumerate() {
            match compile_cond(c, &format!("conditions[{i}]")) {
                Ok(c) => conds.push(c),
                Err((f, m)) => errors.push(err(f, m)),
            }
        }
        let mut acts = Vec::new();
        for (i, a) in rule.actions.iter().enumerate() {
            match compile_act(a, &format!("actions[{i}]")) {
                Ok(a) => acts.push(a),
                Err((f, m)) => errors.push(err(f, m)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let needs_value = conds.iter().any(cond_needs_value)
            || acts.iter().any(|a| !matches!(a, Act::SetHeader(..)));
        Ok(Self {
            rule,
            conds,
            acts,
            needs_value,
        })
    }
}

fn path(text: &str, at: &str) -> Result<FieldPath, (String, String)> {
    FieldPath::compile(text).map_err(|m| (format!("{at}.field"), m))
}

fn regex(pattern: &str, at: &str) -> Result<Regex, (String, String)> {
    Regex::new(pattern).map_err(|e| (format!("{at}.pattern"), format!("invalid regex: {e}")))
}

fn compile_cond(c: &Condition, at: &str) -> Result<Cond, (String, String)> {
    Ok(match c {
        Condition::FieldExists { field } => Cond::Exists(path(field, at)?),
        Condition::FieldEquals { field, value } => Cond::Equals(path(field, at)?, value.clone()),
        Condition::FieldMatches { field, pattern } => {
            Cond::Matches(path(field, at)?, regex(pattern, at)?)
        }
        Condition::HeaderExists { header } => Cond::HeaderExists(header.clone()),
        Condition::HeaderEquals { header, value } => {
            Cond::HeaderEquals(header.clone(), value.clone())
        }
        Condition::KeyMatches { pattern } => Cond::KeyMatches(regex(pattern, at)?),
        Condition::AnyOf { conditions } => {
            if conditions.is_empty() {
                return Err((
                    format!("{at}.conditions"),
                    "any_of needs at least one condition".into(),
                ));
            }
            Cond::AnyOf(
                conditions
                    .iter()
                    .enumerate()
                    .map(|(i, c)| compile_cond(c, &format!("{at}.conditions[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

fn compile_act(a: &Action, at: &str) -> Result<Act, (String, String)> {
    Ok(match a {
        Action::SetField { field, value } => Act::Set(path(field, at)?, value.clone()),
        Action::RemoveField { field } => Act::Remove(path(field, at)?),
        Action::RenameField { field, to } => {
            if to.is_empty() || to.contains('.') {
                return Err((format!("{at}.to"), "must be a plain key (no dots)".into()));
            }
            Act::Rename(path(field, at)?, to.clone())
        }
        Action::MaskField {
            field,
            mode,
            keep_last,
            salt,
        } => {
            let salt = match (mode, salt) {
                (MaskMode::Hash, None) => {
                    return Err((format!("{at}.salt"), "mode hash needs a salt".into()));
                }
                (_, s) => s.clone().unwrap_or_default(),
            };
            Act::Mask(path(field, at)?, *mode, *keep_last, salt)
        }
        Action::SetHeader { field, value } => {
            if field.is_empty() {
                return Err((
                    format!("{at}.field"),
                    "header name must not be empty".into(),
                ));
            }
            Act::SetHeader(field.clone(), value.clone())
        }
        Action::UppercaseField { field } => Act::Upper(path(field, at)?),
        Action::LowercaseField { field } => Act::Lower(path(field, at)?),
        Action::Wasm { .. } => {
            return Err((
                at.to_owned(),
                "a wasm action must be the rule's only action".into(),
            ));
        }
        Action::ValidateSchema { .. } => {
            return Err((
                at.to_owned(),
                "a validate_schema action must be the rule's only action".into(),
            ));
        }
    })
}

fn cond_needs_value(c: &Cond) -> bool {
    match c {
        Cond::Exists(_) | Cond::Equals(..) | Cond::Matches(..) => true,
        Cond::HeaderExists(_) | Cond::HeaderEquals(..) | Cond::KeyMatches(_) => false,
        Cond::AnyOf(cs) => cs.iter().any(cond_needs_value),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn holds(c: &Cond, rec: &RecordData, value: Option<&Value>) -> bool {
    match c {
        Cond::Exists(p) => value.is_some_and(|v| !p.get(v).is_empty()),
        Cond::Equals(p, want) => value.is_some_and(|v| p.get(v).into_iter().any(|x| x == want)),
        Cond::Matches(p, re) => value.is_some_and(|v| {
            p.get(v)
                .into_iter()
                .any(|x| as_text(x).is_some_and(|t| re.is_match(&t)))
        }),
        Cond::HeaderExists(h) => rec.headers.iter().any(|(k, _)| k == h),
        Cond::HeaderEquals(h, want) => rec
            .headers
            .iter()
            .any(|(k, v)| k == h && v.as_deref() == Some(want.as_bytes())),
        Cond::KeyMatches(re) => rec
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .is_some_and(|k| re.is_match(k)),
        Cond::AnyOf(cs) => cs.iter().any(|c| holds(c, rec, value)),
    }
}

/// The masked form of a value.
pub fn mask(v: &Value, mode: MaskMode, keep_last: usize, salt: &str) -> Value {
    let Some(text) = as_text(v) else {
        return match v {
            Value::Null => Value::Null,
            _ => Value::String("****".into()),
        };
    };
    Value::String(match mode {
        MaskMode::Full => "*".repeat(text.chars().count()),
        MaskMode::KeepLast => {
            let n = text.chars().count();
            let hidden = n.saturating_sub(keep_last);
            text.chars()
                .enumerate()
                .map(|(i, ch)| if i < hidden { '*' } else { ch })
                .collect()
        }
        MaskMode::Hash => {
            let digest = Sha256::new()
                .chain_update(salt.as_bytes())
                .chain_update(text.as_bytes())
                .finalize();
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
    })
}

/// Removes (or renames) what a JSON path selected: it addresses values, so the parent is
/// found from the normalized path (`$['a'][0]['b']`).
fn edit_parent(root: &mut Value, p: &FieldPath, rename_to: Option<&str>) -> bool {
    use jsonpath_rust::query::js_path_process;
    use jsonpath_rust::query::queryable::Queryable;
    let FieldPath::Json(q, _) = p else {
        return false;
    };
    let paths: Vec<String> = js_path_process(q, &*root)
        .map(|r| r.into_iter().map(|x| x.path).collect())
        .unwrap_or_default();
    let mut changed = false;
    // Deepest and last first, so removing array items does not shift the next ones.
    for full in paths.iter().rev() {
        let Some(open) = full.rfind('[') else {
            continue;
        };
        let (parent, last) = full.split_at(open);
        let inner = &last[1..last.len().saturating_sub(1)];
        let Some(target) = root.reference_mut(parent.to_string()) else {
            continue;
        };
        match (
            target,
            inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')),
        ) {
            (Value::Object(m), Some(key)) => {
                if let Some(v) = m.remove(key) {
                    if let Some(to) = rename_to {
                        m.insert(to.to_owned(), v);
                    }
                    changed = true;
                }
            }
            (Value::Array(a), None) if rename_to.is_none() => {
                if let Ok(i) = inner.parse::<usize>()
                    && i < a.len()
                {
                    a.remove(i);
                    changed = true;
                }
            }
            _ => {}
        }
    }
    changed
}

fn act(a: &Act, rec: &mut RecordData, value: &mut Option<Value>) -> bool {
    let string_map = |v: &mut Value, f: fn(&str) -> String| {
        if let Value::String(s) = v {
            let new = f(s);
            if &new != s {
                *s = new;
            }
        }
    };
    match (a, value.as_mut()) {
        (Act::SetHeader(name, val), _) => {
            rec.headers.retain(|(k, _)| k != name);
            rec.headers
                .push((name.clone(), Some(val.as_bytes().to_vec())));
            true
        }
        (_, None) => false,
        (Act::Set(p, val), Some(v)) => match p.parents_mut(v, true) {
            Some((obj, key)) => obj.insert(key, val.clone()).as_ref() != Some(val),
            None => p.for_each_mut(v, |x| *x = val.clone()) > 0,
        },
        (Act::Remove(p), Some(v)) => match p.parents_mut(v, false) {
            Some((obj, key)) => obj.remove(&key).is_some(),
            None => edit_parent(v, p, None),
        },
        (Act::Rename(p, to), Some(v)) => match p.parents_mut(v, false) {
            Some((obj, key)) => match obj.remove(&key) {
                Some(x) => {
                    obj.insert(to.clone(), x);
                    true
                }
                None => false,
            },
            None => edit_parent(v, p, Some(to)),
        },
        (Act::Mask(p, mode, keep, salt), Some(v)) => {
            p.for_each_mut(v, |x| *x = mask(x, *mode, *keep, salt)) > 0
        }
        (Act::Upper(p), Some(v)) => p.for_each_mut(v, |x| string_map(x, str::to_uppercase)) > 0,
        (Act::Lower(p), Some(v)) => p.for_each_mut(v, |x| string_map(x, str::to_lowercase)) > 0,
    }
}

/// Rules for one topic and hook, ordered by priority.
#[derive(Default)]
pub struct RuleChain {
    rules: Vec<CompiledRule>,
}

impl RuleChain {
    /// Orders compiled rules by priority (stable: ties keep their order).
    pub fn new(mut rules: Vec<CompiledRule>) -> Self {
        rules.sort_by_key(|r| r.rule.priority);
        Self { rules }
    }

    /// Whether any enabled rule would run (a chain with none never decodes a batch).
    pub fn is_active(&self) -> bool {
        self.rules.iter().any(|r| r.rule.enabled)
    }

    /// Runs every enabled rule on one record. The value is parsed once, only if a rule needs
    /// fields, and written back only if it changed.
    pub fn apply(&self, rec: &mut RecordData) -> Result<Applied, Rejected> {
        self.apply_for(rec, None)
    }

    /// [`RuleChain::apply`] for a reading client: rules limited to `clients` run only for
    /// those client ids.
    pub fn apply_for(
        &self,
        rec: &mut RecordData,
        client: Option<&str>,
    ) -> Result<Applied, Rejected> {
        self.apply_tallied(rec, client, &mut Tally::default())
    }

    /// The ids of the chain's rules, in the order [`Tally`] counts them.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.rule.id.as_str())
    }

    /// [`RuleChain::apply_for`], counting each rule's outcome in `tally` (so a caller can
    /// report per-rule metrics once per batch, not per record).
    pub fn apply_tallied(
        &self,
        rec: &mut RecordData,
        client: Option<&str>,
        tally: &mut Tally,
    ) -> Result<Applied, Rejected> {
        if tally.0.len() < self.rules.len() {
            tally.0.resize(self.rules.len(), RuleCounts::default());
        }
        let mut out = Applied::default();
        let mut parsed: Option<Option<Value>> = None;
        let mut value_changed = false;
        let for_client = |r: &&CompiledRule| {
            r.rule.clients.is_empty()
                || client.is_some_and(|c| r.rule.clients.iter().any(|x| x == c))
        };
        for (i, r) in self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.rule.enabled)
            .filter(|(_, r)| for_client(r))
        {
            if r.needs_value && parsed.is_none() {
                parsed = Some(
                    rec.value
                        .as_deref()
                        .and_then(|b| serde_json::from_slice::<Value>(b).ok()),
                );
            }
            let value = parsed.as_mut().and_then(Option::as_mut);
            if r.needs_value && value.is_none() {
                if r.rule.on_invalid == OnInvalid::Reject {
                    tally.0[i].rejected += 1;
                    return Err(Rejected {
                        rule: r.rule.id.clone(),
                        reason: "the record value is not JSON".into(),
                    });
                }
                out.skipped += 1;
                tally.0[i].skipped += 1;
                continue;
            }
            let started = Instant::now();
            let snapshot = value.as_deref();
            if !r.conds.iter().all(|c| holds(c, rec, snapshot)) {
                out.skipped += 1;
                tally.0[i].skipped += 1;
                tally.0[i].nanos += started.elapsed().as_nanos() as u64;
                continue;
            }
            out.applied += 1;
            tally.0[i].applied += 1;
            let mut slot = parsed.take().flatten();
            for a in &r.acts {
                let changed = act(a, rec, &mut slot);
                out.changed |= changed;
                value_changed |= changed && !matches!(a, Act::SetHeader(..));
            }
            parsed = Some(slot);
            tally.0[i].nanos += started.elapsed().as_nanos() as u64;
        }
        if value_changed && let Some(Some(v)) = parsed {
            rec.value = serde_json::to_vec(&v).ok();
        }
        Ok(out)
    }
}

impl RuleChain {
    /// One batch through the chain, as a plugin-API verdict: `Keep` when no record changed.
    fn verdict(&self, records: &[RecordView<'_>], client: Option<&str>) -> Verdict {
        let mut out = Vec::with_capacity(records.len());
        let mut changed = false;
        for (i, r) in records.iter().enumerate() {
            let mut data = RecordData::from_view(r);
            match self.apply_for(&mut data, client) {
                Ok(applied) => changed |= applied.changed,
                Err(rejected) => {
                    return Verdict::Reject {
                        code: RejectCode::InvalidRecord,
                        message: rejected.to_string(),
                        record_errors: vec![(i, rejected.reason)],
                    };
                }
            }
            out.push(data);
        }
        if changed {
            Verdict::Rewrite(out)
        } else {
            Verdict::Keep
        }
    }
}

/// Rule chains are native plugins: they implement the same hook API as WASM plugins.
impl ProduceHook for RuleChain {
    fn on_produce(&self, _ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        self.verdict(records, None)
    }
}

impl FetchHook for RuleChain {
    fn on_fetch(&self, ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        self.verdict(records, ctx.client_id)
    }
}
