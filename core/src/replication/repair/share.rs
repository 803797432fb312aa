//! Repair's share of a cluster's writer connection. Repair copies travel on the same
//! connection as the live writes, in front of those queued after them: a pass may copy at
//! most as many bytes as the live writes queued on the cluster since the last pass (half of
//! the connection), and at least [`REPAIR_MIN_BYTES_PER_PASS`], so a cluster behind by N
//! bytes catches up in time proportional to N under any steady write rate. With no live
//! writes, repair copies as fast as the cluster takes it.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::base::timing::REPAIR_MIN_BYTES_PER_PASS;

/// Bytes of live writes queued per cluster, and how many of them a repair pass has seen.
pub struct RepairShare {
    live: PerCluster<AtomicU64>,
    seen: PerCluster<AtomicU64>,
}

impl RepairShare {
    /// Meters for `n` clusters.
    pub fn new(n: usize) -> Self {
        Self {
            live: PerCluster::from_fn(n, |_| AtomicU64::new(0)),
            seen: PerCluster::from_fn(n, |_| AtomicU64::new(0)),
        }
    }

    /// A live write of `bytes` was queued on cluster `i`.
    pub fn note_live(&self, i: ClusterIdx, bytes: usize) {
        if let Some(c) = self.live.get(i) {
            c.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// The bytes a repair pass starting now may copy to cluster `i` (`None`: no limit).
    pub fn budget(&self, i: ClusterIdx) -> Option<u64> {
        let (Some(live), Some(seen)) = (self.live.get(i), self.seen.get(i)) else {
            return None;
        };
        let now = live.load(Ordering::Relaxed);
        let since = now.saturating_sub(seen.swap(now, Ordering::Relaxed));
        budget_for(since)
    }
}

/// A pass's budget after `live` bytes of live writes since the last pass.
fn budget_for(live: u64) -> Option<u64> {
    (live > 0).then(|| live.max(REPAIR_MIN_BYTES_PER_PASS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_gets_as_much_as_the_live_writes_and_a_floor_and_all_when_idle() {
        let share = RepairShare::new(2);
        let (a, b) = (ClusterIdx::new(0), ClusterIdx::new(1));
        assert_eq!(share.budget(a), None, "no live writes: no limit");
        share.note_live(a, 100);
        assert_eq!(share.budget(a), Some(REPAIR_MIN_BYTES_PER_PASS));
        let big = 3 * REPAIR_MIN_BYTES_PER_PASS as usize;
        share.note_live(a, big);
        assert_eq!(share.budget(a), Some(big as u64));
        assert_eq!(share.budget(a), None, "counted once");
        assert_eq!(share.budget(b), None, "another cluster");
        assert_eq!(share.budget(ClusterIdx::new(7)), None, "no such cluster");
    }
}
