//! The metrics reference (`docs/metrics.md`) names every metric the proxy registers, with its
//! labels, so the page cannot drift from the code: a metric registered and not documented,
//! documented and gone, or documented with other labels fails this test.

use std::collections::BTreeMap;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each metric registered in `metrics.rs` and its labels: the name's string literal, then
/// the first label list (`&[...]`) after it, if it comes before the next metric.
fn registered() -> BTreeMap<String, Vec<String>> {
    let code = read("src/base/metrics.rs");
    let code: String = code.split("#[cfg(test)]").next().unwrap_or("").to_owned();
    let starts: Vec<usize> = code.match_indices("\"kafkatwin_").map(|(i, _)| i).collect();
    let mut out = BTreeMap::new();
    for (n, &at) in starts.iter().enumerate() {
        let name_end = code[at + 1..].find('"').map_or(at + 1, |e| at + 1 + e);
        let name = code[at + 1..name_end].to_owned();
        let until = starts.get(n + 1).copied().unwrap_or(code.len());
        let labels = code[name_end..until]
            .find("&[")
            .and_then(|l| {
                let rest = &code[name_end + l + 2..until];
                rest.find(']').map(|e| &rest[..e])
            })
            .map(|list| {
                list.split(',')
                    .map(|s| s.trim().trim_matches('"').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        out.insert(name, labels);
    }
    out
}

/// Each metric the page's table lists and its labels (third column, in backticks).
fn documented() -> BTreeMap<String, Vec<String>> {
    read("../docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `kafkatwin_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = format!("kafkatwin_{}", cells[0].trim_end_matches('`'));
            let labels = cells
                .get(2)
                .map(|c| {
                    c.split(',')
                        .map(|s| s.trim().trim_matches('`').to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

#[test]
fn every_metric_is_documented_with_its_labels_and_every_documented_one_exists() {
    let code = registered();
    let page = documented();
    assert!(code.len() > 20, "the metrics source was not read: {code:?}");
    let mut problems = Vec::new();
    for (name, labels) in &code {
        match page.get(name) {
            None => problems.push(format!("{name}: registered, not in docs/metrics.md")),
            Some(doc) if doc != labels => problems.push(format!(
                "{name}: labels {labels:?} in the code, {doc:?} in docs/metrics.md"
            )),
            Some(_) => {}
        }
    }
    for name in page.keys().filter(|n| !code.contains_key(*n)) {
        problems.push(format!("{name}: in docs/metrics.md, not registered"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
