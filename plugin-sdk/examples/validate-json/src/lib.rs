//! Rejects a batch in which some record's value is not a JSON object, naming the record.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, Plugin, RecordView, RejectCode, Verdict};

/// The plugin (no config).
pub struct ValidateJson;

impl Plugin for ValidateJson {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_produce(&self, ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        let bad: Vec<(usize, String)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !matches!(
                    r.value
                        .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok()),
                    Some(serde_json::Value::Object(_))
                )
            })
            .map(|(i, _)| (i, format!("record {i}: value is not a JSON object")))
            .collect();
        match bad.first() {
            None => Verdict::Keep,
            Some((_, first)) => Verdict::Reject {
                code: RejectCode::InvalidRecord,
                message: format!("{}-{}: {first}", ctx.topic, ctx.partition),
                record_errors: bad,
            },
        }
    }
}

kafkatwin_plugin_sdk::export_plugin!(ValidateJson);

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_plugin_sdk::testing::{self, TestRecord};

    #[test]
    fn names_the_first_bad_record() {
        let p: ValidateJson = testing::init(&[]).expect("init");
        let ok = [TestRecord::value(r#"{"a":1}"#)];
        assert_eq!(testing::produce(&p, "t", &ok), Verdict::Keep);
        let v = testing::produce(
            &p,
            "t",
            &[TestRecord::value("{}"), TestRecord::value("[1]")],
        );
        let Verdict::Reject {
            message,
            record_errors,
            ..
        } = v
        else {
            panic!("{v:?}")
        };
        assert!(message.contains("record 1"), "{message}");
        assert_eq!(record_errors[0].0, 1);
    }
}
