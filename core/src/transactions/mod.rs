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

pub mod txn;

use crate::backend::partitioned::Tp;
use crate::base::change_error::ChangeError;
use crate::base::sync::lock;
use crate::control::control_log::Keeping;
use crate::control::keys::Key;
use crate::control::producer_ids::ProducerIds;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use txn::Txn;
pub use txn::{Described, Ending, TxnError, Work};

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
    keeping: Keeping,
    /// Bytes of records one transaction may hold.
    max_buffer: usize,
}

impl Transactions {
    /// No transactional id yet; ids kept in `keeping`; one transaction holds at most
    /// `max_buffer` bytes of records.
    pub fn new(keeping: Keeping, max_buffer: usize) -> Self {
        Self {
            txns: Mutex::new(HashMap::new()),
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
    /// another's): its producer id and epoch are taken when newer than what is known here.
    pub fn apply_logged(&self, key: &str, value: Option<&[u8]>) {
        let Some(Key::Transaction { id }) = Key::parse(key) else {
            return;
        };
        let Some(stored) = value.and_then(|v| serde_json::from_slice::<Stored>(v).ok()) else {
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
