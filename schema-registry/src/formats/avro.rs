//! Avro schemas: parsed with `apache-avro`, checked with its schema-resolution rules.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

/// A parsed Avro schema and the named types it references.
pub struct AvroSchema {
    schema: Schema,
    references: Vec<Schema>,
}

impl AvroSchema {
    /// Parses `text`; `references` are the texts of the referenced schemas (named types).
    pub fn parse(text: &str, references: &[&str]) -> Result<Self, String> {
        if references.is_empty() {
            let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
            return Ok(Self {
                schema,
                references: Vec::new(),
            });
        }
        let (schema, references) =
            Schema::parse_str_with_list(text, references).map_err(|e| e.to_string())?;
        Ok(Self { schema, references })
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

    /// Decodes one datum, all of `payload`; the error says what did not match.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        let mut schemata: Vec<&Schema> = self.references.iter().collect();
        schemata.push(&self.schema);
        let reader = GenericDatumReader::builder(&self.schema)
            .writer_schemata(schemata)
            .and_then(|b| b.build())
            .map_err(|e| e.to_string())?;
        let mut rest = payload;
        reader
            .read_value(&mut rest)
            .map_err(|e| format!("not a datum of this Avro schema: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} byte(s) left after the Avro datum", rest.len()));
        }
        Ok(())
    }
}
