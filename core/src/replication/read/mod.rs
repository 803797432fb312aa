//! Where reads go: each partition's read cluster and offset map, and read failover.

pub(in crate::replication) mod routing;
pub(in crate::replication) mod watch;

use crate::control::control_log::Keeping;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the read path keeps: where learned offset maps go, and which clusters failed or
/// stalled reads lately.
pub(super) struct ReadState {
    /// Where learned offset maps are recorded (see `routing`).
    pub(super) log: Keeping,
    /// How long a cluster that failed a read is passed over (`consumer.read_avoid`).
    pub(super) avoid: Duration,
    /// Per cluster: when it last failed or stalled a read (see `routing`).
    pub(super) avoided_at: Vec<Mutex<Option<Instant>>>,
    /// How long a read probe may go unanswered (`consumer.read_probe_timeout`).
    pub(super) probe_timeout: Duration,
    /// Per cluster: counts the stalls the read watch saw (see `watch`).
    pub(super) stalls: Vec<tokio::sync::watch::Sender<u64>>,
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
            avoided_at: (0..clusters).map(|_| Mutex::new(None)).collect(),
            probe_timeout: consumer.read_probe_timeout.get(),
            stalls: (0..clusters)
                .map(|_| tokio::sync::watch::Sender::new(0))
                .collect(),
        }
    }
}
