//! The configuration reference (`docs/configuration.md`) names every key the config types
//! accept, so the docs cannot drift from the code: a key added to the types and not to the
//! page fails this test, and so does a key on the page that the types no longer have.

use kafkatwin_config::Config;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every key path of `v` (`server.port`, `clusters[].id`, `quotas.clients.<client-id>`): a
/// list of entries is named by its own path and its entries' keys by `path[].key`.
fn paths(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                paths(&path, child, out);
            }
        }
        Value::Array(items) => {
            if let Some(first @ Value::Object(_)) = items.first() {
                paths(&format!("{prefix}[]"), first, out);
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
  clients: { "<client-id>": { produce_byte_rate: 1 } }
  users: { "<user>": { clients: { "<client-id>": { produce_byte_rate: 1 } } } }
"#;

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
    let mut keys = BTreeSet::new();
    let value = serde_json::to_value(Config::default()).expect("the config serializes");
    paths("", &value, &mut keys);
    let entries =
        kafkatwin_config::load_str(ENTRIES, Vec::new()).expect("the entries config loads");
    let value = serde_json::to_value(entries).expect("the config serializes");
    paths("", &value, &mut keys);
    let page = documented(&reference());
    let missing: Vec<_> = keys.difference(&page).collect();
    let stale: Vec<_> = page.difference(&keys).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/configuration.md is out of date.\nundocumented keys: {missing:?}\nkeys the config no longer has: {stale:?}"
    );
}
