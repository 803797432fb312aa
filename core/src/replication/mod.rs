//! Multi-cluster writes: every produced batch goes to every cluster of the write set, the
//! producer is answered under the ack policy, and clusters that missed writes are repaired in
//! the background until every cluster holds the same records in the same order per partition.
//!
//! The order invariant rests on three rules: all writes to a cluster go over
//! the proxy's one writer connection per broker, queued under one sequencer lock, so every
//! cluster receives a partition's batches in the same order; a cluster that missed a write to
//! a partition is *behind* there and takes no live writes to it; and it is put back in sync
//! only after the repairer copied everything it lacks while no write to that partition was in
//! flight.

pub mod partitions;
pub mod read;
pub mod repair;
pub mod write;
pub use repair::reseed::ReseedError;

use crate::backend::Cluster;
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::metrics::Metrics;
use kafka_protocol::messages::TopicName;
use kafkatwin_config::ProducerConfig;
use std::sync::Arc;

/// Replication state of one cluster, for the admin API.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStatus {
    /// Compared with the others since it was last seen (it takes writes).
    pub compared: bool,
    /// Partitions the cluster missed writes on and is being repaired.
    pub behind_partitions: usize,
    /// Records other clusters hold that it does not yet: missed writes awaiting repair and
    /// writes still on their way (see [`partitions::lanes::Lanes::lag`]).
    pub lag_records: i64,
    /// Partitions where it holds another history: (topic, partition, first differing
    /// logical offset).
    pub divergent: Vec<(String, i32, i64)>,
}

/// A topic's partitions on one cluster, for the admin API.
#[derive(Debug, Clone, Default)]
pub struct TopicState {
    /// Partitions the cluster missed writes on and is being repaired.
    pub behind: Vec<i32>,
    /// Partitions where it holds another history.
    pub divergent: Vec<i32>,
    /// Records of the topic other clusters hold that it does not yet.
    pub lag_records: i64,
}

/// A topic whose partition count on one cluster differs from another cluster's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The topic.
    pub topic: String,
    /// The cluster with the differing count.
    pub cluster: String,
    /// Its partitions there.
    pub has: i32,
    /// Partitions on another cluster.
    pub other: i32,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "topic {}: cluster {} has {} partitions, another cluster has {}",
            self.topic, self.cluster, self.has, self.other
        )
    }
}

/// Fans writes out to the clusters and keeps them converged.
pub struct Replicator {
    /// The write set, by priority: [`ClusterIdx::FIRST`] is the authority whose offsets
    /// clients see.
    clusters: PerCluster<Arc<Cluster>>,
    /// Write and read sets per `multi_dc` strategy (indices into `clusters`).
    topology: crate::control::topology::Topology,
    /// Taken around every write queued on the clusters' writer connections (live writes and
    /// repair copies), so every cluster receives a partition's batches in one order.
    sequencer: tokio::sync::Mutex<()>,
    lanes: partitions::lanes::Lanes,
    /// The proxy's own producer id on each cluster.
    identities: partitions::stamps::Identities,
    metrics: Metrics,
    /// The write path's policy and producer state.
    writing: write::WriteState,
    /// What repair keeps between passes.
    repairing: repair::RepairState,
    /// The read path's state.
    reading: read::ReadState,
    /// Which partitions this instance writes (and so compares and repairs).
    membership: Arc<crate::control::membership::Membership>,
}

impl Replicator {
    /// A replicator over `clusters` (in [`crate::control::topology::authority_order`]) under the
    /// producer config's ack policy and the `multi_dc` layout, keeping learned offset maps as
    /// `log` says.
    pub fn new(
        clusters: PerCluster<Arc<Cluster>>,
        topology: crate::control::topology::Topology,
        membership: Arc<crate::control::membership::Membership>,
        producer: &ProducerConfig,
        consumer: &kafkatwin_config::ConsumerConfig,
        metrics: Metrics,
        log: crate::control::control_log::Keeping,
    ) -> Self {
        let n = clusters.len();
        Self {
            topology,
            sequencer: tokio::sync::Mutex::new(()),
            lanes: partitions::lanes::Lanes::new(n),
            identities: partitions::stamps::Identities::new(n, membership.me().node_id),
            metrics,
            writing: write::WriteState::new(
                producer,
                crate::control::producer_ids::ProducerIds::new(&clusters),
            ),
            repairing: repair::RepairState::new(n),
            reading: read::ReadState::new(n, consumer, log),
            membership,
            clusters,
        }
    }

    /// The issuer of producer ids for clients of this proxy.
    pub fn producer_ids(&self) -> &Arc<crate::control::producer_ids::ProducerIds> {
        self.writing.ids()
    }

    /// Writes sent to the clusters and not answered yet, on all of them.
    pub fn writes_in_flight(&self) -> u32 {
        self.clusters
            .indices()
            .map(|i| self.lanes.total_inflight_on(i))
            .sum()
    }

    /// How many clusters of a sync set of `sync` clusters must take a write.
    pub fn required_of(&self, sync: usize) -> usize {
        self.writing.required(sync)
    }

    /// Whether enough clusters of the sync set are reachable for the ack policy to be met.
    pub fn policy_can_be_met(&self) -> bool {
        let plan = self.plan();
        let up = plan
            .sync
            .iter()
            .filter(|&&i| self.clusters[i].status().reachable && self.clusters[i].admits())
            .count();
        up >= self.required_of(plan.sync.len())
    }

    /// Replication state of the cluster with this id.
    pub fn status_of(&self, id: &str) -> Option<ReplicaStatus> {
        let i = self.clusters.position(|c| &*c.id == id)?;
        Some(ReplicaStatus {
            compared: self.compared_since_loss(i),
            behind_partitions: self.lanes.behind_on(i).len(),
            lag_records: self.lanes.lag(i),
            divergent: self
                .lanes
                .divergent_on(i)
                .into_iter()
                .map(|(tp, at)| (tp.topic.as_str().to_owned(), tp.partition, at))
                .collect(),
        })
    }

    /// Per cluster: the state of `topic`'s partitions there.
    pub fn topic_state(&self, topic: &TopicName) -> PerCluster<TopicState> {
        let of_topic = |tp: &partitions::lanes::Tp| (tp.topic == *topic).then_some(tp.partition);
        self.clusters
            .indices()
            .map(|i| TopicState {
                behind: self
                    .lanes
                    .behind_on(i)
                    .iter()
                    .filter_map(of_topic)
                    .collect(),
                divergent: self
                    .lanes
                    .divergent_on(i)
                    .iter()
                    .filter_map(|(tp, _)| of_topic(tp))
                    .collect(),
                lag_records: self.lanes.lag_of(i, |tp| tp.topic == *topic),
            })
            .collect()
    }

    /// The cluster a read of `tp` goes to now.
    pub fn read_cluster_of(&self, tp: &partitions::lanes::Tp) -> Option<&Arc<Cluster>> {
        let (groups, _) = self.assign_reads(&self.plan(), vec![tp.clone()], &Default::default());
        groups.keys().next().map(|&i| &self.clusters[i])
    }

    /// Partition-count mismatches between clusters, as last detected.
    pub fn mismatches(&self) -> Vec<Mismatch> {
        self.repairing.mismatches()
    }

    /// The write set, by priority.
    pub fn clusters(&self) -> &PerCluster<Arc<Cluster>> {
        &self.clusters
    }

    /// Topics deleted through the proxy: a cluster that was away deletes them on return.
    pub fn note_deleted(&self, topics: &[TopicName]) {
        self.repairing.note_deleted(topics);
        for t in topics {
            self.lanes.forget_topic(t);
        }
    }

    /// An admin change cluster `id` could not take now; it is sent again when the cluster is
    /// back (topic creations and deletions need not be: the comparison covers them).
    pub fn defer_admin(
        &self,
        id: &str,
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        req: kafka_protocol::messages::RequestKind,
    ) {
        let Some(i) = self.clusters.position(|c| &*c.id == id) else {
            return;
        };
        self.repairing.defer((i, api, version, req));
    }

    /// Topics created through the proxy (no longer deleted).
    pub fn note_created(&self, topics: &[TopicName]) {
        self.repairing.note_created(topics);
    }

    /// Whether this instance writes `tp` (with scale-out, the partitions it owns).
    fn owns(&self, tp: &partitions::lanes::Tp) -> bool {
        self.membership.owns(&tp.topic, tp.partition)
    }

    /// The division of partitions changed: compare every cluster again before writing, so
    /// partitions taken over from another instance are checked first.
    pub fn recompare(&self) {
        // Only partitions another instance now writes: while ownership is unknown (no group,
        // or a fence) this instance owns nothing, yet its marks are still true.
        self.lanes
            .clear_behind_unless(|tp| !self.membership.owned_by_other(&tp.topic, tp.partition));
        // Producers' states hold only for partitions this instance kept writing: one it did
        // not own for a while (another instance, a fence, a lapsed lease) may have been
        // written elsewhere, and a stale state answers a producer that did nothing wrong
        // with an out-of-order sequence. They are found in the partition's tail again.
        self.writing
            .retain_producers(|tp| self.membership.owns(&tp.topic, tp.partition));
        for i in self.clusters.indices() {
            self.set_compared(i, false);
        }
        self.repairing.wake();
    }

    /// Whether cluster `i` has been compared with the others since it was last down.
    fn is_compared(&self, i: ClusterIdx) -> bool {
        self.repairing.is_compared(i)
    }

    /// Whether cluster `i` was compared and lost no connection since (its broker may be a
    /// new, empty one: then it is compared again first).
    fn takes_writes(&self, i: ClusterIdx) -> bool {
        if !self.is_compared(i) {
            return false;
        }
        if self.compared_since_loss(i) {
            return true;
        }
        tracing::info!(
            cluster = %self.clusters[i].id,
            "cluster {} closed a connection (its broker may have been restarted or \
             replaced): comparing it with the others before it takes more writes",
            self.clusters[i].id
        );
        self.set_compared(i, false);
        self.repairing.wake();
        false
    }

    /// Whether cluster `i` was compared and lost no connection since: only then is what it
    /// holds known (a source for repairs). Changes nothing.
    fn compared_since_loss(&self, i: ClusterIdx) -> bool {
        self.is_compared(i) && self.repairing.losses_seen(i) == self.clusters[i].connection_losses()
    }

    /// Remembers cluster `i`'s connection-loss count as of a comparison starting now.
    fn note_losses(&self, i: ClusterIdx) {
        self.repairing
            .note_losses(i, self.clusters[i].connection_losses());
    }

    fn set_compared(&self, i: ClusterIdx, yes: bool) {
        self.repairing.set_compared(i, yes);
    }

    /// Marks cluster `i` behind on a partition, counting the missed write.
    fn missed(&self, tp: &partitions::lanes::Tp, i: ClusterIdx, why: &dyn std::fmt::Display) {
        if self.lanes.mark_behind(tp, i) {
            self.note_behind(tp, i, why);
        }
    }

    fn note_behind(&self, tp: &partitions::lanes::Tp, i: ClusterIdx, why: &dyn std::fmt::Display) {
        self.metrics
            .replication_missed
            .with_label_values(&[&self.clusters[i].id])
            .inc();
        tracing::warn!(
            cluster = %self.clusters[i].id,
            "cluster {} missed a write to {tp} ({why}); it takes no writes there until repaired",
            self.clusters[i].id
        );
        self.repairing.wake();
    }
}
