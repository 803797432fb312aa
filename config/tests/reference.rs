//! The configuration reference (`docs/configuration.md`) names every key the config types
//! accept, so the docs cannot drift from the code: a key added to the types and not to the
//! page fails this test, and so does a key on the page that the types no longer have.

use kafkatwin_config::Config;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every key path of `v` (`server.port`, `producer.circuit_breaker...`); lists and maps of
/// entries are named by their own path.
fn paths(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = v {
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
    let value = serde_json::to_value(Config::default()).expect("the config serializes");
    let mut keys = BTreeSet::new();
    paths("", &value, &mut keys);
    let page = documented(&reference());
    let missing: Vec<_> = keys.difference(&page).collect();
    let stale: Vec<_> = page.difference(&keys).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/configuration.md is out of date.\nundocumented keys: {missing:?}\nkeys the config no longer has: {stale:?}"
    );
}
