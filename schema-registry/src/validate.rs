//! Checking records against registered schemas: Confluent's wire format (magic byte 0, a
//! four-byte schema id, the encoded value) or plain JSON against a subject's latest JSON
//! Schema.

use crate::registry::Registry;
use serde::{Deserialize, Serialize};

/// How a record's bytes carry its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    /// Confluent's: magic byte 0, the schema id (big-endian u32), then the encoded value
    /// (for Protobuf, after the message-index list).
    #[default]
    Confluent,
    /// A plain JSON value, checked against the subject's latest JSON Schema.
    Json,
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The schema id the record named or was checked against, if any.
    pub schema_id: Option<u32>,
    /// What was wrong (`$.amount: "x" is not of type "number"`, `unknown schema id 9999`,
    /// `no magic byte`).
    pub message: String,
}

impl Violation {
    fn new(schema_id: Option<u32>, message: impl Into<String>) -> Self {
        Self {
            schema_id,
            message: message.into(),
        }
    }
}

impl Registry {
    /// Checks one record's bytes against `subject`; `Ok` carries the schema id it matched.
    pub fn check_record(
        &self,
        subject: &str,
        format: WireFormat,
        bytes: &[u8],
    ) -> Result<u32, Violation> {
        match format {
            WireFormat::Confluent => self.check_confluent(subject, bytes),
            WireFormat::Json => {
                let id = self.latest_id(subject).ok_or_else(|| {
                    Violation::new(None, format!("subject {subject} has no schema"))
                })?;
                let parsed = self
                    .compiled(id)
                    .map_err(|e| Violation::new(Some(id), e.to_string()))?;
                let json = parsed.as_json().ok_or_else(|| {
                    Violation::new(
                        Some(id),
                        format!("the latest schema of {subject} is not a JSON Schema"),
                    )
                })?;
                json.check(bytes).map_err(|m| Violation::new(Some(id), m))?;
                Ok(id)
            }
        }
    }

    fn check_confluent(&self, subject: &str, bytes: &[u8]) -> Result<u32, Violation> {
        let Some((&0, rest)) = bytes.split_first() else {
            return Err(Violation::new(None, "no magic byte"));
        };
        let Some((id, payload)) = rest.split_first_chunk::<4>() else {
            return Err(Violation::new(None, "the schema id is cut short"));
        };
        let id = u32::from_be_bytes(*id);
        let parsed = self
            .compiled(id)
            .map_err(|_| Violation::new(Some(id), format!("unknown schema id {id}")))?;
        if !self.is_version_of(subject, id) {
            return Err(Violation::new(
                Some(id),
                format!("schema id {id} is not a version of subject {subject}"),
            ));
        }
        parsed
            .check(payload)
            .map_err(|m| Violation::new(Some(id), m))?;
        Ok(id)
    }
}
