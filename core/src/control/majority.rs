//! Asking every cluster's copy of an internal log at once and going on once a majority has
//! answered: how claims (producer-id blocks, schema ids) are read and written.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::control::state_log::{StateError, StateLog};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::Duration;

/// Too few clusters answered.
#[derive(Debug, thiserror::Error)]
#[error("{answered} of {clusters} clusters answered, a majority ({majority}) is needed ({why})")]
pub struct NoMajority {
    /// Clusters that answered.
    pub answered: usize,
    /// Clusters configured.
    pub clusters: usize,
    /// Majority needed.
    pub majority: usize,
    /// What the others said.
    pub why: String,
}

/// The majority of `n` clusters.
pub fn of(n: usize) -> usize {
    n / 2 + 1
}

/// Runs `op` on every cluster's log at once and returns the results of those that answered
/// within `wait`, once a majority has (clusters still silent then are left behind after a
/// short grace); an error when a majority cannot answer.
pub async fn each<'a, T, F, Fut>(
    logs: &'a PerCluster<StateLog>,
    wait: Duration,
    op: F,
) -> Result<Vec<(ClusterIdx, T)>, NoMajority>
where
    F: Fn(&'a StateLog) -> Fut,
    Fut: std::future::Future<Output = Result<T, StateError>> + 'a,
{
    let majority = of(logs.len());
    let mut pending: FuturesUnordered<_> = logs
        .iter_indexed()
        .map(|(i, log)| {
            let fut = op(log);
            async move { (i, tokio::time::timeout(wait, fut).await) }
        })
        .collect();
    let mut ok = Vec::new();
    let mut why = Vec::new();
    while let Some((i, r)) = pending.next().await {
        match r {
            Ok(Ok(v)) => ok.push((i, v)),
            Ok(Err(e)) => why.push(format!("{}: {e}", logs[i].cluster().id)),
            Err(_) => why.push(format!(
                "{}: no answer within {wait:?}",
                logs[i].cluster().id
            )),
        }
        if ok.len() >= majority && pending.is_empty() {
            break;
        }
        if ok.len() >= majority {
            // Give the rest a moment (they usually answer together), not a full wait.
            let grace = tokio::time::sleep(crate::base::timing::MAJORITY_GRACE);
            tokio::pin!(grace);
            loop {
                tokio::select! {
                    _ = &mut grace => break,
                    next = pending.next() => match next {
                        Some((i, Ok(Ok(v)))) => ok.push((i, v)),
                        Some(_) => {}
                        None => break,
                    },
                }
            }
            break;
        }
    }
    if ok.len() >= majority {
        Ok(ok)
    } else {
        Err(NoMajority {
            answered: ok.len(),
            clusters: logs.len(),
            majority,
            why: why.join("; "),
        })
    }
}
