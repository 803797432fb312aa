//! Answers that present the virtual cluster: Metadata (rewritten so every partition is led by
//! the proxy), FindCoordinator and DescribeCluster (the proxy is every coordinator and the
//! controller), and the response rewrites that hide backend brokers and leader epochs.

use crate::backend::partitioned::Tp;
use crate::proxy::{Proxy, errors};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

/// Whether a Metadata topic entry can be shown to clients as is: no error, and every
/// partition led.
fn topic_healthy(t: &metadata_response::MetadataResponseTopic) -> bool {
    t.error_code == 0
        && !t.partitions.is_empty()
        && t.partitions
            .iter()
            .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
}

/// What one produce request carries for one topic.
pub struct TopicSize {
    /// The topic.
    pub topic: TopicName,
    /// Record-batch bytes.
    pub bytes: u64,
    /// Records, by the batch headers.
    pub records: u64,
}

/// Per topic: what one produce request carries.
pub type TopicSizes = Vec<TopicSize>;

/// Whether a backend fetch response carries anything that must not reach clients as is:
/// backend leader hints, read replicas, endpoints or a fetch session.
pub(super) fn fetch_needs_rewrite(r: &FetchResponse) -> bool {
    r.session_id != 0
        || !r.node_endpoints.is_empty()
        || r.responses
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.current_leader != Default::default() || p.preferred_read_replica.0 >= 0)
}

impl Proxy {
    fn me(&self) -> BrokerId {
        BrokerId(self.identity.node_id)
    }

    /// Forwards Metadata to the backend and presents the answer as the virtual cluster's.
    pub(super) async fn metadata(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        mut req: MetadataRequest,
    ) -> ResponseKind {
        if self.backends.replicator.is_some() {
            // A topic auto-created on one cluster (a replaced, empty one) would get that
            // broker's default partition count and exist nowhere else: topics are created
            // through the proxy (CreateTopics goes to every cluster), or by the comparison.
            req.allow_auto_topic_creation = false;
        }
        let body = RequestKind::Metadata(req);
        let front = self.front();
        let ask = front.send_any_shared(ApiKey::Metadata, version, client_id.clone(), &body);
        // With other clusters to ask, a hung one is given up on quickly.
        let resp = match &self.backends.replicator {
            Some(_) => tokio::time::timeout(crate::base::timing::METADATA_FALLBACK_WAIT, ask)
                .await
                .unwrap_or_else(|_| {
                    Err(crate::backend::BackendError::Timeout {
                        cluster: front.id.to_string(),
                        addr: "any broker".into(),
                        api: ApiKey::Metadata,
                        after: crate::base::timing::METADATA_FALLBACK_WAIT,
                    })
                }),
            None => ask.await,
        };
        let mut m = match resp {
            Ok(ResponseKind::Metadata(m)) => m,
            failed => {
                let code = match &failed {
                    Err(e) => {
                        tracing::warn!("metadata request failed: {e}");
                        e.client_code()
                    }
                    Ok(_) => ResponseError::UnknownServerError.code(),
                };
                // Each requested topic carries the error; the proxy is still presented as the
                // broker below, so the client keeps talking to it and retries.
                match errors::error_response(&body, code, "") {
                    Some(ResponseKind::Metadata(mut m)) => {
                        m.error_code = 0;
                        m
                    }
                    _ => MetadataResponse::default(),
                }
            }
        };
        front.learn_metadata(&m);
        if !m.topics.iter().all(topic_healthy) {
            self.metadata_from_others(version, client_id, &body, &mut m)
                .await;
        }
        let me = self.me();
        m.brokers = self
            .membership
            .brokers()
            .into_iter()
            .map(|b| {
                metadata_response::MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(StrBytes::from_string(b.host))
                    .with_port(b.port)
            })
            .collect();
        m.controller_id = me;
        m.cluster_id = Some(self.identity.cluster_id.clone());
        for t in &mut m.topics {
            let Some(name) = t.name.clone() else { continue };
            if crate::control::state_log::is_internal(name.as_str()) {
                t.is_internal = true;
            }
            if self.backends.replicator.is_some() {
                // Each cluster has its own id for a topic: clients see one that never changes.
                t.topic_id = crate::groups::consumer::topic_id(name.as_str());
            }
            for p in &mut t.partitions {
                // Each partition's leader is the instance that owns it (this one when alone),
                // kept steady while the instances regroup.
                let leader = BrokerId(self.membership.presented_owner(&name, p.partition_index));
                if p.leader_id.0 >= 0 {
                    p.leader_id = leader;
                }
                // Epochs belong to one backend cluster; hiding them keeps clients from
                // validating positions against epochs that change on failover.
                p.leader_epoch = -1;
                p.replica_nodes = vec![leader];
                p.isr_nodes = vec![leader];
                p.offline_replicas.clear();
            }
        }
        ResponseKind::Metadata(m)
    }

    /// Replaces the topics the first cluster answered with an error (lost, hung, or back
    /// empty and not yet given its topics again) by another cluster's healthy answer, so
    /// that clients never see a partition vanish while any cluster has it.
    async fn metadata_from_others(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        body: &RequestKind,
        m: &mut MetadataResponse,
    ) {
        let Some(rep) = &self.backends.replicator else {
            return;
        };
        for i in rep.read_order().into_iter().skip(1) {
            let c = &rep.clusters()[i];
            if !c.admits() {
                continue;
            }
            let ask = c.send_any_shared(ApiKey::Metadata, version, client_id.clone(), body);
            let Ok(Ok(ResponseKind::Metadata(other))) =
                tokio::time::timeout(crate::base::timing::METADATA_FALLBACK_WAIT, ask).await
            else {
                continue;
            };
            c.learn_metadata(&other);
            for t in &mut m.topics {
                if topic_healthy(t) {
                    continue;
                }
                if let Some(o) = other.topics.iter().find(|o| {
                    o.name == t.name && topic_healthy(o) && o.partitions.len() >= t.partitions.len()
                }) {
                    *t = o.clone();
                }
            }
            if m.topics.iter().all(topic_healthy) {
                return;
            }
        }
    }

    /// The coordinator of a key: for a consumer group in front of several clusters, the
    /// instance that owns the group (see `groups`); otherwise this instance.
    fn coordinator_of(&self, key_type: i8, key: &StrBytes) -> crate::control::membership::Instance {
        if key_type == 0 && self.backends.replicator.is_some() {
            return self.membership.presented_group_owner(key.as_str());
        }
        self.membership.me().clone()
    }

    /// FindCoordinator: every coordinator is a proxy instance.
    pub(super) fn find_coordinator(
        &self,
        version: i16,
        req: FindCoordinatorRequest,
    ) -> ResponseKind {
        if version < 4 {
            let c = self.coordinator_of(req.key_type, &req.key);
            return ResponseKind::FindCoordinator(
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(c.node_id))
                    .with_host(StrBytes::from_string(c.host))
                    .with_port(c.port),
            );
        }
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let c = self.coordinator_of(req.key_type, k);
                find_coordinator_response::Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(BrokerId(c.node_id))
                    .with_host(StrBytes::from_string(c.host))
                    .with_port(c.port)
            })
            .collect();
        ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default().with_coordinators(coordinators),
        )
    }

    /// The virtual cluster: one broker (this proxy), which is also the controller.
    pub(super) fn describe_cluster(&self) -> ResponseKind {
        let me = self.me();
        ResponseKind::DescribeCluster(
            DescribeClusterResponse::default()
                .with_endpoint_type(1)
                .with_cluster_id(self.identity.cluster_id.clone())
                .with_controller_id(me)
                .with_cluster_authorized_operations(i32::MIN)
                .with_brokers(
                    self.membership
                        .brokers()
                        .into_iter()
                        .map(|b| {
                            describe_cluster_response::DescribeClusterBroker::default()
                                .with_broker_id(BrokerId(b.node_id))
                                .with_host(StrBytes::from_string(b.host))
                                .with_port(b.port)
                        })
                        .collect(),
                ),
        )
    }

    /// Replaces ListOffsets LATEST answers with the partition leader's high watermark (last
    /// stable offset for read_committed), which is what LATEST means. Some Kafka-compatible
    /// brokers (Tansu 0.6) answer the last batch's base offset + 1 instead; on Apache Kafka
    /// both agree. Costs one small Fetch per LATEST lookup, which is rare (offset resets, lag
    /// queries). Tansu answers a Fetch with nothing unless it may wait a little and may return
    /// a whole batch, hence the wait and byte limits.
    pub(super) async fn latest_from_high_watermark(
        &self,
        cluster: &crate::backend::Cluster,
        resp: &mut ListOffsetsResponse,
        latest: &[Tp],
        isolation_level: i8,
        client_id: Option<StrBytes>,
    ) {
        let version = cluster.supports(ApiKey::Fetch).map_or(4, |r| r.max.min(12));
        let mut fetch = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_isolation_level(isolation_level)
            .with_session_epoch(-1);
        for t in &resp.topics {
            let parts: Vec<fetch_request::FetchPartition> = t
                .partitions
                .iter()
                .filter(|p| {
                    p.error_code == 0
                        && latest.contains(&Tp::new(t.name.clone(), p.partition_index))
                })
                .map(|p| {
                    fetch_request::FetchPartition::default()
                        .with_partition(p.partition_index)
                        // One offset back, so there is a record to return and the broker
                        // answers at once with the partition's watermarks.
                        .with_fetch_offset((p.offset - 1).max(0))
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1)
                        .with_partition_max_bytes(1 << 20)
                })
                .collect();
            if !parts.is_empty() {
                fetch.topics.push(
                    fetch_request::FetchTopic::default()
                        .with_topic(t.name.clone())
                        .with_partitions(parts),
                );
            }
        }
        if fetch.topics.is_empty() {
            return;
        }
        let fetched = super::partitioned::route(
            cluster,
            version,
            client_id,
            fetch,
            self.config.backend.retries,
        )
        .await;

        for ft in &fetched.responses {
            let Some(lt) = resp.topics.iter_mut().find(|t| t.name == ft.topic) else {
                continue;
            };
            for fp in &ft.partitions {
                let end = if isolation_level == 1 && fp.last_stable_offset >= 0 {
                    fp.last_stable_offset
                } else {
                    fp.high_watermark
                };
                if fp.error_code != 0 || end < 0 {
                    continue;
                }
                if let Some(lp) = lt
                    .partitions
                    .iter_mut()
                    .find(|p| p.partition_index == fp.partition_index)
                {
                    lp.offset = end;
                }
            }
        }
    }

    /// Hides backend leader hints in a produce response.
    pub(super) fn rewrite_produce(&self, mut r: ProduceResponse) -> ProduceResponse {
        r.node_endpoints.clear();
        for t in &mut r.responses {
            for p in &mut t.partition_responses {
                p.current_leader = Default::default();
            }
        }
        r
    }

    /// Hides backend leader hints and read replicas in a fetch response.
    pub(super) fn rewrite_fetch(&self, mut r: FetchResponse) -> FetchResponse {
        r.node_endpoints.clear();
        r.session_id = 0;
        for t in &mut r.responses {
            for p in &mut t.partitions {
                p.current_leader = Default::default();
                p.preferred_read_replica = BrokerId(-1);
            }
        }
        r
    }

    /// Bytes per topic in a produce request, taken before it is moved into routing.
    pub(super) fn produce_sizes(&self, r: &ProduceRequest) -> TopicSizes {
        r.topic_data
            .iter()
            .map(|t| {
                let (mut bytes, mut records) = (0, 0);
                for b in t.partition_data.iter().filter_map(|p| p.records.as_ref()) {
                    bytes += b.len() as u64;
                    records += crate::wire::records::record_count(b);
                }
                TopicSize {
                    topic: t.name.clone(),
                    bytes,
                    records,
                }
            })
            .collect()
    }

    /// Produce metrics: one request count and byte count per topic.
    pub(super) fn record_produce(
        &self,
        sizes: &TopicSizes,
        resp: &ProduceResponse,
        started: Instant,
    ) {
        let cluster = &*self.backends.cluster.id;
        let secs = started.elapsed().as_secs_f64();
        for TopicSize {
            topic,
            bytes,
            records,
        } in sizes
        {
            let codes = resp
                .responses
                .iter()
                .filter(|t| &t.name == topic)
                .flat_map(|t| &t.partition_responses)
                .map(|p| p.error_code);
            let (label, failed) = topic_label(topic, codes);
            let m = &self.metrics;
            let status = if failed { "error" } else { "ok" };
            m.produce_requests
                .with_label_values(&[label, cluster, status])
                .inc();
            if !failed {
                m.produce_bytes
                    .with_label_values(&[label, cluster])
                    .inc_by(*bytes);
                m.produce_records
                    .with_label_values(&[label, cluster])
                    .inc_by(*records);
            }
            m.produce_latency
                .with_label_values(&[label, cluster])
                .observe(secs);
        }
    }

    /// Fetch metrics: one request count and byte count per topic.
    pub(super) fn record_fetch(&self, resp: &FetchResponse, started: Instant, cluster: &str) {
        let secs = started.elapsed().as_secs_f64();
        for t in &resp.responses {
            let (label, failed) = topic_label(&t.topic, t.partitions.iter().map(|p| p.error_code));
            let (mut bytes, mut records) = (0, 0);
            for b in t.partitions.iter().filter_map(|p| p.records.as_ref()) {
                bytes += b.len() as u64;
                records += crate::wire::records::record_count(b);
            }
            let m = &self.metrics;
            m.fetch_requests
                .with_label_values(&[label, cluster, if failed { "error" } else { "ok" }])
                .inc();
            m.fetch_bytes
                .with_label_values(&[label, cluster])
                .inc_by(bytes);
            m.fetch_records
                .with_label_values(&[label, cluster])
                .inc_by(records);
            m.fetch_latency
                .with_label_values(&[label, cluster])
                .observe(secs);
        }
    }
}

/// The metric label for a topic and whether any partition failed. Topic names come from
/// clients; one the backend does not know is labelled `<unknown>`, so a client cannot grow
/// the metric series without bound.
fn topic_label(topic: &TopicName, codes: impl Iterator<Item = i16>) -> (&str, bool) {
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let (mut any, mut failed, mut all_unknown) = (false, false, true);
    for c in codes {
        any = true;
        failed |= c != 0;
        all_unknown &= c == unknown;
    }
    if any && all_unknown {
        ("<unknown>", true)
    } else {
        (topic.as_str(), failed)
    }
}
