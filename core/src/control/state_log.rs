//! One cluster's copy of an internal one-partition topic of keyed entries: the control log's
//! state topic (`__kafkatwin_state`, see `control_log`, which keeps it on every cluster) and
//! the producer-id claims (`producer_ids`). Appends, reads from an offset, reads to the end.

use crate::backend::{BackendError, Cluster};
use crate::wire::records::complete_batches_len;
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::sync::Arc;

/// The internal topic's name.
pub const STATE_TOPIC: &str = "__kafkatwin_state";
/// Every topic whose name starts with this is the proxy's own: flagged internal in Metadata,
/// and clients may not produce to it or delete it.
pub const INTERNAL_PREFIX: &str = "__kafkatwin";

/// Whether `topic` is one of the proxy's own.
pub fn is_internal(topic: &str) -> bool {
    topic.starts_with(INTERNAL_PREFIX)
}

/// An entry to append: key, value (`None` deletes the key), stamp.
pub type NewEntry<'a> = (&'a str, Option<&'a [u8]>, Option<&'a Stamp>);

/// A stamp's record headers (`v`: version, `w`: writer); none without a stamp.
fn stamp_headers(stamp: Option<&Stamp>) -> IndexMap<StrBytes, Option<Bytes>> {
    let mut headers = IndexMap::new();
    if let Some(s) = stamp {
        headers.insert(
            StrBytes::from_static_str("v"),
            Some(Bytes::from(s.version.to_string())),
        );
        headers.insert(
            StrBytes::from_static_str("w"),
            Some(Bytes::from(s.writer.clone())),
        );
    }
    headers
}

/// Why the state log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend failed.
    #[error("state log: {0}")]
    Backend(#[from] BackendError),
    /// The backend answered with an error code.
    #[error("state log on cluster {cluster}: {what} failed with error code {code}")]
    Refused {
        /// Cluster id.
        cluster: String,
        /// The operation.
        what: &'static str,
        /// Kafka error code.
        code: i16,
    },
    /// Records could not be encoded or decoded.
    #[error("state log: {0}")]
    Records(String),
}

/// Appends to and tails the state topic (or another internal one-partition topic) on one
/// cluster.
pub struct StateLog {
    cluster: Arc<Cluster>,
    topic: TopicName,
}

/// One entry read back: its offset, key and value.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Offset in the topic.
    pub offset: i64,
    /// Key (UTF-8).
    pub key: String,
    /// Value; `None` deletes the key.
    pub value: Option<Bytes>,
    /// The entry's version and writer (record headers `v` and `w`), when it has them.
    pub stamp: Option<Stamp>,
}

/// What orders two entries of one key written anywhere: a version (hybrid clock: later
/// than everything its writer had seen), ties broken by the writer's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// Version.
    pub version: u64,
    /// The writing instance's id.
    pub writer: String,
}

impl StateLog {
    /// The log on `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self::with_topic(cluster, STATE_TOPIC)
    }

    /// An internal log in topic `name` on `cluster`.
    pub fn with_topic(cluster: Arc<Cluster>, name: &'static str) -> Self {
        Self {
            cluster,
            topic: TopicName(StrBytes::from_static_str(name)),
        }
    }

    /// The cluster this log is on.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    fn topic(&self) -> TopicName {
        self.topic.clone()
    }

    fn refused(&self, what: &'static str, code: i16) -> StateError {
        StateError::Refused {
            cluster: self.cluster.id.to_string(),
            what,
            code,
        }
    }

    /// Creates the topic if it is missing (compacted, one partition).
    pub async fn ensure_topic(&self) -> Result<(), StateError> {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(crate::base::timing::BROKER_REQUEST_TIMEOUT_MS)
            .with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(self.topic())
                    .with_num_partitions(1)
                    .with_replication_factor(-1)
                    .with_configs(vec![
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(StrBytes::from_static_str("cleanup.policy"))
                            .with_value(Some(StrBytes::from_static_str("compact"))),
                    ]),
            ]);
        let resp = self
            .cluster
            .send_any(
                ApiKey::CreateTopics,
                5,
                None,
                &RequestKind::CreateTopics(req),
            )
            .await?;
        let code = match resp {
            ResponseKind::CreateTopics(r) => r.topics.first().map_or(0, |t| t.error_code),
            _ => 0,
        };
        // 36: TOPIC_ALREADY_EXISTS.
        if code != 0 && code != 36 {
            return Err(self.refused("creating the topic", code));
        }
        Ok(())
    }

    /// Appends `key = value` (a `None` value deletes the key) and returns its offset.
    pub async fn append(&self, key: &str, value: Option<&[u8]>) -> Result<i64, StateError> {
        self.append_all(&[(key, value, None)]).await
    }

    /// Appends several entries in one record batch (all or none are written) and returns
    /// the first one's offset.
    pub async fn append_all(&self, entries: &[NewEntry<'_>]) -> Result<i64, StateError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let records: Vec<Record> = entries
            .iter()
            .zip(0i64..)
            .map(|((key, value, stamp), offset)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset,
                sequence: -1,
                timestamp: now,
                key: Some(Bytes::copy_from_slice(key.as_bytes())),
                value: value.map(Bytes::copy_from_slice),
                headers: stamp_headers(*stamp),
            })
            .collect();
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut batch, records.iter(), &options)
            .map_err(|e| StateError::Records(e.to_string()))?;
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(crate::base::timing::BROKER_REQUEST_TIMEOUT_MS)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(self.topic())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch.freeze())),
                    ]),
            ]);
        let resp = crate::backend::partitioned::route(&self.cluster, 9, None, req, 3).await;
        let p = resp
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| self.refused("appending", -1))?;
        if p.error_code != 0 {
            return Err(self.refused("appending", p.error_code));
        }
        Ok(p.base_offset)
    }

    /// The entries from offset `next` on that one fetch returns (waiting up to 500 ms for
    /// some), and the topic's high watermark.
    pub async fn fetch_from(&self, next: i64) -> Result<(Vec<Entry>, i64), StateError> {
        let fetch = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(8 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(self.topic())
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(next)
                            .with_current_leader_epoch(-1)
                            .with_last_fetched_epoch(-1)
                            .with_partition_max_bytes(8 << 20),
                    ]),
            ]);
        let resp = crate::backend::partitioned::route(&self.cluster, 12, None, fetch, 1).await;
        let p = resp
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| self.refused("fetching", -1))?;
        let mut out = Vec::new();
        if p.error_code == ResponseError::UnknownTopicOrPartition.code() {
            // Not created yet on this cluster (or lost with it): nothing in it.
            return Ok((out, 0));
        }
        if p.error_code == ResponseError::OffsetOutOfRange.code() {
            // Past its end (it was recreated shorter): the caller sees the end and rewinds.
            return Ok((out, p.high_watermark.max(0).min(next - 1)));
        }
        if p.error_code != 0 {
            return Err(self.refused("fetching", p.error_code));
        }
        let Some(records) = &p.records else {
            return Ok((out, p.high_watermark));
        };
        let mut whole = records.slice(..complete_batches_len(records));
        let sets = RecordBatchDecoder::decode_all(&mut whole).map_err(|e| {
            StateError::Records(format!(
                "undecodable batch in {} on cluster {} at offset {next}: {e}",
                self.topic.as_str(),
                self.cluster.id
            ))
        })?;
        for set in sets {
            for r in set.records {
                if r.offset < next {
                    continue;
                }
                if let Some(key) = r.key.as_ref().and_then(|k| std::str::from_utf8(k).ok()) {
                    let header = |name: &str| {
                        r.headers
                            .get(name.as_bytes())
                            .and_then(|v| v.as_ref())
                            .and_then(|v| std::str::from_utf8(v).ok())
                    };
                    let stamp = match (header("v").and_then(|v| v.parse().ok()), header("w")) {
                        (Some(version), Some(writer)) => Some(Stamp {
                            version,
                            writer: writer.to_owned(),
                        }),
                        _ => None,
                    };
                    out.push(Entry {
                        offset: r.offset,
                        key: key.to_owned(),
                        value: r.value,
                        stamp,
                    });
                }
            }
        }
        Ok((out, p.high_watermark))
    }

    /// Every entry from the start up to the high watermark seen by the first fetch.
    pub async fn read_all(&self) -> Result<Vec<Entry>, StateError> {
        let mut out: Vec<Entry> = Vec::new();
        let mut next = 0i64;
        let mut end = None;
        loop {
            let (entries, high) = self.fetch_from(next).await?;
            let end = *end.get_or_insert(high);
            let mut progressed = false;
            for e in entries {
                if e.offset >= next {
                    next = e.offset + 1;
                    progressed = true;
                    out.push(e);
                }
            }
            if next >= end || !progressed {
                return Ok(out);
            }
        }
    }
}
