//! Why an admin change (a transformation rule, a plugin) was refused. The domain code says
//! what went wrong; the HTTP layer (`http.rs`) maps each kind to its status.

/// Why a change was refused, with a message that names what it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The request is wrong (400), in `field` when one is at fault.
    #[error("{message}")]
    Invalid {
        /// The request field at fault.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// What it names does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// It clashes with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// It was based on a version that is no longer current (412, `If-Match`).
    #[error("{0}")]
    Stale(String),
    /// It could not be stored now (503): too few clusters took it.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the proxy's (500).
    #[error("{0}")]
    Internal(String),
}

/// Checks a change based on version `expected` of `what` (`If-Match`; `None`: any version)
/// against its `current` version: 412 naming both when they differ.
pub fn check_version(
    what: &str,
    expected: Option<i64>,
    current: Option<i64>,
) -> Result<(), ChangeError> {
    match expected {
        Some(e) if current != Some(e) => Err(ChangeError::stale(format!(
            "{what} changed since version {e} (If-Match): now {}; read it again and retry",
            current.map_or("no version".into(), |v| format!("at version {v}"))
        ))),
        _ => Ok(()),
    }
}

impl ChangeError {
    /// A wrong request, in `field` when one is at fault.
    pub fn bad_request(field: Option<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
    /// What it names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
    /// It clashes with what exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }
    /// Based on a version that is no longer current.
    pub fn stale(message: impl Into<String>) -> Self {
        Self::Stale(message.into())
    }
    /// Could not be stored now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }
    /// A fault of the proxy's.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}
