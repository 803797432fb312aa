//! Read-ahead for consumers that are catching up.
//!
//! A consumer sends its next fetch only after the previous answer arrived, and through a proxy
//! every answer crosses two sockets one after the other (store and forward). When a fetch
//! comes back full (the consumer is behind), the proxy asks the backend for the next chunk at
//! once, while the client is still receiving this one. If the client's next fetch names the
//! same partitions at the offsets that follow, it is answered from that read-ahead; anything
//! else (a seek, a paused partition, other settings) discards it. A consumer that has caught
//! up gets no read-ahead, so nothing long-polls on its behalf.

use crate::backend::{Cluster, pool};
use crate::proxy::partitioned::{self, Routed};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// What a fetch asks for, as far as answering it from a read-ahead goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchKey {
    /// The cluster (replicator index) the fetch is read from.
    source: usize,
    version: i16,
    isolation_level: i8,
    partitions: Vec<(TopicName, i32, i64)>,
}

impl FetchKey {
    /// The key of a (sessionless) fetch request read from the first cluster.
    pub fn of(req: &FetchRequest, version: i16) -> Self {
        Self {
            source: 0,
            version,
            isolation_level: req.isolation_level,
            partitions: req
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| (t.topic.clone(), p.partition, p.fetch_offset))
                })
                .collect(),
        }
    }
}

impl FetchKey {
    /// The same fetch read from cluster `source` (a read-ahead from another is no use).
    pub fn from_cluster(mut self, source: usize) -> Self {
        self.source = source;
        self
    }
}

struct Ahead {
    key: FetchKey,
    task: Option<JoinHandle<Routed<FetchResponse>>>,
}

impl Drop for Ahead {
    fn drop(&mut self) {
        // A discarded read-ahead (or a closed client) stops fetching for nobody.
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// What [`ReadAhead::take`] found.
pub enum Taken {
    /// No read-ahead was pending.
    Nothing,
    /// One was pending for another fetch (a seek, other partitions) and was dropped.
    Discarded,
    /// The answer fetched ahead for this very fetch.
    Used(Routed<FetchResponse>),
}

/// One client connection's read-ahead slot.
#[derive(Default)]
pub struct ReadAhead {
    slot: Mutex<Option<Ahead>>,
}

impl ReadAhead {
    /// The read-ahead answer for `key`, if one was started for exactly it. Any other
    /// read-ahead is discarded.
    pub async fn take(&self, key: &FetchKey) -> Taken {
        let Some(mut ahead) = self.slot.lock().ok().and_then(|mut s| s.take()) else {
            return Taken::Nothing;
        };
        if &ahead.key != key {
            return Taken::Discarded;
        }
        match ahead.task.take() {
            Some(task) => task.await.map_or(Taken::Discarded, Taken::Used),
            None => Taken::Discarded,
        }
    }

    /// Starts fetching what follows `resp` for `req`, when the answer shows the consumer is
    /// behind (every partition returned data and the answer filled at least half its limit).
    #[allow(clippy::too_many_arguments)]
    pub fn maybe_start(
        &self,
        cluster: &Arc<Cluster>,
        source: usize,
        version: i16,
        client_id: Option<StrBytes>,
        req: &FetchRequest,
        resp: &FetchResponse,
        retries: u32,
    ) {
        let Some(next) = next_request(req, resp) else {
            return;
        };
        let key = FetchKey::of(&next, version).from_cluster(source);
        let cluster = cluster.clone();
        let client_pool = pool::client_pool();
        let task = tokio::spawn(async move {
            let fetch =
                partitioned::route_raw(&cluster, version, client_id, next, retries, None, None);
            match client_pool {
                Some(p) => pool::scope(p, fetch).await,
                None => fetch.await,
            }
        });
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(Ahead {
                key,
                task: Some(task),
            });
        }
    }
}

/// The fetch that continues `req` after `resp`, if the consumer looks behind.
fn next_request(req: &FetchRequest, resp: &FetchResponse) -> Option<FetchRequest> {
    let mut next = req.clone();
    let mut total = 0usize;
    let mut any_half_full = false;
    for t in &mut next.topics {
        let answered = resp.responses.iter().find(|r| r.topic == t.topic)?;
        for p in &mut t.partitions {
            let data = answered
                .partitions
                .iter()
                .find(|d| d.partition_index == p.partition)?;
            if data.error_code != 0 {
                return None;
            }
            let records = data.records.as_deref().unwrap_or_default();
            let next_offset = next_offset(records)?;
            total += records.len();
            any_half_full |= records.len() as i64 * 2 >= i64::from(p.partition_max_bytes);
            p.fetch_offset = next_offset;
        }
    }
    let behind = any_half_full || total as i64 * 2 >= i64::from(req.max_bytes);
    behind.then_some(next)
}

/// The offset after the last complete record batch in `records`, by walking batch headers
/// (base offset, length, last offset delta) without decoding any record. `None` when there
/// is no complete batch.
pub fn next_offset(records: &[u8]) -> Option<i64> {
    walk(records).1
}

/// How many leading bytes of `records` are complete batches (a fetch may end in a cut one).
pub fn complete_batches_len(records: &[u8]) -> usize {
    walk(records).0
}

fn walk(records: &[u8]) -> (usize, Option<i64>) {
    const HEADER: usize = 12; // base offset (8) + batch length (4)
    const LAST_OFFSET_DELTA: usize = 23; // from the batch start
    let mut pos = 0usize;
    let mut next = None;
    let be_i64 = |b: &[u8]| b.try_into().ok().map(i64::from_be_bytes);
    let be_i32 = |b: &[u8]| b.try_into().ok().map(i32::from_be_bytes);
    while records.len() >= pos + HEADER {
        let (Some(base), Some(len)) = (
            be_i64(&records[pos..pos + 8]),
            be_i32(&records[pos + 8..pos + 12]),
        ) else {
            break;
        };
        let Ok(len) = usize::try_from(len) else { break };
        let end = pos + HEADER + len;
        if end > records.len() || end < pos + LAST_OFFSET_DELTA + 4 {
            break; // a truncated trailing batch, as fetch responses may end with
        }
        let Some(delta) = be_i32(&records[pos + LAST_OFFSET_DELTA..pos + LAST_OFFSET_DELTA + 4])
        else {
            break;
        };
        next = Some(base + i64::from(delta) + 1);
        pos = end;
    }
    (pos, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, delta: i32, body: usize) -> Vec<u8> {
        let len = (LAST + 4 - 12 + body) as i32;
        let mut b = base.to_be_bytes().to_vec();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0; 11]); // leader epoch, magic, crc, attributes
        b.extend_from_slice(&delta.to_be_bytes());
        b.extend(std::iter::repeat_n(7u8, body));
        b
    }
    const LAST: usize = 23;

    #[test]
    fn walks_batches_and_ignores_a_truncated_tail() {
        let mut r = batch(0, 9, 30);
        r.extend(batch(10, 4, 5));
        assert_eq!(next_offset(&r), Some(15));
        let mut truncated = r.clone();
        truncated.extend(&batch(15, 3, 40)[..20]);
        assert_eq!(next_offset(&truncated), Some(15));
        assert_eq!(next_offset(&[]), None);
        assert_eq!(next_offset(&batch(0, 1, 3)[..10]), None);
        // A negative length is garbage, not a panic.
        let mut bad = 5i64.to_be_bytes().to_vec();
        bad.extend_from_slice(&(-4i32).to_be_bytes());
        bad.extend_from_slice(&[0; 20]);
        assert_eq!(next_offset(&bad), None);
    }
}
