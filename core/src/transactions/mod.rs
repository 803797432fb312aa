//! Kafka transactions in front of several clusters, coordinated by the proxy. A transaction's
//! batches and offsets are held here until EndTxn; a commit writes them to every cluster as
//! plain batches through the replicator (under the ack policy, in one order, repaired like any
//! write), an abort drops them. No cluster ever holds an open or aborted transaction of a
//! client's, so `read_committed` readers of any cluster, through the proxy or not, see exactly
//! the committed records, whatever the cluster's own transaction support.
//!
//! Each transactional id keeps its producer id across sessions (control state, so a restart
//! and every instance know it); InitProducerId bumps its epoch, which fences the older
//! producer and aborts its open transaction.
//!
//! A commit is decided by storing it (records and offsets) in the control log before its
//! first write (see `decision`); a proxy that stops before the last write finishes the commit
//! from there when it starts again, writing only what no cluster holds yet.

pub mod decision;
pub mod txn;

use crate::backend::partitioned::Tp;
use crate::base::change_error::ChangeError;
use crate::base::sync::lock;
use crate::control::control_log::Keeping;
use crate::control::keys::Key;
use crate::control::producer_ids::ProducerIds;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use txn::Txn;
pub use txn::{Decided, Described, Ending, GroupOffsets, Member, TxnError, Work};

/// How old a decision of this node's from a concurrent run must be before this run takes it.
const ADOPT_AFTER_MS: i64 = 60_000;

/// Now, in ms since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A transactional id's entry in the control state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Stored {
    producer_id: i64,
    epoch: i16,
    timeout_ms: u64,
}

/// Why InitProducerId for a transactional id failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The id's state refuses it now (a commit under way, or a fenced caller).
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// No producer id could be had, or the new epoch could not be stored.
    #[error("transactional id {tid:?}: {why}")]
    Unavailable {
        /// The transactional id.
        tid: String,
        /// What failed.
        why: String,
    },
}

/// Every transactional id this instance coordinates.
pub struct Transactions {
    txns: Mutex<HashMap<String, Txn>>,
    /// This instance and run, named in the decisions it stores.
    decider: decision::Decider,
    /// When this run started, in ms since the epoch.
    started_ms: i64,
    /// Commit decisions read from the control log, per transactional id.
    decisions: Mutex<HashMap<String, decision::Gathered>>,
    keeping: Keeping,
    /// Bytes of records one transaction may hold.
    max_buffer: usize,
}

impl Transactions {
    /// No transactional id yet; ids kept in `keeping`; one transaction holds at most
    /// `max_buffer` bytes of records.
    pub fn new(keeping: Keeping, max_buffer: usize, decider: decision::Decider) -> Self {
        Self {
            txns: Mutex::new(HashMap::new()),
            decider,
            started_ms: now_ms(),
            decisions: Mutex::new(HashMap::new()),
            keeping,
            max_buffer,
        }
    }

    /// InitProducerId with a transactional id: its producer id (a new one from `ids` the first
    /// time, or when the epoch runs out) with the epoch bumped; an open transaction is
    /// aborted. `given` is the producer id and epoch the client says it has (-1 when new).
    pub async fn init(
        &self,
        tid: &str,
        timeout: Duration,
        given: (i64, i16),
        ids: &ProducerIds,
    ) -> Result<(i64, i16), InitError> {
        let known = lock(&self.txns).get(tid).map(|t| (t.producer_id, t.epoch));
        if let Some((producer_id, epoch)) = known
            && given.0 >= 0
            && (given.0 != producer_id || given.1 != epoch)
        {
            return Err(TxnError::Fenced {
                tid: tid.to_owned(),
                given: given.1,
                current: epoch,
            }
            .into());
        }
        // A new id when there is none, or the epoch would overflow (as Kafka does).
        let fresh = match known {
            Some((_, epoch)) if epoch < i16::MAX - 1 => None,
            _ => Some(ids.next().await.map_err(|e| InitError::Unavailable {
                tid: tid.to_owned(),
                why: format!("no producer id: {e}"),
            })?),
        };
        let stored = {
            let mut txns = lock(&self.txns);
            match fresh {
                Some(id) => {
                    if txns.get(tid).is_some_and(Txn::committing) {
                        return Err(TxnError::Concurrent {
                            tid: tid.to_owned(),
                        }
                        .into());
                    }
                    txns.insert(tid.to_owned(), Txn::new(tid, id, 0, timeout));
                }
                None => match txns.get_mut(tid) {
                    Some(t) => t.bump(timeout)?,
                    None => {
                        return Err(InitError::Unavailable {
                            tid: tid.to_owned(),
                            why: "was replaced meanwhile; try again".into(),
                        });
                    }
                },
            }
            let t = txns.get(tid).ok_or_else(|| InitError::Unavailable {
                tid: tid.to_owned(),
                why: "lost its state".into(),
            })?;
            Stored {
                producer_id: t.producer_id,
                epoch: t.epoch,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }
        };
        self.store(tid, stored)
            .await
            .map_err(|e| InitError::Unavailable {
                tid: tid.to_owned(),
                why: e.to_string(),
            })?;
        Ok((stored.producer_id, stored.epoch))
    }

    async fn store(&self, tid: &str, stored: Stored) -> Result<(), ChangeError> {
        let value = serde_json::to_vec(&stored).map_err(|e| {
            ChangeError::unavailable(format!("transactional id {tid:?} not encoded: {e}"))
        })?;
        let key = Key::Transaction { id: tid.to_owned() }.to_string();
        self.keeping
            .store(&key, Some(&value), format!("transactional id {tid:?}"))
            .await
            .map(|_| ())
    }

    /// A control-log entry of a transactional id (this instance's, replayed on a restart, or
    /// another's) written at `version`: its producer id and epoch are taken when newer than
    /// what is known here; a commit decision is gathered (see [`Self::adopt`]).
    pub fn apply_logged(&self, key: &str, value: Option<Bytes>, version: i64) {
        let Some(key) = Key::parse(key) else {
            return;
        };
        let id = match key {
            Key::Transaction { id } => id,
            Key::TxnDecision { .. } | Key::TxnDecisionChunk { .. } => {
                return self.gather(&key, value, version);
            }
            _ => return,
        };
        let Some(stored) = value.and_then(|v| serde_json::from_slice::<Stored>(&v).ok()) else {
            return;
        };
        let mut txns = lock(&self.txns);
        let newer = txns.get(&id).is_none_or(|t| {
            (stored.producer_id, stored.epoch) > (t.producer_id, t.epoch) && !t.committing()
        });
        if newer {
            let timeout = crate::base::timing::from_ms(stored.timeout_ms);
            txns.insert(
                id.clone(),
                Txn::new(&id, stored.producer_id, stored.epoch, timeout),
            );
        }
    }

    /// One entry of a commit decision (`key` names its transactional id).
    fn gather(&self, key: &Key, value: Option<Bytes>, version: i64) {
        let (Key::TxnDecision { id: tid } | Key::TxnDecisionChunk { id: tid, .. }) = key else {
            return;
        };
        let head_deleted = matches!(key, Key::TxnDecision { .. }) && value.is_none();
        {
            let mut decisions = lock(&self.decisions);
            let g = decisions.entry(tid.to_owned()).or_default();
            g.take(key, value, version);
            if g.is_empty() {
                decisions.remove(tid);
            }
        }
        if head_deleted && let Some(t) = lock(&self.txns).get_mut(tid) {
            t.decision_deleted();
        }
    }

    /// Hands the commit decisions this instance must finish to their transactional ids, as
    /// pending commits: those a previous run of this instance (same `server.node_id`) left,
    /// stored before this run started or at least [`ADOPT_AFTER_MS`] ago (a live instance
    /// with the same node id, wrongly, has long finished its own by then). Decisions of
    /// other instances are theirs to finish.
    pub fn adopt(&self) {
        let now = now_ms();
        let adopted: Vec<(String, i64, i16, Work)> = lock(&self.decisions)
            .iter_mut()
            .filter_map(|(tid, g)| {
                let head = g.head()?;
                let mine =
                    head.node == self.decider.node && head.incarnation != self.decider.incarnation;
                let (producer_id, epoch) = (head.producer_id, head.epoch);
                let old =
                    g.written_ms() < self.started_ms || now - g.written_ms() >= ADOPT_AFTER_MS;
                if g.adopted || !mine || !old {
                    return None;
                }
                match g.work(tid) {
                    Ok(Some(work)) => {
                        g.adopted = true;
                        Some((tid.clone(), producer_id, epoch, work))
                    }
                    Ok(None) => None,
                    Err(e) => {
                        tracing::error!("{e}");
                        g.adopted = true;
                        None
                    }
                }
            })
            .collect();
        let mut txns = lock(&self.txns);
        for (tid, producer_id, epoch, work) in adopted {
            tracing::info!(
                "transactional id {tid:?}: a commit decided before this instance restarted is pending; finishing it"
            );
            let timeout = crate::base::timing::TXN_RECOVERED_TIMEOUT;
            txns.entry(tid.clone())
                .or_insert_with(|| Txn::new(&tid, producer_id, epoch, timeout))
                .decided_elsewhere(producer_id, epoch, work);
        }
    }

    /// Stores the decision to commit `work` (before any of it is written).
    pub async fn decide(
        &self,
        tid: &str,
        producer_id: i64,
        epoch: i16,
        work: &Work,
    ) -> Result<(), ChangeError> {
        let Some(log) = self.keeping.log() else {
            return Ok(());
        };
        let batches =
            decision::entries(tid, &self.decider, producer_id, epoch, work).map_err(|e| {
                ChangeError::unavailable(format!(
                    "transactional id {tid:?}: commit decision not encoded: {e}"
                ))
            })?;
        for batch in batches {
            let entries: Vec<(&str, Option<&[u8]>)> = batch
                .iter()
                .map(|(k, v)| (k.as_str(), Some(&v[..])))
                .collect();
            log.append_to_majority(&entries).await.map_err(|e| {
                ChangeError::unavailable(format!(
                    "transactional id {tid:?}: commit decision not stored: {e}"
                ))
            })?;
        }
        Ok(())
    }

    /// Deletes `tid`'s commit decision once the commit is written. The deletion is queued
    /// at once, ahead of the id's next decision (which reuses the keys), and not waited for:
    /// a decision left by a failed deletion is found again after a restart, and then found
    /// written.
    pub fn settle(&self, tid: &str) {
        let Some(log) = self.keeping.log() else {
            return;
        };
        let chunks = lock(&self.decisions)
            .get(tid)
            .and_then(|g| g.head().map(decision::DecisionHead::chunks))
            .unwrap_or(0);
        let keys = decision::tombstones(tid, chunks);
        let entries: Vec<(&str, Option<&[u8]>)> = keys.iter().map(|k| (k.as_str(), None)).collect();
        let deleted = log.submit(&entries);
        let tid = tid.to_owned();
        tokio::spawn(async move {
            if let Err(e) = deleted.await {
                tracing::warn!(
                    "transactional id {tid:?}: the written commit's decision could not be deleted: {e}"
                );
            }
        });
    }

    /// Records how a commit attempt of `tid` ended (see [`Txn::finished`]).
    pub fn finished(&self, tid: &str, left: Option<Decided>) {
        if let Some(t) = lock(&self.txns).get_mut(tid) {
            t.finished(left);
        }
    }

    /// Pending commits due for another try, taken to be written: id, producer id, epoch.
    pub fn due(&self) -> Vec<(String, i64, i16, Decided)> {
        self.due_after(crate::base::timing::TXN_RETRY_PENDING_EVERY)
    }

    /// Pending commits last tried `every` ago or more, taken to be written.
    fn due_after(&self, every: Duration) -> Vec<(String, i64, i16, Decided)> {
        let now = Instant::now();
        lock(&self.txns)
            .iter_mut()
            .filter_map(|(id, t)| {
                t.take_due(now, every)
                    .map(|d| (id.clone(), t.producer_id, t.epoch, d))
            })
            .collect()
    }

    /// Runs `f` on transactional id `tid`'s state.
    pub fn with<R>(
        &self,
        tid: &str,
        f: impl FnOnce(&mut Txn) -> Result<R, TxnError>,
    ) -> Result<R, TxnError> {
        let mut txns = lock(&self.txns);
        let t = txns.get_mut(tid).ok_or_else(|| TxnError::Unknown {
            tid: tid.to_owned(),
        })?;
        f(t)
    }

    /// Holds a transactional Produce's batches of one partition (see [`Txn::hold`]).
    pub fn hold(&self, tid: &str, tp: &Tp, records: &[u8], version: i16) -> Result<(), TxnError> {
        let max = self.max_buffer;
        self.with(tid, |t| t.hold(tp, records, version, max))
    }

    /// Aborts every transaction open past its timeout and fences its producer; the new epochs
    /// are stored. Returns the ids aborted.
    pub async fn expire(&self) -> Vec<String> {
        let now = Instant::now();
        let expired: Vec<(String, Stored)> = lock(&self.txns)
            .iter_mut()
            .filter_map(|(id, t)| {
                t.expire(now).then(|| {
                    let stored = Stored {
                        producer_id: t.producer_id,
                        epoch: t.epoch,
                        timeout_ms: u64::try_from(t.timeout.as_millis()).unwrap_or(u64::MAX),
                    };
                    (id.clone(), stored)
                })
            })
            .collect();
        for (id, stored) in &expired {
            tracing::info!(
                "transactional id {id:?}: transaction aborted after its timeout of {} ms; producer epoch now {}",
                stored.timeout_ms,
                stored.epoch
            );
            if let Err(e) = self.store(id, *stored).await {
                tracing::warn!("{e}");
            }
        }
        expired.into_iter().map(|(id, _)| id).collect()
    }

    /// DescribeTransactions for one id; `None` when unknown here.
    pub fn describe(&self, tid: &str) -> Option<Described> {
        lock(&self.txns).get(tid).map(Txn::describe)
    }

    /// Every id known here with what DescribeTransactions would show.
    pub fn list(&self) -> Vec<(String, Described)> {
        let mut all: Vec<(String, Described)> = lock(&self.txns)
            .iter()
            .map(|(id, t)| (id.clone(), t.describe()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How long each open transaction has been open.
    pub fn open_for(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        lock(&self.txns)
            .iter()
            .filter_map(|(id, t)| t.open_for(now).map(|d| (id.clone(), d)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::partitioned::Tp;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn book() -> Transactions {
        let me = decision::Decider {
            node: 1,
            incarnation: "this-run".into(),
        };
        Transactions::new(Keeping::Memory, 1 << 20, me)
    }

    /// Feeds a decision of `tid` by `node`/`incarnation`, written at `written_ms`.
    fn decided(book: &Transactions, tid: &str, node: i32, incarnation: &str, written_ms: i64) {
        let decider = decision::Decider {
            node,
            incarnation: incarnation.into(),
        };
        let tp = Tp::new(TopicName(StrBytes::from_static_str("t")), 0);
        let work = Work {
            partitions: vec![(tp, Bytes::from_static(b"records"))],
            groups: Vec::new(),
            produce_version: 9,
        };
        for (key, value) in decision::entries(tid, &decider, 7, 0, &work)
            .expect("encoded")
            .into_iter()
            .flatten()
        {
            book.apply_logged(&key, Some(value), written_ms * 1000);
        }
    }

    fn pending(book: &Transactions) -> Vec<String> {
        let mut ids: Vec<String> = book
            .due_after(Duration::ZERO)
            .into_iter()
            .map(|(id, ..)| id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_restarted_instance_finishes_its_earlier_runs_decisions_and_leaves_the_others() {
        let book = book();
        let before = book.started_ms - 5_000;
        decided(&book, "earlier-run", 1, "run-before", before);
        decided(&book, "other-node", 2, "their-run", before);
        decided(&book, "this-run", 1, "this-run", before);
        // The same node id running twice (a mistake): its fresh decisions are left alone.
        decided(&book, "concurrent", 1, "twin", now_ms());
        decided(
            &book,
            "concurrent-stale",
            1,
            "twin",
            now_ms() - ADOPT_AFTER_MS - 1,
        );
        book.adopt();
        assert_eq!(pending(&book), ["concurrent-stale", "earlier-run"]);
        book.adopt();
        assert!(pending(&book).is_empty(), "each is handed over once");
    }
}
