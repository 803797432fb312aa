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

use crate::replication::Mismatch;
use kafka_protocol::messages::TopicName;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// An admin change (partitions, configs) a cluster missed while away: the cluster, the API,
/// its version and the request, replayed on its return.
pub(super) type Deferred = (
    usize,
    kafka_protocol::messages::ApiKey,
    i16,
    kafka_protocol::messages::RequestKind,
);

/// What bringing clusters back into line keeps between passes.
pub(super) struct RepairState {
    /// Running digests of every partition on every cluster.
    pub(super) digests: digest::Digests,
    /// How much repair may copy, against the live writes.
    pub(super) share: share::RepairShare,
    /// Per cluster: compared with the others since it was last seen down. Until then it
    /// takes no live writes (it may lack records without the proxy having seen it miss
    /// them: at startup, or after it was replaced).
    pub(super) compared: Vec<AtomicBool>,
    /// Per cluster: its connection-loss count when it was last compared (see
    /// [`crate::backend::Cluster::connection_losses`]).
    pub(super) losses_seen: Vec<AtomicU64>,
    /// Topics deleted through the proxy (not repaired back).
    pub(super) deleted: Mutex<HashSet<TopicName>>,
    /// Admin changes clusters missed while away.
    pub(super) deferred: Mutex<Vec<Deferred>>,
    /// Partitions whose histories differ between clusters.
    pub(super) mismatches: Mutex<Vec<Mismatch>>,
    /// Wakes the repairer before its next pass.
    pub(super) wake: tokio::sync::Notify,
}

impl RepairState {
    /// For `clusters` clusters.
    pub(super) fn new(clusters: usize) -> Self {
        Self {
            digests: digest::Digests::default(),
            share: share::RepairShare::new(clusters),
            compared: (0..clusters).map(|_| AtomicBool::default()).collect(),
            losses_seen: (0..clusters).map(|_| AtomicU64::default()).collect(),
            deleted: Mutex::default(),
            deferred: Mutex::default(),
            mismatches: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }
    }
}
