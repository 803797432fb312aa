//! Config errors: every problem found, each naming its key path and, when known, its line.

use std::fmt;

/// One thing wrong with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path such as `clusters[1].bootstrap_servers[0]`; empty for the whole document.
    pub path: String,
    /// 1-based line in the YAML file, where known.
    pub line: Option<u64>,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl Problem {
    /// A problem at `path` with no line yet.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        match self.line {
            Some(l) => write!(f, "{path} (line {l}): {}", self.message),
            None => write!(f, "{path}: {}", self.message),
        }
    }
}

/// The config could not be used; `problems` lists every reason found.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file (or `<config>`) the problems are in.
    pub source_name: String,
    /// Every problem found, in document order as far as possible.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} problem{} in the configuration:",
            self.source_name,
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}
