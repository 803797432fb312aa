//! WASM plugin bindings in rule chains: a rule whose action is
//! `{"type": "wasm", "plugin": "redact", "config": {...}, "on_error": "reject"}` runs the
//! plugin on each partition batch of its topics, after the built-in rules.

use crate::base::sync::lock;
use crate::hooks::TransformError;
use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;
use kafkatwin_plugin_sdk::{BatchContext, HeaderView, RecordView, wire};
use kafkatwin_plugins::wasm::{CallError, PluginHost, PluginVerdict};
use std::time::Instant;

/// A rule that runs a WASM plugin: validated with the built-in rules
/// (`kafkatwin_builtin_transforms::validate`).
pub type WasmBinding = kafkatwin_builtin_transforms::PluginRule;
use kafkatwin_builtin_transforms::OnError;

/// What happened to one batch, for metrics.
pub struct Called {
    /// `ok`, `rewrite`, `reject`, or a failure kind (`trap`, `timeout`, `memory`, `init`,
    /// `missing`).
    pub outcome: &'static str,
    /// Time in the plugin.
    pub seconds: f64,
}

/// Runs `bindings` on a partition's batches. `Ok(None)`: unchanged (original bytes go on).
pub fn run_bindings<'a>(
    host: &PluginHost,
    bindings: impl Iterator<Item = &'a WasmBinding>,
    records: &Bytes,
    ctx: &BatchContext<'_>,
    mut report: impl FnMut(&WasmBinding, Called),
) -> Result<Option<Bytes>, TransformError> {
    let mut sets = crate::hooks::decode(records)?;
    let mut changed = false;
    for b in bindings {
        let hook = b.hook;
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
    let mut g = lock(&LAST);
    let map = g.get_or_insert_with(Default::default);
    let key = (plugin.to_owned(), kind.to_owned());
    let now = Instant::now();
    match map.get(&key) {
        Some(t) if now.duration_since(*t) < crate::base::timing::PLUGIN_FAILURE_LOG_EVERY => false,
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
