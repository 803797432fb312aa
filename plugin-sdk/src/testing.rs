//! A native stand-in for the host, so plugin code unit-tests with `cargo test`: records go
//! through the same one-buffer encoding as in the real host, and verdicts come back decoded.

use crate::plugin::{Config, Plugin};
use crate::{BatchContext, OwnedRecord, RecordView, Verdict, wire};

/// A record to feed a plugin under test.
#[derive(Debug, Clone, Default)]
pub struct TestRecord {
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl TestRecord {
    /// A record with this value.
    pub fn value(v: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Some(v.into()),
            ..Self::default()
        }
    }
}

/// Builds a plugin from `config` pairs as the host would.
pub fn init<P: Plugin>(config: &[(&str, &str)]) -> Result<P, String> {
    P::init(&Config(
        config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    ))
}

fn with_views<R>(records: &[TestRecord], f: impl FnOnce(&[RecordView<'_>]) -> R) -> R {
    let owned: Vec<OwnedRecord> = records
        .iter()
        .map(|r| OwnedRecord {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        })
        .collect();
    // Through the wire encoding, as in the host.
    let buf = wire::encode_owned(&owned);
    let views = wire::decode(&buf).unwrap_or_default();
    f(&views)
}

/// Runs the plugin's on_produce on `records` of `topic` partition 0.
pub fn produce<P: Plugin>(plugin: &P, topic: &str, records: &[TestRecord]) -> Verdict {
    let ctx = BatchContext {
        topic,
        partition: 0,
        client_id: Some("test"),
    };
    with_views(records, |v| plugin.on_produce(&ctx, v))
}

/// Runs the plugin's on_fetch on `records` of `topic` partition 0.
pub fn fetch<P: Plugin>(plugin: &P, topic: &str, records: &[TestRecord]) -> Verdict {
    let ctx = BatchContext {
        topic,
        partition: 0,
        client_id: Some("test"),
    };
    with_views(records, |v| plugin.on_fetch(&ctx, v))
}
