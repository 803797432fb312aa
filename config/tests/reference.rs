//! The configuration reference (`docs/configuration.md`) names every key the config types
//! accept, so the docs cannot drift from the code: a key added to the types and not to the
//! page fails this test, and so does a key on the page that the types no longer have; a
//! default on the page that is not the key's default (top-level and inside list and map
//! entries) fails too.

use kafkatwin_config::Config;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every key path of `v` (`server.port`, `clusters[].id`, `quotas.clients.<client-id>`) with
/// its value: a list of entries is named by its own path and its entries' keys by
/// `path[].key` (the first entry's values).
fn values(prefix: &str, v: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.entry(path.clone()).or_insert_with(|| child.clone());
                values(&path, child, out);
            }
        }
        Value::Array(items) => {
            if let Some(first @ Value::Object(_)) = items.first() {
                values(&format!("{prefix}[]"), first, out);
            }
        }
        _ => {}
    }
}

/// A config with one entry in every list and map, so their keys are checked too.
const ENTRIES: &str = r#"
clusters:
  - { id: a, bootstrap_servers: ["127.0.0.1:9092"] }
admin_api:
  tokens: [ { name: ops, token: secret, role: read } ]
multi_dc:
  datacenters: [ { id: dc1, cluster_ids: [a] } ]
auth:
  plugins: [ { plugin: allowlist } ]
transformations:
  - { topic: orders, rules: [] }
quotas:
  clients: { "<client-id>": {} }
  users: { "<user>": { clients: { "<client-id>": {} } } }
"#;

/// Keys [`ENTRIES`] gives a value (to have an entry at all): not defaults.
const GIVEN: &[&str] = &["transformations[].topic", "quotas.users.<user>.clients"];

/// Every key with its default: top-level keys from the default config, those of list and map
/// entries from entries that give only their required keys.
fn actual_values() -> std::collections::BTreeMap<String, Value> {
    let mut actual = std::collections::BTreeMap::new();
    let defaults = serde_json::to_value(Config::default()).expect("the config serializes");
    values("", &defaults, &mut actual);
    let entries =
        kafkatwin_config::load_str(ENTRIES, Vec::new()).expect("the entries config loads");
    let entries = serde_json::to_value(entries).expect("the config serializes");
    values("", &entries, &mut actual);
    actual
}

fn reference() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Key paths the page documents: the first cell of each table row, in backticks.
fn documented(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_config_key_is_in_the_reference_and_every_documented_key_exists() {
    let keys: BTreeSet<String> = actual_values().into_keys().collect();
    let page = documented(&reference());
    let missing: Vec<_> = keys.difference(&page).collect();
    let stale: Vec<_> = page.difference(&keys).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/configuration.md is out of date.\nundocumented keys: {missing:?}\nkeys the config no longer has: {stale:?}"
    );
}

/// How the page writes a default: the literal in backticks, `none` for no value.
fn written(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

#[test]
fn every_documented_default_is_the_default_the_config_has() {
    let actual = actual_values();
    let mut wrong = Vec::new();
    for line in reference().lines() {
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(key), Some(cell)) = (cells[0].strip_suffix('`'), cells.get(1)) else {
            continue;
        };
        if GIVEN.contains(&key) {
            continue;
        }
        let Some(value) = actual.get(key) else {
            continue; // a key the other test reports
        };
        let doc = match *cell {
            // A section: its keys have their own rows.
            "" => {
                if !value.is_object() {
                    wrong.push(format!("{key}: documented as a section, is {value}"));
                }
                continue;
            }
            "(required)" => continue,
            "none" => "none",
            c => match c.strip_prefix('`').and_then(|c| c.split('`').next()) {
                Some(literal) => literal,
                // Prose (a default derived from another key): nothing to compare.
                None => continue,
            },
        };
        if doc != written(value) {
            wrong.push(format!(
                "{key}: documented `{doc}`, default `{}`",
                written(value)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md gives defaults the config does not have:\n{}",
        wrong.join("\n")
    );
}
