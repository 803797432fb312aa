//! WASM plugin bindings in rule chains: a rule whose action is
//! `{"type": "wasm", "plugin": "redact", "config": {...}, "on_error": "reject"}` runs the
//! plugin on each partition batch of its topics, after the built-in rules.

use crate::hooks::TransformError;
use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use kafkatwin_builtin_transforms::Hook as RuleHook;
use kafkatwin_config::Problem;
use kafkatwin_plugin_sdk::{BatchContext, HeaderView, RecordView, wire};
use kafkatwin_plugins::wasm::{CallError, PluginHost, PluginVerdict};
use serde_json::Value;
use std::time::Instant;

/// What a binding does when its plugin fails (trap, timeout, memory, missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The partition gets an error.
    Reject,
    /// The batch goes on unchanged.
    Pass,
}

/// A rule that runs a WASM plugin.
#[derive(Debug, Clone)]
pub struct WasmBinding {
    /// The rule's id.
    pub rule_id: String,
    /// The plugin's name.
    pub plugin: String,
    /// `init` config, as string pairs (non-string JSON values are written as JSON).
    pub config: Vec<(String, String)>,
    /// Failure policy.
    pub on_error: OnError,
    /// Where it runs.
    pub hook: RuleHook,
}

/// The binding in a raw rule, if it is a wasm rule: `None` for ordinary rules.
pub fn parse(raw: &Value, at: &str) -> Option<Result<WasmBinding, Vec<Problem>>> {
    let actions = raw.get("actions")?.as_array()?;
    if !actions
        .iter()
        .any(|a| a.get("type").and_then(Value::as_str) == Some("wasm"))
    {
        return None;
    }
    let mut problems = Vec::new();
    if actions.len() != 1 {
        problems.push(Problem::new(
            format!("{at}.actions"),
            "a wasm action must be the rule's only action",
        ));
    }
    if raw
        .get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        problems.push(Problem::new(
            format!("{at}.conditions"),
            "a wasm rule takes no conditions (the plugin decides per record)",
        ));
    }
    let a = &actions[0];
    let plugin = match a.get("plugin").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => {
            problems.push(Problem::new(
                format!("{at}.actions[0].plugin"),
                "a wasm action needs `plugin`: the uploaded plugin's name",
            ));
            String::new()
        }
    };
    let config = match a.get("config") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect(),
        Some(_) => {
            problems.push(Problem::new(
                format!("{at}.actions[0].config"),
                "must be an object of settings",
            ));
            Vec::new()
        }
    };
    let on_error = match a.get("on_error").and_then(Value::as_str) {
        None | Some("reject") => OnError::Reject,
        Some("pass") => OnError::Pass,
        Some(other) => {
            problems.push(Problem::new(
                format!("{at}.actions[0].on_error"),
                format!("must be `reject` or `pass`, not {other:?}"),
            ));
            OnError::Reject
        }
    };
    let hook = match raw.get("hook").and_then(Value::as_str) {
        None => RuleHook::OnProduce,
        Some(name) => RuleHook::parse(name).unwrap_or_else(|| {
            problems.push(Problem::new(
                format!("{at}.hook"),
                format!("must be `on_produce` or `on_fetch`, not {name:?}"),
            ));
            RuleHook::OnProduce
        }),
    };
    let rule_id = raw
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if rule_id.is_empty() {
        problems.push(Problem::new(format!("{at}.id"), "a rule needs an id"));
    }
    if !problems.is_empty() {
        return Some(Err(problems));
    }
    Some(Ok(WasmBinding {
        rule_id,
        plugin,
        config,
        on_error,
        hook,
    }))
}

/// What happened to one batch, for metrics.
pub struct Called {
    /// `ok`, `rewrite`, `reject`, or a failure kind (`trap`, `timeout`, `memory`, `init`,
    /// `missing`).
    pub outcome: &'static str,
    /// Time in the plugin.
    pub seconds: f64,
}

/// Runs `bindings` on a partition's batches. `Ok(None)`: unchanged (original bytes go on).
pub fn apply<'a>(
    host: &PluginHost,
    bindings: impl Iterator<Item = &'a WasmBinding>,
    records: &Bytes,
    ctx: &BatchContext<'_>,
    mut report: impl FnMut(&WasmBinding, Called),
) -> Result<Option<Bytes>, TransformError> {
    let mut buf = records.clone();
    let mut sets = RecordBatchDecoder::decode_all(&mut buf)
        .map_err(|e| TransformError::Corrupt(format!("cannot decode the record batches: {e}")))?;
    let mut changed = false;
    for b in bindings {
        let hook = b.hook.plugin_hook();
        let input = {
            let all: Vec<&Record> = sets.iter().flat_map(|s| &s.records).collect();
            let views: Vec<RecordView<'_>> = all
                .iter()
                .enumerate()
                .map(|(i, r)| RecordView {
                    offset_delta: i as i32,
                    timestamp: r.timestamp,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| HeaderView {
                            name: k.as_str(),
                            value: v.as_deref(),
                        })
                        .collect(),
                })
                .collect();
            wire::encode(&views)
        };
        let started = Instant::now();
        let result = host.call(&b.plugin, hook, &b.config, ctx, input);
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(PluginVerdict::Keep) => report(
                b,
                Called {
                    outcome: "ok",
                    seconds,
                },
            ),
            Ok(PluginVerdict::Rewrite(out)) => {
                report(
                    b,
                    Called {
                        outcome: "rewrite",
                        seconds,
                    },
                );
                let new = wire::decode(&out).map_err(|e| TransformError::Plugin {
                    plugin: b.plugin.clone(),
                    code: kafka_protocol::error::ResponseError::InvalidRecord.code(),
                    message: format!(
                        "plugin {} answered records the proxy cannot read: {e}",
                        b.plugin
                    ),
                })?;
                replace_records(&mut sets, &new);
                changed = true;
            }
            Ok(PluginVerdict::Reject { code, message, .. }) => {
                report(
                    b,
                    Called {
                        outcome: "reject",
                        seconds,
                    },
                );
                return Err(TransformError::Plugin {
                    plugin: b.plugin.clone(),
                    code,
                    message: format!("rule {} (plugin {}): {message}", b.rule_id, b.plugin),
                });
            }
            Err(e) => {
                report(
                    b,
                    Called {
                        outcome: e.kind(),
                        seconds,
                    },
                );
                if failed(b, &e) {
                    return Err(TransformError::Plugin {
                        plugin: b.plugin.clone(),
                        code: kafka_protocol::error::ResponseError::PolicyViolation.code(),
                        message: format!("rule {}: {e}; on_error is reject", b.rule_id),
                    });
                }
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    crate::hooks::encode_sets(&sets, records.len()).map(Some)
}

/// Whether a failure of this kind from this plugin should be logged now: once per burst
/// (the first, then at most every 10 s); metrics count every one.
fn log_now(plugin: &str, kind: &str) -> bool {
    static LAST: std::sync::Mutex<Option<std::collections::HashMap<(String, String), Instant>>> =
        std::sync::Mutex::new(None);
    let mut g = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(Default::default);
    let key = (plugin.to_owned(), kind.to_owned());
    let now = Instant::now();
    match map.get(&key) {
        Some(t) if now.duration_since(*t) < std::time::Duration::from_secs(10) => false,
        _ => {
            map.insert(key, now);
            true
        }
    }
}

/// Logs a failed call (once per burst) and says whether it fails the batch (the binding's
/// policy decides).
fn failed(b: &WasmBinding, e: &CallError) -> bool {
    let log = log_now(&b.plugin, e.kind());
    match b.on_error {
        OnError::Reject => {
            if log {
                tracing::warn!(plugin = %b.plugin, "rule {}: {e}; the partition is refused", b.rule_id);
            }
            true
        }
        OnError::Pass => {
            if log {
                tracing::warn!(plugin = %b.plugin, "rule {}: {e}; the batch goes on unchanged", b.rule_id);
            }
            false
        }
    }
}

/// Puts a plugin's records in place of the batches' records: same count, fields replaced
/// in place (offsets, timestamps, sequences kept); other counts, records renumbered in the
/// first batch from its first record's template.
fn replace_records(sets: &mut [kafka_protocol::records::RecordSet], new: &[RecordView<'_>]) {
    let total: usize = sets.iter().map(|s| s.records.len()).sum();
    let fill = |r: &mut Record, v: &RecordView<'_>| {
        r.key = v.key.map(Bytes::copy_from_slice);
        r.value = v.value.map(Bytes::copy_from_slice);
        let mut headers = IndexMap::with_capacity(v.headers.len());
        for h in &v.headers {
            headers.insert(
                StrBytes::from_string(h.name.to_owned()),
                h.value.map(Bytes::copy_from_slice),
            );
        }
        r.headers = headers;
    };
    if total == new.len() {
        let mut it = new.iter();
        for set in sets.iter_mut() {
            for r in &mut set.records {
                if let Some(v) = it.next() {
                    fill(r, v);
                }
            }
        }
        return;
    }
    let Some(template) = sets.iter().flat_map(|s| s.records.first()).next().cloned() else {
        return;
    };
    let mut records = Vec::with_capacity(new.len());
    for (i, v) in new.iter().enumerate() {
        let mut r = template.clone();
        r.offset = template.offset + i as i64;
        if template.sequence >= 0 {
            r.sequence = template.sequence + i as i32;
        }
        fill(&mut r, v);
        records.push(r);
    }
    for (k, set) in sets.iter_mut().enumerate() {
        set.records = if k == 0 {
            std::mem::take(&mut records)
        } else {
            Vec::new()
        };
    }
}
