//! Bringing clusters back into line: the background repairer and its share of a writer
//! connection, history checks before a log is extended, running digests, the admin's reseed,
//! promotion of a behind cluster when no in-sync one is reachable, and `kafkatwin compare`.

pub mod compare;
pub mod digest;
pub(in crate::replication) mod error;
pub mod history;
pub(in crate::replication) mod promote;
pub(in crate::replication) mod repairer;
pub(in crate::replication) mod reseed;
pub(in crate::replication) mod share;

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::replication::Mismatch;
use kafka_protocol::messages::TopicName;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// An admin change (partitions, configs) a cluster missed while away: the cluster, the API,
/// its version and the request, replayed on its return.
pub(super) type Deferred = (
    ClusterIdx,
    kafka_protocol::messages::ApiKey,
    i16,
    kafka_protocol::messages::RequestKind,
);

/// What bringing clusters back into line keeps between passes. Its fields are repair's own;
/// the rest of replication asks through the methods.
pub(super) struct RepairState {
    /// Running digests of every partition on every cluster.
    digests: digest::Digests,
    /// How much repair may copy, against the live writes.
    share: share::RepairShare,
    /// Per cluster: compared with the others since it was last seen down. Until then it
    /// takes no live writes (it may lack records without the proxy having seen it miss
    /// them: at startup, or after it was replaced).
    compared: PerCluster<AtomicBool>,
    /// Per cluster: its connection-loss count when it was last compared (see
    /// [`crate::backend::Cluster::connection_losses`]).
    losses_seen: PerCluster<AtomicU64>,
    /// Topics deleted through the proxy (not repaired back).
    deleted: Mutex<HashSet<TopicName>>,
    /// Admin changes clusters missed while away.
    deferred: Mutex<Vec<Deferred>>,
    /// Partitions whose histories differ between clusters.
    mismatches: Mutex<Vec<Mismatch>>,
    /// Wakes the repairer before its next pass.
    wake: tokio::sync::Notify,
}

impl RepairState {
    /// For `clusters` clusters.
    pub(super) fn new(clusters: usize) -> Self {
        Self {
            digests: digest::Digests::default(),
            share: share::RepairShare::new(clusters),
            compared: PerCluster::from_fn(clusters, |_| AtomicBool::default()),
            losses_seen: PerCluster::from_fn(clusters, |_| AtomicU64::default()),
            deleted: Mutex::default(),
            deferred: Mutex::default(),
            mismatches: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Wakes the repairer before its next pass.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether cluster `i` has been compared with the others since it was last down.
    pub(super) fn is_compared(&self, i: ClusterIdx) -> bool {
        self.compared[i].load(Ordering::Acquire)
    }

    /// Marks cluster `i` compared (or not: it is compared again before it takes writes).
    pub(super) fn set_compared(&self, i: ClusterIdx, yes: bool) {
        self.compared[i].store(yes, Ordering::Release);
    }

    /// Cluster `i`'s connection-loss count as of its last comparison.
    pub(super) fn losses_seen(&self, i: ClusterIdx) -> u64 {
        self.losses_seen[i].load(Ordering::Acquire)
    }

    /// Remembers cluster `i`'s connection-loss count `losses` as of a comparison starting now.
    pub(super) fn note_losses(&self, i: ClusterIdx, losses: u64) {
        self.losses_seen[i].store(losses, Ordering::Release);
    }

    /// A live write of `bytes` was queued on cluster `i` (repair may copy as much).
    pub(super) fn note_live(&self, i: ClusterIdx, bytes: usize) {
        self.share.note_live(i, bytes);
    }

    /// Partition-count mismatches between clusters, as last detected.
    pub(super) fn mismatches(&self) -> Vec<Mismatch> {
        lock(&self.mismatches).clone()
    }

    /// Topics deleted through the proxy: not repaired back, and their digests forgotten.
    pub(super) fn note_deleted(&self, topics: &[TopicName]) {
        lock(&self.deleted).extend(topics.iter().cloned());
        for t in topics {
            self.digests.forget_topic(t);
        }
    }

    /// Topics created through the proxy: no longer deleted.
    pub(super) fn note_created(&self, topics: &[TopicName]) {
        let mut d = lock(&self.deleted);
        for t in topics {
            d.remove(t);
        }
    }

    /// An admin change a cluster missed, sent again when it is back.
    pub(super) fn defer(&self, change: Deferred) {
        lock(&self.deferred).push(change);
    }
}
