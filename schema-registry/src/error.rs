//! The registry's errors, each with the error code and HTTP status Confluent's clients expect.

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No such subject (or every version of it is deleted).
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// No such version of a subject.
    #[error("Version {version} not found for subject '{subject}'.")]
    VersionNotFound {
        /// The subject.
        subject: String,
        /// The version asked for, as given.
        version: String,
    },
    /// No such schema (by id, or under a subject on lookup).
    #[error("{0}")]
    SchemaNotFound(String),
    /// A permanent delete of a subject or version that was not soft-deleted first.
    #[error(
        "{0} must be soft-deleted first. Delete it without permanent=true, then again with it."
    )]
    NotSoftDeleted(String),
    /// The subject has been soft-deleted (a read that does not ask for deleted ones).
    #[error("Subject '{0}' was soft deleted. Set permanent=true to delete permanently.")]
    SubjectSoftDeleted(String),
    /// No compatibility level is set for the subject.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    NoSubjectConfig(String),
    /// The schema breaks the subject's compatibility level.
    #[error("Schema being registered is incompatible with an earlier schema for subject '{subject}', details: [{}]", .messages.join(", "))]
    Incompatible {
        /// The subject.
        subject: String,
        /// What broke, one line per problem.
        messages: Vec<String>,
    },
    /// The schema does not parse, or a reference is missing.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// A version that is not a number from 1 or `latest`.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    /// A compatibility level that does not exist.
    #[error(
        "Invalid compatibility level: {0}. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, full_transitive"
    )]
    InvalidCompatibility(String),
    /// A request body that is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// The change could not be stored on a majority of clusters.
    #[error("Error in the backend data store: {0}")]
    Store(String),
}

impl RegistryError {
    /// Confluent's `error_code`.
    pub fn code(&self) -> u32 {
        match self {
            Self::SubjectNotFound(_) => 40401,
            Self::VersionNotFound { .. } => 40402,
            Self::SchemaNotFound(_) => 40403,
            Self::SubjectSoftDeleted(_) => 40404,
            Self::NotSoftDeleted(_) => 40405,
            Self::NoSubjectConfig(_) => 40408,
            Self::Incompatible { .. } => 409,
            Self::InvalidSchema(_) => 42201,
            Self::InvalidVersion(_) => 42202,
            Self::InvalidCompatibility(_) => 42203,
            Self::BadRequest(_) => 400,
            Self::Store(_) => 50001,
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self.code() {
            c if c >= 10_000 => (c / 100) as u16,
            c => c as u16,
        }
    }
}
