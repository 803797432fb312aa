//! Masks the JSON fields named in the config key `fields` (comma separated, top level).
//! Records that are not JSON objects, or lack the fields, go through unchanged.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, OwnedRecord, Plugin, RecordView, Verdict};

/// The plugin: which fields to mask.
pub struct Redact {
    fields: Vec<String>,
}

/// What a masked field becomes.
pub const MASK: &str = "***";

impl Redact {
    /// The value with the named top-level fields masked, or `None` if it has none of them
    /// (or is not a JSON object). Only the top level is parsed: field values stay raw text.
    fn mask(&self, value: &[u8]) -> Option<Vec<u8>> {
        use serde_json::value::RawValue;
        // Keys are owned (they may contain escapes); values stay borrowed raw JSON.
        let mut obj: std::collections::BTreeMap<String, &RawValue> =
            serde_json::from_slice(value).ok()?;
        let masked = serde_json::value::to_raw_value(MASK).ok()?;
        let mut hit = false;
        for f in &self.fields {
            if let Some(v) = obj.get_mut(f) {
                *v = &masked;
                hit = true;
            }
        }
        if hit {
            serde_json::to_vec(&obj).ok()
        } else {
            None
        }
    }
}

impl Plugin for Redact {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(config: &Config) -> Result<Self, String> {
        let fields = config.list("fields");
        if fields.is_empty() {
            return Err("config `fields` must name at least one field".into());
        }
        Ok(Self { fields })
    }

    fn on_produce(&self, _ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        let mut changed = false;
        let out = records
            .iter()
            .map(|r| {
                let mut rec = OwnedRecord::from_view(r);
                let parsed = r
                    .value
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok());
                if let Some(serde_json::Value::Object(mut obj)) = parsed {
                    let mut hit = false;
                    for f in &self.fields {
                        if let Some(v) = obj.get_mut(f) {
                            *v = serde_json::Value::String(MASK.into());
                            hit = true;
                        }
                    }
                    if hit {
                        changed = true;
                        rec.value = serde_json::to_vec(&obj).ok();
                    }
                }
                rec
            })
            .collect();
        if changed {
            Verdict::Rewrite(out)
        } else {
            Verdict::Keep
        }
    }
}

kafkatwin_plugin_sdk::export_plugin!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_plugin_sdk::testing::{self, TestRecord};

    #[test]
    fn masks_the_named_fields_only() {
        let p: Redact = testing::init(&[("fields", "ssn, card")]).expect("init");
        let v = testing::produce(
            &p,
            "t",
            &[
                TestRecord::value(r#"{"ssn":"123","name":"a","card":"4111"}"#),
                TestRecord::value("not json"),
            ],
        );
        let Verdict::Rewrite(out) = v else {
            panic!("expected a rewrite, got {v:?}")
        };
        let first: serde_json::Value =
            serde_json::from_slice(out[0].value.as_deref().unwrap_or_default()).expect("json");
        assert_eq!(first["ssn"], MASK);
        assert_eq!(first["card"], MASK);
        assert_eq!(first["name"], "a");
        assert_eq!(out[1].value.as_deref(), Some(&b"not json"[..]));
    }

    #[test]
    fn no_field_no_change_and_config_is_required() {
        let p: Redact = testing::init(&[("fields", "ssn")]).expect("init");
        assert_eq!(
            testing::produce(&p, "t", &[TestRecord::value(r#"{"a":1}"#)]),
            Verdict::Keep
        );
        assert!(testing::init::<Redact>(&[]).is_err());
    }
}
