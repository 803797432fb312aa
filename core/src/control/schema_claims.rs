//! Numbers the schema registry hands out (schema ids, subjects' versions), claimed the way
//! producer-id blocks are: a claim of number `n` in a space holds once it is the *first*
//! claim of `n` on a majority of the clusters. Two majorities share a cluster, so two
//! instances registering different schemas at the same moment never get one id, and a
//! number once held is seen by every later claim.
//!
//! A claim names its value (a schema's fingerprint, or the id a version holds), not its
//! claimer: two instances registering the *same* schema at once both win the same number.
//! The value is part of the key (`{space}/{n}/{value}`), so compacting the topic never
//! folds two rival claims of one number into one.

use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::timing::PRODUCER_ID_CLUSTER_WAIT;
use crate::control::majority::{self, NoMajority};
use crate::control::state_log::{Entry, StateLog};
use std::collections::HashMap;
use std::sync::Arc;

/// The internal topic holding the claims.
pub const TOPIC: &str = "__kafkatwin_schema_claims";
/// Claims tried before giving up (each lost race moves to a higher number).
const ATTEMPTS: u32 = 8;

/// Why no number could be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Too few clusters answered.
    #[error("cannot claim a number in {space}: {source}")]
    NoMajority {
        /// The space.
        space: String,
        /// Who answered.
        source: NoMajority,
    },
    /// Every attempt lost a race with another instance.
    #[error("cannot claim a number in {space}: {ATTEMPTS} attempts lost to other instances")]
    Contended {
        /// The space.
        space: String,
    },
}

/// Claims numbers in the claims topic on every cluster.
pub struct SchemaClaims {
    logs: PerCluster<StateLog>,
}

/// The claims of `space` in one cluster's log: number → its first claim's value, with the
/// offset of that claim.
fn firsts<'e>(entries: &'e [Entry], space: &str) -> HashMap<u32, (&'e [u8], i64)> {
    let mut out: HashMap<u32, (&[u8], i64)> = HashMap::new();
    for e in entries {
        let Some((n, v)) = e
            .key
            .strip_prefix(space)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.split_once('/'))
        else {
            continue;
        };
        let Ok(n) = n.parse() else {
            continue;
        };
        out.entry(n).or_insert((v.as_bytes(), e.offset));
    }
    out
}

impl SchemaClaims {
    /// Claims over `clusters` (every configured cluster).
    pub fn new(clusters: &PerCluster<Arc<Cluster>>) -> Self {
        Self {
            logs: clusters.map(|c| StateLog::with_topic(c.clone(), TOPIC)),
        }
    }

    /// A number in `space` for `value`: with `reuse`, the number whose first claim names
    /// `value` on a majority, if one does; otherwise one above every number claimed there.
    pub async fn claim(&self, space: &str, value: &str, reuse: bool) -> Result<u32, ClaimError> {
        let no_majority = |source| ClaimError::NoMajority {
            space: space.to_owned(),
            source,
        };
        for attempt in 0..ATTEMPTS {
            let seen = majority::each(&self.logs, PRODUCER_ID_CLUSTER_WAIT, |log| async move {
                log.ensure_topic().await?;
                log.read_all().await
            })
            .await
            .map_err(no_majority)?;
            let claimed: Vec<HashMap<u32, (&[u8], i64)>> =
                seen.iter().map(|(_, e)| firsts(e, space)).collect();
            if reuse {
                let mut held: HashMap<u32, usize> = HashMap::new();
                for c in &claimed {
                    for (n, (v, _)) in c {
                        if *v == value.as_bytes() {
                            *held.entry(*n).or_default() += 1;
                        }
                    }
                }
                if let Some((n, _)) = held
                    .iter()
                    .filter(|(_, k)| **k >= majority::of(self.logs.len()))
                    .min()
                {
                    return Ok(*n);
                }
            }
            let n = claimed
                .iter()
                .flat_map(|c| c.keys())
                .max()
                .map_or(1, |m| m + 1);
            if self.try_claim(space, n, value).await.map_err(no_majority)? {
                return Ok(n);
            }
            tracing::info!(
                "schema registry: {space}/{n} was claimed first by another instance; trying a \
                 higher number"
            );
            tokio::time::sleep(crate::base::timing::from_ms(50 + u64::from(attempt) * 100)).await;
        }
        Err(ClaimError::Contended {
            space: space.to_owned(),
        })
    }

    /// Appends the claim of `n` and reads back whether it came first on a majority.
    async fn try_claim(&self, space: &str, n: u32, value: &str) -> Result<bool, NoMajority> {
        let key = format!("{space}/{n}/{value}");
        let appended = majority::each(&self.logs, PRODUCER_ID_CLUSTER_WAIT, |log| {
            let key = key.clone();
            async move { log.append(&key, Some(value.as_bytes())).await }
        })
        .await?;
        let mut won = 0;
        for (i, at) in &appended {
            let Ok(Ok(entries)) =
                tokio::time::timeout(PRODUCER_ID_CLUSTER_WAIT, self.logs[*i].read_all()).await
            else {
                continue;
            };
            let first = firsts(&entries, space).get(&n).copied();
            if first.is_some_and(|(v, offset)| v == value.as_bytes() && offset <= *at) {
                won += 1;
            }
        }
        Ok(won >= majority::of(self.logs.len()))
    }
}
