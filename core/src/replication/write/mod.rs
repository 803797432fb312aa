//! The write path over several clusters: the fan-out of a produce, idempotent producers'
//! state, and that state rebuilt from a partition's tail.

pub(in crate::replication) mod fanout;
pub mod producers;
pub(in crate::replication) mod recover;

use std::sync::Arc;
use std::time::Duration;

/// What the write path keeps: the ack policy and the state of idempotent producers.
pub(super) struct WriteState {
    /// `producer.quorum`, for the `QUORUM` ack policy.
    pub(super) quorum: Option<u32>,
    /// `producer.ack_policy`.
    pub(super) policy: kafkatwin_config::AckPolicy,
    /// `producer.timeout`: how long a write may wait for the clusters.
    pub(super) timeout: Duration,
    /// Idempotent producers' sequences and recent batches.
    pub(super) producers: producers::Producers,
    /// Producer ids this proxy issues.
    pub(super) ids: Arc<crate::control::producer_ids::ProducerIds>,
}

impl WriteState {
    /// Under the producer config, issuing producer ids from `ids`.
    pub(super) fn new(
        producer: &kafkatwin_config::ProducerConfig,
        ids: crate::control::producer_ids::ProducerIds,
    ) -> Self {
        Self {
            quorum: producer.quorum,
            policy: producer.ack_policy,
            timeout: producer.timeout.get(),
            producers: producers::Producers::default(),
            ids: Arc::new(ids),
        }
    }
}
