//! Idempotent producers' state per partition, kept as a Kafka broker keeps it: the producer's
//! epoch there, and its last batches (sequence range, record count, checksum, and what the
//! first attempt achieved). A batch is checked against it before it is written:
//!
//! - a client retry of one of those batches, provably the same (same producer id issued by
//!   the proxy, epoch, sequence range, record count and checksum), is answered from its first
//!   attempt and never written twice;
//! - the next batch in sequence is written;
//! - a gap in sequences gets `OUT_OF_ORDER_SEQUENCE_NUMBER`, an older epoch
//!   `INVALID_PRODUCER_EPOCH`, as from a broker, and nothing is written.
//!
//! Producer ids are issued by the proxy (see `producer_ids`), unique across clusters,
//! instances and restarts, so two producers never share a state here.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::replication::partitions::lanes::Tp;
use kafka_protocol::error::ResponseError;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Batches remembered per producer and partition (clients keep at most 5 in flight).
const RECENT: usize = 16;
/// Producer-partition states kept before the least recently used is forgotten.
const CAPACITY: usize = 100_000;

/// What identifies one idempotent client batch (all the batches a request carries for one
/// partition, taken together) and what it must match to count as a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMeta {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub base_sequence: i32,
    /// Records, over every batch.
    pub records: i32,
    /// CRC32C of the batches' records and attributes (not their batch timestamps, which a
    /// client may restamp when it rebuilds a batch for a retry; see `batch::Covering::Sent`).
    pub checksum: u32,
}

impl BatchMeta {
    /// The meta of a partition's `records` when its batches are idempotent, not
    /// transactional; `None` otherwise.
    pub fn of(records: &[u8]) -> Option<Self> {
        let list = crate::wire::records::batches(records);
        let (first, _) = list.first()?;
        if first.producer_id < 0 || first.transactional {
            return None;
        }
        // Folded batch by batch: no buffer on the produce path.
        let mut checksum = 0u32;
        let mut count = 0i64;
        for (h, range) in &list {
            let sum = crate::wire::records::covered_sum(
                &records[range.clone()],
                crate::wire::records::Covering::Sent,
            );
            checksum = crc32c::crc32c_append(checksum, &sum.to_be_bytes());
            count += h.offsets;
        }
        Some(Self {
            producer_id: first.producer_id,
            epoch: first.producer_epoch,
            base_sequence: first.base_sequence,
            records: i32::try_from(count).unwrap_or(i32::MAX),
            checksum,
        })
    }

    /// Sequence of the last record (sequences wrap from `i32::MAX` to 0, as in Kafka).
    pub fn last_sequence(&self) -> i32 {
        add_sequence(self.base_sequence, self.records - 1)
    }
}

fn add_sequence(seq: i32, n: i32) -> i32 {
    ((i64::from(seq) + i64::from(n)) % (i64::from(i32::MAX) + 1)) as i32
}

/// What the first attempt of a batch achieved so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Per cluster: the base offset it gave, once acknowledged.
    pub offsets: PerCluster<Option<i64>>,
}

impl Written {
    /// Nothing acknowledged yet on any of `clusters` clusters.
    fn none(clusters: usize) -> Self {
        Self {
            offsets: PerCluster::from_fn(clusters, |_| None),
        }
    }

    /// Whether cluster `i` acknowledged it.
    pub fn acked_by(&self, i: ClusterIdx) -> bool {
        self.offsets.get(i).is_some_and(Option::is_some)
    }

    /// Cluster `i` acknowledged it at `offset`.
    fn ack(&mut self, i: ClusterIdx, offset: i64) {
        if let Some(slot) = self.offsets.get_mut(i) {
            *slot = Some(offset);
        }
    }
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryCheck {
    /// The same batch was written before: answer from its first attempt.
    Retry(Written),
    /// Write it: the next batch in sequence.
    Write,
    /// No state for this producer on this partition: a new producer, or one whose state this
    /// instance lost (restarted, took the partition over); see `recover`.
    New,
    /// Refuse it, as a broker would, with this Kafka error code and message.
    Refuse(i16, String),
}

#[derive(Debug)]
struct SentBatch {
    meta: BatchMeta,
    written: Written,
}

#[derive(Debug, Default)]
struct ProducerState {
    epoch: i16,
    recent: VecDeque<SentBatch>,
    /// Use counter value at the last touch (for forgetting the least recently used).
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<(i64, Tp), ProducerState>,
    /// (use counter, key) in touch order; stale pairs are skipped when evicting.
    order: VecDeque<(u64, (i64, Tp))>,
    clock: u64,
}

/// Every idempotent producer's state, per partition this instance writes.
#[derive(Default)]
pub struct Producers {
    inner: Mutex<Inner>,
}

impl Producers {
    /// Checks a batch for `tp` against its producer's state. Changes nothing.
    pub fn check(&self, tp: &Tp, meta: &BatchMeta) -> RetryCheck {
        let g = lock(&self.inner);
        let Some(s) = g.map.get(&(meta.producer_id, tp.clone())) else {
            return RetryCheck::New;
        };
        let at = || tp.to_string();
        if meta.epoch < s.epoch {
            return RetryCheck::Refuse(
                ResponseError::InvalidProducerEpoch.code(),
                format!(
                    "{}: producer {} epoch {} is older than its current epoch {}",
                    at(),
                    meta.producer_id,
                    meta.epoch,
                    s.epoch
                ),
            );
        }
        if meta.epoch > s.epoch {
            return if meta.base_sequence == 0 {
                RetryCheck::Write
            } else {
                RetryCheck::Refuse(
                    ResponseError::OutOfOrderSequenceNumber.code(),
                    format!(
                        "{}: producer {} starts epoch {} at sequence {}, not 0",
                        at(),
                        meta.producer_id,
                        meta.epoch,
                        meta.base_sequence
                    ),
                )
            };
        }
        if let Some(e) = s
            .recent
            .iter()
            .find(|e| e.meta.base_sequence == meta.base_sequence)
        {
            // Same sequence: a retry only when provably the same batch; anything else is
            // written, never answered from memory.
            return if e.meta == *meta {
                RetryCheck::Retry(e.written.clone())
            } else {
                RetryCheck::Write
            };
        }
        let expected = s
            .recent
            .back()
            .map_or(0, |e| add_sequence(e.meta.last_sequence(), 1));
        if meta.base_sequence == expected {
            return RetryCheck::Write;
        }
        RetryCheck::Refuse(
            ResponseError::OutOfOrderSequenceNumber.code(),
            format!(
                "{}: producer {} epoch {} sent sequence {}, expected {expected}",
                at(),
                meta.producer_id,
                meta.epoch,
                meta.base_sequence
            ),
        )
    }

    /// Forgets every producer's state on the partitions `keep` refuses (another instance
    /// writes them now: state kept from before would be stale if they come back, and is
    /// found again in the partition's tail then).
    pub fn retain(&self, keep: impl Fn(&Tp) -> bool) {
        let mut g = lock(&self.inner);
        g.map.retain(|(_, tp), _| keep(tp));
    }

    /// Records a batch about to be written to `clusters` clusters.
    pub fn register(&self, tp: &Tp, meta: &BatchMeta, clusters: usize) {
        let mut g = lock(&self.inner);
        g.clock += 1;
        let now = g.clock;
        let key = (meta.producer_id, tp.clone());
        if !g.map.contains_key(&key) && g.map.len() >= CAPACITY {
            evict_one(&mut g);
        }
        g.order.push_back((now, key.clone()));
        let s = g.map.entry(key).or_default();
        s.used = now;
        if meta.epoch > s.epoch || s.recent.is_empty() {
            s.epoch = meta.epoch;
            s.recent.clear();
        }
        s.recent
            .retain(|e| e.meta.base_sequence != meta.base_sequence);
        if s.recent.len() >= RECENT {
            s.recent.pop_front();
        }
        // In sequence order: batches found in a partition's tail may be registered out of
        // order (sequences wrap only after 2^31 records; a wrapped one goes last).
        let at = s
            .recent
            .iter()
            .position(|e| e.meta.base_sequence > meta.base_sequence)
            .filter(|_| meta.base_sequence > 0)
            .unwrap_or(s.recent.len());
        s.recent.insert(
            at,
            SentBatch {
                meta: meta.clone(),
                written: Written::none(clusters),
            },
        );
        // The touch order only grows with stale pairs; compact it now and then.
        if g.order.len() > 2 * CAPACITY.max(g.map.len()) {
            let Inner { map, order, .. } = &mut *g;
            order.retain(|(t, k)| map.get(k).is_some_and(|s| s.used == *t));
        }
    }

    /// Records a batch found already written on cluster `i` at `offset`; returns what that
    /// attempt achieved.
    pub fn register_written(
        &self,
        tp: &Tp,
        meta: &BatchMeta,
        clusters: usize,
        i: ClusterIdx,
        offset: i64,
    ) -> Written {
        self.register(tp, meta, clusters);
        self.acked(tp, meta, i, offset);
        let mut written = Written::none(clusters);
        written.ack(i, offset);
        written
    }

    /// Cluster `i` acknowledged the batch at `offset`.
    pub fn acked(&self, tp: &Tp, meta: &BatchMeta, i: ClusterIdx, offset: i64) {
        let mut g = lock(&self.inner);
        let Some(s) = g.map.get_mut(&(meta.producer_id, tp.clone())) else {
            return;
        };
        if let Some(e) = s.recent.iter_mut().find(|e| e.meta == *meta) {
            e.written.ack(i, offset);
        }
    }
}

fn evict_one(g: &mut Inner) {
    while let Some((t, k)) = g.order.pop_front() {
        if g.map.get(&k).is_some_and(|s| s.used == t) {
            g.map.remove(&k);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn tp() -> Tp {
        Tp::new(TopicName(StrBytes::from_static_str("t")), 0)
    }

    fn meta(pid: i64, epoch: i16, seq: i32, records: i32, checksum: u32) -> BatchMeta {
        BatchMeta {
            producer_id: pid,
            epoch,
            base_sequence: seq,
            records,
            checksum,
        }
    }

    #[test]
    fn a_retry_of_the_same_batch_is_answered_from_its_first_attempt() {
        let p = Producers::default();
        let m = meta(7, 0, 0, 10, 0xabc);
        assert_eq!(p.check(&tp(), &m), RetryCheck::New);
        p.register(&tp(), &m, 3);
        p.acked(&tp(), &m, ClusterIdx::new(1), 42);
        match p.check(&tp(), &m) {
            RetryCheck::Retry(w) => {
                assert!(w.acked_by(ClusterIdx::new(1)));
                assert!(!w.acked_by(ClusterIdx::new(0)) && !w.acked_by(ClusterIdx::new(2)));
                assert_eq!(w.offsets, PerCluster::from(vec![None, Some(42), None]));
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn a_partition_given_up_forgets_its_producers_so_they_are_looked_up_again() {
        let p = Producers::default();
        let other = Tp::new(TopicName(StrBytes::from_static_str("t")), 1);
        p.register(&tp(), &meta(7, 0, 0, 10, 1), 2);
        p.register(&other, &meta(7, 0, 0, 10, 1), 2);
        p.retain(|t| *t == other);
        // Whatever was written meanwhile elsewhere, sequence 500 is not refused as a gap.
        assert_eq!(p.check(&tp(), &meta(7, 0, 500, 5, 2)), RetryCheck::New);
        assert_eq!(p.check(&other, &meta(7, 0, 10, 5, 2)), RetryCheck::Write);
    }

    #[test]
    fn a_reused_producer_id_with_different_content_is_written_not_answered_from_memory() {
        let p = Producers::default();
        let first = meta(7, 0, 0, 10, 0xabc);
        p.register(&tp(), &first, 3);
        p.acked(&tp(), &first, ClusterIdx::FIRST, 0);
        // Same producer id, epoch and sequence, other records: another producer's batch.
        assert_eq!(p.check(&tp(), &meta(7, 0, 0, 10, 0xdef)), RetryCheck::Write);
        assert_eq!(p.check(&tp(), &meta(7, 0, 0, 9, 0xabc)), RetryCheck::Write);
    }

    #[test]
    fn the_next_batch_in_sequence_is_written_and_a_gap_is_refused() {
        let p = Producers::default();
        p.register(&tp(), &meta(7, 0, 0, 10, 1), 2);
        assert_eq!(p.check(&tp(), &meta(7, 0, 10, 5, 2)), RetryCheck::Write);
        match p.check(&tp(), &meta(7, 0, 11, 5, 2)) {
            RetryCheck::Refuse(code, msg) => {
                assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
                assert!(msg.contains("expected 10"), "{msg}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero() {
        let p = Producers::default();
        p.register(&tp(), &meta(7, 1, 0, 10, 1), 2);
        assert!(matches!(
            p.check(&tp(), &meta(7, 0, 10, 1, 2)),
            RetryCheck::Refuse(c, _) if c == ResponseError::InvalidProducerEpoch.code()
        ));
        assert_eq!(p.check(&tp(), &meta(7, 2, 0, 1, 2)), RetryCheck::Write);
        assert!(matches!(
            p.check(&tp(), &meta(7, 2, 5, 1, 2)),
            RetryCheck::Refuse(c, _) if c == ResponseError::OutOfOrderSequenceNumber.code()
        ));
    }

    #[test]
    fn sequences_wrap_like_kafkas() {
        let p = Producers::default();
        p.register(&tp(), &meta(7, 0, i32::MAX - 1, 2, 1), 1);
        assert_eq!(p.check(&tp(), &meta(7, 0, 0, 1, 2)), RetryCheck::Write);
    }

    #[test]
    fn producers_are_kept_apart_by_id_and_partition() {
        let p = Producers::default();
        p.register(&tp(), &meta(7, 0, 0, 10, 1), 1);
        let other: Tp = Tp::new(TopicName(StrBytes::from_static_str("t")), 1);
        assert_eq!(p.check(&other, &meta(7, 0, 0, 10, 1)), RetryCheck::New);
        assert_eq!(p.check(&tp(), &meta(8, 0, 0, 10, 1)), RetryCheck::New);
    }

    #[test]
    fn batches_found_out_of_order_keep_the_sequence_order() {
        let p = Producers::default();
        p.register(&tp(), &meta(7, 0, 20, 10, 3), 1);
        p.register(&tp(), &meta(7, 0, 10, 10, 2), 1);
        assert_eq!(p.check(&tp(), &meta(7, 0, 30, 1, 4)), RetryCheck::Write);
    }
}
