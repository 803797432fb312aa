//! A partition none of whose in-sync clusters is reachable: every reachable cluster there is
//! behind (marked after a missed write, or by a comparison), so there is nothing to repair
//! them from and every write to it is refused. Without this it stays so until an in-sync
//! cluster returns, and forever if that cluster comes back empty.
//!
//! Every acknowledged write reached at least as many clusters as the ack policy requires. When
//! fewer clusters than that are away, each acknowledged write is on a reachable cluster; if
//! the reachable clusters' logs are prefixes of the longest one (compared batch by batch, see
//! `history`), the longest holds every acknowledged write. It is put back in sync and the
//! others are repaired from it. Otherwise (too many away, or histories that differ) the
//! partition waits, as Kafka waits for an in-sync replica without unclean leader election.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::replication::Replicator;
use crate::replication::partitions::lanes::Tp;
use crate::replication::repair::history;
use std::collections::HashSet;

/// Whether the longest of the reachable logs holds every acknowledged write, with `away`
/// clusters unreachable and `required` clusters needed for an acknowledgement.
fn reachable_logs_hold_every_ack(away: usize, required: usize) -> bool {
    away < required
}

impl Replicator {
    /// Puts the longest reachable cluster back in sync on each partition this instance
    /// writes where every reachable cluster (`up`) is behind, when that loses nothing.
    pub(in crate::replication) async fn promote_orphaned(&self, up: &PerCluster<bool>) {
        let mut seen = HashSet::new();
        for i in self.clusters.indices().filter(|&i| up[i]) {
            for tp in self.lanes.behind_on(i) {
                if !self.owns(&tp) || !seen.insert(tp.clone()) {
                    continue;
                }
                if self
                    .clusters
                    .indices()
                    .any(|j| up[j] && self.compared_since_loss(j) && !self.lanes.is_behind(&tp, j))
                {
                    continue;
                }
                self.promote_longest(&tp, up).await;
            }
        }
    }

    async fn promote_longest(&self, tp: &Tp, up: &PerCluster<bool>) {
        let n = self.clusters.len();
        // A cluster not compared since it came back may be a new, empty broker: what it held
        // is away too.
        let live: Vec<ClusterIdx> = self
            .clusters
            .indices()
            .filter(|&i| up[i] && self.compared_since_loss(i) && !self.lanes.is_divergent(tp, i))
            .collect();
        let required = self.required_of(self.plan().sync.len());
        let away = n - live.len();
        if live.is_empty() || !reachable_logs_hold_every_ack(away, required) {
            return;
        }
        if live.iter().any(|&i| self.lanes.inflight_on(tp, i) > 0) {
            // A write still landing would make a log look shorter than it is.
            return;
        }
        let standings = self.compare_on(tp, &live).await;
        let mut longest = Vec::new();
        for (&i, standing) in live.iter().zip(standings) {
            match standing {
                Ok(history::Standing::InSync) => longest.push(i),
                Ok(history::Standing::Behind(_)) => {}
                Ok(history::Standing::Divergent(at)) => self.note_divergent(tp, i, at),
                Err(e) => {
                    tracing::debug!(
                        "{tp}: no in-sync cluster is reachable and cluster {} could not be \
                         compared: {e}",
                        self.clusters[i].id
                    );
                    return;
                }
            }
        }
        // Checked again: a write may have been queued while the logs were read.
        if live.iter().any(|&i| self.lanes.inflight_on(tp, i) > 0) {
            return;
        }
        for i in longest {
            // A failed write left its producer sequence there unknown: writes go under a new
            // producer id.
            if let Some(stale) = self.lanes.stale_identity(tp, i)
                && let Err(e) = self.ensure_identity(i, Some(stale)).await
            {
                tracing::debug!("{e}");
                continue;
            }
            self.lanes.mark_in_sync(tp, i);
            tracing::warn!(
                cluster = %self.clusters[i].id,
                "{tp}: no in-sync cluster is reachable; cluster {} holds the longest history \
                 of the reachable ones, which holds every acknowledged write ({away} of {n} \
                 clusters away, the ack policy needs {required}): it takes writes again and \
                 the others are repaired from it",
                self.clusters[i].id
            );
        }
        self.repairing.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::reachable_logs_hold_every_ack;

    #[test]
    fn the_longest_reachable_log_is_trusted_only_when_fewer_clusters_than_an_ack_needs_are_away() {
        // MAJORITY of 3 (2 needed): one away cannot hold an acknowledged write alone.
        assert!(reachable_logs_hold_every_ack(1, 2));
        // Two away may hold one the reachable cluster never saw.
        assert!(!reachable_logs_hold_every_ack(2, 2));
        // ANY / ONE: the one cluster away may be the only holder.
        assert!(!reachable_logs_hold_every_ack(1, 1));
        // ALL of 3: every acknowledged write is on each cluster.
        assert!(reachable_logs_hold_every_ack(2, 3));
    }
}
