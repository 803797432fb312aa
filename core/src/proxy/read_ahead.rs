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
use crate::base::cluster_idx::ClusterIdx;
use crate::base::sync::lock;
use crate::proxy::partitioned::{self, Routed};
use crate::wire::records::next_offset;
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// What a fetch asks for, as far as answering it from a read-ahead goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchKey {
    /// The cluster the fetch is read from.
    source: ClusterIdx,
    version: i16,
    isolation_level: i8,
    partitions: Vec<(TopicName, i32, i64)>,
}

impl FetchKey {
    /// The key of a (sessionless) fetch request read from the first cluster.
    pub fn of(req: &FetchRequest, version: i16) -> Self {
        Self {
            source: ClusterIdx::FIRST,
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
    pub fn from_cluster(mut self, source: ClusterIdx) -> Self {
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
        let Some(mut ahead) = lock(&self.slot).take() else {
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

    /// Drops any read-ahead (the client is throttled: it must not be fetched for meanwhile).
    pub fn discard(&self) {
        *lock(&self.slot) = None;
    }

    /// Starts fetching what follows `resp` for `req`, when the answer shows the consumer is
    /// behind (every partition returned data and the answer filled at least half its limit).
    #[allow(clippy::too_many_arguments)]
    pub fn maybe_start(
        &self,
        cluster: &Arc<Cluster>,
        source: ClusterIdx,
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
        *lock(&self.slot) = Some(Ahead {
            key,
            task: Some(task),
        });
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
