//! Where reads go: each partition's read cluster and offset map, and read failover.

pub(in crate::replication) mod routing;
pub(in crate::replication) mod watch;

use crate::base::cluster_idx::PerCluster;
use crate::control::control_log::Keeping;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the read path keeps: where learned offset maps go, and which clusters failed or
/// stalled reads lately. Only the read path (`routing`, `watch`) reaches its fields.
pub(super) struct ReadState {
    /// Where learned offset maps are recorded (see `routing`).
    log: Keeping,
    /// How long a cluster that failed a read is passed over (`consumer.read_avoid`).
    avoid: Duration,
    /// Per cluster: when it last failed or stalled a read (see `routing`).
    avoided_at: PerCluster<Mutex<Option<Instant>>>,
    /// How long a read probe may go unanswered (`consumer.read_probe_timeout`).
    probe_timeout: Duration,
    /// Per cluster: counts the stalls the read watch saw (see `watch`).
    stalls: PerCluster<tokio::sync::watch::Sender<u64>>,
}

impl ReadState {
    /// For `clusters` clusters, under the consumer config.
    pub(super) fn new(
        clusters: usize,
        consumer: &kafkatwin_config::ConsumerConfig,
        log: Keeping,
    ) -> Self {
        Self {
            log,
            avoid: consumer.read_avoid.get(),
            avoided_at: PerCluster::from_fn(clusters, |_| Mutex::new(None)),
            probe_timeout: consumer.read_probe_timeout.get(),
            stalls: PerCluster::from_fn(clusters, |_| tokio::sync::watch::Sender::new(0)),
        }
    }
}
