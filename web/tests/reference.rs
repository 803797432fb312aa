//! The HTTP reference (`docs/admin-api.md`) and the OpenAPI document list the same admin
//! endpoints: a route documented in one and not the other fails this test. (The document
//! itself is built from the routes; `openapi.rs` checks it against the router.)

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `METHOD /path` of every operation in the OpenAPI document, plus the routes outside the
/// admin API (health, metrics, the dashboard).
fn routed() -> BTreeSet<String> {
    let doc = serde_json::to_value(kafkatwin_web::openapi()).expect("document");
    let mut out: BTreeSet<String> = [
        "GET /health/live",
        "GET /health/ready",
        "GET /metrics",
        "GET /",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                out.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

/// `METHOD /path` of every row of the page's table.
fn documented() -> BTreeSet<String> {
    read("../docs/admin-api.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|e| e.contains(" /"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_endpoint_is_documented_and_every_documented_one_is_routed() {
    let code = routed();
    let page = documented();
    assert!(code.len() > 25, "the routes were not read: {code:?}");
    let missing: Vec<_> = code.difference(&page).collect();
    let stale: Vec<_> = page.difference(&code).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/admin-api.md is out of date.\nundocumented: {missing:?}\nnot routed: {stale:?}"
    );
}
