//! The protocol front: decodes client requests, routes them to the backend, and answers in
//! the shape of a single virtual Kafka cluster whose only broker is this proxy.

mod acl;
mod admin;
pub mod books;
mod delete_records;
pub mod errors;
mod fetch;
mod groups;
pub mod lag;
mod list_offsets;
mod local;
pub use crate::backend::partitioned;
mod parts;
mod pipeline;
mod produce;
pub mod read_ahead;
pub mod sasl;
pub mod session;
mod throttle;
mod transactions;
pub mod versions;

use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::metrics::Metrics;
use crate::wire::frame::{self, HeaderPeek};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafkatwin_config::{AclOperation, Config};
use std::sync::Arc;
use std::time::Instant;
use versions::Handler;

/// What the proxy presents to clients as its broker.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Broker id.
    pub node_id: i32,
    /// Host clients connect to.
    pub host: StrBytes,
    /// Port clients connect to.
    pub port: i32,
    /// Virtual cluster id.
    pub cluster_id: StrBytes,
}

/// Everything a request handler needs; shared by all connections.
pub struct Proxy {
    /// The loaded config.
    config: Config,
    /// The broker identity presented to clients.
    identity: Identity,
    /// Metric families.
    metrics: Metrics,
    /// The clusters and the write path over them.
    backends: Backends,
    /// What the admin API changes and every instance shares.
    books: books::Books,
    /// This instance among the instances (partition leadership with scale-out).
    membership: Arc<crate::control::membership::Membership>,
}

/// The backend clusters as the request handlers reach them.
pub struct Backends {
    /// The backend cluster requests go to (the first by priority).
    cluster: Arc<Cluster>,
    /// All configured clusters, in authority order (`topology::authority_order`): the same
    /// order, and so the same indexes, as the replicator's.
    clusters: PerCluster<Arc<Cluster>>,
    /// Writes to every cluster under the ack policy, when there is more than one.
    replicator: Option<Arc<crate::replication::Replicator>>,
    /// Producer ids issued by the proxy itself (with several clusters; one cluster issues
    /// its own).
    producer_ids: Option<Arc<crate::control::producer_ids::ProducerIds>>,
    /// Where transactional ids get their producer ids: the same issuer in front of several
    /// clusters; in front of one, an issuer over it (ids that never reach the cluster: a
    /// commit writes plain batches).
    transaction_ids: Arc<crate::control::producer_ids::ProducerIds>,
}

/// What to do after handling one request.
pub enum Handled {
    /// Write this frame.
    Reply(Frame),
    /// The request gets no response (Produce with acks=0).
    NoReply,
    /// Close the client connection; the reason is logged once.
    Close(String),
}

/// A response frame ready to write.
pub enum Frame {
    /// Encoded by the proxy, length prefix included.
    Encoded(Bytes),
    /// A backend's response forwarded as received: `head` is the length prefix and the
    /// client's correlation id, `tail` the backend frame after its correlation id.
    Forwarded {
        /// Length prefix and correlation id.
        head: [u8; 8],
        /// The rest of the backend frame.
        tail: Bytes,
    },
}

impl Frame {
    /// Forwards a backend response frame (`raw` starts with the backend's correlation id)
    /// under the client's correlation id, without copying it.
    pub fn forward(correlation_id: i32, raw: Bytes) -> Self {
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&(raw.len() as i32).to_be_bytes());
        head[4..].copy_from_slice(&correlation_id.to_be_bytes());
        Self::Forwarded {
            head,
            tail: raw.slice(4.min(raw.len())..),
        }
    }
}

/// What a routed request produced. Lives only between routing and encoding, so the size
/// difference between variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Reply {
    /// A response for the proxy to encode.
    Body(ResponseKind),
    /// A backend response frame to forward unchanged.
    Forward(Bytes),
}

use crate::base::timing::CONTROL_WAIT;

impl Proxy {
    /// Builds the proxy context from a validated config.
    pub fn new(config: Config, metrics: Metrics) -> anyhow::Result<Self> {
        // One cluster order in the whole process: authority order. Config order is seen only
        // inside `authority_order`, so a cluster index can never mean two different clusters.
        let clusters: PerCluster<Arc<Cluster>> = crate::control::topology::authority_order(&config)
            .iter()
            .map(|c| Arc::new(Cluster::new(c, &config.backend, config.circuit_breaker)))
            .collect();
        let primary = config
            .primary_cluster()
            .ok_or_else(|| anyhow::anyhow!("no backend cluster configured"))?;
        let cluster = clusters
            .iter()
            .find(|c| *c.id == primary.id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("cluster {} missing", primary.id))?;
        let identity = Identity {
            node_id: config.server.node_id,
            host: StrBytes::from_string(config.server.effective_advertised_host()),
            port: i32::from(config.server.effective_advertised_port()),
            cluster_id: StrBytes::from_string(config.server.cluster_id.clone()),
        };
        let membership = Arc::new(crate::control::membership::Membership::new(
            crate::control::membership::Instance {
                node_id: identity.node_id,
                host: identity.host.to_string(),
                port: identity.port,
            },
            config.server.scale_out.enabled,
        ));
        let books = books::Books::new(&config, &metrics, &clusters)?;
        let replicator = (clusters.len() > 1).then(|| {
            Arc::new(crate::replication::Replicator::new(
                clusters.clone(),
                crate::control::topology::Topology::new(&config),
                membership.clone(),
                &config.producer,
                &config.consumer,
                metrics.clone(),
                crate::control::control_log::Keeping::Logged(books.control_log.clone()),
            ))
        });
        let producer_ids = replicator.as_ref().map(|r| r.producer_ids().clone());
        let transaction_ids = producer_ids
            .clone()
            .unwrap_or_else(|| Arc::new(crate::control::producer_ids::ProducerIds::new(&clusters)));
        Ok(Self {
            config,
            metrics,
            identity,
            backends: Backends {
                cluster,
                clusters,
                replicator,
                producer_ids,
                transaction_ids,
            },
            books,
            membership,
        })
    }

    /// The cluster that answers requests any cluster can (metadata, admin lookups): the
    /// first of the read order that is up.
    pub fn front(&self) -> &Arc<Cluster> {
        match &self.backends.replicator {
            Some(rep) => &rep.clusters()[rep.front()],
            None => &self.backends.cluster,
        }
    }

    fn retries(&self) -> u32 {
        self.config.backend.retries
    }

    /// Whether the control state is loaded, waiting up to [`CONTROL_WAIT`] for it.
    async fn control_loaded_within(&self) -> bool {
        if *self.books.control_loaded.borrow() {
            return true;
        }
        let mut rx = self.books.control_loaded.subscribe();
        tokio::time::timeout(CONTROL_WAIT, rx.wait_for(|loaded| *loaded))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Handles one client request frame.
    /// `gate` orders this request's backend writes after the previous gated request's
    /// (produce requests of one connection).
    pub async fn handle(
        &self,
        frame: Bytes,
        gate: Option<partitioned::OrderGate>,
        read_ahead: &read_ahead::ReadAhead,
        peer: std::net::SocketAddr,
        quota: &crate::quotas::ClientQuota,
    ) -> Handled {
        let frame_len = frame.len();
        let (peek, decoded) = match frame::decode_request(frame) {
            Ok(d) => d,
            Err(frame::Rejected::ApiVersions(peek)) => {
                // Clients keep this answer for the connection's life: before the first one,
                // give the backend a moment so the versions offered are ones it supports.
                if !self.backends.cluster.versions_known() {
                    let wait = self.config.backend.connect_timeout.get();
                    let _ = tokio::time::timeout(wait, self.backends.cluster.any_conn()).await;
                }
                return self.api_versions(peek);
            }
            Err(frame::Rejected::Close(reason)) => return Handled::Close(reason),
        };
        let (api_key, version) = (decoded.api_key, decoded.version);
        let started = Instant::now();
        let charge = self
            .books
            .quotas
            .admit(
                quota,
                decoded.client_id.as_ref().map(|c| c.as_str()),
                api_key == ApiKey::Produce,
                frame_len,
            )
            .await;
        let supported = versions::advertised(
            api_key,
            &self.backends.cluster,
            self.backends.replicator.is_some(),
        )
        .is_some_and(|r| version >= r.min && version <= r.max);
        let data = matches!(
            decoded.body,
            RequestKind::Produce(_) | RequestKind::Fetch(_)
        );
        let principal = quota.user();
        let named_topics = matches!(&decoded.body, RequestKind::Metadata(r) if r.topics.is_some());
        let denied = supported
            .then(|| self.acl_refusal(principal, &decoded.body))
            .flatten();
        let mut resp = if let Some(d) = denied {
            errors::refusal(&decoded.body, d.code, d.message).map(|r| Some(Reply::Body(r)))
        } else {
            match decoded.body {
                body if supported && data && !self.control_loaded_within().await => {
                    not_loaded(&body)
                }
                RequestKind::Fetch(r) if supported => Ok(Some(
                    self.fetch(
                        version,
                        decoded.client_id,
                        r,
                        started,
                        read_ahead,
                        charge.as_ref(),
                        principal,
                    )
                    .await,
                )),
                body if supported => self
                    .dispatch(
                        frame::DecodedRequest { body, ..decoded },
                        started,
                        gate,
                        peer,
                        principal,
                    )
                    .await
                    .map(|r| r.map(Reply::Body)),
                body => {
                    let msg = format!("{api_key:?} v{version} is not supported by this proxy");
                    errors::refusal(&body, ResponseError::UnsupportedVersion.code(), msg)
                        .map(|r| Some(Reply::Body(r)))
                }
            }
        };
        if let Ok(Some(Reply::Body(ResponseKind::Metadata(m)))) = &mut resp {
            self.screen_metadata(principal, named_topics, m);
        }
        self.settle(api_key, quota, charge.as_ref(), &mut resp);
        answer(api_key, version, peek.correlation_id, resp)
    }

    /// Counts a handled request and charges it to the client's quota (a throttle time goes
    /// into the answer).
    fn settle(
        &self,
        api_key: ApiKey,
        quota: &crate::quotas::ClientQuota,
        charge: Option<&crate::quotas::Charge>,
        resp: &mut Result<Option<Reply>, errors::Unanswerable>,
    ) {
        let status = match resp {
            Ok(_) => "ok",
            Err(_) => "error",
        };
        self.metrics
            .requests
            .with_label_values(&[api_name(api_key), status])
            .inc();
        if let Some(c) = charge {
            let ms = self.books.quotas.finish(quota, c);
            if ms > 0
                && let Ok(Some(Reply::Body(r))) = resp
            {
                throttle::set_throttle(r, ms);
            }
        }
    }

    /// Routes a decoded request. `Ok(None)` means no response is due; `Err` closes the
    /// connection with that reason.
    async fn dispatch(
        &self,
        decoded: frame::DecodedRequest,
        started: Instant,
        gate: Option<partitioned::OrderGate>,
        peer: std::net::SocketAddr,
        principal: Option<&str>,
    ) -> Result<Option<ResponseKind>, errors::Unanswerable> {
        let frame::DecodedRequest {
            api_key: api,
            version,
            client_id,
            body: req,
            frame: client_frame,
        } = decoded;
        let cluster = &self.backends.cluster;
        let retries = self.retries();
        // The handler comes from the one table of offered APIs (`versions::PROXY_APIS`), whose
        // test checks each names the handler of its own request kind; the last arm answers
        // only APIs the proxy does not offer.
        Ok(Some(match (versions::handler(api), req) {
            (Some(Handler::Metadata), RequestKind::Metadata(r)) => {
                self.metadata(version, client_id, r).await
            }
            (Some(Handler::FindCoordinator), RequestKind::FindCoordinator(r)) => {
                self.find_coordinator(version, r)
            }
            (Some(Handler::DescribeCluster), RequestKind::DescribeCluster(_)) => {
                self.describe_cluster()
            }
            (Some(Handler::Produce), RequestKind::Produce(r)) => {
                return Ok(self
                    .produce(
                        version,
                        client_id,
                        r,
                        client_frame,
                        started,
                        gate,
                        principal,
                    )
                    .await
                    .map(ResponseKind::Produce));
            }
            (Some(Handler::ListOffsets), RequestKind::ListOffsets(r)) => ResponseKind::ListOffsets(
                self.screened(r, principal, AclOperation::Describe, |r| {
                    self.list_offsets(version, client_id, r)
                })
                .await,
            ),
            (Some(Handler::DeleteRecords), RequestKind::DeleteRecords(r)) => {
                ResponseKind::DeleteRecords(
                    self.screened(r, principal, AclOperation::Delete, |r| {
                        self.delete_records(version, client_id, r)
                    })
                    .await,
                )
            }
            (Some(Handler::OffsetForLeaderEpoch), RequestKind::OffsetForLeaderEpoch(r)) => {
                if cluster.supports(ApiKey::OffsetForLeaderEpoch).is_none() {
                    let msg = format!(
                        "cluster {} does not support OffsetForLeaderEpoch",
                        cluster.id
                    );
                    return Ok(errors::error_response(
                        &RequestKind::OffsetForLeaderEpoch(r),
                        ResponseError::UnsupportedVersion.code(),
                        &msg,
                    ));
                }
                ResponseKind::OffsetForLeaderEpoch(
                    self.screened(r, principal, AclOperation::Describe, |r| {
                        partitioned::route(cluster, version, client_id, r, retries)
                    })
                    .await,
                )
            }
            (Some(Handler::InitProducerId), RequestKind::InitProducerId(r)) => {
                return Ok(Some(self.init_producer_id(version, client_id, r).await));
            }
            (Some(Handler::Group), req) => {
                self.group_request(api, version, client_id, req, peer).await
            }
            (Some(Handler::ListGroups), RequestKind::ListGroups(r)) => {
                self.list_groups(version, client_id, r).await
            }
            (Some(Handler::Admin), req) => self.admin_request(api, version, client_id, req).await,
            (Some(Handler::Transaction), req) => {
                return self.transaction_request(req).await.map(Some);
            }
            (_, other) => {
                let msg = format!("{api:?} is not supported by this proxy");
                return errors::refusal(&other, ResponseError::UnsupportedVersion.code(), msg)
                    .map(Some);
            }
        }))
    }

    /// The ApiVersions answer. A version newer than the proxy knows gets the v0-shaped error
    /// response the protocol prescribes, listing what is supported, so the client can retry.
    fn api_versions(&self, peek: HeaderPeek) -> Handled {
        let mut resp = versions::api_versions_response(
            &self.backends.cluster,
            self.backends.replicator.is_some(),
            self.auth_required(),
        );
        let max = versions::advertised(ApiKey::ApiVersions, &self.backends.cluster, false)
            .map_or(0, |r| r.max);
        let version = if peek.api_version > max || peek.api_version < 0 {
            resp.error_code = ResponseError::UnsupportedVersion.code();
            0
        } else {
            peek.api_version
        };
        match encode_api_versions(version, peek.correlation_id, &resp) {
            Ok(b) => Handled::Reply(Frame::Encoded(b)),
            Err(e) => Handled::Close(format!("cannot encode ApiVersions v{version}: {e}")),
        }
    }
}

/// The answer to a Produce or Fetch before the control state is loaded: fail closed, no
/// topic is served before its rules and plugins are known.
fn not_loaded(body: &RequestKind) -> Result<Option<Reply>, errors::Unanswerable> {
    let code = if matches!(body, RequestKind::Produce(_)) {
        ResponseError::NotEnoughReplicas
    } else {
        ResponseError::LeaderNotAvailable
    };
    let msg = "the proxy has not loaded its control state (rules, plugins) from a majority of \
               clusters yet; retry"
        .to_owned();
    errors::refusal(body, code.code(), msg).map(|r| Some(Reply::Body(r)))
}

/// The frame to write for a routed request's outcome (`Err`: close with that reason).
fn answer(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: Result<Option<Reply>, errors::Unanswerable>,
) -> Handled {
    match resp {
        Ok(Some(Reply::Body(r))) => match encode_reply(api_key, version, correlation_id, &r) {
            Ok(b) => Handled::Reply(Frame::Encoded(b)),
            Err(e) => Handled::Close(format!(
                "cannot encode the {api_key:?} v{version} response: {e}"
            )),
        },
        Ok(Some(Reply::Forward(raw))) => Handled::Reply(Frame::forward(correlation_id, raw)),
        Ok(None) => Handled::NoReply,
        Err(e) => Handled::Close(e.to_string()),
    }
}

fn encode_api_versions(
    version: i16,
    correlation_id: i32,
    resp: &ApiVersionsResponse,
) -> anyhow::Result<Bytes> {
    // ApiVersions responses always use header v0 (no tagged fields), whatever the version.
    frame::encode_response(ApiKey::ApiVersions, version, correlation_id, resp)
}

/// Encodes `length ‖ header ‖ body` for any response kind.
pub fn encode_reply(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let hv = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    // Size the buffer exactly for the responses that carry record batches, so a large fetch
    // is copied once, not regrown.
    let size = match body {
        ResponseKind::Fetch(r) => r.compute_size(version).unwrap_or(0),
        ResponseKind::Produce(r) => r.compute_size(version).unwrap_or(0),
        _ => 256,
    };
    let mut out = BytesMut::with_capacity(16 + size);
    out.put_i32(0);
    header.encode(&mut out, hv)?;
    body.encode(&mut out, version)?;
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

/// A short, stable label for an API (its metric label; `other` for APIs the proxy does not
/// offer).
pub fn api_name(api: ApiKey) -> &'static str {
    versions::PROXY_APIS
        .iter()
        .find(|a| a.key == api)
        .map_or("other", |a| a.label)
}
