//! Fetch: the hot read path. With one cluster the backend's answer is forwarded as received.
//! With several, each partition is read from its read cluster: offsets are
//! translated to the cluster's and back, and a cluster that fails or stalls a read is passed
//! over, so the next fetch is served by another at the same logical offset.

use super::partitioned::{self, PartitionedApi, Routed};
use super::{Proxy, Reply, local, read_ahead};
use crate::base::cluster_idx::ClusterIdx;
use crate::replication::{Replicator, partitions::lanes::Tp};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Record bytes in a fetch answer.
fn fetched_bytes(resp: &FetchResponse) -> usize {
    resp.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum()
}

/// Cuts a fetch answer's records to `limit` bytes at batch boundaries (with `at_least_one`,
/// the first batch stays whatever its size). Returns whether anything was cut.
fn trim_fetch(resp: &mut FetchResponse, limit: usize, at_least_one: bool) -> bool {
    let mut left = limit;
    let mut first = at_least_one;
    let mut cut = false;
    for p in resp.responses.iter_mut().flat_map(|t| &mut t.partitions) {
        let Some(records) = &p.records else { continue };
        if records.is_empty() {
            continue;
        }
        let keep = crate::wire::records::batches_within(records, left, first);
        first = false;
        if keep < records.len() {
            p.records = Some(records.slice(..keep));
            cut = true;
        }
        left = left.saturating_sub(keep);
    }
    cut
}

/// Partition errors that say this cluster cannot serve the partition now, where another might.
fn fails_over(code: i16) -> bool {
    [
        ResponseError::UnknownTopicOrPartition,
        ResponseError::NotLeaderOrFollower,
        ResponseError::LeaderNotAvailable,
        ResponseError::RequestTimedOut,
        ResponseError::NetworkException,
        ResponseError::UnknownServerError,
        ResponseError::KafkaStorageError,
        ResponseError::BrokerNotAvailable,
        ResponseError::ReplicaNotAvailable,
        ResponseError::NotEnoughReplicas,
    ]
    .iter()
    .any(|e| e.code() == code)
}

impl Proxy {
    /// Answers a Fetch. When the answer is one backend response that needs no rewriting (the
    /// usual case), its frame is forwarded as received: the record batches are neither
    /// decoded nor copied in user space.
    // Each argument is one thing the request came with; bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        req: FetchRequest,
        started: Instant,
        read_ahead: &read_ahead::ReadAhead,
        charge: Option<&crate::quotas::Charge>,
        principal: Option<&str>,
    ) -> Reply {
        let mut req = sessionless(req, self.config.backend.max_response_bytes);
        let denied = self.take_denied(&mut req, principal, kafkatwin_config::AclOperation::Read);
        let cap = charge.and_then(crate::quotas::Charge::fetch_cap);
        if let Some(cap) = cap {
            // No single answer larger than the fetch quota allows over its window.
            req.max_bytes = req.max_bytes.min(cap);
            for p in req.topics.iter_mut().flat_map(|t| &mut t.partitions) {
                p.partition_max_bytes = p.partition_max_bytes.min(cap);
            }
        }
        let client_name = client_id.as_ref().map(|c| c.to_string());
        let (mut routed, served_by) = match &self.backends.replicator {
            Some(rep) => {
                self.fetch_replicated(rep, version, client_id, req, read_ahead)
                    .await
            }
            None => {
                let r = self
                    .fetch_from(
                        ClusterIdx::FIRST,
                        &self.backends.cluster,
                        version,
                        client_id,
                        &req,
                        read_ahead,
                        None,
                    )
                    .await;
                (
                    r.unwrap_or_else(|| unreachable_fetch(&req)),
                    self.backends.cluster.id.clone(),
                )
            }
        };
        if let Some(d) = denied {
            FetchRequest::extend_response(&mut routed.resp, d);
            routed.raw = None;
        }
        self.record_fetch(&routed.resp, started, &served_by);
        if let Some(c) = charge {
            let clock = &self.books.quotas.clock;
            let total = fetched_bytes(&routed.resp);
            // Deliver what the fetch quota has room for now (the backend may also answer more
            // than asked for); a fetch of which nothing fits is throttled.
            if let Some((room, empty)) = c.fetch_room(clock)
                && total > room
                && trim_fetch(&mut routed.resp, room, empty)
            {
                routed.raw = None;
            }
            let delivered = fetched_bytes(&routed.resp);
            let charged = if delivered == 0 { total } else { delivered };
            if c.fetch_throttled(charged, clock) {
                // Over the fetch quota: answered at once without records, and nothing is
                // fetched ahead for a client that must wait.
                for p in routed
                    .resp
                    .responses
                    .iter_mut()
                    .flat_map(|t| &mut t.partitions)
                {
                    p.records = Some(bytes::Bytes::new());
                }
                read_ahead.discard();
            }
            if c.throttle_ms() > 0 {
                routed.raw = None;
            }
        }
        if self.on_fetch(&mut routed.resp, client_name.as_deref()) {
            routed.raw = None;
        }
        match routed.raw {
            Some(raw) if !local::fetch_needs_rewrite(&routed.resp) => Reply::Forward(raw),
            _ => Reply::Body(ResponseKind::Fetch(self.rewrite_fetch(routed.resp))),
        }
    }

    /// Reads `req` from cluster `source`, answering from the connection's read-ahead when it
    /// holds exactly this fetch, and starting the next read-ahead. `None` when `stall` passed
    /// without an answer.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_from(
        &self,
        source: ClusterIdx,
        cluster: &Arc<crate::backend::Cluster>,
        version: i16,
        client_id: Option<StrBytes>,
        req: &FetchRequest,
        read_ahead: &read_ahead::ReadAhead,
        stall: Option<Duration>,
    ) -> Option<Routed<FetchResponse>> {
        let bounded = |fut| async move {
            match stall {
                Some(d) => tokio::time::timeout(d, fut).await.ok(),
                None => Some(fut.await),
            }
        };
        let key = read_ahead::FetchKey::of(req, version).from_cluster(source);
        let taken = bounded(read_ahead.take(&key)).await?;
        let outcome = match &taken {
            read_ahead::Taken::Nothing => None,
            read_ahead::Taken::Discarded => Some("discarded"),
            read_ahead::Taken::Used(_) => Some("used"),
        };
        if let Some(o) = outcome {
            self.metrics.read_ahead.with_label_values(&[o]).inc();
        }
        let routed = match taken {
            read_ahead::Taken::Used(r) => r,
            _ => {
                let f = partitioned::route_raw(
                    cluster,
                    version,
                    client_id.clone(),
                    req.clone(),
                    self.retries(),
                    None,
                    None,
                );
                match stall {
                    Some(d) => tokio::time::timeout(d, f).await.ok()?,
                    None => f.await,
                }
            }
        };
        read_ahead.maybe_start(
            cluster,
            source,
            version,
            client_id,
            req,
            &routed.resp,
            self.retries(),
        );
        Some(routed)
    }

    /// A fetch over several clusters: each partition from its read cluster, in logical
    /// offsets, moving to the next cluster for partitions the first cannot serve.
    async fn fetch_replicated(
        &self,
        rep: &Arc<Replicator>,
        version: i16,
        client_id: Option<StrBytes>,
        req: FetchRequest,
        read_ahead: &read_ahead::ReadAhead,
    ) -> (Routed<FetchResponse>, Arc<str>) {
        let plan = rep.plan();
        let stall = crate::base::timing::from_ms(req.max_wait_ms)
            + self.config.consumer.fetch_stall_margin.get();
        let n = rep.clusters().len();
        let mut tried: HashMap<Tp, Vec<ClusterIdx>> = HashMap::new();
        let mut pending: Vec<Tp> = req.partitions();
        let mut out = FetchResponse::default();
        let mut raw = None;
        let mut served_by = rep.clusters()[rep.front()].id.clone();
        for round in 0..n {
            let (groups, left) = rep.assign_reads(&plan, std::mem::take(&mut pending), &tried);
            for tp in &left {
                out_fail(&mut out, &req, tp);
            }
            let whole = round == 0 && groups.len() == 1;
            let reads = groups.into_iter().map(|(i, tps)| {
                let mut sub = partitioned::subset(&req, &tps);
                let shifted = to_physical(rep, i, &mut sub);
                let client_id = client_id.clone();
                async move {
                    let read =
                        self.read_one(rep, i, version, client_id, &sub, read_ahead, stall, whole);
                    (i, tps, read.await, sub, shifted)
                }
            });
            for (i, tps, routed, sub, shifted) in futures::future::join_all(reads).await {
                let Some(routed) = routed else {
                    // Stalled: the next fetch goes elsewhere; these partitions do now.
                    rep.avoid_reads(i);
                    for tp in tps {
                        tried.entry(tp.clone()).or_default().push(i);
                        pending.push(tp);
                    }
                    continue;
                };
                let mut resp = routed.resp;
                let moved = take_failovers(&mut resp, round + 1 == n);
                if !moved.is_empty() {
                    tracing::debug!(cluster = %rep.clusters()[i].id, "fetch: {} partition(s) move to another cluster", moved.len());
                }
                for tp in moved.iter() {
                    tried.entry(tp.clone()).or_default().push(i);
                    pending.push(tp.clone());
                }
                let first_choice = round == 0;
                let changed = to_logical(rep, i, &sub, &mut resp, first_choice);
                if whole && moved.is_empty() && !shifted && !changed {
                    raw = routed.raw;
                }
                served_by = rep.clusters()[i].id.clone();
                FetchRequest::extend_response(&mut out, resp);
            }
            if pending.is_empty() {
                break;
            }
            raw = None;
        }
        for tp in pending {
            out_fail(&mut out, &req, &tp);
        }
        (Routed { resp: out, raw }, served_by)
    }

    /// Reads `sub` from cluster `i` within `stall`; `None` when it stalled (or the read watch
    /// saw the cluster stall meanwhile), so the partitions are read elsewhere. A fetch that
    /// goes whole to one cluster uses the read-ahead and keeps the raw answer.
    #[allow(clippy::too_many_arguments)]
    async fn read_one(
        &self,
        rep: &Replicator,
        i: ClusterIdx,
        version: i16,
        client_id: Option<StrBytes>,
        sub: &FetchRequest,
        read_ahead: &read_ahead::ReadAhead,
        stall: Duration,
        whole: bool,
    ) -> Option<Routed<FetchResponse>> {
        let mut stalls = rep.read_stalls(i);
        stalls.borrow_and_update();
        let cluster = &rep.clusters()[i];
        let read = async {
            if whole {
                self.fetch_from(i, cluster, version, client_id, sub, read_ahead, Some(stall))
                    .await
            } else {
                let f = partitioned::route_raw(
                    cluster,
                    version,
                    client_id,
                    sub.clone(),
                    self.retries(),
                    None,
                    None,
                );
                tokio::time::timeout(stall, f).await.ok()
            }
        };
        tokio::select! {
            r = read => r,
            _ = stalls.changed() => None,
        }
    }
}

/// Takes out of `resp` the partitions whose error another cluster may not have (unless this
/// was the last cluster to try) and returns them.
fn take_failovers(resp: &mut FetchResponse, last_round: bool) -> Vec<Tp> {
    let moved = std::cell::RefCell::new(Vec::new());
    FetchRequest::retain_response(resp, &|t, p, code| {
        let go = !last_round && fails_over(code);
        if go {
            moved.borrow_mut().push(Tp::new(t.clone(), p));
        }
        !go
    });
    moved.into_inner()
}

/// Fails one partition of a fetch with a retriable error: the client fetches it again.
fn out_fail(out: &mut FetchResponse, req: &FetchRequest, tp: &Tp) {
    let one = partitioned::subset(req, std::slice::from_ref(tp));
    FetchRequest::extend_response(out, one.fail_all(ResponseError::NotLeaderOrFollower.code()));
}

fn unreachable_fetch(req: &FetchRequest) -> Routed<FetchResponse> {
    Routed {
        resp: req.fail_all(ResponseError::RequestTimedOut.code()),
        raw: None,
    }
}

/// Moves a fetch's offsets into cluster `i`'s offsets; true when any changed.
fn to_physical(rep: &Replicator, i: ClusterIdx, req: &mut FetchRequest) -> bool {
    let mut shifted = false;
    for t in &mut req.topics {
        for p in &mut t.partitions {
            let d = rep.delta(&Tp::new(t.topic.clone(), p.partition), i);
            if d != 0 {
                shifted = true;
                p.fetch_offset += d;
                if p.log_start_offset >= 0 {
                    p.log_start_offset += d;
                }
            }
        }
    }
    shifted
}

/// Moves cluster `i`'s answer into logical offsets; true when anything changed. A cluster
/// that is not the partition's first choice and ends short of the fetch offset (it lags the
/// one the consumer read before) answers "nothing new yet", not "out of range": a consumer
/// must not reset its position because it was moved to a slower cluster.
fn to_logical(
    rep: &Replicator,
    i: ClusterIdx,
    req: &FetchRequest,
    resp: &mut FetchResponse,
    first_choice: bool,
) -> bool {
    let mut changed = false;
    for t in &mut resp.responses {
        for p in &mut t.partitions {
            let tp = Tp::new(t.topic.clone(), p.partition_index);
            let d = rep.delta(&tp, i);
            if p.error_code == ResponseError::OffsetOutOfRange.code() && !first_choice {
                let asked = req
                    .topics
                    .iter()
                    .filter(|rt| rt.topic == t.topic)
                    .flat_map(|rt| &rt.partitions)
                    .find(|rp| rp.partition == p.partition_index)
                    .map_or(0, |rp| rp.fetch_offset);
                if asked >= p.high_watermark.max(0) {
                    p.error_code = 0;
                    p.high_watermark = asked;
                    p.last_stable_offset = asked;
                    p.records = None;
                    changed = true;
                }
            }
            if d == 0 {
                continue;
            }
            changed = true;
            let shift = |o: &mut i64| {
                if *o >= 0 {
                    *o -= d;
                }
            };
            shift(&mut p.high_watermark);
            shift(&mut p.last_stable_offset);
            shift(&mut p.log_start_offset);
            for a in p.aborted_transactions.iter_mut().flatten() {
                shift(&mut a.first_offset);
            }
            if let Some(r) = &p.records {
                p.records = Some(crate::wire::records::shift_base_offsets(r, d));
            }
        }
    }
    changed
}

/// Forces a full, sessionless fetch: incremental fetch sessions live on one broker, and the
/// proxy may split a fetch across brokers and clusters. Clients handle a 0 session id by
/// sending full fetches.
pub(super) fn sessionless(mut r: FetchRequest, max_response_bytes: u32) -> FetchRequest {
    // The backend's answer must fit the proxy's response limit, or reading it would fail.
    let cap = i32::try_from(max_response_bytes / 2).unwrap_or(i32::MAX);
    r.max_bytes = r.max_bytes.clamp(0, cap);
    r.session_id = 0;
    r.session_epoch = -1;
    r.forgotten_topics_data.clear();
    for t in &mut r.topics {
        for p in &mut t.partitions {
            p.current_leader_epoch = -1;
            p.last_fetched_epoch = -1;
            p.partition_max_bytes = p.partition_max_bytes.clamp(0, cap);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cluster;
    use kafka_protocol::messages::{TopicName, fetch_request, fetch_response};

    /// A replicator over two clusters that are never connected (a fake: only the offset
    /// map is used), with cluster b's partition t-0 offset by 100 from the logical offsets.
    fn replicator() -> Replicator {
        let config = kafkatwin_config::load_str(
            "clusters:\n  - { id: a, bootstrap_servers: [\"127.0.0.1:1\"] }\n  - { id: b, bootstrap_servers: [\"127.0.0.1:2\"] }\n",
            Vec::new(),
        )
        .expect("config");
        let clusters = config
            .clusters
            .iter()
            .map(|c| Arc::new(Cluster::new(c, &config.backend, config.circuit_breaker)))
            .collect();
        let me = crate::control::membership::Instance {
            node_id: 0,
            host: "h".into(),
            port: 1,
        };
        let rep = Replicator::new(
            clusters,
            crate::control::topology::Topology::new(&config),
            Arc::new(crate::control::membership::Membership::new(me, false)),
            &config.producer,
            &config.consumer,
            crate::base::metrics::Metrics::new().expect("metrics"),
            crate::control::control_log::Keeping::Memory,
        );
        rep.apply_logged("offsets/b/t/0", Some(b"100"));
        rep
    }

    /// Cluster a (no offset map) and cluster b (t-0 offset by 100).
    const A: ClusterIdx = ClusterIdx::new(0);
    const B: ClusterIdx = ClusterIdx::new(1);

    fn topic() -> TopicName {
        TopicName(StrBytes::from_static_str("t"))
    }

    #[test]
    fn a_fetch_from_an_offset_cluster_is_translated_both_ways() {
        let rep = replicator();
        let mut req = FetchRequest::default().with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(5),
                ]),
        ]);
        assert!(
            !to_physical(&rep, A, &mut req.clone()),
            "the authority needs no shift"
        );
        assert!(to_physical(&rep, B, &mut req));
        assert_eq!(req.topics[0].partitions[0].fetch_offset, 105);
        // One batch at physical 105 (header only: base offset and length).
        let mut batch = 105i64.to_be_bytes().to_vec();
        batch.extend(4i32.to_be_bytes());
        batch.extend([0u8; 4]);
        let mut resp = FetchResponse::default().with_responses(vec![
            fetch_response::FetchableTopicResponse::default()
                .with_topic(topic())
                .with_partitions(vec![
                    fetch_response::PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(150)
                        .with_last_stable_offset(150)
                        .with_log_start_offset(100)
                        .with_records(Some(batch.into())),
                ]),
        ]);
        assert!(to_logical(&rep, B, &req, &mut resp, true));
        let p = &resp.responses[0].partitions[0];
        assert_eq!(
            (p.high_watermark, p.last_stable_offset, p.log_start_offset),
            (50, 50, 0)
        );
        let records = p.records.as_ref().expect("records");
        assert_eq!(&records[..8], &5i64.to_be_bytes());
    }

    #[test]
    fn a_lagging_fallback_cluster_answers_nothing_new_instead_of_out_of_range() {
        let rep = replicator();
        let req = FetchRequest::default().with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("u")))
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(40),
                ]),
        ]);
        let out_of_range = || {
            FetchResponse::default().with_responses(vec![
                fetch_response::FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("u")))
                    .with_partitions(vec![
                        fetch_response::PartitionData::default()
                            .with_partition_index(0)
                            .with_error_code(ResponseError::OffsetOutOfRange.code())
                            .with_high_watermark(30),
                    ]),
            ])
        };
        let mut first = out_of_range();
        to_logical(&rep, A, &req, &mut first, true);
        assert_eq!(
            first.responses[0].partitions[0].error_code,
            ResponseError::OffsetOutOfRange.code(),
            "the first choice's answer stands"
        );
        let mut fallback = out_of_range();
        assert!(to_logical(&rep, B, &req, &mut fallback, false));
        let p = &fallback.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 40));
    }
}
