//! One transactional id's state: its producer id and epoch, and the transaction open under
//! them with what it holds (record batches per partition, offsets per group) until it ends.
//! Nothing a transaction holds reaches a cluster before its commit, so an aborted transaction
//! leaves no trace on any cluster, whatever the cluster's own transaction support.

use crate::backend::partitioned::Tp;
use crate::groups::Commit;
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// Why a transactional request is refused; each maps to the Kafka error a broker would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// The request names a producer id the transactional id does not have.
    #[error("transactional id {tid:?} has producer id {current}, not {given}")]
    WrongProducer {
        /// The transactional id.
        tid: String,
        /// The producer id the request named.
        given: i64,
        /// The id's producer id.
        current: i64,
    },
    /// InitProducerId was never called for this transactional id.
    #[error("transactional id {tid:?} is unknown: call InitProducerId first")]
    Unknown {
        /// The transactional id.
        tid: String,
    },
    /// A newer producer with the same transactional id took over.
    #[error(
        "transactional id {tid:?}: producer epoch {given} was fenced by epoch {current} (a newer producer with the same transactional id, or the transaction timed out)"
    )]
    Fenced {
        /// The transactional id.
        tid: String,
        /// The epoch the request named.
        given: i16,
        /// The id's epoch now.
        current: i16,
    },
    /// The request does not fit the transaction's state.
    #[error("transactional id {tid:?}: {what}")]
    InvalidState {
        /// The transactional id.
        tid: String,
        /// What does not fit.
        what: String,
    },
    /// The transaction is being committed: the client retries.
    #[error("transactional id {tid:?} is committing its transaction; try again")]
    Concurrent {
        /// The transactional id.
        tid: String,
    },
    /// A produce carries a sequence that does not follow the partition's last one.
    #[error(
        "transactional id {tid:?}, partition {tp}: sequence {given} does not follow {expected}"
    )]
    OutOfOrder {
        /// The transactional id.
        tid: String,
        /// The partition.
        tp: Tp,
        /// The batch's base sequence.
        given: i32,
        /// The sequence after the last batch taken.
        expected: i32,
    },
    /// The transaction holds more than the proxy keeps for one.
    #[error(
        "transactional id {tid:?}: the transaction would hold {bytes} bytes of records, over transactions.max_buffer ({max}); abort it, or write smaller transactions"
    )]
    TooLarge {
        /// The transactional id.
        tid: String,
        /// What it would hold.
        bytes: usize,
        /// The bound.
        max: usize,
    },
    /// A produce under a transactional id whose batches are not transactional.
    #[error("transactional id {tid:?}, partition {tp}: the batches are not transactional")]
    NotTransactional {
        /// The transactional id.
        tid: String,
        /// The partition.
        tp: Tp,
    },
}

impl TxnError {
    /// The Kafka error code; `produce` for the code a Produce answer carries (clients read a
    /// fenced epoch there as `INVALID_PRODUCER_EPOCH`).
    pub fn code(&self, produce: bool) -> i16 {
        match self {
            Self::WrongProducer { .. } | Self::Unknown { .. } => {
                ResponseError::InvalidProducerIdMapping.code()
            }
            Self::Fenced { .. } if produce => ResponseError::InvalidProducerEpoch.code(),
            Self::Fenced { .. } => ResponseError::ProducerFenced.code(),
            Self::InvalidState { .. } => ResponseError::InvalidTxnState.code(),
            Self::Concurrent { .. } => ResponseError::ConcurrentTransactions.code(),
            Self::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber.code(),
            Self::TooLarge { .. } => ResponseError::MessageTooLarge.code(),
            Self::NotTransactional { .. } => ResponseError::InvalidRecord.code(),
        }
    }
}

/// One client batch held by an open transaction.
#[derive(Debug, Clone)]
struct Held {
    base_sequence: i32,
    next_sequence: i32,
    records: Bytes,
}

/// What an open transaction holds.
#[derive(Debug, Clone)]
pub struct Open {
    since: Instant,
    started_ms: i64,
    partitions: BTreeMap<Tp, Vec<Held>>,
    groups: BTreeMap<StrBytes, (Option<Member>, BTreeMap<Tp, Commit>)>,
    bytes: usize,
    produce_version: i16,
}

impl Open {
    fn new() -> Self {
        let started_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            since: Instant::now(),
            started_ms,
            partitions: BTreeMap::new(),
            groups: BTreeMap::new(),
            bytes: 0,
            produce_version: 3,
        }
    }

    /// What a commit writes: every partition's records (as plain batches, without producer
    /// fields or the transactional flag) and every group's offsets.
    fn into_work(self) -> Work {
        let partitions = self
            .partitions
            .into_iter()
            .filter(|(_, held)| !held.is_empty())
            .map(|(tp, held)| {
                let mut records =
                    BytesMut::with_capacity(held.iter().map(|h| h.records.len()).sum());
                for h in &held {
                    records.extend_from_slice(&h.records);
                }
                crate::wire::records::plain_in_place(&mut records);
                (tp, records.freeze())
            })
            .collect();
        Work {
            partitions,
            groups: self
                .groups
                .into_iter()
                .filter(|(_, (_, c))| !c.is_empty())
                .map(|(group, (member, c))| GroupOffsets {
                    group,
                    member,
                    offsets: c.into_iter().collect(),
                })
                .collect(),
            produce_version: self.produce_version,
        }
    }
}

/// The group member a transaction's offsets were sent for (TxnOffsetCommit names it; a
/// cluster's own group coordinator checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id.
    pub member_id: StrBytes,
    /// The group generation.
    pub generation: i32,
    /// The static member's instance id.
    pub instance_id: Option<StrBytes>,
}

/// One group's offsets a commit stores.
#[derive(Debug, Clone)]
pub struct GroupOffsets {
    /// The group.
    pub group: StrBytes,
    /// The member they were sent for; `None` when the producer named none.
    pub member: Option<Member>,
    /// The offsets, per partition.
    pub offsets: Vec<(Tp, Commit)>,
}

/// What a commit still has to write.
#[derive(Debug, Clone, Default)]
pub struct Work {
    /// Records per partition, in the order the client sent them.
    pub partitions: Vec<(Tp, Bytes)>,
    /// Offsets per group.
    pub groups: Vec<GroupOffsets>,
    /// The Produce version the client wrote with (the commit writes with it too).
    pub produce_version: i16,
}

impl Work {
    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty() && self.groups.is_empty()
    }
}

/// How the last transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Committed (or aborted).
    pub committed: bool,
}

/// A commit decided and not yet wholly written.
#[derive(Debug, Clone)]
pub struct Decided {
    /// What is left to write.
    pub work: Work,
    /// Whether the decision is in the control log.
    pub stored: bool,
    /// Whether some of it may be on a cluster already: what is there is looked for before
    /// anything is written again.
    pub maybe_written: bool,
    /// When it was last tried.
    since: Instant,
    /// Tries that left something unwritten: each doubles the pause before the next one the
    /// proxy makes on its own (a commit that cannot be written for long is not retried, and
    /// logged, many times a second).
    failures: u32,
}

impl Decided {
    /// A commit of `work`, not stored or written yet.
    pub fn new(work: Work) -> Self {
        Self {
            work,
            stored: false,
            maybe_written: false,
            since: Instant::now(),
            failures: 0,
        }
    }
}

/// The pause before the proxy tries pending commit `d` again on its own.
fn backoff(every: Duration, d: &Decided) -> Duration {
    let doublings = d.failures.saturating_sub(1).min(6);
    (every * 2u32.pow(doublings)).min(crate::base::timing::TXN_RETRY_PENDING_AT_MOST)
}

/// Where a transactional id is.
#[derive(Debug, Clone)]
enum TxnPhase {
    /// No transaction open; how the last one ended, if one did under this epoch.
    Ready(Option<Ended>),
    /// A transaction is open.
    Open(Open),
    /// Its commit is being written.
    Writing,
    /// Its commit was decided and is not wholly written: an EndTxn retry, or the proxy on
    /// its own after a while, writes the rest.
    CommitPending(Decided),
}

/// What EndTxn has to do.
#[derive(Debug)]
pub enum Ending {
    /// Nothing more: answer success (an abort, or a retry of an EndTxn that ended it).
    Done,
    /// Write this, then report with [`Txn::finished`].
    Write(Decided),
}

/// What DescribeTransactions shows of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Kafka's name of the state (`Empty`, `Ongoing`, `PrepareCommit`, `CompleteCommit`,
    /// `CompleteAbort`).
    pub state: &'static str,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Transaction timeout.
    pub timeout_ms: i32,
    /// When the open transaction began, in ms since the epoch; -1 when none is open.
    pub started_ms: i64,
    /// Its partitions.
    pub partitions: Vec<Tp>,
}

/// One transactional id.
#[derive(Debug, Clone)]
pub struct Txn {
    tid: String,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// How long a transaction may stay open before it is aborted.
    pub timeout: Duration,
    phase: TxnPhase,
}

impl Txn {
    /// A transactional id with `producer_id` at `epoch`, no transaction open.
    pub fn new(tid: &str, producer_id: i64, epoch: i16, timeout: Duration) -> Self {
        Self {
            tid: tid.to_owned(),
            producer_id,
            epoch,
            timeout,
            phase: TxnPhase::Ready(None),
        }
    }

    /// Whether a commit is being written or waits for its rest (so the epoch must not move).
    pub fn committing(&self) -> bool {
        matches!(self.phase, TxnPhase::Writing | TxnPhase::CommitPending(_))
    }

    /// A new epoch for a new producer session: the open transaction, if any, is aborted.
    /// Refused while a commit is under way.
    pub fn bump(&mut self, timeout: Duration) -> Result<(), TxnError> {
        if self.committing() {
            return Err(self.concurrent());
        }
        self.epoch = self.epoch.saturating_add(1);
        self.timeout = timeout;
        self.phase = TxnPhase::Ready(None);
        Ok(())
    }

    /// Aborts the open transaction if it has been open longer than its timeout, and fences
    /// its producer (as Kafka does); whether it did.
    pub fn expire(&mut self, now: Instant) -> bool {
        match &self.phase {
            TxnPhase::Open(open) if now.duration_since(open.since) > self.timeout => {
                self.epoch = self.epoch.saturating_add(1);
                self.phase = TxnPhase::Ready(None);
                true
            }
            _ => false,
        }
    }

    fn concurrent(&self) -> TxnError {
        TxnError::Concurrent {
            tid: self.tid.clone(),
        }
    }

    fn invalid(&self, what: impl Into<String>) -> TxnError {
        TxnError::InvalidState {
            tid: self.tid.clone(),
            what: what.into(),
        }
    }

    /// Checks that a request's producer id and epoch are this id's current ones.
    pub fn check(&self, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            return Err(TxnError::WrongProducer {
                tid: self.tid.clone(),
                given: producer_id,
                current: self.producer_id,
            });
        }
        if epoch != self.epoch {
            return Err(TxnError::Fenced {
                tid: self.tid.clone(),
                given: epoch,
                current: self.epoch,
            });
        }
        Ok(())
    }

    /// The open transaction, opening one when none is.
    fn open(&mut self) -> Result<&mut Open, TxnError> {
        match self.phase {
            TxnPhase::Ready(_) => self.phase = TxnPhase::Open(Open::new()),
            TxnPhase::Open(_) => {}
            TxnPhase::Writing | TxnPhase::CommitPending(_) => return Err(self.concurrent()),
        }
        match &mut self.phase {
            TxnPhase::Open(open) => Ok(open),
            _ => Err(TxnError::InvalidState {
                tid: self.tid.clone(),
                what: "no transaction open".into(),
            }),
        }
    }

    /// AddPartitionsToTxn.
    pub fn add_partitions(
        &mut self,
        producer_id: i64,
        epoch: i16,
        tps: impl IntoIterator<Item = Tp>,
    ) -> Result<(), TxnError> {
        self.check(producer_id, epoch)?;
        let open = self.open()?;
        for tp in tps {
            open.partitions.entry(tp).or_default();
        }
        Ok(())
    }

    /// AddOffsetsToTxn.
    pub fn add_group(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: StrBytes,
    ) -> Result<(), TxnError> {
        self.check(producer_id, epoch)?;
        self.open()?.groups.entry(group).or_default();
        Ok(())
    }

    /// TxnOffsetCommit: the offsets wait for the commit.
    pub fn stage_offsets(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &StrBytes,
        member: Option<Member>,
        commits: impl IntoIterator<Item = (Tp, Commit)>,
    ) -> Result<(), TxnError> {
        self.check(producer_id, epoch)?;
        let tid = self.tid.clone();
        let open = match &mut self.phase {
            TxnPhase::Open(open) => open,
            TxnPhase::Writing | TxnPhase::CommitPending(_) => return Err(self.concurrent()),
            TxnPhase::Ready(_) => {
                return Err(self.invalid("TxnOffsetCommit with no transaction open"));
            }
        };
        let staged = open
            .groups
            .get_mut(group)
            .ok_or_else(|| TxnError::InvalidState {
                tid,
                what: format!(
                    "TxnOffsetCommit for group {:?}, which AddOffsetsToTxn did not add",
                    group.as_str()
                ),
            })?;
        if member.is_some() {
            staged.0 = member;
        }
        staged.1.extend(commits);
        Ok(())
    }

    /// A transactional Produce's batches for one partition, held until the commit. A retry
    /// of a batch already held (same base sequence) is taken as done; `max` bounds what one
    /// transaction holds.
    pub fn hold(
        &mut self,
        tp: &Tp,
        records: &[u8],
        produce_version: i16,
        max: usize,
    ) -> Result<(), TxnError> {
        let batches = crate::wire::records::batches(records);
        let Some((first, _)) = batches.first() else {
            return Ok(());
        };
        if batches
            .iter()
            .any(|(h, _)| !h.transactional || h.producer_id != first.producer_id)
        {
            return Err(TxnError::NotTransactional {
                tid: self.tid.clone(),
                tp: tp.clone(),
            });
        }
        self.check(first.producer_id, first.producer_epoch)?;
        let tid = self.tid.clone();
        let open = match &mut self.phase {
            TxnPhase::Open(open) => open,
            TxnPhase::Writing | TxnPhase::CommitPending(_) => return Err(self.concurrent()),
            TxnPhase::Ready(_) => return Err(self.invalid("Produce with no transaction open")),
        };
        let Some(held) = open.partitions.get_mut(tp) else {
            return Err(TxnError::InvalidState {
                tid,
                what: format!("Produce to partition {tp}, which AddPartitionsToTxn did not add"),
            });
        };
        let base = first.base_sequence;
        if held.iter().any(|h| h.base_sequence == base) {
            return Ok(());
        }
        if let Some(last) = held.last()
            && last.next_sequence != base
        {
            return Err(TxnError::OutOfOrder {
                tid,
                tp: tp.clone(),
                given: base,
                expected: last.next_sequence,
            });
        }
        let bytes = open.bytes + records.len();
        if bytes > max {
            return Err(TxnError::TooLarge { tid, bytes, max });
        }
        let count: i64 = batches.iter().map(|(h, _)| h.offsets).sum();
        held.push(Held {
            base_sequence: base,
            next_sequence: crate::wire::records::sequence_after(base, count),
            records: Bytes::copy_from_slice(records),
        });
        open.bytes = bytes;
        open.produce_version = produce_version;
        Ok(())
    }

    /// EndTxn: an abort drops what the transaction holds; a commit hands it out to be
    /// written. A retry of the EndTxn that ended the transaction gets its answer again.
    pub fn end(&mut self, producer_id: i64, epoch: i16, commit: bool) -> Result<Ending, TxnError> {
        self.check(producer_id, epoch)?;
        match std::mem::replace(&mut self.phase, TxnPhase::Writing) {
            TxnPhase::Open(open) if commit => Ok(Ending::Write(Decided::new(open.into_work()))),
            TxnPhase::Open(_) => {
                self.phase = TxnPhase::Ready(Some(Ended { committed: false }));
                Ok(Ending::Done)
            }
            TxnPhase::CommitPending(decided) if commit => Ok(Ending::Write(decided)),
            TxnPhase::Ready(Some(e)) if e.committed == commit => {
                self.phase = TxnPhase::Ready(Some(e));
                Ok(Ending::Done)
            }
            before => {
                let what = match &before {
                    TxnPhase::CommitPending(_) => "abort of a transaction whose commit was decided",
                    TxnPhase::Ready(Some(e)) if e.committed => "abort of a committed transaction",
                    TxnPhase::Ready(Some(_)) => "commit of an aborted transaction",
                    TxnPhase::Ready(None) => "EndTxn with no transaction open",
                    _ => "EndTxn while the commit is written",
                };
                let concurrent = matches!(before, TxnPhase::Writing);
                self.phase = before;
                Err(if concurrent {
                    self.concurrent()
                } else {
                    self.invalid(what)
                })
            }
        }
    }

    /// How the commit's attempt ended: written (`None`), or with this left for a retry.
    pub fn finished(&mut self, left: Option<Decided>) {
        self.phase = match left {
            None => TxnPhase::Ready(Some(Ended { committed: true })),
            Some(mut d) => {
                d.since = Instant::now();
                d.failures = d.failures.saturating_add(1);
                TxnPhase::CommitPending(d)
            }
        };
    }

    /// The pending commit, taken to be written, when it was last tried long enough ago:
    /// `every` after its first failed try, twice that after the second, and so on up to a
    /// minute.
    pub fn take_due(&mut self, now: Instant, every: Duration) -> Option<Decided> {
        match &self.phase {
            TxnPhase::CommitPending(d) if now.duration_since(d.since) >= backoff(every, d) => {}
            _ => return None,
        }
        match std::mem::replace(&mut self.phase, TxnPhase::Writing) {
            TxnPhase::CommitPending(d) => Some(d),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// A stored decision to commit `work` under `producer_id` and `epoch`, read from the
    /// control log (this instance's before a restart, or another's): pending here, to be
    /// finished, unless this instance is writing a commit of the id itself.
    pub fn decided_elsewhere(&mut self, producer_id: i64, epoch: i16, work: Work) {
        if matches!(self.phase, TxnPhase::Writing) {
            return;
        }
        if (producer_id, epoch) > (self.producer_id, self.epoch) {
            (self.producer_id, self.epoch) = (producer_id, epoch);
        }
        self.phase = TxnPhase::CommitPending(Decided {
            work,
            stored: true,
            maybe_written: true,
            since: Instant::now(),
            failures: 0,
        });
    }

    /// The id's stored decision was deleted: a pending commit was finished elsewhere.
    pub fn decision_deleted(&mut self) {
        if matches!(self.phase, TxnPhase::CommitPending(_)) {
            self.phase = TxnPhase::Ready(Some(Ended { committed: true }));
        }
    }

    /// What DescribeTransactions shows.
    pub fn describe(&self) -> Described {
        let (state, started_ms, partitions) = match &self.phase {
            TxnPhase::Ready(None) => ("Empty", -1, Vec::new()),
            TxnPhase::Ready(Some(e)) if e.committed => ("CompleteCommit", -1, Vec::new()),
            TxnPhase::Ready(Some(_)) => ("CompleteAbort", -1, Vec::new()),
            TxnPhase::Open(o) => (
                "Ongoing",
                o.started_ms,
                o.partitions.keys().cloned().collect(),
            ),
            TxnPhase::Writing => ("PrepareCommit", -1, Vec::new()),
            TxnPhase::CommitPending(d) => (
                "PrepareCommit",
                -1,
                d.work.partitions.iter().map(|(tp, _)| tp.clone()).collect(),
            ),
        };
        Described {
            state,
            producer_id: self.producer_id,
            epoch: self.epoch,
            timeout_ms: i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX),
            started_ms,
            partitions,
        }
    }

    /// How long the open transaction has been open; `None` when none is.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        match &self.phase {
            TxnPhase::Open(o) => Some(now.duration_since(o.since)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;

    const MAX: usize = 1 << 20;

    fn tp(p: i32) -> Tp {
        Tp::new(TopicName(StrBytes::from_static_str("t")), p)
    }

    /// A transactional batch of `n` records of producer 7 at `epoch` from `seq` on.
    fn batch(epoch: i16, seq: i32, n: i64) -> Vec<u8> {
        crate::wire::records::encoded(7, epoch, seq, n, 1_700_000_000_000, true).to_vec()
    }

    fn opened() -> Txn {
        let mut t = Txn::new("tx", 7, 0, crate::base::timing::from_ms(60_000));
        t.add_partitions(7, 0, [tp(0), tp(1)]).expect("added");
        t
    }

    #[test]
    fn a_commit_hands_out_the_held_batches_as_plain_ones_and_a_retry_gets_the_same_answer() {
        let mut t = opened();
        t.hold(&tp(0), &batch(0, 0, 3), 9, MAX).expect("held");
        // A client retry of the same batch is taken once.
        t.hold(&tp(0), &batch(0, 0, 3), 9, MAX).expect("retry");
        t.hold(&tp(0), &batch(0, 3, 2), 9, MAX).expect("next");
        let Ok(Ending::Write(Decided { work, .. })) = t.end(7, 0, true) else {
            panic!("a commit writes");
        };
        assert_eq!(work.produce_version, 9);
        assert_eq!(
            work.partitions.len(),
            1,
            "the partition with nothing held is left out"
        );
        let (part, records) = &work.partitions[0];
        assert_eq!(part, &tp(0));
        let list = crate::wire::records::batches(records);
        assert_eq!(list.len(), 2);
        assert!(
            list.iter()
                .all(|(h, _)| !h.transactional && h.producer_id == -1)
        );
        assert_eq!(
            t.end(7, 0, true).map(|_| ()),
            Err(TxnError::Concurrent { tid: "tx".into() }),
            "EndTxn again while the commit is written"
        );
        t.finished(None);
        assert!(matches!(t.end(7, 0, true), Ok(Ending::Done)));
        assert!(matches!(
            t.end(7, 0, false),
            Err(TxnError::InvalidState { .. })
        ));
        assert_eq!(t.describe().state, "CompleteCommit");
    }

    #[test]
    fn an_abort_drops_everything_and_a_gap_or_an_unadded_partition_is_refused() {
        let mut t = opened();
        t.hold(&tp(1), &batch(0, 0, 2), 9, MAX).expect("held");
        let gap = t.hold(&tp(1), &batch(0, 5, 1), 9, MAX);
        assert!(matches!(
            gap,
            Err(TxnError::OutOfOrder {
                given: 5,
                expected: 2,
                ..
            })
        ));
        let elsewhere = t.hold(&tp(2), &batch(0, 0, 1), 9, MAX);
        assert!(matches!(elsewhere, Err(TxnError::InvalidState { .. })));
        let big = t.hold(&tp(1), &batch(0, 2, 50), 9, 100);
        assert!(matches!(big, Err(TxnError::TooLarge { max: 100, .. })));
        assert!(matches!(t.end(7, 0, false), Ok(Ending::Done)));
        assert_eq!(t.describe().state, "CompleteAbort");
        // The next transaction starts empty.
        t.add_partitions(7, 0, [tp(1)]).expect("added");
        t.hold(&tp(1), &batch(0, 2, 1), 9, MAX).expect("held");
        let Ok(Ending::Write(Decided { work, .. })) = t.end(7, 0, true) else {
            panic!("a commit writes");
        };
        assert_eq!(crate::wire::records::record_count(&work.partitions[0].1), 1);
    }

    #[test]
    fn a_new_epoch_or_a_timeout_fences_the_older_producer() {
        let mut t = opened();
        t.hold(&tp(0), &batch(0, 0, 1), 9, MAX).expect("held");
        t.bump(crate::base::timing::from_ms(60_000))
            .expect("bumped");
        assert_eq!(t.epoch, 1);
        let old = t.hold(&tp(0), &batch(0, 1, 1), 9, MAX);
        assert!(matches!(
            old,
            Err(TxnError::Fenced {
                given: 0,
                current: 1,
                ..
            })
        ));
        assert_eq!(
            old.map_err(|e| e.code(true)),
            Err(ResponseError::InvalidProducerEpoch.code())
        );
        assert!(matches!(t.end(7, 0, true), Err(TxnError::Fenced { .. })));
        assert!(matches!(
            t.end(8, 1, true),
            Err(TxnError::WrongProducer { .. })
        ));
        // The open transaction was aborted by the bump: the new epoch starts with none.
        assert_eq!(t.describe().state, "Empty");

        let mut slow = Txn::new("slow", 7, 3, crate::base::timing::from_ms(10));
        slow.add_partitions(7, 3, [tp(0)]).expect("added");
        assert!(!slow.expire(Instant::now()), "not yet");
        assert!(slow.expire(Instant::now() + crate::base::timing::from_ms(1000)));
        assert_eq!(slow.epoch, 4);
        assert!(matches!(slow.end(7, 3, true), Err(TxnError::Fenced { .. })));
    }

    #[test]
    fn a_decision_read_from_the_log_waits_to_be_finished_unless_this_instance_writes_it() {
        let mut t = opened();
        t.hold(&tp(0), &batch(0, 0, 1), 9, MAX).expect("held");
        let Ok(Ending::Write(d)) = t.end(7, 0, true) else {
            panic!("a commit writes");
        };
        // This instance's own decision, read back while it writes it: left alone.
        t.decided_elsewhere(7, 0, d.work.clone());
        assert!(t.take_due(Instant::now(), Duration::ZERO).is_none());
        t.finished(Some(d));
        assert!(
            t.take_due(Instant::now(), crate::base::timing::from_ms(60_000))
                .is_none(),
            "not due yet"
        );
        let again = t
            .take_due(Instant::now(), Duration::ZERO)
            .expect("due once its pause is over");
        assert!(!again.maybe_written, "nothing of it was written");
        assert!(matches!(
            t.end(7, 0, true),
            Err(TxnError::Concurrent { .. })
        ));
        t.finished(Some(again));
        // Finished by another instance: the decision's deletion ends it here.
        t.decision_deleted();
        assert!(matches!(t.end(7, 0, true), Ok(Ending::Done)));
        // After a restart: a stored decision of a newer epoch is pending, searched first.
        let mut fresh = Txn::new("tx", 7, 0, crate::base::timing::from_ms(60_000));
        fresh.decided_elsewhere(7, 2, Work::default());
        assert_eq!(fresh.epoch, 2);
        assert!(fresh.bump(crate::base::timing::from_ms(1)).is_err());
        let d = fresh.take_due(Instant::now(), Duration::ZERO).expect("due");
        assert!(d.stored && d.maybe_written);
    }

    #[test]
    fn a_commit_that_keeps_failing_is_tried_less_and_less_often_up_to_a_minute() {
        let second = crate::base::timing::from_ms(1000);
        let mut d = Decided::new(Work::default());
        let pauses: Vec<u64> = (0..9)
            .map(|failures| {
                d.failures = failures;
                backoff(second, &d).as_secs()
            })
            .collect();
        assert_eq!(pauses, [1, 1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn offsets_are_staged_only_for_an_added_group() {
        let mut t = opened();
        let g = StrBytes::from_static_str("g");
        let commit = Commit {
            offset: 40,
            metadata: None,
        };
        let refused = t.stage_offsets(7, 0, &g, None, [(tp(0), commit.clone())]);
        assert!(matches!(refused, Err(TxnError::InvalidState { .. })));
        t.add_group(7, 0, g.clone()).expect("added");
        t.stage_offsets(7, 0, &g, None, [(tp(0), commit)])
            .expect("staged");
        let Ok(Ending::Write(Decided { work, .. })) = t.end(7, 0, true) else {
            panic!("a commit writes");
        };
        assert_eq!(work.groups.len(), 1);
        assert_eq!(work.groups[0].offsets[0].1.offset, 40);
    }
}
