//! The control plane's state log: an internal topic (`__kafkatwin_state`, one partition) on
//! the backend, holding keyed, last-writer-wins entries (rules today; plugins, quotas, offset
//! maps later). Every proxy instance appends its admin changes and tails the log from the
//! start, so changes survive restarts and reach every instance (DESIGN.md §6).
//!
//! It lives on the primary cluster for now; with multi-cluster writes it belongs on every
//! cluster.

use crate::backend::{BackendError, Cluster};
use crate::proxy::read_ahead::complete_batches_len;
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The internal topic's name.
pub const STATE_TOPIC: &str = "__kafkatwin_state";

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
            .with_timeout_ms(10_000)
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(Bytes::copy_from_slice),
            headers: IndexMap::new(),
        };
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut batch, [&record], &options)
            .map_err(|e| StateError::Records(e.to_string()))?;
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(self.topic())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch.freeze())),
                    ]),
            ]);
        let resp = crate::proxy::partitioned::route(&self.cluster, 9, None, req, 3).await;
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

    /// Reads the log from the start and keeps following it, calling `apply(key, value,
    /// offset)` for every entry in order, until `stop` turns true. Failures are retried after
    /// a pause.
    pub async fn tail(
        self: Arc<Self>,
        apply: impl Fn(&str, Option<Bytes>, i64) + Send + 'static,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut next = 0i64;
        let mut ensured = false;
        loop {
            if *stop.borrow() {
                return;
            }
            if !ensured {
                match self.ensure_topic().await {
                    Ok(()) => ensured = true,
                    Err(e) => {
                        tracing::warn!("{e}; retrying");
                        if pause(&mut stop, Duration::from_secs(1)).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let fetched = tokio::select! {
                r = self.fetch_from(next) => r,
                _ = stop.changed() => return,
            };
            let entries = match fetched {
                Ok((entries, 0)) if entries.is_empty() => {
                    // The topic is gone (the cluster was replaced): look again shortly.
                    if pause(&mut stop, Duration::from_millis(500)).await {
                        return;
                    }
                    ensured = false;
                    continue;
                }
                Ok((entries, _)) => entries,
                Err(e @ StateError::Records(_)) => {
                    tracing::warn!("{e}");
                    if pause(&mut stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(cluster = %self.cluster.id, "{e}");
                    if pause(&mut stop, Duration::from_millis(500)).await {
                        return;
                    }
                    continue;
                }
            };
            for e in entries {
                if e.offset < next {
                    continue;
                }
                next = e.offset + 1;
                apply(&e.key, e.value, e.offset);
            }
        }
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
        let resp = crate::proxy::partitioned::route(&self.cluster, 12, None, fetch, 1).await;
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
                    out.push(Entry {
                        offset: r.offset,
                        key: key.to_owned(),
                        value: r.value,
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
/// Sleeps unless stopped first; true when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}
