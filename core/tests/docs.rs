//! The user docs (`README.md`, `docs/*.md`): every relative link leads to a file that exists,
//! and the pages speak to users, naming no internal planning documents or issue numbers.

use regex::Regex;
use std::path::{Path, PathBuf};

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = vec![root.join("README.md")];
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
            // The reference example config keeps its file name.
            let line = line.replace("brief.yaml", "");
            if internal.is_match(&line) {
                found.push(format!("{}:{}: {}", page.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "speak to users:\n{}", found.join("\n"));
}
