//! The KafkaTwin plugin API: what a hook sees (borrowed record views, the topic and client)
//! and what it answers (an explicit [`Verdict`]). Built-in transforms implement it natively;
//! WASM plugins implement the same API through the guest side of this crate.
//!
//! Invariants the runtime keeps for every hook:
//! - one call per partition batch, never per record; a batch no hook claims is never decoded;
//! - records arrive in log order, with offsets relative to the batch (`offset_delta`);
//! - `Keep` forwards the original bytes untouched; `Rewrite` re-encodes once, preserving the
//!   batch's compression, producer id, epoch and sequences;
//! - `Reject` fails only that partition, with the code and message given.

pub mod plugin;
pub mod testing;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod guest;

pub use plugin::{Config, Hook, Plugin};

/// Exports a [`Plugin`] type as the component's world (on `wasm32`; nothing elsewhere, so
/// the same crate builds natively for its tests).
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {};
}

/// One record header, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderView<'a> {
    /// Header name.
    pub name: &'a str,
    /// Header value (`None` is a null value).
    pub value: Option<&'a [u8]>,
}

/// One record, borrowed from the decoded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Offset relative to the batch's first record.
    pub offset_delta: i32,
    /// Record timestamp (ms).
    pub timestamp: i64,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub value: Option<&'a [u8]>,
    /// Headers in order.
    pub headers: Vec<HeaderView<'a>>,
}

/// A record a hook emits when it rewrites a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedRecord {
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl OwnedRecord {
    /// An owned copy of a view.
    pub fn from_view(v: &RecordView<'_>) -> Self {
        Self {
            key: v.key.map(<[u8]>::to_vec),
            value: v.value.map(<[u8]>::to_vec),
            headers: v
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// Where a batch is going or coming from, and who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchContext<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// The client's `client.id`, if it sent one.
    pub client_id: Option<&'a str>,
}

/// Kafka error codes a hook may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// `INVALID_RECORD` (87): a record failed validation.
    InvalidRecord,
    /// `POLICY_VIOLATION` (44): the request breaks a policy.
    PolicyViolation,
}

impl RejectCode {
    /// The Kafka protocol error code.
    pub const fn kafka_code(self) -> i16 {
        match self {
            Self::InvalidRecord => 87,
            Self::PolicyViolation => 44,
        }
    }
}

/// A hook's answer for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the batch unchanged (its original bytes).
    Keep,
    /// Replace the batch's records with these, in this order.
    Rewrite(Vec<OwnedRecord>),
    /// Fail the partition.
    Reject {
        /// The error code for the partition.
        code: RejectCode,
        /// What is wrong, for the client and the log.
        message: String,
        /// Per-record errors: the record's index in the batch and why.
        record_errors: Vec<(usize, String)>,
    },
}

/// A hook on produced batches, before they are written.
pub trait ProduceHook: Send + Sync {
    /// Decides what happens to one partition batch.
    fn on_produce(&self, ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict;
}

/// A hook on fetched batches, before they reach the client (stored data is unchanged).
pub trait FetchHook: Send + Sync {
    /// Decides what the client sees of one partition batch.
    fn on_fetch(&self, ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict;
}

/// An authentication hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Authenticated as this principal.
    Allow {
        /// The principal name.
        principal: String,
    },
    /// Refused, with a reason for the log (clients get a generic failure).
    Deny {
        /// Why.
        reason: String,
    },
}

/// A hook on SASL authentication.
pub trait AuthHook: Send + Sync {
    /// Checks credentials.
    fn on_auth(&self, mechanism: &str, username: &str, password: &[u8]) -> AuthVerdict;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake plugin for the API's own test: drops nothing, upper-cases values.
    struct Shout;

    impl ProduceHook for Shout {
        fn on_produce(&self, _: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
            Verdict::Rewrite(
                records
                    .iter()
                    .map(|r| OwnedRecord {
                        value: r.value.map(|v| v.to_ascii_uppercase()),
                        ..OwnedRecord::from_view(r)
                    })
                    .collect(),
            )
        }
    }

    #[test]
    fn a_native_plugin_implements_the_api() {
        let ctx = BatchContext {
            topic: "t",
            partition: 0,
            client_id: None,
        };
        let headers = vec![HeaderView {
            name: "h",
            value: Some(b"1"),
        }];
        let records = [RecordView {
            offset_delta: 0,
            timestamp: 1,
            key: Some(b"k"),
            value: Some(b"hello"),
            headers,
        }];
        let Verdict::Rewrite(out) = Shout.on_produce(&ctx, &records) else {
            panic!("rewrite expected")
        };
        assert_eq!(out[0].value.as_deref(), Some(&b"HELLO"[..]));
        assert_eq!(out[0].headers, vec![("h".to_string(), Some(b"1".to_vec()))]);
        assert_eq!(RejectCode::InvalidRecord.kafka_code(), 87);
    }
}
