//! Secrets in the config (admin API tokens): a plain string, `${env:NAME}` or `${file:PATH}`,
//! resolved when used. Never printed: `Debug` and serialization show a placeholder.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A secret value or a reference to one.
#[derive(Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret given as written in the config.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The value: the plain string, the environment variable's value, or the file's content
    /// without its trailing newline. The error says what is missing (never the value).
    pub fn resolve(&self) -> Result<String, String> {
        let raw = self.0.trim();
        let value = if let Some(name) = raw.strip_prefix("${env:").and_then(|r| r.strip_suffix('}'))
        {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?
        } else if let Some(path) = raw
            .strip_prefix("${file:")
            .and_then(|r| r.strip_suffix('}'))
        {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {path}: {e}"))?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        } else {
            self.0.clone()
        };
        if value.is_empty() {
            return Err("is empty".into());
        }
        Ok(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_env_and_file_secrets_resolve_and_never_print() {
        assert_eq!(Secret::new("s3cret").resolve().as_deref(), Ok("s3cret"));
        if let Ok(path) = std::env::var("PATH") {
            assert_eq!(Secret::new("${env:PATH}").resolve(), Ok(path));
        }
        assert!(
            Secret::new("${env:KAFKATWIN_TEST_SECRET_MISSING}")
                .resolve()
                .is_err_and(|e| e.contains("KAFKATWIN_TEST_SECRET_MISSING"))
        );
        let path = std::env::temp_dir().join(format!("kt-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").expect("write");
        let r = Secret::new(format!("${{file:{}}}", path.display())).resolve();
        assert_eq!(r.as_deref(), Ok("from-file"));
        let shown = format!("{:?}", Secret::new("s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
