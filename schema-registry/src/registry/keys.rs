//! The registry's entries in the control log, relative to its prefix there.
//!
//! | Entry | Key | Value |
//! |---|---|---|
//! | a schema, by id | `ids/{id}` | the schema, its type, references and fingerprint |
//! | a subject's version | `versions/{subject}/{version}` | `{"id", "deleted"}`; none once deleted for good |
//! | the global level | `config` | `{"compatibilityLevel"}` |
//! | a subject's level | `config/{subject}` | `{"compatibilityLevel"}`; none once deleted |

use std::fmt;

/// A registry entry's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKey {
    /// A schema by id.
    Schema {
        /// Its id.
        id: u32,
    },
    /// A version of a subject.
    Version {
        /// The subject (may hold `/`).
        subject: String,
        /// The version.
        version: u32,
    },
    /// A compatibility level: global (`None`) or a subject's.
    Config {
        /// The subject.
        subject: Option<String>,
    },
}

impl EntryKey {
    /// Parses a key written by [`fmt::Display`]; `None` for anything else.
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(id) = key.strip_prefix("ids/") {
            return Some(Self::Schema {
                id: id.parse().ok()?,
            });
        }
        if let Some(rest) = key.strip_prefix("versions/") {
            let (subject, version) = rest.rsplit_once('/')?;
            return Some(Self::Version {
                subject: subject.to_owned(),
                version: version.parse().ok()?,
            });
        }
        if key == "config" {
            return Some(Self::Config { subject: None });
        }
        key.strip_prefix("config/").map(|s| Self::Config {
            subject: Some(s.to_owned()),
        })
    }
}

impl fmt::Display for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Schema { id } => write!(f, "ids/{id}"),
            Self::Version { subject, version } => write!(f, "versions/{subject}/{version}"),
            Self::Config { subject: None } => f.write_str("config"),
            Self::Config { subject: Some(s) } => write!(f, "config/{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back() {
        for k in [
            EntryKey::Schema { id: 7 },
            EntryKey::Version {
                subject: "a/b-value".into(),
                version: 3,
            },
            EntryKey::Config { subject: None },
            EntryKey::Config {
                subject: Some("orders-value".into()),
            },
        ] {
            assert_eq!(EntryKey::parse(&k.to_string()), Some(k));
        }
        assert_eq!(EntryKey::parse("versions/x"), None);
        assert_eq!(EntryKey::parse("other"), None);
    }
}
