//! Per-partition replication state: which clusters are behind (missed a write and take no
//! live writes until the repairer has caught them up) and how many writes are in flight.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::replication::partitions::stamps::{Sequencing, WriterId};
use crate::wire::records::{BatchStamp, sequence_after};
use kafka_protocol::messages::TopicName;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub use crate::backend::partitioned::Tp;

#[derive(Debug, Clone)]
struct Lane {
    /// Per cluster: missed a write here and takes no live writes until repaired.
    behind: PerCluster<bool>,
    /// Per cluster: writes queued and not answered yet.
    inflight: PerCluster<u32>,
    /// Per cluster: the end offset its last known write reached (-1: not known).
    end: PerCluster<i64>,
    /// Per cluster: `physical - logical` offset (see `reads`).
    delta: PerCluster<i64>,
    /// Per cluster: holds another history from this logical offset on (see `history`). A
    /// divergent cluster is behind for good: no writes, no reads, never repaired, until an
    /// admin reseeds it.
    divergent: PerCluster<Option<i64>>,
    /// Per cluster: the live writes queued there, checked against one another in queue order.
    order: PerCluster<Order>,
    /// Per cluster: the sequence the proxy's next batch there takes.
    sequence: PerCluster<Sequence>,
}

/// The proxy's own sequence on one cluster's copy of a partition (see `stamps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Sequence {
    /// Nothing written there under the cluster's current identity.
    #[default]
    Unused,
    /// The next batch takes this sequence under this identity.
    Next(WriterId, i32),
    /// A write under this identity failed or was refused with writes queued behind it:
    /// which sequence the broker expects is not known. Writing resumes under a new identity
    /// once nothing is in flight.
    Unknown(WriterId),
}

/// How the proxy's next batch to a partition on one cluster is numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// Without producer id: the cluster issues none.
    Unstamped,
    /// With this stamp.
    Stamped(BatchStamp),
    /// Not now: a write under the cluster's current identity failed, or one under an older
    /// identity failed with others in flight. The write is not sent; the cluster misses it
    /// (and repair copies under a new identity).
    Blocked,
}

impl Lane {
    /// Numbers a batch of `count` offsets for cluster `i` under `now` and advances the
    /// sequence. A new identity is taken only with nothing in flight there: under it the
    /// broker would take a batch even if one queued before it under the old identity failed.
    fn number(&mut self, i: ClusterIdx, count: i64, now: Sequencing) -> Numbering {
        let Sequencing::On(current) = now else {
            return Numbering::Unstamped;
        };
        let idle = self.inflight[i] == 0;
        let (id, sequence) = match self.sequence[i] {
            Sequence::Next(id, next) if id == current || !idle => (id, next),
            Sequence::Unknown(id) if id == current || !idle => return Numbering::Blocked,
            // Unnumbered writes are in flight (sent before the cluster had an identity).
            Sequence::Unused if !idle => return Numbering::Unstamped,
            _ => (current, 0),
        };
        self.sequence[i] = Sequence::Next(id, sequence_after(sequence, count));
        Numbering::Stamped(BatchStamp {
            producer_id: id.producer_id,
            epoch: id.epoch,
            sequence,
        })
    }

    /// A write stamped `stamp` on cluster `i` did not land: the broker's sequence is not
    /// known any more, unless `rewind` (the broker refused it, and nothing was queued after
    /// it), when the next batch takes its sequence.
    fn unnumber(&mut self, i: ClusterIdx, stamp: Option<BatchStamp>, rewind: bool) {
        let (Some(stamp), Sequence::Next(id, _)) = (stamp, self.sequence[i]) else {
            return;
        };
        if id.producer_id != stamp.producer_id || id.epoch != stamp.epoch {
            return;
        }
        self.sequence[i] = if rewind {
            Sequence::Next(id, stamp.sequence)
        } else {
            Sequence::Unknown(id)
        };
    }
}

/// How one queued write ended on a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// Not answered yet.
    Pending,
    /// Written at this base offset.
    At(i64),
    /// Refused with an error every cluster gives the same bytes: nothing was written.
    Refused,
    /// Failed or unanswered: it may or may not have been written.
    Missed,
}

/// A write queued on a cluster's lane: what [`Lanes::started`] hands out and
/// [`Lanes::finished`] takes back.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    serial: u64,
    /// The end known for the cluster when the write was queued: every write and copy counted
    /// in it landed before this one, so a healthy broker puts this one at or after it.
    pub floor: i64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    count: i64,
    landing: Landing,
    stamp: Option<BatchStamp>,
}

/// One cluster's live writes to a partition, in the order they were queued. A broker applies
/// one connection's writes in that order, so each answered write must start where the
/// writes before it ended: a write that landed right after one that did not is a gap the
/// repair would fill after it, and the cluster would hold the records in another order.
#[derive(Debug, Clone, Default)]
struct Order {
    /// Serial of `slots[0]`.
    front: u64,
    slots: VecDeque<Slot>,
    /// Where the next write must land, when known: the end after every write resolved so far.
    expect: Option<i64>,
    /// Offsets of writes that failed since `expect` was last confirmed: written or not.
    unsure: i64,
}

impl Order {
    /// Forgets where the next write must land (nothing in flight: the log was read or
    /// copied to since).
    fn forget(&mut self) {
        if self.slots.is_empty() {
            self.expect = None;
            self.unsure = 0;
        }
    }

    /// Resolves the answered writes at the front, in queue order. Returns the physical offset
    /// from which the cluster holds writes out of order, if an answer shows that.
    fn resolve(&mut self) -> Option<i64> {
        let mut broken = None;
        while let Some(slot) = self.slots.front().copied() {
            match slot.landing {
                Landing::Pending => break,
                Landing::Refused => {}
                Landing::Missed => {
                    if self.expect.is_some() {
                        self.unsure += slot.count;
                    }
                }
                Landing::At(base) => {
                    if let Some(e) = self.expect
                        && base != e + self.unsure
                        && broken.is_none()
                    {
                        broken = Some(e);
                    }
                    self.expect = Some(base + slot.count);
                    self.unsure = 0;
                }
            }
            self.slots.pop_front();
            self.front += 1;
        }
        broken
    }
}

/// What one answered write means for its cluster's lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The write failed, and the cluster was in sync until now.
    pub made_behind: bool,
    /// The cluster holds writes out of order from this physical offset (a write landed past
    /// one that did not).
    pub out_of_order: Option<i64>,
}

/// The lanes of every partition written through this proxy.
pub struct Lanes {
    clusters: usize,
    map: Mutex<HashMap<Tp, Lane>>,
}

impl Lanes {
    /// Lanes for `clusters` clusters; every partition starts in sync everywhere.
    pub fn new(clusters: usize) -> Self {
        Self {
            clusters,
            map: Mutex::default(),
        }
    }

    fn with<R>(&self, tp: &Tp, f: impl FnOnce(&mut Lane) -> R) -> R {
        let mut map = lock(&self.map);
        let n = self.clusters;
        let lane = map.entry(tp.clone()).or_insert_with(|| Lane {
            behind: PerCluster::from_fn(n, |_| false),
            inflight: PerCluster::from_fn(n, |_| 0),
            end: PerCluster::from_fn(n, |_| -1),
            delta: PerCluster::from_fn(n, |_| 0),
            divergent: PerCluster::from_fn(n, |_| None),
            order: PerCluster::from_fn(n, |_| Order::default()),
            sequence: PerCluster::from_fn(n, |_| Sequence::Unused),
        });
        f(lane)
    }

    /// Whether cluster `i` is behind on `tp` (a lookup only: reads ask this per partition).
    pub fn is_behind(&self, tp: &Tp, i: ClusterIdx) -> bool {
        let map = lock(&self.map);
        map.get(tp).is_some_and(|l| l.behind[i])
    }

    /// Marks cluster `i` behind on `tp`; true if it was in sync.
    pub fn mark_behind(&self, tp: &Tp, i: ClusterIdx) -> bool {
        self.with(tp, |l| !std::mem::replace(&mut l.behind[i], true))
    }

    /// Whether cluster `i` holds another history of `tp`.
    pub fn is_divergent(&self, tp: &Tp, i: ClusterIdx) -> bool {
        let map = lock(&self.map);
        map.get(tp).is_some_and(|l| l.divergent[i].is_some())
    }

    /// Marks cluster `i` divergent on `tp` from logical offset `at`; true if it was not.
    pub fn mark_divergent(&self, tp: &Tp, i: ClusterIdx, at: i64) -> bool {
        self.with(tp, |l| {
            l.behind[i] = true;
            l.divergent[i].replace(at).is_none()
        })
    }

    /// Clears the divergence of cluster `i` on `topic`'s partitions (reseeded: it is empty
    /// now and behind, so the repairer backfills it); the partitions it was divergent on.
    pub fn clear_divergent(&self, topic: &TopicName, i: ClusterIdx) -> Vec<Tp> {
        let mut map = lock(&self.map);
        let mut out = Vec::new();
        for (tp, l) in map.iter_mut().filter(|(tp, _)| tp.topic == *topic) {
            if l.divergent[i].take().is_some() {
                l.behind[i] = true;
                l.end[i] = 0;
                l.order[i].forget();
                out.push(tp.clone());
            }
        }
        out
    }

    /// Every partition cluster `i` is divergent on, with the first differing offset.
    pub fn divergent_on(&self, i: ClusterIdx) -> Vec<(Tp, i64)> {
        let map = lock(&self.map);
        let mut out: Vec<(Tp, i64)> = map
            .iter()
            .filter_map(|(tp, l)| l.divergent[i].map(|at| (tp.clone(), at)))
            .collect();
        out.sort_by(|a, b| {
            (a.0.topic.as_str(), a.0.partition).cmp(&(b.0.topic.as_str(), b.0.partition))
        });
        out
    }

    /// Marks cluster `i` caught up on `tp` (copied to, with nothing in flight there: where
    /// its next write lands is learned from the answer).
    pub fn mark_in_sync(&self, tp: &Tp, i: ClusterIdx) {
        self.with(tp, |l| {
            l.behind[i] = false;
            l.order[i].forget();
        });
    }

    /// A write of `count` offsets to `tp` on cluster `i` is about to be queued (in queue
    /// order: callers hold the sequencer), numbered under `now`. `None` when it cannot be
    /// numbered now (see [`Numbering::Blocked`]): it must not be sent.
    pub fn started(
        &self,
        tp: &Tp,
        i: ClusterIdx,
        count: i64,
        now: Sequencing,
    ) -> Option<(Ticket, Option<BatchStamp>)> {
        self.with(tp, |l| {
            let stamp = match l.number(i, count, now) {
                Numbering::Blocked => return None,
                Numbering::Unstamped => None,
                Numbering::Stamped(s) => Some(s),
            };
            l.inflight[i] += 1;
            let o = &mut l.order[i];
            o.slots.push_back(Slot {
                count,
                landing: Landing::Pending,
                stamp,
            });
            Some((
                Ticket {
                    serial: o.front + o.slots.len() as u64 - 1,
                    floor: l.end[i],
                },
                stamp,
            ))
        })
    }

    /// Numbers a repair copy of `count` offsets to `tp` on cluster `i` (behind there, so no
    /// live write is in flight) under `now`.
    pub fn number_copy(&self, tp: &Tp, i: ClusterIdx, count: i64, now: Sequencing) -> Numbering {
        self.with(tp, |l| l.number(i, count, now))
    }

    /// A repair copy to `tp` on cluster `i` failed: the broker's sequence is not known.
    pub fn copy_failed(&self, tp: &Tp, i: ClusterIdx) {
        self.with(tp, |l| {
            if let Sequence::Next(id, _) = l.sequence[i] {
                l.sequence[i] = Sequence::Unknown(id);
            }
        });
    }

    /// The identity under which a write to `tp` on cluster `i` failed, when writing there
    /// waits for a new one.
    pub fn stale_identity(&self, tp: &Tp, i: ClusterIdx) -> Option<WriterId> {
        let map = lock(&self.map);
        match map.get(tp).map(|l| l.sequence[i]) {
            Some(Sequence::Unknown(id)) => Some(id),
            _ => None,
        }
    }

    /// Cluster `i` holds `tp` up to `end`: read with nothing in flight there (a comparison,
    /// a repair pass), so it replaces what answers suggested (a replaced broker may now end
    /// lower). Where the next write lands is learned from its answer again: an end read
    /// from a broker may fall short of its true end (Tansu's ListOffsets answers the last
    /// batch's base offset + 1).
    pub fn set_end(&self, tp: &Tp, i: ClusterIdx, end: i64) {
        self.with(tp, |l| {
            l.end[i] = end;
            l.order[i].forget();
        })
    }

    /// A write to `tp` on cluster `i` was answered (or failed); anything but a landing or a
    /// refusal puts the cluster behind.
    pub fn finished(&self, tp: &Tp, i: ClusterIdx, ticket: Ticket, landing: Landing) -> Finished {
        self.with(tp, |l| {
            l.inflight[i] = l.inflight[i].saturating_sub(1);
            let o = &mut l.order[i];
            let mut undo = None;
            let queued = o.slots.len();
            if let Some(k) = ticket.serial.checked_sub(o.front)
                && let Some(k) = usize::try_from(k).ok()
                && let Some(slot) = o.slots.get_mut(k)
            {
                slot.landing = landing;
                if !matches!(landing, Landing::At(_)) {
                    let last = k + 1 == queued;
                    undo = Some((slot.stamp, landing == Landing::Refused && last));
                }
            }
            let out_of_order = o.resolve();
            if let Some((stamp, rewind)) = undo {
                l.unnumber(i, stamp, rewind);
            }
            let failed = matches!(landing, Landing::Missed | Landing::Pending);
            Finished {
                made_behind: failed && !std::mem::replace(&mut l.behind[i], true),
                out_of_order,
            }
        })
    }

    /// Whether cluster `i` holds every write to `tp` answered so far: in sync, nothing in
    /// flight there.
    pub fn settled(&self, tp: &Tp, i: ClusterIdx) -> bool {
        self.with(tp, |l| !l.behind[i] && l.inflight[i] == 0)
    }

    /// Cluster `i` holds `tp` up to `end` (at least).
    pub fn note_end(&self, tp: &Tp, i: ClusterIdx, end: i64) {
        self.with(tp, |l| l.end[i] = l.end[i].max(end));
    }

    /// Records cluster `i` lacks that another cluster has, as far as the ends seen in
    /// answers, repairs and comparisons tell: on the partitions it is behind on (its own
    /// unknown end counts as 0), and on the others the writes another cluster has answered
    /// and it has not yet (a cluster slower than the rest, or hung, under a policy that does
    /// not wait for it).
    pub fn lag(&self, i: ClusterIdx) -> i64 {
        self.lag_of(i, |_| true)
    }

    /// [`Self::lag`] over the partitions `keep` accepts.
    pub fn lag_of(&self, i: ClusterIdx, keep: impl Fn(&Tp) -> bool) -> i64 {
        let map = lock(&self.map);
        map.iter()
            .filter(|(tp, l)| l.divergent[i].is_none() && keep(tp))
            .map(|(_, l)| l)
            .map(|l| {
                // Logical ends: the clusters' offsets differ by their offset maps.
                let logical = |j: ClusterIdx| (l.end[j] >= 0).then(|| l.end[j] - l.delta[j]);
                let Some(best) = l.end.indices().filter_map(logical).max() else {
                    return 0;
                };
                match logical(i) {
                    Some(own) => (best - own).max(0),
                    None if l.behind[i] => best.max(0),
                    None => 0,
                }
            })
            .sum()
    }

    /// `physical - logical` for `tp` on cluster `i`.
    pub fn delta(&self, tp: &Tp, i: ClusterIdx) -> i64 {
        let map = lock(&self.map);
        map.get(tp).map_or(0, |l| l.delta[i])
    }

    /// Learns `tp`'s offset map on cluster `i` from the same batch's base offset there and on
    /// the authority; true when it changed.
    pub fn learn_delta(&self, tp: &Tp, i: ClusterIdx, physical: i64, authority: i64) -> bool {
        self.with(tp, |l| {
            let d = physical - authority;
            d != std::mem::replace(&mut l.delta[i], d)
        })
    }

    /// Writes to `tp` awaiting cluster `i`'s answer.
    pub fn inflight_on(&self, tp: &Tp, i: ClusterIdx) -> u32 {
        self.with(tp, |l| l.inflight[i])
    }

    /// Writes in flight on cluster `i`, any partition.
    pub fn total_inflight_on(&self, i: ClusterIdx) -> u32 {
        let map = lock(&self.map);
        map.values().map(|l| l.inflight[i]).sum()
    }

    /// Every partition cluster `i` is behind on and can be repaired (not divergent).
    pub fn behind_on(&self, i: ClusterIdx) -> Vec<Tp> {
        let map = lock(&self.map);
        map.iter()
            .filter(|(_, l)| l.behind[i] && l.divergent[i].is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Clears the behind marks (not divergence) of the partitions `owned` rejects: another
    /// instance writes, compares and repairs them now, and a mark left here would never be
    /// cleared.
    pub fn clear_behind_unless(&self, owned: impl Fn(&Tp) -> bool) {
        let mut map = lock(&self.map);
        for (_, l) in map.iter_mut().filter(|(tp, _)| !owned(tp)) {
            for (behind, divergent) in l.behind.iter_mut().zip(&l.divergent) {
                if divergent.is_none() {
                    *behind = false;
                }
            }
        }
    }

    /// Forgets a deleted topic's partitions.
    pub fn forget_topic(&self, topic: &TopicName) {
        let mut map = lock(&self.map);
        map.retain(|tp, _| tp.topic != *topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    const A: ClusterIdx = ClusterIdx::new(0);
    const B: ClusterIdx = ClusterIdx::new(1);
    const C: ClusterIdx = ClusterIdx::new(2);

    /// Starts an unnumbered write (a cluster that issues no producer ids).
    fn start(lanes: &Lanes, tp: &Tp, i: ClusterIdx, count: i64) -> Ticket {
        lanes
            .started(tp, i, count, Sequencing::Off)
            .expect("unnumbered writes are never blocked")
            .0
    }

    fn numbered(
        lanes: &Lanes,
        i: ClusterIdx,
        count: i64,
        now: Sequencing,
    ) -> Option<(Ticket, i64, i32)> {
        lanes.started(&tp(), i, count, now).map(|(t, s)| {
            let s = s.expect("stamped");
            (t, s.producer_id, s.sequence)
        })
    }

    #[test]
    fn writes_are_numbered_in_queue_order_and_a_failure_blocks_until_a_new_identity() {
        let lanes = Lanes::new(1);
        let old = Sequencing::On(WriterId::fake(7, 1));
        let (a, pid, seq) = numbered(&lanes, A, 10, old).expect("a");
        assert_eq!((pid, seq), (7, 0));
        let (b, _, seq) = numbered(&lanes, A, 5, old).expect("b");
        assert_eq!(seq, 10);
        lanes.finished(&tp(), A, a, Landing::Missed);
        // The broker may or may not have taken `a`: nothing more under this identity.
        assert!(numbered(&lanes, A, 1, old).is_none());
        assert_eq!(lanes.stale_identity(&tp(), A), Some(WriterId::fake(7, 1)));
        // A new identity is not taken while `b` is in flight: it could land past `a`.
        let new = Sequencing::On(WriterId::fake(7, 2));
        assert!(numbered(&lanes, A, 1, new).is_none());
        lanes.finished(&tp(), A, b, Landing::Missed);
        let (_, pid, seq) = numbered(&lanes, A, 3, new).expect("new identity");
        assert_eq!(
            (pid, seq),
            (7, 0),
            "the same id from a restarted broker is new"
        );
        assert_eq!(lanes.stale_identity(&tp(), A), None);
        assert_eq!(
            lanes.number_copy(&tp(), A, 2, new),
            Numbering::Stamped(BatchStamp {
                producer_id: 7,
                epoch: 0,
                sequence: 3
            })
        );
        assert_eq!(
            lanes.number_copy(&tp(), A, 2, Sequencing::Pending),
            Numbering::Unstamped
        );
        assert_eq!(
            lanes.number_copy(&tp(), A, 2, Sequencing::Off),
            Numbering::Unstamped
        );
    }

    #[test]
    fn a_refused_last_write_gives_its_sequence_back_and_one_refused_before_others_does_not() {
        let lanes = Lanes::new(1);
        let id = Sequencing::On(WriterId::fake(3, 1));
        let (a, _, _) = numbered(&lanes, A, 4, id).expect("a");
        lanes.finished(&tp(), A, a, Landing::At(0));
        let (r, _, seq) = numbered(&lanes, A, 2, id).expect("r");
        assert_eq!(seq, 4);
        lanes.finished(&tp(), A, r, Landing::Refused);
        let (b, _, seq) = numbered(&lanes, A, 1, id).expect("b");
        assert_eq!(seq, 4, "the refused batch took no sequence at the broker");
        let (c, _, _) = numbered(&lanes, A, 1, id).expect("c");
        // Refused with `c` queued behind it: `c` carries a sequence the broker will refuse.
        lanes.finished(&tp(), A, b, Landing::Refused);
        assert!(numbered(&lanes, A, 1, id).is_none());
        lanes.finished(&tp(), A, c, Landing::Missed);
    }

    #[test]
    fn a_failed_write_puts_the_cluster_behind_until_marked_in_sync() {
        let lanes = Lanes::new(3);
        let tp = Tp::new(TopicName(StrBytes::from_static_str("t")), 0);
        let t = start(&lanes, &tp, B, 1);
        assert!(!lanes.settled(&tp, B));
        assert!(lanes.finished(&tp, B, t, Landing::Missed).made_behind);
        assert!(lanes.is_behind(&tp, B));
        assert_eq!(lanes.behind_on(B), vec![tp.clone()]);
        let t = start(&lanes, &tp, B, 1);
        assert!(
            !lanes.finished(&tp, B, t, Landing::Missed).made_behind,
            "already behind"
        );
        assert_eq!(lanes.lag(B), 0, "no cluster's end known yet");
        lanes.note_end(&tp, A, 100);
        assert_eq!(
            lanes.lag(B),
            100,
            "behind with its own end unknown: all of it"
        );
        lanes.note_end(&tp, B, 60);
        assert_eq!(lanes.lag(B), 40);
        assert_eq!(lanes.lag(A), 0, "holds the most");
        assert_eq!(lanes.lag(C), 0, "its end unknown and not behind");
        lanes.mark_in_sync(&tp, B);
        assert_eq!(
            lanes.lag(B),
            40,
            "in sync, yet 40 answered elsewhere are not here yet"
        );
        lanes.note_end(&tp, B, 100);
        assert_eq!(lanes.lag(B), 0);
        assert!(lanes.settled(&tp, B));
        assert_eq!(lanes.total_inflight_on(B), 0);
    }

    #[test]
    fn behind_marks_of_partitions_another_instance_writes_are_cleared_but_divergence_stays() {
        let lanes = Lanes::new(2);
        let tp = |p| Tp::new(TopicName(StrBytes::from_static_str("t")), p);
        lanes.mark_behind(&tp(0), B);
        lanes.mark_behind(&tp(1), B);
        lanes.mark_divergent(&tp(2), B, 7);
        lanes.clear_behind_unless(|t| t.partition == 0);
        assert!(lanes.is_behind(&tp(0), B), "still ours: kept");
        assert!(
            !lanes.is_behind(&tp(1), B),
            "another instance's now: cleared"
        );
        assert!(lanes.is_divergent(&tp(2), B) && lanes.is_behind(&tp(2), B));
    }

    fn tp() -> Tp {
        Tp::new(TopicName(StrBytes::from_static_str("t")), 0)
    }

    /// A write of one record answered at `end - 1`: the lane expects the next at `end`.
    fn learn_end(lanes: &Lanes, end: i64) {
        let t = start(lanes, &tp(), A, 1);
        assert_eq!(
            lanes
                .finished(&tp(), A, t, Landing::At(end - 1))
                .out_of_order,
            None
        );
    }

    #[test]
    fn writes_answered_out_of_queue_order_are_checked_in_queue_order() {
        let lanes = Lanes::new(1);
        learn_end(&lanes, 100);
        let a = start(&lanes, &tp(), A, 10);
        let b = start(&lanes, &tp(), A, 5);
        let c = start(&lanes, &tp(), A, 1);
        // The second answer is taken first: nothing is judged until the first is in.
        assert_eq!(
            lanes.finished(&tp(), A, b, Landing::At(110)).out_of_order,
            None
        );
        assert_eq!(
            lanes.finished(&tp(), A, a, Landing::At(100)).out_of_order,
            None
        );
        assert_eq!(
            lanes.finished(&tp(), A, c, Landing::At(115)).out_of_order,
            None
        );
        assert_eq!(lanes.inflight_on(&tp(), A), 0);
    }

    #[test]
    fn a_write_that_lands_where_a_failed_one_should_have_is_out_of_order() {
        let lanes = Lanes::new(1);
        learn_end(&lanes, 100);
        let a = start(&lanes, &tp(), A, 10);
        let b = start(&lanes, &tp(), A, 5);
        assert!(lanes.finished(&tp(), A, a, Landing::Missed).made_behind);
        // The failed write did not land and the next one took its place: the repair would
        // copy the missing records after it.
        let f = lanes.finished(&tp(), A, b, Landing::At(100));
        assert_eq!(f.out_of_order, Some(100));
    }

    #[test]
    fn a_failed_write_that_did_land_leaves_the_order_intact() {
        let lanes = Lanes::new(1);
        learn_end(&lanes, 100);
        let a = start(&lanes, &tp(), A, 10);
        let r = start(&lanes, &tp(), A, 3);
        let b = start(&lanes, &tp(), A, 5);
        lanes.finished(&tp(), A, a, Landing::Missed);
        lanes.finished(&tp(), A, r, Landing::Refused);
        // Unanswered, but written: the next write lands after it.
        assert_eq!(
            lanes.finished(&tp(), A, b, Landing::At(110)).out_of_order,
            None
        );
        let c = start(&lanes, &tp(), A, 1);
        assert_eq!(
            lanes.finished(&tp(), A, c, Landing::At(115)).out_of_order,
            None
        );
    }

    #[test]
    fn a_write_landing_past_its_place_shows_records_nobody_sent_through_the_proxy() {
        let lanes = Lanes::new(1);
        learn_end(&lanes, 100);
        let a = start(&lanes, &tp(), A, 10);
        assert_eq!(
            lanes.finished(&tp(), A, a, Landing::At(104)).out_of_order,
            Some(100)
        );
        // An end read from the broker (perhaps short of its true end) teaches nothing.
        lanes.set_end(&tp(), A, 50);
        let b = start(&lanes, &tp(), A, 1);
        assert_eq!(
            lanes.finished(&tp(), A, b, Landing::At(114)).out_of_order,
            None
        );
        // Until the end is known, nothing is expected: the first answer teaches it.
        let lanes = Lanes::new(1);
        let a = start(&lanes, &tp(), A, 10);
        let b = start(&lanes, &tp(), A, 2);
        assert_eq!(
            lanes.finished(&tp(), A, a, Landing::At(7)).out_of_order,
            None
        );
        assert_eq!(
            lanes.finished(&tp(), A, b, Landing::At(18)).out_of_order,
            Some(17)
        );
    }
}
