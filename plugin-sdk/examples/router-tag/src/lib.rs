//! Sets a header (config `header`, default `route`) to the value of a top-level JSON field
//! (config `field`), so consumers and routers can filter without parsing values.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, OwnedRecord, Plugin, RecordView, Verdict};

/// The plugin.
pub struct RouterTag {
    field: String,
    header: String,
}

impl Plugin for RouterTag {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(config: &Config) -> Result<Self, String> {
        let field = config
            .get("field")
            .ok_or("config `field` is required")?
            .to_owned();
        let header = config.get("header").unwrap_or("route").to_owned();
        Ok(Self { field, header })
    }

    fn on_produce(&self, _ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        let mut changed = false;
        let out = records
            .iter()
            .map(|r| {
                let mut o = OwnedRecord::from_view(r);
                let tag = r
                    .value
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                    .and_then(|j| j.get(&self.field).cloned())
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    });
                if let Some(tag) = tag {
                    o.headers.retain(|(n, _)| *n != self.header);
                    o.headers
                        .push((self.header.clone(), Some(tag.into_bytes())));
                    changed = true;
                }
                o
            })
            .collect();
        if changed {
            Verdict::Rewrite(out)
        } else {
            Verdict::Keep
        }
    }
}

kafkatwin_plugin_sdk::export_plugin!(RouterTag);

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_plugin_sdk::testing::{self, TestRecord};

    #[test]
    fn tags_records_that_have_the_field() {
        let p: RouterTag = testing::init(&[("field", "region"), ("header", "dc")]).expect("init");
        let v = testing::produce(
            &p,
            "t",
            &[
                TestRecord::value(r#"{"region":"eu"}"#),
                TestRecord::value("{}"),
            ],
        );
        let Verdict::Rewrite(out) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            out[0].headers,
            vec![("dc".to_string(), Some(b"eu".to_vec()))]
        );
        assert!(out[1].headers.is_empty());
        assert!(testing::init::<RouterTag>(&[]).is_err());
    }
}
