//! Producer state rebuilt from a partition's tail, as a Kafka broker rebuilds it from its log.
//!
//! An instance that has no state for an idempotent producer on a partition (it restarted, or
//! took the partition over from an instance that died) cannot tell a client's retry of a
//! batch the old owner wrote from a new batch. Before writing such a batch, it looks for it
//! among the partition's last [`TAIL_WINDOW`] records on the first in-sync cluster: the
//! backends hold exactly the bytes the proxy sent (the client's batch with producer id and
//! sequence cleared), so a batch found there byte for byte (records and count; not the batch
//! timestamps, which a client may restamp on a retry) was written, and the retry is answered
//! from it. Only a single match counts: two identical batches in the window are not told
//! apart, and the batch is written again rather than risk answering for a batch that is not
//! there.

use crate::backend::Cluster;
use crate::base::cluster_idx::ClusterIdx;
use crate::replication::Replicator;
use crate::replication::partitions::ends;
use crate::replication::partitions::lanes::Tp;
use crate::wire::records::{self, Covering};

/// Records at the end of a partition searched for a retried batch.
const TAIL_WINDOW: i64 = 10_000;
use crate::base::timing::COMPARE_STEP_WAIT;

/// Whether a batch is in a partition's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::replication) enum Search {
    /// Found once, on this cluster at this base offset.
    Found(ClusterIdx, i64),
    /// Not there (or not told apart from an identical batch): write it.
    Absent,
    /// No cluster could be searched now: neither write nor answer it yet.
    Unknown,
}

/// A partition's tail could not be read now.
struct TailUnreadable;

impl Replicator {
    /// Where the single-batch `records` (as written, producer id cleared) already are in
    /// `tp`: the cluster searched and the batch's base offset there.
    pub(in crate::replication) async fn find_in_tail(&self, tp: &Tp, records: &[u8]) -> Search {
        let list = records::batches(records);
        let [(want, range)] = list.as_slice() else {
            return Search::Absent;
        };
        let want_bytes = records::covered(&records[range.clone()], Covering::Sent);
        let Some(i) = self.clusters.indices().find(|&i| {
            self.clusters[i].admits() && self.is_compared(i) && !self.lanes.is_behind(tp, i)
        }) else {
            return Search::Unknown;
        };
        let mut found = Vec::new();
        let walked = walk_tail(&self.clusters[i], tp, |h, b| {
            if h.offsets == want.offsets && records::covered(b, Covering::Sent) == want_bytes {
                found.push(h.base_offset);
            }
        })
        .await;
        tracing::debug!(
            "searched {tp} on cluster {} for a retried batch: {} match(es)",
            self.clusters[i].id,
            found.len()
        );
        match (walked, found.as_slice()) {
            (Err(TailUnreadable), _) => Search::Unknown,
            (Ok(()), [offset]) => Search::Found(i, *offset),
            (Ok(()), _) => Search::Absent,
        }
    }

    /// How many of the leading batches of `records` (a run of batches written together to
    /// `tp`, as the proxy sent them) the clusters already hold: the most [`landed_on`] finds
    /// on any cluster that takes writes. `None` when one of them could not be searched now.
    pub async fn landed_batches(&self, tp: &Tp, records: &[u8]) -> Option<usize> {
        let mut best = None;
        for i in self
            .clusters
            .indices()
            .filter(|&i| self.clusters[i].admits())
        {
            let here = landed_on(&self.clusters[i], tp, records).await?;
            best = Some(best.unwrap_or(0).max(here));
        }
        best
    }
}

/// How many of the leading batches of `records` (a run of batches written together to
/// `tp`, as the proxy sent them) cluster `c` holds: the longest such run in its tail, when
/// found at one place only (a run found twice is not told apart from an older identical
/// one, and counts as not there). `None` when the cluster could not be searched now.
pub async fn landed_on(c: &Cluster, tp: &Tp, records: &[u8]) -> Option<usize> {
    let want: Vec<(i64, u32)> = records::batches(records)
        .into_iter()
        .map(|(h, r)| {
            (
                h.offsets,
                records::covered_sum(&records[r], Covering::Stored),
            )
        })
        .collect();
    let mut tail = Vec::new();
    walk_tail(c, tp, |h, b| {
        tail.push((h.offsets, records::covered_sum(b, Covering::Stored)));
    })
    .await
    .ok()?;
    Some(longest_unique_run(&tail, &want))
}

/// Calls `visit` with every whole batch among the last [`TAIL_WINDOW`] records of `tp` on
/// cluster `c`, in order.
async fn walk_tail(
    c: &Cluster,
    tp: &Tp,
    mut visit: impl FnMut(&records::BatchHeader, &[u8]),
) -> Result<(), TailUnreadable> {
    let end = match tokio::time::timeout(COMPARE_STEP_WAIT, ends::end_offset(c, tp)).await {
        Ok(Ok(Some(end))) => end,
        // The partition is not there: nothing was written to it.
        Ok(Ok(None)) => return Ok(()),
        _ => return Err(TailUnreadable),
    };
    let mut at = (end - TAIL_WINDOW).max(0);
    while at < end {
        let f = match tokio::time::timeout(
            COMPARE_STEP_WAIT,
            ends::fetch(c, tp, at, crate::base::timing::PROMPT_FETCH_WAIT_MS),
        )
        .await
        {
            Ok(Ok(f)) => f,
            _ => return Err(TailUnreadable),
        };
        if f.error_code != 0 {
            tracing::debug!(
                "searching the tail of {tp} on cluster {}: error code {}",
                c.id,
                f.error_code
            );
            return Err(TailUnreadable);
        }
        let list = records::batches(&f.records);
        if list.is_empty() {
            break;
        }
        for (h, r) in list {
            visit(&h, &f.records[r]);
            at = at.max(h.base_offset + h.offsets);
        }
    }
    Ok(())
}

/// The length of the longest run of `want`'s leading items found in `tail`, when only one
/// place in `tail` holds a run that long; 0 otherwise.
fn longest_unique_run<T: PartialEq>(tail: &[T], want: &[T]) -> usize {
    let mut best = 0;
    let mut places = 0;
    for start in 0..tail.len() {
        let run = tail[start..]
            .iter()
            .zip(want)
            .take_while(|(a, b)| a == b)
            .count();
        if run == 0 {
            continue;
        }
        if run > best {
            (best, places) = (run, 1);
        } else if run == best {
            places += 1;
        }
    }
    if places == 1 { best } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::longest_unique_run;

    #[test]
    fn the_longest_leading_run_counts_only_when_found_at_one_place() {
        assert_eq!(longest_unique_run(&[9, 1, 2, 3, 8], &[1, 2, 3]), 3);
        assert_eq!(longest_unique_run(&[9, 1, 2], &[1, 2, 3]), 2, "a prefix");
        assert_eq!(longest_unique_run(&[1, 9, 1, 2], &[1, 2, 3]), 2);
        assert_eq!(longest_unique_run(&[1, 2, 7, 1, 2], &[1, 2, 3]), 0, "twice");
        assert_eq!(longest_unique_run(&[2, 3], &[1, 2, 3]), 0, "not its start");
        assert_eq!(longest_unique_run::<u8>(&[], &[1]), 0);
    }
}
