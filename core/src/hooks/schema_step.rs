//! The `validate_schema` step: each record's key or value checked against the schema
//! registry before any rule chain or plugin sees the batch. Its own compiled step, as the
//! WASM action has, because the built-in engine reads values as JSON and an Avro or
//! Protobuf payload is not JSON. Schemas are compiled once per id and shared.

use crate::hooks::{TransformError, decode};
use bytes::Bytes;
use kafkatwin_builtin_transforms::{SchemaFormat, SchemaPart, SchemaRule};
use kafkatwin_schema_registry::{Registry, WireFormat};

/// One record refused by a schema check.
#[derive(Debug, thiserror::Error)]
#[error(
    "record {index}: subject {subject}{}: {message}",
    .schema_id.map(|id| format!(", schema id {id}")).unwrap_or_default()
)]
pub struct SchemaRejected {
    /// The record's index in the partition's batches.
    pub index: usize,
    /// The subject it was checked against.
    pub subject: String,
    /// The schema id it named or was checked against.
    pub schema_id: Option<u32>,
    /// The first violation.
    pub message: String,
}

/// Checks every record of a partition's batches against `rules` (all bound to `topic`);
/// `count(subject, outcome)` is called per checked record. The first invalid record refuses
/// the batch.
pub fn apply<'a>(
    registry: &Registry,
    rules: impl Iterator<Item = &'a SchemaRule> + Clone,
    topic: &str,
    records: &Bytes,
    mut count: impl FnMut(&str, &'static str),
) -> Result<(), TransformError> {
    let subjects: Vec<(String, &SchemaRule)> = rules.map(|r| (r.subject_for(topic), r)).collect();
    if subjects.is_empty() || records.is_empty() {
        return Ok(());
    }
    let sets = decode(records)?;
    let mut index = 0usize;
    for record in sets.iter().flat_map(|s| &s.records) {
        for (subject, rule) in &subjects {
            let part = match rule.part {
                SchemaPart::Value => record.value.as_ref(),
                SchemaPart::Key => record.key.as_ref(),
            };
            // A null part (a tombstone) has nothing to check.
            let Some(bytes) = part else { continue };
            let format = match rule.format {
                SchemaFormat::Confluent => WireFormat::Confluent,
                SchemaFormat::Json => WireFormat::Json,
            };
            match registry.check_record(subject, format, bytes) {
                Ok(_) => count(subject, "valid"),
                Err(v) => {
                    count(subject, "invalid");
                    return Err(TransformError::Schema(SchemaRejected {
                        index,
                        subject: subject.clone(),
                        schema_id: v.schema_id,
                        message: v.message,
                    }));
                }
            }
        }
        index += 1;
    }
    Ok(())
}
