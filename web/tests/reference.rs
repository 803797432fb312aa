//! The HTTP reference (`docs/admin-api.md`) lists every endpoint the routers register, so the
//! page cannot drift from the code: a route registered and not documented, or documented and
//! not routed, fails this test.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `METHOD /path` for every `.route("/path", ...)` in the web crate's source: the methods are
/// the `get(`, `post(`, `put(`, `delete(` handlers chained on it.
fn routed() -> BTreeSet<String> {
    let code = read("src/lib.rs");
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(path) = rest
            .trim_start()
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let until = rest.find(".route").unwrap_or(rest.len());
        let handlers = &rest[..until];
        for (call, method) in [
            ("get(", "GET"),
            ("post(", "POST"),
            ("put(", "PUT"),
            ("delete(", "DELETE"),
        ] {
            let called = handlers.match_indices(call).any(|(i, _)| {
                let before = handlers[..i].chars().next_back();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if called {
                out.insert(format!("{method} {path}"));
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
    assert!(code.len() > 15, "the routes were not read: {code:?}");
    let missing: Vec<_> = code.difference(&page).collect();
    let stale: Vec<_> = page.difference(&code).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/admin-api.md is out of date.\nundocumented: {missing:?}\nnot routed: {stale:?}"
    );
}
