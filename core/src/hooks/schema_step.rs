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
/// `count(subject, outcome, records)` is called once per subject and outcome for the batch
/// (metric labels are looked up per batch, never per record). The first invalid record
/// refuses the batch.
pub fn validate_records<'a>(
    registry: &Registry,
    rules: impl Iterator<Item = &'a SchemaRule> + Clone,
    topic: &str,
    records: &Bytes,
    mut count: impl FnMut(&str, &'static str, u64),
) -> Result<(), TransformError> {
    let subjects: Vec<(String, &SchemaRule)> = rules.map(|r| (r.subject_for(topic), r)).collect();
    if subjects.is_empty() || records.is_empty() {
        return Ok(());
    }
    let sets = decode(records)?;
    let mut valid = vec![0u64; subjects.len()];
    let mut index = 0usize;
    for record in sets.iter().flat_map(|s| &s.records) {
        for (k, (subject, rule)) in subjects.iter().enumerate() {
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
                Ok(_) => valid[k] += 1,
                Err(v) => {
                    tally(&subjects, &valid, &mut count);
                    count(subject, "invalid", 1);
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
    tally(&subjects, &valid, &mut count);
    Ok(())
}

/// Reports the valid records counted per subject.
fn tally(
    subjects: &[(String, &SchemaRule)],
    valid: &[u64],
    count: &mut impl FnMut(&str, &'static str, u64),
) {
    for ((subject, _), n) in subjects.iter().zip(valid) {
        if *n > 0 {
            count(subject, "valid", *n);
        }
    }
}
