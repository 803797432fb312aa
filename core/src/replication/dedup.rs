//! Client retries of idempotent batches, recognised by (producer id, epoch, partition, base
//! sequence) and answered from what the first attempt achieved instead of being written again.

use crate::replication::lanes::Tp;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Identifies one client batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchId {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Partition.
    pub tp: Tp,
    /// First sequence number.
    pub base_sequence: i32,
}

/// What the first attempt of a batch achieved so far.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Bit i: cluster i acknowledged it.
    pub acked: u64,
    /// Per cluster: the base offset it gave, once acknowledged.
    pub offsets: Vec<Option<i64>>,
}

/// Entries kept before the oldest are forgotten (clients retry recent batches only).
const CAPACITY: usize = 100_000;

/// The recent idempotent batches.
#[derive(Default)]
pub struct Dedup {
    inner: Mutex<(HashMap<BatchId, Written>, VecDeque<BatchId>)>,
}

impl Dedup {
    /// Records a batch about to be written to `clusters` clusters.
    pub fn register(&self, id: BatchId, clusters: usize) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.len() >= CAPACITY
            && let Some(old) = order.pop_front()
        {
            map.remove(&old);
        }
        order.push_back(id.clone());
        map.insert(
            id,
            Written {
                acked: 0,
                offsets: vec![None; clusters],
            },
        );
    }

    /// Cluster `i` acknowledged the batch at `offset`.
    pub fn acked(&self, id: &BatchId, i: usize, offset: i64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = g.0.get_mut(id) {
            w.acked |= 1 << i;
            if let Some(slot) = w.offsets.get_mut(i) {
                *slot = Some(offset);
            }
        }
    }

    /// The first attempt of `id`, if it is a retry.
    pub fn lookup(&self, id: &BatchId) -> Option<Written> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.get(id).cloned()
    }
}
