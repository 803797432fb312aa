//! Avro schemas: parsed with `apache-avro`, checked with its schema-resolution rules.

use super::avro_check::{Names, Walk, collect_names};
use apache_avro::schema::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

/// A parsed Avro schema and the named types it references.
pub struct AvroSchema {
    schema: Schema,
    /// The named types of the schema and its references, for record checks.
    names: Names,
}

impl AvroSchema {
    /// Parses `text`; `references` are the texts of the referenced schemas (named types).
    pub fn parse(text: &str, references: &[&str]) -> Result<Self, String> {
        let (schema, references) = if references.is_empty() {
            (
                Schema::parse_str(text).map_err(|e| e.to_string())?,
                Vec::new(),
            )
        } else {
            Schema::parse_str_with_list(text, references).map_err(|e| e.to_string())?
        };
        let mut names = Names::new();
        for s in references.iter().chain([&schema]) {
            collect_names(s, &mut names);
        }
        Ok(Self { schema, names })
    }

    /// Why data written with `writer` cannot be read with `self`, if it cannot.
    pub fn cannot_read(&self, writer: &AvroSchema) -> Option<String> {
        match SchemaCompatibility::can_read(&writer.schema, &self.schema) {
            Ok(Compatibility::Full) => None,
            Ok(Compatibility::Partial) => {
                Some("the reader accepts only some of the writer's union branches".to_owned())
            }
            Err(e) => Some(e.to_string()),
        }
    }

    /// Checks that `payload` is exactly one datum of the schema; the error names the field.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        Walk::new(&self.names, payload)
            .whole(&self.schema)
            .map_err(|e| format!("not a datum of this Avro schema: {e}"))
    }
}
