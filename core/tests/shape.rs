//! Functions a reader can take in at once: none in core over 100 lines, except declarative
//! tables (one arm or entry per API or metric, nothing to follow from one to the next).

mod common;

use common::{rust_files, src_dir};
use regex::Regex;

const MAX_LINES: usize = 100;
/// Tables, by file and function name.
const TABLES: &[(&str, &str)] = &[
    ("proxy/errors.rs", "error_response"),
    ("base/metrics.rs", "new"),
];

/// Every function of `text` longer than `max` lines: its name and length. A function runs
/// from its `fn` line to the first line that closes it at the same indentation.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let start = Regex::new(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?fn\s+(\w+)")
        .expect("regex");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(c) = start.captures(lines[i]) {
            let close = format!("{}}}", &c[1]);
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim_end() == close)
                .unwrap_or(i);
            if end + 1 - i > max {
                out.push((c[2].to_owned(), end + 1 - i));
            }
        }
        i += 1;
    }
    out
}

#[test]
fn no_function_in_core_is_over_a_hundred_lines_but_tables() {
    let src = src_dir();
    let mut long = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").to_path_buf();
        let rel = rel.to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).expect("read source");
        for (name, n) in long_functions(&text, MAX_LINES) {
            if !TABLES.contains(&(rel.as_str(), name.as_str())) {
                long.push(format!("core/src/{rel}: {name} ({n} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_LINES} lines (split them into steps with names):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_function_is_measured_from_its_fn_line_to_its_closing_brace() {
    let body = "    x();\n".repeat(5);
    let text = format!("fn short() {{\n}}\n    pub async fn long() {{\n{body}    }}\n");
    assert_eq!(long_functions(&text, 6), vec![("long".to_owned(), 7)]);
    assert!(long_functions(&text, 7).is_empty());
}

/// Names that `name_of` finds declared (outside test modules) in more than one file of core,
/// each with the files that declare it.
fn declared_twice(name_of: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let src = src_dir();
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in rust_files(&src) {
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file).expect("read source");
        for line in text.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
            if let Some(name) = name_of(line) {
                seen.entry(name).or_default().push(rel.clone());
            }
        }
    }
    seen.into_iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect()
}

#[test]
fn no_two_free_functions_in_core_share_a_name() {
    // Functions at the top of a file (methods are named within their type).
    let decl = Regex::new(r"^(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?fn\s+(\w+)")
        .expect("regex");
    let twice = declared_twice(|line| {
        let c = decl.captures(line)?;
        (&c[1] != "main").then(|| c[1].to_owned())
    });
    assert!(
        twice.is_empty(),
        "function names used twice (name each for what it does):\n{}",
        twice.join("\n")
    );
}

#[test]
fn no_two_types_in_core_share_a_name() {
    // Structs, enums and traits anywhere; type aliases at the top of a file (associated
    // types of traits and impls are not declarations of their own).
    let decl = Regex::new(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(struct|enum|trait|type)\s+([A-Z]\w*)")
        .expect("regex");
    let twice = declared_twice(|line| {
        let c = decl.captures(line)?;
        (&c[2] != "type" || c[1].is_empty()).then(|| c[3].to_owned())
    });
    assert!(
        twice.is_empty(),
        "type names used twice (name each for what it is):\n{}",
        twice.join("\n")
    );
}

#[test]
fn no_error_in_core_is_a_bare_string() {
    // An error type says what went wrong and about what; a `String` says neither to a caller
    // that wants to match on it.
    let bare = Regex::new(r"Result<[^;{]*,\s*String>").expect("regex");
    let src = src_dir();
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if bare.is_match(line) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "errors as bare strings (give each a thiserror type):\n{}",
        found.join("\n")
    );
}
