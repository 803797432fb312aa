//! Human-readable durations (`30s`, `500ms`, `2m`) in the config.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration written with a unit, such as `30s` or `250ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// Milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// The standard-library value.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as \"30s\" or \"500ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                humantime::parse_duration(v.trim())
                    .map(Duration)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {v:?}: {e} (write e.g. \"30s\" or \"500ms\")"
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_bare_numbers() {
        let d: Duration = serde_json::from_str("\"30s\"").expect("30s parses");
        assert_eq!(d.get(), std::time::Duration::from_secs(30));
        let d: Duration = serde_json::from_str("\"250ms\"").expect("250ms parses");
        assert_eq!(d.get(), std::time::Duration::from_millis(250));
        assert!(serde_json::from_str::<Duration>("30").is_err());
        assert!(serde_json::from_str::<Duration>("\"soon\"").is_err());
    }
}
