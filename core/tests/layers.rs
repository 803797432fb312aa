//! The core crate's layers import downward only. A request crosses them in this order, from
//! the bottom: shared byte-level pieces, the backend clusters (connections, health, routing to
//! leaders), the control state's storage and the pure policies (topology, membership), the
//! replication of writes, the hook pipeline, the control plane's domain (rules, plugins,
//! groups), the client-facing proxy, and the process around it (HTTP wiring, samplers,
//! assembly). A `crate::` path from a module to one of a higher layer fails this test.

use std::path::{Path, PathBuf};

/// Each top-level module of `core/src` and its layer (lower imports nothing higher).
const LAYERS: &[(&str, u8)] = &[
    ("frame", 0),
    ("records", 0),
    ("metrics", 0),
    ("change_error", 0),
    ("listen", 0),
    ("timing", 0),
    ("backend", 1),
    ("state_log", 2),
    ("control_log", 2),
    ("audit_trail", 2),
    ("producer_ids", 2),
    ("topology", 2),
    ("membership", 2),
    ("replication", 3),
    ("hooks", 4),
    ("rule_book", 5),
    ("plugin_store", 5),
    ("groups", 5),
    ("quotas", 5),
    ("proxy", 6),
    ("http", 7),
    ("samplers", 7),
    ("server", 7),
    ("main", 8),
    ("lib", 8),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read core/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line of code names through `crate::`.
fn crate_paths(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .map(|(at, m)| {
            let rest = &code[at + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn core_modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs"))
            .expect("a module name");
        let from = layer(top).unwrap_or_else(|| {
            panic!("core/src/{top} has no layer: add it to LAYERS in core/tests/layers.rs")
        });
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for to in crate_paths(line) {
                let Some(target) = layer(to) else {
                    panic!("{}:{}: crate::{to} has no layer", rel.display(), n + 1);
                };
                if target > from {
                    upward.push(format!(
                        "core/src/{}:{}: {top} (layer {from}) imports {to} (layer {target})",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn a_crate_path_names_its_top_level_module() {
    assert_eq!(
        crate_paths("use crate::backend::{Cluster}; let x = crate::proxy::y(); // crate::http"),
        vec!["backend", "proxy"]
    );
}
