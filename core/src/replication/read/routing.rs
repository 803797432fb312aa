//! Where reads go: each partition's read cluster, the offset map between a
//! cluster's physical offsets and the logical ones clients see, and read failover.
//!
//! The offset map is one constant per cluster and partition (`physical - logical`): the order
//! invariant keeps every cluster's log of a partition the same records in the same order, so
//! the offsets differ by whatever they differed by when the cluster joined. It is zero for
//! clusters that started together or were backfilled from the start; it is learned from the
//! base offsets each cluster answers for the same batch.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::control::keys::Key;
use crate::control::topology::Plan;
use crate::replication::Replicator;
use crate::replication::partitions::lanes::Tp;
use std::time::Instant;

impl Replicator {
    /// Per cluster: up for reads and the write sets now (circuit closed, not recently
    /// failing reads).
    fn up(&self) -> PerCluster<bool> {
        self.clusters
            .iter_indexed()
            .map(|(i, c)| c.admits() && !self.read_avoided(i))
            .collect()
    }

    /// The write and read sets now.
    pub fn plan(&self) -> Plan {
        self.topology.plan(&self.up())
    }

    /// Groups partitions by read cluster: for each, the first of the plan's read order, not
    /// among the clusters it already `tried`, that is up, compared and in sync on it; failing
    /// that (at startup nothing is compared yet) the first such that is up; failing that the
    /// first not tried. Partitions every cluster was tried for come back in the second list.
    pub fn assign_reads(
        &self,
        plan: &Plan,
        partitions: Vec<Tp>,
        tried: &std::collections::HashMap<Tp, Vec<ClusterIdx>>,
    ) -> (std::collections::BTreeMap<ClusterIdx, Vec<Tp>>, Vec<Tp>) {
        // Cluster state once per request; only the lanes are asked per partition.
        let up = self.up();
        let compared: PerCluster<bool> = self
            .clusters
            .indices()
            .map(|i| self.is_compared(i))
            .collect();
        let mut groups: std::collections::BTreeMap<ClusterIdx, Vec<Tp>> = Default::default();
        let mut left = Vec::new();
        for tp in partitions {
            let skip = tried.get(&tp).map(Vec::as_slice).unwrap_or(&[]);
            let candidates = || plan.reads.iter().copied().filter(|i| !skip.contains(i));
            let chosen = candidates()
                .find(|&i| up[i] && compared[i] && !self.lanes.is_behind(&tp, i))
                .or_else(|| candidates().find(|&i| up[i]))
                .or_else(|| candidates().next());
            match chosen {
                Some(i) => groups.entry(i).or_default().push(tp),
                None => left.push(tp),
            }
        }
        (groups, left)
    }

    /// The first cluster of the read order that is up, for requests any cluster can answer
    /// (metadata, admin lookups).
    pub fn front(&self) -> ClusterIdx {
        // The read order lists the clusters that are up first.
        self.plan()
            .reads
            .first()
            .copied()
            .unwrap_or(ClusterIdx::FIRST)
    }

    /// The read order: the clusters that are up first (the first is [`Self::front`]).
    pub fn read_order(&self) -> Vec<ClusterIdx> {
        self.plan().reads
    }

    /// `physical - logical` for `tp` on cluster `i`.
    pub fn delta(&self, tp: &Tp, i: ClusterIdx) -> i64 {
        self.lanes.delta(tp, i)
    }

    /// Records `tp`'s offset map on cluster `i` from one batch's base offsets; a change is
    /// kept in the state log, so restarts and other instances translate the same way.
    pub(in crate::replication) fn note_delta(
        &self,
        tp: &Tp,
        i: ClusterIdx,
        physical: i64,
        authority: i64,
    ) {
        if !self.lanes.learn_delta(tp, i, physical, authority) {
            return;
        }
        let delta = physical - authority;
        let id = &self.clusters[i].id;
        tracing::info!(
            cluster = %id,
            "{tp} on cluster {id} is offset by {delta} from the logical offsets"
        );
        if let Some(log) = self.reading.log.log().cloned() {
            let key = Key::OffsetMap {
                cluster: id.to_string(),
                topic: tp.topic.as_str().to_owned(),
                partition: tp.partition,
            }
            .to_string();
            tokio::spawn(async move {
                if let Err(e) = log.append(&key, Some(delta.to_string().as_bytes())).await {
                    tracing::warn!("recording the offset map {key}: {e}");
                }
            });
        }
    }

    /// Applies an offset map read from the state log (`offsets/{cluster}/{topic}/{partition}`).
    pub fn apply_logged(&self, key: &str, value: Option<&[u8]>) {
        let Some(Key::OffsetMap {
            cluster,
            topic,
            partition: p,
        }) = Key::parse(key)
        else {
            return;
        };
        let Some(i) = self.clusters.position(|c| *c.id == cluster) else {
            return;
        };
        let delta = value
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let tp = Tp::new(
            kafka_protocol::messages::TopicName(kafka_protocol::protocol::StrBytes::from_string(
                topic.to_owned(),
            )),
            p,
        );
        self.lanes.learn_delta(&tp, i, delta, 0);
    }

    /// Cluster `i` failed or stalled a read: pass it over for reads (and group coordination)
    /// for at least `consumer.read_avoid`, and until a health probe succeeds after that.
    pub fn avoid_reads(&self, i: ClusterIdx) {
        let was = self.read_avoided(i);
        *lock(&self.reading.avoided_at[i]) = Some(Instant::now());
        if !was {
            tracing::warn!(
                cluster = %self.clusters[i].id,
                "reads move off cluster {}: it failed or stalled a read",
                self.clusters[i].id
            );
        }
    }

    /// Whether reads pass over cluster `i` now.
    pub fn read_avoided(&self, i: ClusterIdx) -> bool {
        let Some(since) = *lock(&self.reading.avoided_at[i]) else {
            return false;
        };
        since.elapsed() < self.reading.avoid
            || self.clusters[i]
                .last_probe_ok()
                .is_none_or(|ok| ok <= since)
    }
}
