//! Repair's share of a cluster's writer connection. Repair copies travel on the same
//! connection as the live writes, in front of those queued after them: a pass may copy at
//! most as many bytes as the live writes queued on the cluster since the last pass (half of
//! the connection), and at least [`REPAIR_MIN_BYTES_PER_PASS`], so a cluster behind by N
//! bytes catches up in time proportional to N under any steady write rate. With no live
//! writes, repair copies as fast as the cluster takes it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::base::timing::REPAIR_MIN_BYTES_PER_PASS;

/// Bytes of live writes queued per cluster, and how many of them a repair pass has seen.
pub struct RepairShare {
    live: Vec<AtomicU64>,
    seen: Vec<AtomicU64>,
}

impl RepairShare {
    /// Meters for `n` clusters.
    pub fn new(n: usize) -> Self {
        Self {
            live: (0..n).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// A live write of `bytes` was queued on cluster `i`.
    pub fn note_live(&self, i: usize, bytes: usize) {
        if let Some(c) = self.live.get(i) {
            c.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// The bytes a repair pass starting now may copy to cluster `i` (`None`: no limit).
    pub fn budget(&self, i: usize) -> Option<u64> {
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
        assert_eq!(share.budget(0), None, "no live writes: no limit");
        share.note_live(0, 100);
        assert_eq!(share.budget(0), Some(REPAIR_MIN_BYTES_PER_PASS));
        let big = 3 * REPAIR_MIN_BYTES_PER_PASS as usize;
        share.note_live(0, big);
        assert_eq!(share.budget(0), Some(big as u64));
        assert_eq!(share.budget(0), None, "counted once");
        assert_eq!(share.budget(1), None, "another cluster");
        assert_eq!(share.budget(7), None, "no such cluster");
    }
}
