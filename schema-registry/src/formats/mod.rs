//! The three schema languages behind one type: parse with references, a canonical form that
//! decides whether two registrations are one schema, compatibility, and record checks.

pub mod avro;
pub mod avro_check;
pub mod json;
pub mod protobuf;

use crate::schema::SchemaType;

/// A parsed, compiled schema.
pub enum Parsed {
    /// Avro.
    Avro(avro::AvroSchema),
    /// JSON Schema.
    Json(json::JsonSchema),
    /// Protobuf.
    Protobuf(protobuf::ProtoSchema),
}

impl Parsed {
    /// Parses `text` of type `t`; `references` are (name, type, text) of the schemas it
    /// references, dependencies first.
    pub fn parse(t: SchemaType, text: &str, references: &[(&str, &str)]) -> Result<Self, String> {
        match t {
            SchemaType::Avro => {
                let texts: Vec<&str> = references.iter().map(|(_, t)| *t).collect();
                avro::AvroSchema::parse(text, &texts).map(Self::Avro)
            }
            SchemaType::Json => json::JsonSchema::parse(text, references).map(Self::Json),
            SchemaType::Protobuf => {
                protobuf::ProtoSchema::parse(text, references).map(Self::Protobuf)
            }
        }
    }

    /// The form two registrations of one schema share (layout aside): JSON re-serialized
    /// compactly for Avro and JSON Schema, the trimmed text (or, with `normalize`, the
    /// compiled descriptor) for Protobuf.
    pub fn canonical(&self, text: &str, normalize: bool) -> String {
        match self {
            Self::Avro(_) => serde_json::from_str::<serde_json::Value>(text)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| text.trim().to_owned()),
            Self::Json(j) => j.canonical(),
            Self::Protobuf(p) => p.canonical(normalize),
        }
    }

    /// What may stop `self` reading data written with `writer`: empty when it can.
    pub fn cannot_read(&self, writer: &Parsed) -> Vec<String> {
        match (self, writer) {
            (Self::Avro(r), Self::Avro(w)) => r.cannot_read(w).into_iter().collect(),
            (Self::Json(r), Self::Json(w)) => r.cannot_read(w),
            (Self::Protobuf(r), Self::Protobuf(w)) => r.cannot_read(w),
            _ => vec!["the schema type changed".to_owned()],
        }
    }

    /// Checks one record's payload (after the Confluent header, for Protobuf including the
    /// message-index list); the error says what did not match.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        match self {
            Self::Avro(a) => a.check(payload),
            Self::Json(j) => j.check(payload),
            Self::Protobuf(p) => p.check(payload),
        }
    }

    /// The JSON Schema, for checking plain JSON values.
    pub fn as_json(&self) -> Option<&json::JsonSchema> {
        match self {
            Self::Json(j) => Some(j),
            _ => None,
        }
    }

    /// The schema in `format=serialized` form (Protobuf: a base64 descriptor), if it has one.
    pub fn serialized(&self) -> Option<String> {
        match self {
            Self::Protobuf(p) => Some(p.serialized()),
            _ => None,
        }
    }
}
