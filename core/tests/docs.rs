//! The user docs (`README.md`, `docs/*.md`, the plugin SDK's README): every relative link leads
//! to a file that exists, and the pages and the code's comments speak to users, naming no
//! internal planning documents or issue numbers.

mod common;

use regex::Regex;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pages() -> Vec<PathBuf> {
    let root = root();
    let mut out = vec![root.join("README.md"), root.join("plugin-sdk/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("read docs") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let link = Regex::new(r"\]\(([^)#\s]+)(?:#[^)]*)?\)").expect("regex");
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        let dir = page.parent().expect("page dir");
        for cap in link.captures_iter(&text) {
            let target = &cap[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !dir.join(target).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_docs_name_no_planning_documents_or_issue_numbers() {
    let internal = Regex::new(r"(?i)\bbrief\b|shared/|\bissue\s+#?\d+").expect("regex");
    let mut found = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        for (n, line) in text.lines().enumerate() {
            if internal.is_match(line) {
                found.push(format!("{}:{}: {}", page.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "speak to users:\n{}", found.join("\n"));
}

#[test]
fn the_code_comments_name_no_planning_documents_or_issue_numbers() {
    let internal = Regex::new(r"(?i)\bthe brief\b|\bbrief's\b|DESIGN\.md|shared/|\bissue\s+#?\d+")
        .expect("regex");
    let mut found = Vec::new();
    for krate in [
        "config",
        "core",
        "web",
        "plugins",
        "plugin-sdk",
        "builtin-transforms",
        "fuzz",
        "tests",
    ] {
        for file in common::rust_files(&root().join(krate)) {
            if file.components().any(|c| c.as_os_str() == "target") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read source");
            for (n, line) in text.lines().enumerate() {
                let comment = line.trim_start();
                if comment.starts_with("//") && internal.is_match(comment) {
                    found.push(format!("{}:{}: {comment}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "speak to users:\n{}", found.join("\n"));
}

/// Where the test, bench and demo scripts read environment variables.
const SCRIPT_DIRS: [&str; 5] = ["tests", "tests/src", "bench", "deploy/local", ".ci"];

#[test]
fn every_setting_the_scripts_read_is_documented_and_every_documented_one_is_read() {
    // Config overrides (`KAFKATWIN_SERVER__PORT`) belong to the configuration reference.
    let name = Regex::new(r"KAFKATWIN_[A-Z_]*[A-Z]").expect("regex");
    let mut read = std::collections::BTreeSet::new();
    for dir in SCRIPT_DIRS {
        for entry in std::fs::read_dir(root().join(dir)).expect("read a script folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            read.extend(
                name.find_iter(&text)
                    .map(|m| m.as_str().to_owned())
                    .filter(|n| !n.contains("__")),
            );
        }
    }
    let page = std::fs::read_to_string(root().join("docs/testing.md")).expect("read testing.md");
    let row = Regex::new(r"(?m)^\| `(KAFKATWIN_[A-Z_]+)` \|").expect("regex");
    let documented: std::collections::BTreeSet<String> =
        row.captures_iter(&page).map(|c| c[1].to_owned()).collect();
    assert!(read.len() >= 5, "found too few settings: {read:?}");
    assert_eq!(
        read, documented,
        "the settings the scripts read (left) and docs/testing.md's table (right) differ"
    );
}

/// The picture of the layers (`docs/layers.md`) names every module of `core/src`, so a
/// module added without a place in the picture fails here.
#[test]
fn the_layers_picture_names_every_module() {
    let picture = std::fs::read_to_string(root().join("docs/layers.md")).expect("docs/layers.md");
    let src = common::src_dir();
    let mut missing = Vec::new();
    for file in common::rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").to_path_buf();
        let stem = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if stem == "mod" {
            rel.parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            stem
        };
        let word = Regex::new(&format!(r"\b{}\b", regex::escape(&name))).expect("regex");
        if !word.is_match(&picture) {
            missing.push(rel.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/layers.md does not name these modules: {missing:?}"
    );
}
