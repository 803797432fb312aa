//! Producer ids issued by the proxy, unique across its lifetime, every instance and every
//! backend cluster, the way Kafka's own producer-id manager hands them out: in blocks of
//! [`BLOCK`] ids, each block claimed in a log before any id of it is used.
//!
//! The claims live in [`TOPIC`] (one partition) on every cluster, and a claim holds once it is
//! the *first* claim of its block on a majority of the configured clusters. To claim, an
//! instance reads the claims on a majority, takes the block after the highest one seen, appends
//! its claim to every reachable cluster and reads back what precedes it there. Two majorities
//! always share a cluster, so two instances can never both hold a block, and a block held
//! once is seen by every later claim (which then takes a higher one), whichever cluster is
//! lost or replaced meanwhile. A lost race is retried with a higher block.
//!
//! Why not the backends' own ids: each cluster counts from 0, so after a failover two producers
//! got the same id from different clusters and the retry table took one's batches for the
//! other's retries. The backends never see these ids: the proxy clears them from batches.

use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::sync::lock;
use crate::control::majority;
use crate::control::state_log::{Entry, StateLog};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// The internal topic holding block claims.
pub const TOPIC: &str = "__kafkatwin_producer_ids";
/// Ids per block.
pub const BLOCK: i64 = 1000;
use crate::base::timing::PRODUCER_ID_CLUSTER_WAIT;
/// Claims tried before giving up (each lost race moves to a higher block).
const ATTEMPTS: u32 = 8;

/// Why no producer id could be issued.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// Too few clusters answered.
    #[error("cannot claim a block of producer ids: {0}")]
    NoMajority(#[from] crate::control::majority::NoMajority),
    /// Every attempt lost a race with another instance.
    #[error("cannot claim a block of producer ids: {ATTEMPTS} attempts lost to other instances")]
    Contended,
}

/// Issues producer ids from claimed blocks.
pub struct ProducerIds {
    /// Per cluster: its log of claims.
    logs: PerCluster<StateLog>,
    /// This process's claim signature (random), so its claims are told from others'.
    me: String,
    /// The rest of the current block: (next id, end).
    current: tokio::sync::Mutex<Option<(i64, i64)>>,
    /// Every block this process claimed.
    claimed: std::sync::Mutex<Vec<i64>>,
}

/// The lowest block a claim may take now: the current time in milliseconds. Blocks only grow
/// with the log, and this keeps them growing even where the log cannot tell (a majority that
/// includes a cluster replaced empty since the last claim): a restarted or second instance
/// starts above every block claimed before this millisecond.
fn time_floor() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// A claim read back: block number and who claimed it.
fn parse(e: &Entry) -> Option<(i64, &str, i64)> {
    let block = e.key.parse().ok()?;
    let who = e
        .value
        .as_deref()
        .and_then(|v| std::str::from_utf8(v).ok())?;
    Some((block, who, e.offset))
}

impl ProducerIds {
    /// An issuer over `clusters` (all configured clusters, in any order).
    pub fn new(clusters: &PerCluster<Arc<Cluster>>) -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Self {
            logs: clusters.map(|c| StateLog::with_topic(c.clone(), TOPIC)),
            me: format!("{:016x}", h.finish()),
            current: tokio::sync::Mutex::new(None),
            claimed: std::sync::Mutex::default(),
        }
    }

    /// Whether this process issued `id`.
    pub fn issued_here(&self, id: i64) -> bool {
        let g = lock(&self.claimed);
        g.contains(&id.div_euclid(BLOCK))
    }

    /// Claims a block now unless one is at hand, so the first InitProducerId is answered at
    /// once.
    pub async fn prefetch(&self) -> Result<(), IdError> {
        let mut g = self.current.lock().await;
        if g.is_none() {
            let first = self.claim().await? * BLOCK;
            *g = Some((first, first + BLOCK));
        }
        Ok(())
    }

    /// The next unused producer id.
    pub async fn next(&self) -> Result<i64, IdError> {
        let mut g = self.current.lock().await;
        if let Some((next, end)) = g.as_mut()
            && *next < *end
        {
            let id = *next;
            *next += 1;
            return Ok(id);
        }
        let block = self.claim().await?;
        let first = block * BLOCK;
        *g = Some((first + 1, first + BLOCK));
        Ok(first)
    }

    /// Claims a new block (see the module doc).
    async fn claim(&self) -> Result<i64, IdError> {
        for attempt in 0..ATTEMPTS {
            let seen = majority::each(&self.logs, PRODUCER_ID_CLUSTER_WAIT, |log| async move {
                log.ensure_topic().await?;
                log.read_all().await
            })
            .await?;
            let block = seen
                .iter()
                .flat_map(|(_, entries)| entries.iter().filter_map(parse))
                .map(|(b, _, _)| b + 1)
                .max()
                .unwrap_or(0)
                .max(time_floor());
            let key = block.to_string();
            let me = self.me.as_bytes();
            let appended = majority::each(&self.logs, PRODUCER_ID_CLUSTER_WAIT, |log| {
                let key = key.clone();
                async move { log.append(&key, Some(me)).await }
            })
            .await?;
            let mut won = 0;
            for (i, at) in &appended {
                let before =
                    match tokio::time::timeout(PRODUCER_ID_CLUSTER_WAIT, self.logs[*i].read_all())
                        .await
                    {
                        Ok(Ok(entries)) => entries,
                        _ => continue,
                    };
                let first = before
                    .iter()
                    .filter_map(parse)
                    .filter(|(b, _, offset)| *b == block && offset <= at)
                    .min_by_key(|(_, _, offset)| *offset);
                if first.is_some_and(|(_, who, offset)| who == self.me && offset == *at) {
                    won += 1;
                }
            }
            if won >= majority::of(self.logs.len()) {
                lock(&self.claimed).push(block);
                tracing::info!(
                    "producer ids {}..{} claimed (block {block}, first on {won} of {} clusters)",
                    block * BLOCK,
                    (block + 1) * BLOCK - 1,
                    self.logs.len()
                );
                return Ok(block);
            }
            tracing::info!(
                "producer id block {block}: first on only {won} cluster(s), another instance \
                 claimed it too; trying a higher one"
            );
            let jitter = u64::from_str_radix(&self.me, 16).unwrap_or(0) % 100;
            let nap = crate::base::timing::PRODUCER_ID_RETRY_BASE
                + crate::base::timing::from_ms(u64::from(attempt) * 100 + jitter);
            tokio::time::sleep(nap).await;
        }
        Err(IdError::Contended)
    }
}
