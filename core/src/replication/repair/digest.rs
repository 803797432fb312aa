//! Running digests: every partition's log is read on every cluster, batch by batch from where
//! the last pass stopped, and compared with the same offsets on a reference cluster. A
//! comparison of the ends alone misses a difference in the middle of two logs (records
//! written straight to one cluster, or a write that landed out of order); this finds it with
//! its offset. Each cluster's digest is a CRC32C chain over its batch marks (logical base
//! offset, record count, and the batch's checksum without producer id, epoch and sequence)
//! up to the offset it was read to: two clusters whose logs agree there have the same digest.
//!
//! What the clusters held when they were compared (at startup, after an outage, when this
//! instance took a partition over) is read, up to the longest end seen then; what this
//! instance writes after that is checked as it is answered (see `lanes`), so it is not read
//! back. Passes run in the repairer's loop, a few small fetches per partition each; while
//! writes are in flight on the clusters, a pass reads once for one partition only, so
//! reading yields to the writes and to repair.

use crate::backend::BackendError;
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::replication::Replicator;
use crate::replication::partitions::lanes::Tp;
use crate::replication::repair::history::{BatchMark, Side};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::base::timing::{DIGEST_EVERY, DIGEST_FETCHES_PER_PASS};

/// One cluster's digest of a partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// Logical offset the log was read and compared to.
    pub upto: i64,
    /// CRC32C chain over the batch marks before `upto`.
    pub chain: u32,
}

impl Digest {
    /// The digest extended by one batch.
    fn extend(self, m: &BatchMark) -> Self {
        let mut bytes = [0u8; 20];
        bytes[..8].copy_from_slice(&m.base.to_be_bytes());
        bytes[8..16].copy_from_slice(&m.count.to_be_bytes());
        bytes[16..].copy_from_slice(&m.sum.to_be_bytes());
        Self {
            upto: m.base + m.count,
            chain: crc32c::crc32c_append(self.chain, &bytes),
        }
    }
}

/// Digests of every partition on every cluster, and when the last pass ran.
#[derive(Default)]
pub struct Digests {
    map: Mutex<HashMap<Tp, PerCluster<Digest>>>,
    /// Per partition: the logical offset to read up to (the longest end at the last
    /// comparison).
    limits: Mutex<HashMap<Tp, i64>>,
    last_pass: Mutex<Option<std::time::Instant>>,
}

impl Digests {
    fn get(&self, tp: &Tp, n: usize) -> PerCluster<Digest> {
        let map = lock(&self.map);
        map.get(tp)
            .cloned()
            .unwrap_or_else(|| PerCluster::from_fn(n, |_| Digest::default()))
    }

    fn put(&self, tp: &Tp, d: PerCluster<Digest>) {
        let mut map = lock(&self.map);
        map.insert(tp.clone(), d);
    }

    /// Forgets a partition (its topic was deleted, or a cluster reseeded it).
    pub fn forget_topic(&self, topic: &kafka_protocol::messages::TopicName) {
        let mut map = lock(&self.map);
        map.retain(|tp, _| tp.topic != *topic);
    }

    /// `tp` is read side by side up to logical offset `end` (at least).
    pub fn read_up_to(&self, tp: &Tp, end: i64) {
        let mut limits = lock(&self.limits);
        let l = limits.entry(tp.clone()).or_insert(end);
        *l = (*l).max(end);
    }

    /// The partitions not yet read up to their limit on some cluster of `on`, with it.
    fn unread(&self, on: impl Fn(&Tp) -> Vec<ClusterIdx>) -> Vec<(Tp, i64)> {
        let limits = lock(&self.limits);
        let map = lock(&self.map);
        limits
            .iter()
            .filter(|&(tp, &limit)| {
                on(tp).iter().any(|&i| {
                    map.get(tp)
                        .and_then(|d| d.get(i))
                        .is_none_or(|d| d.upto < limit)
                })
            })
            .map(|(tp, &limit)| (tp.clone(), limit))
            .collect()
    }

    /// Whether a pass is due now (and marks it started).
    fn due(&self) -> bool {
        let mut last = lock(&self.last_pass);
        if last.is_some_and(|t| t.elapsed() < DIGEST_EVERY) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }
}

/// How one step of reading two logs side by side ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestStep {
    /// Both agree up to this digest (no further than either has been read).
    Agree(Digest),
    /// They differ from this logical offset on.
    Differ(i64),
}

/// Compares the marks of a reference log (`reference`) and another (`other`), both read from
/// where `digest` stopped: how far they agree, or where they first differ. A log that simply
/// ends sooner is not a difference.
pub fn step(digest: Digest, reference: &[BatchMark], other: &[BatchMark]) -> DigestStep {
    let mut d = digest;
    for (r, o) in reference.iter().zip(other) {
        if r != o {
            return DigestStep::Differ(r.base.min(o.base).max(digest.upto));
        }
        d = d.extend(r);
    }
    DigestStep::Agree(d)
}

/// The reference log of one partition, read once per offset however many clusters are
/// compared with it.
pub struct Reference<'a> {
    side: &'a Side,
    read: HashMap<i64, Vec<BatchMark>>,
}

impl<'a> Reference<'a> {
    /// The reference log on `side`.
    pub fn new(side: &'a Side) -> Self {
        Self {
            side,
            read: HashMap::new(),
        }
    }
}

/// Reads `reference` and `other` side by side from `digest` for up to `fetches` steps.
pub async fn scan(
    tp: &Tp,
    reference: &mut Reference<'_>,
    other: &Side,
    mut digest: Digest,
    fetches: usize,
) -> Result<DigestStep, BackendError> {
    for _ in 0..fetches {
        let from = digest.upto;
        let (r, o) = match reference.read.get(&from).cloned() {
            Some(r) => (r, other.marks_from(tp, from).await?),
            None => {
                let (r, o) = futures::future::join(
                    reference.side.marks_from(tp, from),
                    other.marks_from(tp, from),
                )
                .await;
                let r = r?;
                reference.read.insert(from, r.clone());
                (r, o?)
            }
        };
        match step(digest, &r, &o) {
            DigestStep::Agree(d) if d.upto > digest.upto => digest = d,
            DigestStep::Agree(_) => return Ok(DigestStep::Agree(digest)),
            differ => return Ok(differ),
        }
    }
    Ok(DigestStep::Agree(digest))
}

/// Which of the clusters' batches at one offset (`None`: its log does not reach there yet)
/// differ from the batch most of them hold (on a tie, the one the first holds).
pub fn odd_ones(marks: &[Option<BatchMark>]) -> Vec<usize> {
    let votes = |m: &BatchMark| marks.iter().filter(|x| **x == Some(*m)).count();
    let best = marks
        .iter()
        .enumerate()
        .filter_map(|(k, m)| m.map(|m| (k, m)))
        .max_by_key(|(k, m)| (votes(m), std::cmp::Reverse(*k)))
        .map(|(_, m)| m);
    marks
        .iter()
        .enumerate()
        .filter(|(_, m)| m.is_some() && **m != best)
        .map(|(k, _)| k)
        .collect()
}

impl Replicator {
    /// One digest pass, when due: every partition this instance writes, on every cluster
    /// that is compared, in sync and not divergent there, read on from its digest and
    /// compared with the first such cluster (by priority). A cluster that differs is
    /// divergent from the first differing offset, unless most of the others hold what it
    /// holds there (then the reference is the odd one).
    pub(in crate::replication) async fn digest_pass(&self, up: &PerCluster<bool>) {
        if !self.repairing.digests.due() {
            return;
        }
        let eligible = |tp: &Tp| -> Vec<ClusterIdx> {
            self.clusters
                .indices()
                .filter(|&i| {
                    up[i]
                        && self.compared_since_loss(i)
                        && !self.lanes.is_behind(tp, i)
                        && !self.lanes.is_divergent(tp, i)
                })
                .collect()
        };
        for (tp, limit) in self.repairing.digests.unread(eligible) {
            let on = eligible(&tp);
            if !self.owns(&tp) || on.len() < 2 {
                continue;
            }
            // Writes first: while any is in flight on these clusters, one small read a pass.
            let busy = on.iter().any(|&i| self.lanes.total_inflight_on(i) > 0);
            let fetches = if busy { 1 } else { DIGEST_FETCHES_PER_PASS };
            if let Err(e) = self.digest_partition(&tp, &on, limit, fetches).await {
                tracing::debug!("digest pass of {tp}: {e}");
            }
            if busy {
                return;
            }
        }
    }

    fn side(&self, tp: &Tp, i: ClusterIdx) -> Side {
        Side {
            cluster: self.clusters[i].clone(),
            delta: self.lanes.delta(tp, i),
        }
    }

    async fn digest_partition(
        &self,
        tp: &Tp,
        eligible: &[ClusterIdx],
        limit: i64,
        fetches: usize,
    ) -> Result<(), BackendError> {
        let mut digests = self.repairing.digests.get(tp, self.clusters.len());
        let r = eligible[0];
        let side = self.side(tp, r);
        let mut reference = Reference::new(&side);
        for &i in &eligible[1..] {
            if digests[i].upto >= limit {
                continue;
            }
            let step = scan(tp, &mut reference, &self.side(tp, i), digests[i], fetches).await?;
            match step {
                DigestStep::Agree(d) => {
                    digests[i] = d;
                    if d.upto > digests[r].upto {
                        digests[r] = d;
                    }
                }
                DigestStep::Differ(at) => self.settle_difference(tp, eligible, at).await?,
            }
        }
        self.repairing.digests.put(tp, digests);
        Ok(())
    }

    /// Clusters disagree on `tp` at logical offset `at`: the batch there on each eligible
    /// cluster decides which hold the history most of them hold; the others are divergent.
    async fn settle_difference(
        &self,
        tp: &Tp,
        eligible: &[ClusterIdx],
        at: i64,
    ) -> Result<(), BackendError> {
        let found = futures::future::join_all(
            eligible
                .iter()
                .map(|&i| async move { self.side(tp, i).mark_at(tp, at).await }),
        )
        .await;
        let mut marks = Vec::with_capacity(eligible.len());
        for m in found {
            marks.push(m?);
        }
        for k in odd_ones(&marks) {
            let i = eligible[k];
            tracing::error!(
                cluster = %self.clusters[i].id,
                "cluster {} holds other records than the other clusters in the middle of \
                 {tp} (its digest differs from logical offset {at})",
                self.clusters[i].id
            );
            self.note_divergent(tp, i, at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(base: i64, count: i64, sum: u32) -> BatchMark {
        BatchMark { base, count, sum }
    }

    #[test]
    fn logs_that_agree_have_the_same_digest_and_a_shorter_one_is_no_difference() {
        let a = [m(0, 5, 1), m(5, 3, 2), m(8, 1, 3)];
        let b = [m(0, 5, 1), m(5, 3, 2)];
        let DigestStep::Agree(d) = step(Digest::default(), &a, &b) else {
            panic!("a prefix is not a difference")
        };
        assert_eq!(d.upto, 8);
        let DigestStep::Agree(whole) = step(Digest::default(), &a, &a) else {
            panic!("the same log differs")
        };
        // Read in two steps, the digest is the one read in one.
        let DigestStep::Agree(rest) = step(d, &a[2..], &a[2..]) else {
            panic!("the same log differs")
        };
        assert_eq!(rest, whole);
    }

    #[test]
    fn a_difference_in_the_middle_is_found_at_its_offset() {
        let a = [m(0, 5, 1), m(5, 3, 2), m(8, 1, 3)];
        let b = [m(0, 5, 1), m(5, 3, 9), m(8, 1, 3)];
        assert_eq!(step(Digest::default(), &a, &b), DigestStep::Differ(5));
        // Batches cut differently differ where the first of them starts.
        let c = [m(0, 5, 1), m(5, 2, 7), m(7, 2, 8)];
        assert_eq!(step(Digest::default(), &a, &c), DigestStep::Differ(5));
    }

    #[test]
    fn the_odd_cluster_is_the_one_most_others_disagree_with() {
        let (a, b) = (Some(m(5, 3, 2)), Some(m(5, 3, 9)));
        assert_eq!(odd_ones(&[a, b, a]), vec![1]);
        // The reference itself can be the odd one.
        assert_eq!(odd_ones(&[b, a, a]), vec![0]);
        // A tie: the first cluster's batch is kept.
        assert_eq!(odd_ones(&[a, b]), vec![1]);
        // A log that does not reach the offset yet is not judged.
        assert_eq!(odd_ones(&[a, None, b, a]), vec![2]);
    }
}
