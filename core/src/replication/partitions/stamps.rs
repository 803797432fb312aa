//! The proxy's own producer id on each cluster. Every batch the proxy writes or copies to a
//! cluster carries it, with a sequence per partition (kept in the lanes), so the broker
//! checks what Kafka checks for an idempotent producer: a batch whose sequence does not
//! follow the last one it took is refused (`OUT_OF_ORDER_SEQUENCE_NUMBER`). Writes are
//! pipelined; when one fails, every write queued behind it is refused too, and none can land
//! past the gap that repair would fill after it.
//!
//! The id comes from InitProducerId with a transactional id of the instance's own
//! (`__kafkatwin-<node id>`), although no transaction is ever begun: asking again for the
//! same transactional id bumps the epoch, and the broker then refuses writes still queued
//! under the old one (a restarted instance's, or a connection given up on), which a new
//! producer id would not do. A plain InitProducerId would not do either on a broker that
//! hands every caller the same id with a new epoch (Tansu 0.6), where instances would fence
//! one another. A broker that refuses transactional ids for good (not authorized, no
//! transactions) gets a plain InitProducerId instead.
//!
//! Until a cluster has an identity, and on a cluster that issues none, batches go without
//! one; there the order of every answer is still checked (see `lanes`), which finds a write
//! that landed past a gap but cannot stop it.

use crate::backend::{BackendError, Cluster};
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestKind, ResponseKind,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How long the broker would keep a transaction of the proxy's open; none is ever begun.
const TRANSACTION_TIMEOUT_MS: i32 = 60_000;

/// One producer id and epoch obtained from one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterId {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// Which InitProducerId of this proxy it came from: a broker restarted empty may issue
    /// the same id and epoch again, and it must still count as new.
    generation: u64,
}

/// Whether, and under which identity, writes to a cluster are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequencing {
    /// No identity yet: batches go without one meanwhile.
    Pending,
    /// The cluster issues no producer ids: batches go without one.
    Off,
    /// Batches carry this identity.
    On(WriterId),
}

/// The current identity of every cluster.
pub struct Identities {
    /// Per cluster: how writes there are numbered now.
    per: PerCluster<Mutex<Sequencing>>,
    /// Per cluster: it refused the transactional id for good; plain InitProducerId there.
    plain: PerCluster<AtomicBool>,
    generation: AtomicU64,
    transactional_id: StrBytes,
}

impl Identities {
    /// No identity yet on any of `n` clusters, for the instance with node id `node`.
    pub fn new(n: usize, node: i32) -> Self {
        Self {
            per: PerCluster::from_fn(n, |_| Mutex::new(Sequencing::Pending)),
            plain: PerCluster::from_fn(n, |_| AtomicBool::new(false)),
            generation: AtomicU64::new(0),
            transactional_id: StrBytes::from_string(format!("__kafkatwin-{node}")),
        }
    }

    /// How writes to cluster `i` are numbered now.
    pub fn get(&self, i: ClusterIdx) -> Sequencing {
        self.per.get(i).map_or(Sequencing::Off, |m| *lock(m))
    }

    fn set(&self, i: ClusterIdx, s: Sequencing) {
        if let Some(m) = self.per.get(i) {
            *lock(m) = s;
        }
    }

    /// Makes sure cluster `i` (`c`) has an identity other than `stale`, asking it if needed.
    /// A cluster that can issue none (no such API, not authorized) is switched off, with a
    /// warning; other failures are returned, to try again later.
    pub async fn ensure(
        &self,
        i: ClusterIdx,
        c: &Cluster,
        stale: Option<WriterId>,
    ) -> Result<(), BackendError> {
        match self.get(i) {
            Sequencing::Off => return Ok(()),
            Sequencing::On(id) if Some(id) != stale => return Ok(()),
            _ => {}
        }
        let Some(range) = c.supports(ApiKey::InitProducerId) else {
            if c.versions_known() {
                self.switch_off(i, c, "it does not support InitProducerId");
                return Ok(());
            }
            return Err(BackendError::Unsupported {
                cluster: c.id.to_string(),
                api: ApiKey::InitProducerId,
            });
        };
        let version = range.max.min(4);
        let plain = self.plain.get(i).is_some_and(|p| p.load(Ordering::Relaxed));
        let r = if plain {
            init_producer_id(c, None, version, None).await?
        } else {
            let tid = &self.transactional_id;
            let coordinator = c.transaction_coordinator(tid).await?;
            let r = init_producer_id(c, Some(coordinator), version, Some(tid)).await?;
            if for_good(r.error_code) {
                tracing::info!(
                    cluster = %c.id,
                    "cluster {}: InitProducerId for transactional id {:?} answered error code \
                     {}; asking for a plain producer id",
                    c.id,
                    tid.as_str(),
                    r.error_code
                );
                if let Some(p) = self.plain.get(i) {
                    p.store(true, Ordering::Relaxed);
                }
                init_producer_id(c, None, version, None).await?
            } else {
                r
            }
        };
        let code = r.error_code;
        if code == 0 && r.producer_id.0 >= 0 {
            self.take(i, c, r.producer_id.0, r.producer_epoch);
            Ok(())
        } else if for_good(code) {
            self.switch_off(i, c, &format!("InitProducerId answered error code {code}"));
            Ok(())
        } else {
            // Until it answers, the proxy's writes there go without producer id.
            Err(BackendError::Refused {
                cluster: c.id.to_string(),
                what: "InitProducerId for the proxy's own writes".into(),
                code,
            })
        }
    }

    /// Makes `producer_id` at `epoch` cluster `i`'s identity, as a new generation.
    fn take(&self, i: ClusterIdx, c: &Cluster, producer_id: i64, epoch: i16) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            cluster = %c.id,
            "cluster {}: the proxy writes as producer {producer_id} (epoch {epoch})",
            c.id
        );
        self.set(
            i,
            Sequencing::On(WriterId {
                producer_id,
                epoch,
                generation,
            }),
        );
    }

    fn switch_off(&self, i: ClusterIdx, c: &Cluster, why: &str) {
        tracing::warn!(
            cluster = %c.id,
            "cluster {}: {why}, so the proxy's writes there carry no producer id and \
             sequence; a write landing past one that failed is found (and the cluster set \
             aside on that partition) but not prevented",
            c.id
        );
        self.set(i, Sequencing::Off);
    }
}

/// Error codes after which asking again will not help.
fn for_good(code: i16) -> bool {
    [
        ResponseError::ClusterAuthorizationFailed,
        ResponseError::TransactionalIdAuthorizationFailed,
        ResponseError::UnsupportedVersion,
        ResponseError::UnsupportedForMessageFormat,
        ResponseError::InvalidRequest,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// Asks cluster `c` (broker `node`, any for `None`) for a producer id, under transactional
/// id `tid` if given.
async fn init_producer_id(
    c: &Cluster,
    node: Option<i32>,
    version: i16,
    tid: Option<&StrBytes>,
) -> Result<InitProducerIdResponse, BackendError> {
    let mut req = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(-1)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(tid) = tid {
        req = req
            .with_transactional_id(Some(TransactionalId(tid.clone())))
            .with_transaction_timeout_ms(TRANSACTION_TIMEOUT_MS);
    }
    let answer = c
        .call(
            node,
            ApiKey::InitProducerId,
            version,
            None,
            &RequestKind::InitProducerId(req),
        )
        .await?;
    match answer.body {
        ResponseKind::InitProducerId(r) => Ok(r),
        _ => Err(BackendError::WrongAnswer {
            cluster: c.id.to_string(),
            api: ApiKey::InitProducerId,
        }),
    }
}

#[cfg(test)]
impl WriterId {
    /// An identity for unit tests (a fake: no cluster issued it).
    pub fn fake(producer_id: i64, generation: u64) -> Self {
        Self {
            producer_id,
            epoch: 0,
            generation,
        }
    }
}
