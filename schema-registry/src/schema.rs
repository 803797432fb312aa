//! What a client registers: a schema's text, its type and the schemas it references, in the
//! shape Confluent's REST API uses.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A schema's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// Apache Avro (Confluent's default: the REST API leaves `schemaType` out for Avro).
    #[default]
    Avro,
    /// JSON Schema, drafts 4 to 2020-12.
    Json,
    /// Protocol Buffers, as `.proto` text or a base64 `FileDescriptorProto`.
    Protobuf,
}

impl SchemaType {
    /// Every type, as `GET /schemas/types` lists them.
    pub const ALL: [SchemaType; 3] = [Self::Json, Self::Protobuf, Self::Avro];

    /// The name the REST API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Protobuf => "PROTOBUF",
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference from one schema to a version of another subject: `name` is how the
/// referencing schema names it (an Avro full name, a JSON `$ref`, a Protobuf import path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// The name the referencing schema uses.
    pub name: String,
    /// The subject holding the referenced schema.
    pub subject: String,
    /// Its version there.
    pub version: u32,
}

/// A schema as registered: its text, type and references. Stored once per id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaBody {
    /// The schema's type.
    #[serde(rename = "schemaType", default)]
    pub schema_type: SchemaType,
    /// Its text as registered.
    pub schema: String,
    /// The schemas it references, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

/// How new versions of a subject must relate to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    /// The new schema can read data written with the latest version.
    #[default]
    Backward,
    /// ... with every version.
    BackwardTransitive,
    /// Data written with the new schema can be read with the latest version.
    Forward,
    /// ... with every version.
    ForwardTransitive,
    /// Backward and forward, against the latest version.
    Full,
    /// Backward and forward, against every version.
    FullTransitive,
    /// No check.
    None,
}

impl Compatibility {
    /// The name the REST API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    /// Parses a level name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Backward,
            Self::BackwardTransitive,
            Self::Forward,
            Self::ForwardTransitive,
            Self::Full,
            Self::FullTransitive,
            Self::None,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the new schema must read data of the old ones.
    pub fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether the old ones must read data of the new schema.
    pub fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether every earlier version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
