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
        let c = &self.clusters[i];
        let end = match tokio::time::timeout(COMPARE_STEP_WAIT, ends::end_offset(c, tp)).await {
            Ok(Ok(Some(end))) => end,
            // The partition is not there: nothing was written to it.
            Ok(Ok(None)) => return Search::Absent,
            _ => return Search::Unknown,
        };
        let mut at = (end - TAIL_WINDOW).max(0);
        let mut found = Vec::new();
        while at < end {
            let f = match tokio::time::timeout(
                COMPARE_STEP_WAIT,
                ends::fetch(c, tp, at, crate::base::timing::PROMPT_FETCH_WAIT_MS),
            )
            .await
            {
                Ok(Ok(f)) => f,
                _ => return Search::Unknown,
            };
            if f.error_code != 0 {
                tracing::debug!(
                    "searching {tp} on cluster {} for a retried batch: error code {}",
                    c.id,
                    f.error_code
                );
                return Search::Unknown;
            }
            let list = records::batches(&f.records);
            if list.is_empty() {
                break;
            }
            for (h, r) in list {
                if h.offsets == want.offsets
                    && records::covered(&f.records[r], Covering::Sent) == want_bytes
                {
                    found.push(h.base_offset);
                }
                at = at.max(h.base_offset + h.offsets);
            }
        }
        tracing::debug!(
            "searched {tp} on cluster {} from offset {} to {end} for a retried batch: {} match(es)",
            c.id,
            (end - TAIL_WINDOW).max(0),
            found.len()
        );
        match found.as_slice() {
            [offset] => Search::Found(i, *offset),
            _ => Search::Absent,
        }
    }
}
