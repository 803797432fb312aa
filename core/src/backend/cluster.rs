//! One backend cluster: pooled broker connections keyed by node id (node ids repeat across
//! clusters, so pools are per cluster), the partition-leader and coordinator caches, and the
//! API versions the cluster supports.

use crate::backend::health::{Breaker, HealthState};
use crate::backend::partitioned::Tp;
use crate::backend::pool::{self, ConnPool};
use crate::backend::{Answer, BackendError, BrokerConn, Pending};
use crate::base::sync::{lock, read, write};
use crate::wire::patched::PatchedFrame;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FindCoordinatorRequest, MetadataRequest, MetadataResponse,
    RequestKind, ResponseKind, TopicName, metadata_request::MetadataRequestTopic,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::protocol::VersionRange;
use kafkatwin_config::{BackendConfig, CircuitBreakerConfig, ClusterConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Health as the proxy last saw it.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// Cluster id.
    pub id: String,
    /// Healthy, degraded or down (circuit open, or never reached).
    pub state: HealthState,
    /// Whether requests go to it (not down).
    pub reachable: bool,
    /// The last error, while failures are recent.
    pub last_error: Option<String>,
    /// The last health probe's round trip.
    pub latency: Option<Duration>,
    /// Open broker connections.
    pub connections: usize,
}

#[derive(Default)]
struct Meta {
    brokers: HashMap<i32, String>,
    controller: Option<i32>,
    leaders: HashMap<Tp, i32>,
    coordinators: HashMap<StrBytes, i32>,
}

/// A backend Kafka cluster.
pub struct Cluster {
    /// Config id.
    pub id: Arc<str>,
    bootstrap: Vec<String>,
    cfg: BackendConfig,
    shared: Arc<ConnPool>,
    /// Connections that carry only replicated writes: a broker answers one connection's
    /// requests in order, so a long-polling fetch (the state log's tail) must not sit in
    /// front of a produce.
    writers: Arc<ConnPool>,
    /// Held while a writer connection is opened: two produces opening one at once would
    /// each queue writes on its own connection, and a broker applies two connections'
    /// writes in no fixed order.
    writer_opening: tokio::sync::Mutex<()>,
    open_conns: Arc<AtomicUsize>,
    meta: RwLock<Meta>,
    versions: RwLock<HashMap<i16, VersionRange>>,
    health: Mutex<Breaker>,
    refresh_gate: tokio::sync::Mutex<Option<Instant>>,
    /// When a health probe last succeeded.
    probe_ok: Mutex<Option<Instant>>,
    /// How many connections the brokers' side closed (see [`Cluster::connection_losses`]).
    losses: Arc<std::sync::atomic::AtomicU64>,
    /// TLS and SASL to the brokers; a setting that could not be read fails every connect,
    /// saying why.
    security: Result<crate::backend::security::Security, crate::backend::security::SecureError>,
}

/// Metadata version used for the proxy's own lookups.
const OWN_METADATA_VERSION: i16 = 9;

impl Cluster {
    /// A cluster that connects lazily.
    pub fn new(
        cfg: &ClusterConfig,
        backend: &BackendConfig,
        breaker: CircuitBreakerConfig,
    ) -> Self {
        Self {
            id: cfg.id.as_str().into(),
            bootstrap: cfg.bootstrap_servers.clone(),
            cfg: backend.clone(),
            shared: Arc::default(),
            writers: Arc::default(),
            writer_opening: tokio::sync::Mutex::new(()),
            open_conns: Arc::default(),
            meta: RwLock::default(),
            versions: RwLock::default(),
            health: Mutex::new(Breaker::new(breaker)),
            refresh_gate: tokio::sync::Mutex::new(None),
            probe_ok: Mutex::new(None),
            losses: Arc::default(),
            security: crate::backend::security::Security::from_config(cfg),
        }
    }

    /// How many of its connections (any kind: writers, probes, reads) the brokers' side
    /// closed. A new value means a broker may have been restarted or replaced by a new,
    /// empty one: the replicator compares the cluster again before it takes more writes. A
    /// killed broker's connections close at once (its kernel closes them), so this is seen
    /// before a restarted broker could take a write; a hung one closes nothing.
    pub fn connection_losses(&self) -> u64 {
        self.losses.load(std::sync::atomic::Ordering::Acquire)
    }

    /// What the cluster supports, once any connection has been made.
    pub fn api_versions(&self) -> HashMap<i16, VersionRange> {
        read(&self.versions).clone()
    }

    /// The version range the cluster supports for `api`, if known and supported.
    pub fn supports(&self, api: ApiKey) -> Option<VersionRange> {
        read(&self.versions).get(&(api as i16)).copied()
    }

    /// Whether API versions are known (some connection succeeded).
    pub fn versions_known(&self) -> bool {
        !read(&self.versions).is_empty()
    }

    /// A snapshot for health checks and the admin API.
    pub fn status(&self) -> ClusterStatus {
        let connections = self.open_conns.load(Ordering::Relaxed);
        let now = Instant::now();
        let (state, last_error, latency) = {
            let h = lock(&self.health);
            (
                h.state(now),
                h.last_error().map(str::to_owned),
                h.last_latency(),
            )
        };
        ClusterStatus {
            id: self.id.to_string(),
            state,
            reachable: state != HealthState::Down,
            last_error,
            latency,
            connections,
        }
    }

    /// Feeds an outcome to the breaker: failures that say the cluster is unreachable or stuck
    /// count; errors about one request (encoding, an unsupported API) do not.
    fn note<T>(&self, r: &Result<T, BackendError>) {
        self.note_timed(r, None);
    }

    fn note_timed<T>(&self, r: &Result<T, BackendError>, latency: Option<Duration>) {
        let mut h = lock(&self.health);
        match r {
            Ok(_) => h.success(latency),
            Err(err)
                if err.is_transient()
                    || matches!(
                        err,
                        BackendError::Timeout { .. } | BackendError::Saturated { .. }
                    ) =>
            {
                h.failure(err.to_string(), Instant::now());
            }
            Err(_) => {}
        }
    }

    /// Feeds only a failure to the breaker: queuing a request proves nothing about the
    /// cluster, its answer does.
    fn note_failure<T>(&self, r: Result<T, BackendError>) -> Result<T, BackendError> {
        if let Err(e) = &r {
            self.note::<()>(&Err(e.clone()));
        }
        r
    }

    /// Fails fast while the circuit is open (the half-open attempt is let through).
    fn admit(&self) -> Result<(), BackendError> {
        let h = lock(&self.health);
        if h.allows(Instant::now()) {
            return Ok(());
        }
        Err(BackendError::CircuitOpen {
            cluster: self.id.to_string(),
            reason: h.last_error().unwrap_or("repeated failures").to_owned(),
        })
    }

    async fn open(&self, addr: &str) -> Result<Arc<BrokerConn>, BackendError> {
        let security = self.security.as_ref().map_err(|e| BackendError::Connect {
            cluster: self.id.to_string(),
            addr: addr.to_owned(),
            reason: e.to_string(),
        })?;
        let conn = BrokerConn::connect(
            self.id.clone(),
            addr,
            security,
            self.cfg.connect_timeout.get(),
            self.cfg.request_timeout.get(),
            self.cfg.max_response_bytes,
            pool::Counted::new(&self.open_conns),
            self.losses.clone(),
        )
        .await?;
        let conn = Arc::new(conn);
        self.learn_versions(&conn).await?;
        Ok(conn)
    }

    /// Asks a fresh connection which API versions the cluster supports (refreshed on every
    /// reconnect, so an upgraded broker is noticed).
    async fn learn_versions(&self, conn: &BrokerConn) -> Result<(), BackendError> {
        let req = RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("kafkatwin"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
        );
        let mut resp = conn.send(ApiKey::ApiVersions, 3, None, &req).await;
        if let Ok(ResponseKind::ApiVersions(r)) = &resp
            && r.error_code == ResponseError::UnsupportedVersion.code()
        {
            resp = conn
                .send(
                    ApiKey::ApiVersions,
                    0,
                    None,
                    &RequestKind::ApiVersions(Default::default()),
                )
                .await;
        }
        match resp? {
            ResponseKind::ApiVersions(r) => {
                let map = r
                    .api_keys
                    .iter()
                    .map(|k| {
                        (
                            k.api_key,
                            VersionRange {
                                min: k.min_version,
                                max: k.max_version,
                            },
                        )
                    })
                    .collect();
                *write(&self.versions) = map;
                Ok(())
            }
            _ => Err(BackendError::WrongAnswer {
                cluster: self.id.to_string(),
                api: ApiKey::ApiVersions,
            }),
        }
    }

    /// The pool to use: the client connection's while handling its request, else shared.
    fn pool(&self) -> Arc<ConnPool> {
        pool::client_pool().unwrap_or_else(|| self.shared.clone())
    }

    /// A new connection to the first bootstrap server that accepts one, in no pool: for a
    /// probe that must not queue behind other requests.
    pub async fn dedicated_conn(&self) -> Result<Arc<BrokerConn>, BackendError> {
        let mut last = None;
        for addr in &self.bootstrap {
            match self.open(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| BackendError::NoBootstrap {
            cluster: self.id.to_string(),
        }))
    }

    /// A connection to any broker: a known live one, else the bootstrap servers in order.
    pub async fn any_conn(&self) -> Result<Arc<BrokerConn>, BackendError> {
        self.any_conn_in(self.pool()).await
    }

    async fn any_conn_in(&self, pool: Arc<ConnPool>) -> Result<Arc<BrokerConn>, BackendError> {
        if let Some(c) = pool.any(&self.id) {
            return Ok(c);
        }
        let mut last = None;
        for addr in &self.bootstrap {
            match self.open(addr).await {
                Ok(c) => {
                    pool.put(self.id.clone(), pool::ANY_NODE, c.clone());
                    self.note::<()>(&Ok(()));
                    return Ok(c);
                }
                Err(e) => last = Some(e),
            }
        }
        let err = last.unwrap_or_else(|| BackendError::NoBootstrap {
            cluster: self.id.to_string(),
        });
        self.note::<()>(&Err(err.clone()));
        Err(err)
    }

    /// A connection to broker `node` of this cluster.
    pub async fn node_conn(&self, node: i32) -> Result<Arc<BrokerConn>, BackendError> {
        self.node_conn_in(self.pool(), node).await
    }

    async fn node_conn_in(
        &self,
        pool: Arc<ConnPool>,
        node: i32,
    ) -> Result<Arc<BrokerConn>, BackendError> {
        if let Some(c) = pool.get(&self.id, node) {
            return Ok(c);
        }
        let known = |s: &Self| read(&s.meta).brokers.get(&node).cloned();
        let addr = match known(self) {
            Some(a) => a,
            None => {
                self.refresh_metadata(None).await?;
                known(self).ok_or_else(|| BackendError::UnknownBroker {
                    cluster: self.id.to_string(),
                    node,
                })?
            }
        };
        // One connection per broker address: the bootstrap connection is the broker's too.
        if let Some(c) = pool.at_addr(&self.id, &addr) {
            pool.put(self.id.clone(), node, c.clone());
            return Ok(c);
        }
        let r = self.open(&addr).await;
        self.note(&r);
        let conn = r?;
        pool.put(self.id.clone(), node, conn.clone());
        Ok(conn)
    }

    /// Sends a request to any broker.
    pub async fn send_any(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        self.send_any_in(self.pool(), api, version, client_id, req)
            .await
    }

    /// Sends a quick request (one a broker answers at once, such as Metadata) to any broker
    /// over the cluster's shared connections, even for a client: a client that only ever asks
    /// for metadata (an idle one) then holds no backend connection of its own.
    pub async fn send_any_shared(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        self.send_any_in(self.shared.clone(), api, version, client_id, req)
            .await
    }

    async fn send_any_in(
        &self,
        pool: Arc<ConnPool>,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        let conn = self.any_conn_in(pool).await?;
        let r = conn.call(api, version, client_id, req).await;
        self.note(&r);
        r.map(|a| a.body)
    }

    /// Sends a request to broker `node`.
    pub async fn send_to(
        &self,
        node: i32,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        self.call(Some(node), api, version, client_id, req)
            .await
            .map(|a| a.body)
    }

    /// Sends a request to broker `node` (any broker for `None`); the answer keeps its raw frame.
    pub async fn call(
        &self,
        node: Option<i32>,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<Answer, BackendError> {
        let pending = self.start(node, api, version, client_id, req).await?;
        self.finish(pending).await
    }

    /// A connection to broker `node`, or to any broker for `None`.
    async fn conn_for(&self, node: Option<i32>) -> Result<Arc<BrokerConn>, BackendError> {
        self.admit()?;
        match node {
            Some(n) => self.node_conn(n).await,
            None => self.any_conn().await,
        }
    }

    /// Queues a request to broker `node` (any broker for `None`) without waiting for it.
    pub async fn start(
        &self,
        node: Option<i32>,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<Pending, BackendError> {
        let conn = self.conn_for(node).await?;
        self.note_failure(conn.start(api, version, client_id, req).await)
    }

    /// Queues a client's request frame as received to broker `node` (see
    /// [`BrokerConn::start_frame`]).
    pub async fn start_frame(
        &self,
        node: Option<i32>,
        api: ApiKey,
        version: i16,
        client_frame: Bytes,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        let conn = self.conn_for(node).await?;
        self.note_failure(
            conn.start_frame(api, version, client_frame.into(), wait)
                .await,
        )
    }

    /// Opens the proxy's writer connection to broker `node` (any broker for `None`) if it
    /// is not open, within the connect timeout; a failure counts against the cluster.
    pub async fn prepare_writer(&self, node: Option<i32>) -> Result<(), BackendError> {
        let open = || match node {
            Some(n) => self.writers.get(&self.id, n).is_some(),
            None => self.writers.any(&self.id).is_some(),
        };
        if open() {
            return Ok(());
        }
        let _one = self.writer_opening.lock().await;
        if open() {
            return Ok(());
        }
        let limit = self.cfg.connect_timeout.get();
        let attempt = async {
            match node {
                Some(n) => self.node_conn_in(self.writers.clone(), n).await,
                None => self.any_conn_in(self.writers.clone()).await,
            }
        };
        let r = self.within(limit, ApiKey::ApiVersions, attempt).await;
        self.note_failure(r.map(|_| ()))
    }

    /// Queues a request frame on the proxy's writer connection to broker `node` (any broker
    /// for `None`) without waiting: it fails at once when that connection is not open (see
    /// [`Cluster::prepare_writer`]) or its queue is full. Replicated writes to a partition
    /// from all clients go over this one connection per broker, queued in one order, so
    /// every cluster applies them in the same order.
    pub fn try_start_writer_frame(
        &self,
        node: Option<i32>,
        api: ApiKey,
        version: i16,
        frame: impl Into<PatchedFrame>,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        self.admit()?;
        let conn = match node {
            Some(n) => self.writers.get(&self.id, n),
            None => self.writers.any(&self.id),
        }
        .ok_or_else(|| BackendError::NoWriter {
            cluster: self.id.to_string(),
        })?;
        self.note_failure(conn.try_start_frame(api, version, frame.into(), wait))
    }

    /// Queues a frame on the writer connection, opening it first if needed.
    pub async fn start_writer_frame(
        &self,
        node: Option<i32>,
        api: ApiKey,
        version: i16,
        frame: impl Into<PatchedFrame>,
        wait: Duration,
    ) -> Result<Pending, BackendError> {
        self.prepare_writer(node).await?;
        self.try_start_writer_frame(node, api, version, frame, wait)
    }

    /// Runs `f`, failing with this cluster's timeout error for `api` after `limit` (a hung
    /// broker answers nothing; callers that must not wait for the request timeout use this).
    pub async fn within<T>(
        &self,
        limit: Duration,
        api: ApiKey,
        f: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
            Err(BackendError::Timeout {
                cluster: self.id.to_string(),
                addr: self.bootstrap.join(","),
                api,
                after: limit,
            })
        })
    }

    /// Whether the circuit lets requests through now.
    pub fn admits(&self) -> bool {
        self.admit().is_ok()
    }

    /// Waits for a started request's answer.
    pub async fn finish(&self, pending: Pending) -> Result<Answer, BackendError> {
        let r = pending.answer().await;
        self.note(&r);
        r
    }

    /// Records brokers, controller and leaders from a metadata response (the proxy's own, or a
    /// client's forwarded one).
    pub fn learn_metadata(&self, m: &MetadataResponse) {
        let mut meta = write(&self.meta);
        for b in &m.brokers {
            meta.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        if m.controller_id.0 >= 0 {
            meta.controller = Some(m.controller_id.0);
        }
        for t in &m.topics {
            let Some(name) = &t.name else { continue };
            if t.error_code != 0 {
                meta.leaders.retain(|tp, _| tp.topic != *name);
                continue;
            }
            for p in &t.partitions {
                let key = Tp::new(name.clone(), p.partition_index);
                if p.leader_id.0 >= 0 {
                    meta.leaders.insert(key, p.leader_id.0);
                } else {
                    meta.leaders.remove(&key);
                }
            }
        }
    }

    /// How many partitions `topic` has, as last learned from metadata (`None`: unknown).
    pub fn partition_count(&self, topic: &TopicName) -> Option<i32> {
        let meta = read(&self.meta);
        meta.leaders
            .keys()
            .filter(|tp| tp.topic == *topic)
            .map(|tp| tp.partition + 1)
            .max()
    }

    /// Every topic with its partition count, as last learned from metadata.
    pub fn topics(&self) -> std::collections::BTreeMap<TopicName, i32> {
        let meta = read(&self.meta);
        let mut out = std::collections::BTreeMap::new();
        for tp in meta.leaders.keys() {
            let n = out.entry(tp.topic.clone()).or_insert(0);
            *n = (*n).max(tp.partition + 1);
        }
        out
    }

    /// Forgets what is cached about `topic` (after delete, or a NOT_LEADER answer).
    pub fn forget_topic(&self, topic: &TopicName) {
        write(&self.meta).leaders.retain(|tp, _| tp.topic != *topic);
    }

    /// Refreshes metadata for `topics` (all when `None`). Refreshes are single-flight and at
    /// most one per 100 ms, so a burst of NOT_LEADER answers causes one lookup.
    pub async fn refresh_metadata(&self, topics: Option<&[TopicName]>) -> Result<(), BackendError> {
        let mut gate = self.refresh_gate.lock().await;
        if gate.is_some_and(|t| t.elapsed() < crate::base::timing::METADATA_REFRESH_GATE)
            && topics.is_none()
        {
            return Ok(());
        }
        let version = self.metadata_version();
        let req = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(t.clone())))
                    .collect()
            }));
        let resp = self
            .send_any(ApiKey::Metadata, version, None, &RequestKind::Metadata(req))
            .await?;
        if let ResponseKind::Metadata(m) = resp {
            self.learn_metadata(&m);
        }
        *gate = Some(Instant::now());
        Ok(())
    }

    /// The Metadata version for the proxy's own lookups: its preferred one, within what the
    /// cluster supports (Kafka 4 removed v0-v3).
    fn metadata_version(&self) -> i16 {
        match self.supports(ApiKey::Metadata) {
            Some(r) => OWN_METADATA_VERSION.clamp(r.min, r.max.max(r.min)),
            None => OWN_METADATA_VERSION,
        }
    }

    /// A health probe: a metadata request naming no topics (cheap on any broker). Its outcome
    /// updates [`Cluster::status`] like any real request's.
    pub async fn probe(&self) -> Result<(), BackendError> {
        let req = RequestKind::Metadata(MetadataRequest::default().with_topics(Some(Vec::new())));
        let limit = self.cfg.connect_timeout.get();
        let version = self.metadata_version();
        let started = Instant::now();
        let attempt = async {
            let conn = self.any_conn().await?;
            conn.call(ApiKey::Metadata, version, None, &req).await
        };
        // A hung broker: report it within the probe interval, not the request timeout.
        let r = self
            .within(limit, ApiKey::Metadata, attempt)
            .await
            .map(|_| ());
        self.note_timed(&r, Some(started.elapsed()));
        if r.is_ok() {
            *lock(&self.probe_ok) = Some(Instant::now());
        }
        r
    }

    /// When a health probe last succeeded.
    pub fn last_probe_ok(&self) -> Option<Instant> {
        *lock(&self.probe_ok)
    }

    /// The leader of a partition, refreshing metadata once if it is not cached.
    pub async fn leader(&self, topic: &TopicName, partition: i32) -> Option<i32> {
        let cached = |s: &Self| {
            read(&s.meta)
                .leaders
                .get(&Tp::new(topic.clone(), partition))
                .copied()
        };
        if let Some(l) = cached(self) {
            return Some(l);
        }
        self.refresh_metadata(Some(std::slice::from_ref(topic)))
            .await
            .ok()?;
        cached(self)
    }

    /// The controller (for admin requests), or `None` to use any broker.
    pub fn controller(&self) -> Option<i32> {
        read(&self.meta).controller
    }

    /// Broker node ids known from metadata.
    pub async fn broker_ids(&self) -> Vec<i32> {
        let known: Vec<i32> = read(&self.meta).brokers.keys().copied().collect();
        if !known.is_empty() {
            return known;
        }
        let _ = self.refresh_metadata(None).await;
        read(&self.meta).brokers.keys().copied().collect()
    }

    /// The broker coordinating `group`, asking the cluster when not cached.
    pub async fn coordinator(&self, group: &StrBytes) -> Result<i32, BackendError> {
        let cached = read(&self.meta).coordinators.get(group).copied();
        if let Some(n) = cached {
            return Ok(n);
        }
        let node = self.find_coordinator(group, 0).await?;
        write(&self.meta).coordinators.insert(group.clone(), node);
        Ok(node)
    }

    /// The broker coordinating transactional id `id` (not cached: asked rarely).
    pub async fn transaction_coordinator(&self, id: &StrBytes) -> Result<i32, BackendError> {
        self.find_coordinator(id, 1).await
    }

    /// Asks the cluster which broker coordinates `key` (`key_type` 0: a group, 1: a
    /// transactional id).
    async fn find_coordinator(&self, key: &StrBytes, key_type: i8) -> Result<i32, BackendError> {
        let range = self.supports(ApiKey::FindCoordinator);
        let version = range.map_or(3, |r| r.max.min(4));
        let mut req = FindCoordinatorRequest::default().with_key_type(key_type);
        if version >= 4 {
            req.coordinator_keys = vec![key.clone()];
        } else {
            req.key = key.clone();
        }
        let resp = self
            .send_any(
                ApiKey::FindCoordinator,
                version,
                None,
                &RequestKind::FindCoordinator(req),
            )
            .await?;
        let ResponseKind::FindCoordinator(r) = resp else {
            return Err(BackendError::WrongAnswer {
                cluster: self.id.to_string(),
                api: ApiKey::FindCoordinator,
            });
        };
        let (code, node, host, port) = match r.coordinators.first() {
            Some(c) => (c.error_code, c.node_id, c.host.clone(), c.port),
            None => (r.error_code, r.node_id, r.host.clone(), r.port),
        };
        if code != 0 || node.0 < 0 {
            let what = if key_type == 0 {
                "group"
            } else {
                "transactional id"
            };
            return Err(BackendError::Refused {
                cluster: self.id.to_string(),
                what: format!("FindCoordinator for {what} {:?}", key.as_str()),
                // No coordinator named without an error is one not available yet.
                code: if code != 0 {
                    code
                } else {
                    ResponseError::CoordinatorNotAvailable.code()
                },
            });
        }
        write(&self.meta)
            .brokers
            .entry(node.0)
            .or_insert_with(|| format!("{}:{}", host.as_str(), port));
        Ok(node.0)
    }

    /// Forgets a group's coordinator (after NOT_COORDINATOR).
    pub fn forget_coordinator(&self, group: &StrBytes) {
        write(&self.meta).coordinators.remove(group);
    }
}
