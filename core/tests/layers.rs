//! The core crate's layers, one folder each, import downward only. A request crosses them in
//! this order, from the bottom: what everything builds on (`base`) and the bytes on the wire
//! (`wire`), the backend clusters (connections, health, routing to leaders), the control
//! state's storage and the policies drawn from it (`control`), the replication of writes, the
//! hook pipeline with its rule book and plugin store (`hooks`), the control plane's domain
//! (`groups`, `quotas`), the client-facing `proxy`, and the process around it (`app`).
//!
//! Checked here: every source file lives in a layer's folder; no `crate::` path runs upward;
//! modules that share a parent (the folders of one layer, or the files of one folder) import
//! one another without a cycle; no `use … as` hides where a thing lives; only `app` (and the
//! binary) knows the web crate's view types.

mod common;

use common::{rust_files, src_dir};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// Each top-level folder of `core/src` and its layer (lower imports nothing higher). The
/// crate root (`lib.rs`) and the binary (`main.rs`) sit above them all.
const LAYERS: &[(&str, u8)] = &[
    ("base", 0),
    ("wire", 0),
    ("backend", 1),
    ("control", 2),
    ("replication", 3),
    ("hooks", 4),
    ("groups", 5),
    ("quotas", 5),
    ("transactions", 5),
    ("proxy", 6),
    ("app", 7),
];
const ROOTS: &[&str] = &["lib.rs", "main.rs"];
const TOP: u8 = 8;

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// One source file: its path under `core/src`, its module path (`replication::digest`; ""
/// for the crate root and the binary) and its code without comments and test modules.
struct Source {
    rel: PathBuf,
    module: String,
    code: Vec<String>,
}

fn sources() -> Vec<Source> {
    let src = src_dir();
    rust_files(&src)
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(&src).expect("under src").to_path_buf();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
            {
                parts.pop();
            }
            let text = std::fs::read_to_string(&file).expect("read source");
            let code = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .map(|l| l.split("//").next().unwrap_or("").to_owned())
                .collect();
            Source {
                rel,
                module: parts.join("::"),
                code,
            }
        })
        .collect()
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map_or("", |(p, _)| p)
}

fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}::{rest}"),
    }
}

/// The modules a line names: `crate::` paths, `super::` paths (from the file's parent),
/// and paths through the file's own child modules; `{a, b::c}` groups item by item. Each
/// path is resolved to the longest module it starts with.
fn imports(line: &str, from: &str, modules: &BTreeSet<String>) -> Vec<String> {
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?:^|[^A-Za-z0-9_:])((?:crate|super|self|[a-z_][a-z0-9_]*)::[A-Za-z0-9_:]*)(\{[^}]*\})?",
        )
        .expect("regex")
    });
    let resolve = |full: &str| -> Option<String> {
        let parts: Vec<&str> = full.split("::").filter(|p| !p.is_empty()).collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut out = Vec::new();
    for cap in PATH.captures_iter(line) {
        let head = cap[1].trim_end_matches("::");
        let (first, rest) = head.split_once("::").unwrap_or((head, ""));
        let base = match first {
            "crate" => rest.to_owned(),
            "super" => join(parent(from), rest),
            "self" => join(from, rest),
            child if modules.contains(&join(from, child)) => join(from, head),
            _ => continue, // another crate, a type's associated item, a local name
        };
        let items: Vec<String> = match cap.get(2) {
            Some(group) => group
                .as_str()
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .map(|i| i.trim().split(' ').next().unwrap_or(""))
                .filter(|i| !i.is_empty() && *i != "self")
                .map(|i| join(&base, i))
                .collect(),
            None => vec![base],
        };
        out.extend(items.iter().filter_map(|i| resolve(i)));
    }
    out
}

/// Which module imports which, over every source file.
fn graph(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        for line in &s.code {
            for to in imports(line, &s.module, &modules) {
                if to != s.module {
                    g.entry(s.module.clone()).or_default().insert(to);
                }
            }
        }
    }
    g
}

/// The child of `parent` that `module` lies in (`None` when it lies outside `parent`).
fn child_of<'a>(parent: &str, module: &'a str) -> Option<&'a str> {
    let rest = if parent.is_empty() {
        module
    } else {
        module.strip_prefix(parent)?.strip_prefix("::")?
    };
    let first = rest.split("::").next().filter(|f| !f.is_empty())?;
    Some(&module[..module.len() - rest.len() + first.len()])
}

/// Cycles among the children of each module: an edge from child `a` to child `b` of the
/// same parent for every import from inside `a` into `b` (the parent itself, the folder's
/// face, is left out).
fn sibling_cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut parents: BTreeSet<String> = BTreeSet::from([String::new()]);
    for m in g.keys().chain(g.values().flatten()) {
        let mut p = parent(m);
        loop {
            parents.insert(p.to_owned());
            if p.is_empty() {
                break;
            }
            p = parent(p);
        }
    }
    let mut cycles = Vec::new();
    for p in &parents {
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (from, tos) in g {
            let Some(a) = child_of(p, from) else { continue };
            for to in tos {
                if let Some(b) = child_of(p, to)
                    && a != b
                {
                    edges.entry(a).or_default().insert(b);
                }
            }
        }
        cycles.extend(find_cycles(&edges));
    }
    cycles
}

/// Every cycle of `edges`, each once (as found from its smallest node).
fn find_cycles(edges: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<Vec<String>> {
    fn visit<'a>(
        n: &'a str,
        start: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        out: &mut Vec<Vec<String>>,
    ) {
        for &t in edges.get(n).into_iter().flatten() {
            if t == start {
                let mut c: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                c.push(start.to_owned());
                out.push(c);
            } else if t > start && !path.contains(&t) {
                path.push(t);
                visit(t, start, edges, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for &start in edges.keys() {
        visit(start, start, edges, &mut vec![start], &mut out);
    }
    out
}

#[test]
fn every_source_file_lives_in_a_layer_folder() {
    let mut loose = Vec::new();
    for entry in std::fs::read_dir(src_dir()).expect("read core/src") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let known = if path.is_dir() {
            layer(&name).is_some()
        } else {
            ROOTS.contains(&name.as_str())
        };
        if !known {
            loose.push(name);
        }
    }
    assert!(
        loose.is_empty(),
        "core/src/{loose:?}: every module lives in a layer's folder; add a new folder to LAYERS \
         in core/tests/layers.rs"
    );
}

/// Every import in `g` that runs from a lower layer to a higher one, as a readable line.
fn upward_imports(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let level = |m: &str| layer(m.split("::").next().unwrap_or("")).unwrap_or(TOP);
    g.iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| level(to) > level(from))
        .map(|(from, to)| {
            format!(
                "{from} (layer {}) imports {to} (layer {})",
                level(from),
                level(to)
            )
        })
        .collect()
}

#[test]
fn core_modules_import_only_lower_layers() {
    let upward = upward_imports(&graph(&sources()));
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn modules_of_one_parent_import_one_another_without_a_cycle() {
    let cycles = sibling_cycles(&graph(&sources()));
    let lines: Vec<String> = cycles.iter().map(|c| c.join(" → ")).collect();
    assert!(
        lines.is_empty(),
        "import cycles between modules of one folder (move what both need into one of them, \
         or into a third):\n{}",
        lines.join("\n")
    );
}

#[test]
fn no_use_renames_what_it_imports() {
    // A `use` statement (after any attributes), which may span lines, up to its `;`.
    let statement = Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?use\s[^;]*;").expect("regex");
    let alias = Regex::new(r"\bas\s+[A-Za-z_]").expect("regex");
    let mut found = Vec::new();
    for s in sources() {
        let code = s.code.join("\n");
        for stmt in statement.find_iter(&code) {
            if alias.is_match(stmt.as_str()) {
                found.push(format!(
                    "core/src/{}: {}",
                    s.rel.display(),
                    stmt.as_str().trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "imports renamed with `as` (name the thing where it lives):\n{}",
        found.join("\n")
    );
}

/// The files outside `app` (and the binary) whose code names the web crate.
fn web_users(sources: &[Source]) -> Vec<String> {
    sources
        .iter()
        .filter(|s| !(s.module.starts_with("app") || s.rel == Path::new("main.rs")))
        .filter(|s| s.code.iter().any(|l| l.contains("kafkatwin_web")))
        .map(|s| format!("core/src/{}", s.rel.display()))
        .collect()
}

#[test]
fn only_the_app_layer_knows_the_web_crate() {
    let found = web_users(&sources());
    assert!(
        found.is_empty(),
        "domain code uses the web crate's types (convert in app/http.rs): {found:?}"
    );
}

#[test]
fn imports_are_resolved_to_modules() {
    let modules: BTreeSet<String> = [
        "backend",
        "proxy",
        "proxy::fetch",
        "proxy::groups",
        "replication",
        "replication::lanes",
        "replication::digest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let line = "use crate::backend::{Cluster}; use super::{lanes::Tp, digest}; fetch::x(); \
                crate::proxy::groups::Y; other::z; kafka_protocol::messages::X";
    assert_eq!(
        imports(line, "replication::history", &modules),
        vec![
            "backend",
            "replication::lanes",
            "replication::digest",
            "proxy::groups"
        ]
    );
    // A folder's face names its children without a prefix.
    assert_eq!(
        imports("fetch::serve()", "proxy", &modules),
        vec!["proxy::fetch"]
    );
}

#[test]
fn a_cycle_between_siblings_is_found_and_the_parent_is_left_out() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a::x", vec!["a::y"]),
        ("a::y", vec!["a::z::inner"]),
        ("a::z::inner", vec!["a::x"]),
        ("a", vec!["a::x"]),
        ("a::x::deep", vec!["a"]),
        ("b", vec!["a::x"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    let cycles = sibling_cycles(&g);
    assert_eq!(cycles, vec![vec!["a::x", "a::y", "a::z", "a::x"]]);
}

/// The checks themselves, on made-up modules: each must report what is planted.
#[test]
fn an_upward_import_and_a_web_type_below_app_are_reported() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("backend::pool", vec!["proxy", "base::sync"]),
        ("proxy::fetch", vec!["replication::read::routing"]),
        ("", vec!["app"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        upward_imports(&g),
        vec!["backend::pool (layer 1) imports proxy (layer 6)"]
    );

    let source = |rel: &str, module: &str, line: &str| Source {
        rel: PathBuf::from(rel),
        module: module.to_owned(),
        code: vec![line.to_owned()],
    };
    let planted = [
        source(
            "control/audit_trail.rs",
            "control::audit_trail",
            "use kafkatwin_web::Change;",
        ),
        source("app/http.rs", "app::http", "use kafkatwin_web::Change;"),
        source("main.rs", "", "kafkatwin_web::serve();"),
        source(
            "hooks/rule_book.rs",
            "hooks::rule_book",
            "use crate::base::sync;",
        ),
    ];
    assert_eq!(web_users(&planted), vec!["core/src/control/audit_trail.rs"]);
}
