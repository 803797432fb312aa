//! The write path over several clusters: the fan-out of a produce, idempotent producers'
//! state, and that state rebuilt from a partition's tail.

pub(in crate::replication) mod fanout;
pub mod producers;
pub(in crate::replication) mod recover;

pub use recover::landed_on;

use std::sync::Arc;
use std::time::Duration;

/// What the write path keeps: the ack policy and the state of idempotent producers. Its
/// fields are the write path's own; the rest of replication asks through the methods.
pub(super) struct WriteState {
    /// `producer.quorum`, for the `QUORUM` ack policy.
    quorum: Option<u32>,
    /// `producer.ack_policy`.
    policy: kafkatwin_config::AckPolicy,
    /// `producer.timeout`: how long a write may wait for the clusters.
    timeout: Duration,
    /// Idempotent producers' sequences and recent batches.
    producers: producers::Producers,
    /// Producer ids this proxy issues.
    ids: Arc<crate::control::producer_ids::ProducerIds>,
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

    /// The issuer of producer ids for clients of this proxy.
    pub(super) fn ids(&self) -> &Arc<crate::control::producer_ids::ProducerIds> {
        &self.ids
    }

    /// How many clusters of a sync set of `sync` clusters must take a write.
    pub(super) fn required(&self, sync: usize) -> usize {
        self.policy.required(sync, self.quorum)
    }

    /// Forgets the producers' states on the partitions `keep` refuses.
    pub(super) fn retain_producers(
        &self,
        keep: impl Fn(&crate::replication::partitions::lanes::Tp) -> bool,
    ) {
        self.producers.retain(keep);
    }
}
