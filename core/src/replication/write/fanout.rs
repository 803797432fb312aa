//! The produce path over several clusters.

use crate::backend::partitioned::{OrderGate, PartitionedApi};
use crate::backend::{BackendError, Pending};
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::replication::Replicator;
use crate::replication::partitions::lanes::{Landing, Ticket, Tp};
use crate::replication::write::producers::{BatchMeta, RetryCheck, Written};
use crate::replication::write::recover::Search;
use crate::wire::patched::PatchedFrame;
use crate::wire::produce_spans;
use crate::wire::records::{self, BatchStamp};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Errors with which every cluster refuses the same bytes alike: the batch was written
/// nowhere, so no cluster falls behind for it.
fn is_refusal(code: i16) -> bool {
    [
        ResponseError::CorruptMessage,
        ResponseError::MessageTooLarge,
        ResponseError::RecordListTooLarge,
        ResponseError::InvalidRecord,
        ResponseError::InvalidTimestamp,
        ResponseError::InvalidRequiredAcks,
        ResponseError::UnsupportedForMessageFormat,
        ResponseError::PolicyViolation,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// One partition's answers so far.
#[derive(Default)]
struct Acks {
    /// Clusters the write was queued on.
    queued: usize,
    acks: Vec<(ClusterIdx, PartitionProduceResponse)>,
    failed: usize,
    /// The first refusal's answer, passed to the client when nothing acked.
    refusal: Option<PartitionProduceResponse>,
}

/// What the dedup phase leaves of a produce request.
struct ScreenedWrite {
    /// Partitions already answered.
    done: Vec<(Tp, PartitionProduceResponse)>,
    /// The idempotent batches to write, by partition.
    metas: HashMap<Tp, BatchMeta>,
    /// Whether a batch carries a client's producer id (never sent as is: each cluster's
    /// copy carries the proxy's own, or none).
    client_ids: bool,
    /// Batches of producers this instance has no state for: (partition, records).
    unknown: Vec<(Tp, Bytes)>,
}

/// The clusters the ack policy counts for one produce, and how many of them must hold it.
struct WriteSet {
    /// Per cluster: counted by the ack policy.
    sync: PerCluster<bool>,
    required: usize,
}

/// One cluster's queued write of some of a produce's partitions.
struct Queued {
    cluster: ClusterIdx,
    tps: Vec<Tp>,
    /// Per partition: its place on the cluster's lane.
    tickets: Vec<Ticket>,
    pending: Pending,
}

/// What was sent of one partition, for reading its answer.
struct Sent {
    /// The idempotent batch's identity, if any.
    meta: Option<BatchMeta>,
    /// Offsets it takes.
    count: i64,
    /// Its place on the cluster's lane.
    ticket: Ticket,
}

/// Which clusters take each partition of one produce.
struct Routes {
    /// Per cluster: the indexes (into the request's partitions) it takes.
    takes: PerCluster<Vec<usize>>,
    /// The partitions written, with their answers so far.
    acks: HashMap<Tp, Acks>,
    /// Whether a counted cluster is being repaired (the answer may wait for its catch-up).
    waits_on_repair: bool,
}

/// A screened produce, ready to be framed per cluster.
struct ClusterWrite<'a> {
    version: i16,
    client_id: &'a Option<StrBytes>,
    req: &'a ProduceRequest,
    /// Whether a batch carries a client's producer id.
    client_ids: bool,
    /// The request's partitions, in order.
    parts: &'a [Tp],
    /// Records per partition.
    counts: &'a HashMap<Tp, i64>,
    /// The client's own frame, when the request is unchanged.
    client_frame: Option<&'a Bytes>,
    /// Per cluster: each partition's leader (`None` when the cluster takes no write now).
    leaders: &'a PerCluster<Option<Vec<Option<i32>>>>,
    /// How long a cluster may take to answer.
    wait: Duration,
}

impl ClusterWrite<'_> {
    /// The frame carrying the partitions `ks` as the client sent them: its own frame when
    /// that is all of them, else the request cut to them.
    fn template(&self, ks: &[usize]) -> Result<Bytes, ProduceFrameError> {
        match self.client_frame {
            Some(f) if ks.len() == self.parts.len() => Ok(f.clone()),
            _ => {
                let mut sub = self.req.clone();
                sub.retain(&|t, p| {
                    ks.iter()
                        .any(|&k| self.parts[k].topic == *t && self.parts[k].partition == p)
                });
                encode_frame(self.version, self.client_id.clone(), &sub)
            }
        }
    }

    /// `template` (carrying the partitions `ks`) for one cluster: each partition's batches
    /// numbered with its stamp (`stamps[n]` for `ks[n]`), or cleared of the client's
    /// producer id when it has none. The template's bytes are shared, not copied: only the
    /// batch headers that change are new.
    fn numbered(
        &self,
        template: &Bytes,
        ks: &[usize],
        stamps: &[Option<BatchStamp>],
    ) -> Result<PatchedFrame, ProduceFrameError> {
        if !self.client_ids && stamps.iter().all(Option::is_none) {
            return Ok(template.clone().into());
        }
        let spans = produce_spans::records_spans(template, self.version).ok_or(
            ProduceFrameError::NoRecords {
                version: self.version,
            },
        )?;
        let mut patches = Vec::new();
        for span in spans {
            let n = ks.iter().position(|&k| {
                let Tp {
                    topic: t,
                    partition: p,
                } = &self.parts[k];
                *p == span.partition && t.0.as_bytes() == &template[span.topic.clone()]
            });
            let at = span.records.start;
            let records = &template[span.records];
            match n.and_then(|n| stamps.get(n).copied().flatten()) {
                Some(s) => {
                    records::stamp_patches(records, at, s, &mut patches);
                }
                None => records::clear_patches(records, at, &mut patches),
            }
        }
        // One buffer for every patch of this copy, sliced: no allocation per batch.
        let mut all = BytesMut::with_capacity(patches.len() * records::PATCH_LEN);
        for p in &patches {
            all.extend_from_slice(&p.bytes);
        }
        let all = all.freeze();
        let placed = patches
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let from = n * records::PATCH_LEN;
                (p.at, all.slice(from..from + records::PATCH_LEN))
            })
            .collect();
        Ok(PatchedFrame::new(template.clone(), placed))
    }
}

impl Replicator {
    fn write_set(&self) -> WriteSet {
        let plan = self.plan();
        let mut sync = PerCluster::from_fn(self.clusters.len(), |_| false);
        for &i in &plan.sync {
            sync[i] = true;
        }
        WriteSet {
            required: self.required_of(plan.sync.len()),
            sync,
        }
    }
}

/// The leader of each of `parts` on cluster `c`, with the writer connections to them open:
/// under the sequencer only queuing happens, never waiting on a network.
async fn writer_leaders(c: &crate::backend::Cluster, parts: &[Tp]) -> Vec<Option<i32>> {
    let mut out = Vec::with_capacity(parts.len());
    for tp in parts {
        out.push(c.leader(&tp.topic, tp.partition).await);
    }
    let mut seen = Vec::new();
    for l in &out {
        if !seen.contains(l) {
            seen.push(*l);
            if let Err(e) = c.prepare_writer(*l).await {
                tracing::debug!("{e}");
            }
        }
    }
    out
}

/// Records per partition of a request (batch headers only), for the lanes' end offsets.
fn record_counts(req: &ProduceRequest) -> HashMap<Tp, i64> {
    let mut counts = HashMap::new();
    for t in &req.topic_data {
        for p in &t.partition_data {
            let n = p.records.as_ref().map_or(0, |r| {
                records::batches(r).iter().map(|(h, _)| h.offsets).sum()
            });
            counts.insert(Tp::new(t.name.clone(), p.index), n);
        }
    }
    counts
}

/// One response from every partition's answer, grouped by topic.
fn merge_answers(done: Vec<(Tp, PartitionProduceResponse)>) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    for (Tp { topic, .. }, r) in done {
        match resp.responses.iter_mut().find(|x| x.name == topic) {
            Some(x) => x.partition_responses.push(r),
            None => resp.responses.push(
                produce_response::TopicProduceResponse::default()
                    .with_name(topic)
                    .with_partition_responses(vec![r]),
            ),
        }
    }
    resp
}

/// A cluster's answer for one partition.
type PartitionAnswer = Result<PartitionProduceResponse, PartitionProduceResponse>;

fn partition_answer(index: i32, code: i16, message: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(Some(StrBytes::from_string(message)))
}

/// Why a cluster's Produce frame could not be built.
#[derive(Debug, thiserror::Error)]
enum ProduceFrameError {
    /// The request cut to some partitions could not be encoded.
    #[error("cannot encode a Produce v{version} request: {reason}")]
    Encode {
        /// The Produce version.
        version: i16,
        /// The encoder's message.
        reason: String,
    },
    /// The frame's fields could not be walked to its records.
    #[error("cannot find the records in a Produce v{version} frame")]
    NoRecords {
        /// The Produce version.
        version: i16,
    },
}

/// A request frame (header and body, no length prefix) as a client would send it, so the same
/// bytes can be queued on every cluster's connection.
fn encode_frame(
    version: i16,
    client_id: Option<StrBytes>,
    req: &ProduceRequest,
) -> Result<Bytes, ProduceFrameError> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_client_id(client_id);
    let mut out = BytesMut::with_capacity(64 + req.compute_size(version).unwrap_or(0));
    header
        .encode(&mut out, ApiKey::Produce.request_header_version(version))
        .and_then(|_| req.encode(&mut out, version))
        .map_err(|e| ProduceFrameError::Encode {
            version,
            reason: e.to_string(),
        })?;
    Ok(out.freeze())
}

impl Replicator {
    /// The dedup phase: each idempotent batch checked against its producer's state. Retries
    /// are answered from their first attempt, and batches of producers this instance knows
    /// nothing of are set aside for `resolve_unknown`. Sequences are checked again under the
    /// sequencer, where this connection's earlier batches are already registered.
    fn screen_retries(&self, req: &mut ProduceRequest) -> ScreenedWrite {
        let mut done: Vec<(Tp, PartitionProduceResponse)> = Vec::new();
        let mut metas: HashMap<Tp, BatchMeta> = HashMap::new();
        let mut client_ids = false;
        let mut unknown: Vec<(Tp, Bytes)> = Vec::new();
        for t in &mut req.topic_data {
            for p in &mut t.partition_data {
                let Some(records) = &p.records else { continue };
                let Some(meta) = BatchMeta::of(records) else {
                    continue;
                };
                let tp = Tp::new(t.name.clone(), p.index);
                let verdict = self.writing.producers.check(&tp, &meta);
                if let RetryCheck::Retry(first) = verdict {
                    done.push((tp.clone(), self.retry_answer(&tp, &meta, &first)));
                    continue;
                }
                client_ids = true;
                // A producer this instance knows nothing of on this partition, but not new:
                // this may be a retry of a batch another instance (or this one before a
                // restart) wrote. Look for it before writing it again.
                if verdict == RetryCheck::New
                    && (meta.base_sequence != 0 || !self.writing.ids.issued_here(meta.producer_id))
                    && let Some(r) = &p.records
                {
                    unknown.push((tp.clone(), r.clone()));
                }
                metas.insert(tp, meta);
            }
        }
        ScreenedWrite {
            done,
            metas,
            client_ids,
            unknown,
        }
    }

    /// Batches of producers this instance has no state for (it restarted, or took the
    /// partition over) that may be retries: found in the partition's tail, they are answered
    /// from there and not written again; when no cluster can be searched, refused (retriable).
    async fn resolve_unknown(
        &self,
        unknown: Vec<(Tp, Bytes)>,
        metas: &mut HashMap<Tp, BatchMeta>,
        done: &mut Vec<(Tp, PartitionProduceResponse)>,
    ) {
        if unknown.is_empty() {
            return;
        }
        let found = futures::future::join_all(
            unknown
                .iter()
                .map(|(tp, records)| self.find_in_tail(tp, records)),
        )
        .await;
        for ((tp, _), search) in unknown.into_iter().zip(found) {
            let Some(meta) = metas.get(&tp) else { continue };
            let (i, offset) = match search {
                Search::Found(i, offset) => (i, offset),
                Search::Absent => continue,
                Search::Unknown => {
                    let message = format!(
                        "{tp}: cannot tell yet whether this batch of producer {} \
                         (sequence {}) was written before; retry",
                        meta.producer_id, meta.base_sequence
                    );
                    done.push((
                        tp.clone(),
                        partition_answer(
                            tp.partition,
                            ResponseError::NotEnoughReplicas.code(),
                            message,
                        ),
                    ));
                    metas.remove(&tp);
                    continue;
                }
            };
            tracing::info!(
                "{tp}: a batch of producer {} (sequence {}) is already on cluster {} at \
                 offset {offset}; answered from there, not written again",
                meta.producer_id,
                meta.base_sequence,
                self.clusters[i].id
            );
            let written =
                self.writing
                    .producers
                    .register_written(&tp, meta, self.clusters.len(), i, offset);
            done.push((tp.clone(), self.retry_answer(&tp, meta, &written)));
            metas.remove(&tp);
        }
    }

    /// Writes a produce request to every cluster of the write set and answers each partition
    /// under the ack policy. `client_frame` is the client's request as received, reused for
    /// every cluster when nothing had to change; `gate` orders this connection's produces.
    pub async fn produce(
        self: &Arc<Self>,
        version: i16,
        client_id: Option<StrBytes>,
        mut req: ProduceRequest,
        client_frame: Option<Bytes>,
        mut gate: Option<OrderGate>,
    ) -> ProduceResponse {
        // Dedup: retries answered from their first attempt.
        let ScreenedWrite {
            mut done,
            mut metas,
            client_ids,
            unknown,
        } = self.screen_retries(&mut req);
        let mut changed = false;
        // Batches of producers this instance knows nothing of: looked for in the log.
        self.resolve_unknown(unknown, &mut metas, &mut done).await;
        if !done.is_empty() {
            let answered: Vec<Tp> = done.iter().map(|(tp, _)| tp.clone()).collect();
            req.retain(&|t, p| !answered.iter().any(|a| a.topic == *t && a.partition == p));
            changed = true;
        }
        let parts = req.partitions();
        let counts = record_counts(&req);
        // Leaders first (cached; a lookup may wait on the network), outside the sequencer.
        let leaders = self.lookup_leaders(&parts).await;
        if let Some(g) = gate.as_mut() {
            g.wait_turn().await;
        }
        let wait = crate::base::timing::from_ms(req.timeout_ms);
        let mut pending = FuturesUnordered::new();
        let set = self.write_set();
        let (mut acks, waits_on_repair) = {
            let _order = self.sequencer.lock().await;
            let routes = self.route(&parts, &metas, &leaders, &set, &mut done);
            let out = ClusterWrite {
                version,
                client_id: &client_id,
                req: &req,
                client_ids,
                parts: &parts,
                counts: &counts,
                client_frame: client_frame.as_ref().filter(|_| !changed),
                leaders: &leaders,
                wait,
            };
            let mut acks = routes.acks;
            for q in self.queue_writes(&out, &routes.takes, &mut acks) {
                let me = self.clone();
                let ids: Vec<Sent> = q
                    .tps
                    .iter()
                    .zip(&q.tickets)
                    .map(|(tp, &ticket)| Sent {
                        meta: metas.get(tp).cloned(),
                        count: counts.get(tp).copied().unwrap_or(0),
                        ticket,
                    })
                    .collect();
                pending.push(async move {
                    let outcomes = me.settle(q.cluster, q.pending, &q.tps, &ids).await;
                    (q.cluster, q.tps, outcomes)
                });
            }
            for (tp, meta) in &metas {
                if acks.get(tp).is_some_and(|t| t.queued > 0) {
                    self.writing
                        .producers
                        .register(tp, meta, self.clusters.len());
                }
            }
            (acks, routes.waits_on_repair)
        };
        if let Some(g) = gate.take() {
            g.release();
        }
        self.await_policy(&mut acks, &mut pending, &set, waits_on_repair)
            .await;
        if !pending.is_empty() {
            // The slower clusters' answers still update lanes and retries' records.
            tokio::spawn(async move { while pending.next().await.is_some() {} });
        }
        for (tp, t) in acks {
            let r = self.final_answer(&tp, t, &set);
            done.push((tp, r));
        }
        merge_answers(done)
    }

    /// Under the sequencer: which clusters take each partition now. Partitions answered
    /// without a write (retries, refused batches, too few clusters) go to `done`.
    fn route(
        &self,
        parts: &[Tp],
        metas: &HashMap<Tp, BatchMeta>,
        leaders: &PerCluster<Option<Vec<Option<i32>>>>,
        set: &WriteSet,
        done: &mut Vec<(Tp, PartitionProduceResponse)>,
    ) -> Routes {
        // Background clusters (the strategy's async set) take the same writes in the same
        // order; they are just not counted.
        let n = self.clusters.len();
        let admits: PerCluster<bool> = self
            .clusters
            .iter_indexed()
            .map(|(i, c)| c.admits() && self.takes_writes(i) && leaders[i].is_some())
            .collect();
        let mut routes = Routes {
            takes: PerCluster::from_fn(n, |_| Vec::new()),
            acks: HashMap::new(),
            waits_on_repair: false,
        };
        for (k, tp) in parts.iter().enumerate() {
            if let Some(meta) = metas.get(tp) {
                match self.writing.producers.check(tp, meta) {
                    RetryCheck::Write | RetryCheck::New => {}
                    RetryCheck::Retry(first) => {
                        done.push((tp.clone(), self.retry_answer(tp, meta, &first)));
                        continue;
                    }
                    RetryCheck::Refuse(code, message) => {
                        tracing::debug!("refused an idempotent batch: {message}");
                        done.push((tp.clone(), partition_answer(tp.partition, code, message)));
                        continue;
                    }
                }
            }
            let eligible: Vec<ClusterIdx> = self
                .clusters
                .indices()
                .filter(|&i| admits[i] && !self.lanes.is_behind(tp, i))
                .collect();
            // Clusters being repaired count: the answer may wait for their catch-up (within
            // producer.timeout). Too few even then: refuse before writing, so a client retry
            // cannot duplicate anything.
            let repairing = self
                .clusters
                .indices()
                .filter(|&i| {
                    set.sync[i]
                        && admits[i]
                        && self.lanes.is_behind(tp, i)
                        && !self.lanes.is_divergent(tp, i)
                })
                .count();
            routes.waits_on_repair |= repairing > 0;
            let eligible_sync = eligible.iter().filter(|&&i| set.sync[i]).count();
            if eligible_sync + repairing < set.required || eligible_sync == 0 {
                done.push((tp.clone(), self.not_enough(tp, &admits, set)));
                continue;
            }
            for i in self.clusters.indices().filter(|i| !eligible.contains(i)) {
                self.missed(
                    tp,
                    i,
                    &"its circuit is open, or it is not yet compared with the others",
                );
            }
            for &i in &eligible {
                routes.takes[i].push(k);
            }
            routes.acks.insert(tp.clone(), Acks::default());
        }
        routes
    }

    /// Under the sequencer: numbers each cluster's writes (see `stamps`) and queues them on
    /// its leaders' writer connections, one frame per leader: a copy of the frame the
    /// clusters that take the same partitions share, numbered in place. Returns the queued writes; a cluster
    /// that could not take one misses those partitions.
    fn queue_writes(
        &self,
        out: &ClusterWrite<'_>,
        takes: &PerCluster<Vec<usize>>,
        acks: &mut HashMap<Tp, Acks>,
    ) -> Vec<Queued> {
        let mut templates: Vec<(Vec<usize>, Bytes)> = Vec::new();
        let mut queued_writes = Vec::new();
        for (i, ks) in takes.iter_indexed() {
            let now = self.identities.get(i);
            let mut by_leader: HashMap<Option<i32>, Vec<usize>> = HashMap::new();
            for &k in ks {
                let leader = out.leaders[i].as_ref().and_then(|l| l[k]);
                by_leader.entry(leader).or_default().push(k);
            }
            for (leader, ks) in by_leader {
                let mut taken = Vec::with_capacity(ks.len());
                let mut tickets = Vec::with_capacity(ks.len());
                let mut stamps = Vec::with_capacity(ks.len());
                for k in ks {
                    let tp = &out.parts[k];
                    let count = out.counts.get(tp).copied().unwrap_or(0);
                    match self.lanes.started(tp, i, count, now) {
                        Some((ticket, stamp)) => {
                            taken.push(k);
                            tickets.push(ticket);
                            stamps.push(stamp);
                        }
                        None => self.missed(
                            tp,
                            i,
                            &"the proxy has no producer sequence there to write under now",
                        ),
                    }
                }
                if taken.is_empty() {
                    continue;
                }
                let template = match templates.iter().find(|(set, _)| *set == taken) {
                    Some((_, f)) => Ok(f.clone()),
                    None => {
                        let built = out.template(&taken);
                        if let Ok(f) = &built {
                            templates.push((taken.clone(), f.clone()));
                        }
                        built
                    }
                };
                let frame = template.and_then(|t| out.numbered(&t, &taken, &stamps));
                let tps: Vec<Tp> = taken.iter().map(|&k| out.parts[k].clone()).collect();
                let queued = match frame {
                    Ok(f) => {
                        self.repairing.note_live(i, f.len());
                        self.clusters[i].try_start_writer_frame(
                            leader,
                            ApiKey::Produce,
                            out.version,
                            f,
                            out.wait,
                        )
                    }
                    Err(e) => Err(BackendError::Encode {
                        cluster: self.clusters[i].id.to_string(),
                        api: ApiKey::Produce,
                        version: out.version,
                        reason: e.to_string(),
                    }),
                };
                match queued {
                    Ok(p) => {
                        for tp in &tps {
                            if let Some(t) = acks.get_mut(tp) {
                                t.queued += 1;
                            }
                        }
                        queued_writes.push(Queued {
                            cluster: i,
                            tps,
                            tickets,
                            pending: p,
                        });
                    }
                    Err(e) => {
                        if !matches!(e, BackendError::CircuitOpen { .. }) {
                            self.set_compared(i, false);
                        }
                        for (tp, ticket) in tps.iter().zip(tickets) {
                            self.lane_finished(tp, i, ticket, Landing::Missed, &e);
                        }
                    }
                }
            }
        }
        queued_writes
    }

    /// Waits, up to `producer.timeout`, until every partition is decided: held by as many
    /// clusters as the policy requires, or failed everywhere. Answers update the acks (and
    /// the offset maps) as they come; a cluster being repaired is looked at now and then.
    async fn await_policy<F>(
        &self,
        acks: &mut HashMap<Tp, Acks>,
        pending: &mut FuturesUnordered<F>,
        set: &WriteSet,
        waits_on_repair: bool,
    ) where
        F: std::future::Future<Output = (ClusterIdx, Vec<Tp>, Vec<PartitionAnswer>)>,
    {
        let deadline = tokio::time::Instant::now() + self.writing.timeout;
        let mut nap = crate::base::timing::ACK_POLL_FIRST;
        while !acks.iter().all(|(tp, t)| self.decided(tp, t, set)) {
            if pending.is_empty() {
                // Only catch-ups are awaited now: check again after a growing pause.
                if tokio::time::Instant::now() + nap > deadline {
                    break;
                }
                tokio::time::sleep(nap).await;
                nap = (nap * 2).min(crate::base::timing::ACK_POLL_MAX);
                continue;
            }
            // A catch-up completes without an answer arriving: look again now and then.
            let tick = if waits_on_repair {
                (tokio::time::Instant::now() + crate::base::timing::ACK_POLL_MAX).min(deadline)
            } else {
                deadline
            };
            match tokio::time::timeout_at(tick, pending.next()).await {
                Ok(Some((i, tps, outcomes))) => {
                    for (tp, outcome) in tps.into_iter().zip(outcomes) {
                        let Some(t) = acks.get_mut(&tp) else {
                            continue;
                        };
                        match outcome {
                            Ok(r) => {
                                self.learn_offsets(&tp, i, r.base_offset, &t.acks);
                                t.acks.push((i, r));
                            }
                            Err(r) => {
                                t.failed += 1;
                                if is_refusal(r.error_code) && t.refusal.is_none() {
                                    t.refusal = Some(r);
                                }
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(_) if tokio::time::Instant::now() >= deadline => break,
                Err(_) => {}
            }
        }
    }

    /// The leader of each of `parts` on every cluster, writer connections open. `None`: the
    /// cluster takes no part in this write.
    async fn lookup_leaders(&self, parts: &[Tp]) -> PerCluster<Option<Vec<Option<i32>>>> {
        let each = self.clusters.iter_indexed().map(|(i, c)| async move {
            // A cluster not compared yet (at startup, or back from an outage, perhaps hung)
            // takes no write until it is, so no produce waits on its lookups. One compared
            // meanwhile misses this write and is repaired.
            if !c.admits() || !self.compared_since_loss(i) {
                return None;
            }
            Some(writer_leaders(c, parts).await)
        });
        PerCluster::from(futures::future::join_all(each).await)
    }

    /// The answer for one partition once the wait is over: the highest-priority ack (in
    /// logical offsets) when the policy is met, else why not.
    fn final_answer(&self, tp: &Tp, t: Acks, set: &WriteSet) -> PartitionProduceResponse {
        let required = set.required;
        if self.holding(tp, &t, set) >= required {
            // The highest-priority answer, in logical offsets.
            let (i, best) = t
                .acks
                .into_iter()
                .min_by_key(|(i, _)| *i)
                .unwrap_or((ClusterIdx::FIRST, PartitionProduceResponse::default()));
            let logical = best.base_offset - self.lanes.delta(tp, i);
            best.with_base_offset(logical)
        } else if let Some(r) = t.refusal.filter(|_| t.acks.is_empty()) {
            r
        } else if t.queued - t.failed < required {
            partition_answer(
                tp.partition,
                ResponseError::NotEnoughReplicas.code(),
                format!(
                    "{tp}: {} of {} clusters took the write; ack policy {:?} needs {required}",
                    t.acks.len(),
                    self.clusters.len(),
                    self.writing.policy
                ),
            )
        } else {
            partition_answer(
                tp.partition,
                ResponseError::RequestTimedOut.code(),
                format!(
                    "{tp}: ack policy {:?} not met within producer.timeout ({:?})",
                    self.writing.policy, self.writing.timeout
                ),
            )
        }
    }

    /// Clusters that hold this write: those that acknowledged it, and, once one did, those
    /// in sync with nothing in flight (caught up by the repairer since they missed it).
    fn holding(&self, tp: &Tp, t: &Acks, set: &WriteSet) -> usize {
        if t.acks.is_empty() {
            return 0;
        }
        let acked = t.acks.iter().filter(|(i, _)| set.sync[*i]).count();
        let settled = self
            .clusters
            .indices()
            .filter(|&i| set.sync[i] && !t.acks.iter().any(|(a, _)| *a == i))
            .filter(|&i| self.is_compared(i) && self.lanes.settled(tp, i))
            .count();
        acked + settled
    }

    /// Whether a partition's answer is known: the policy is met, or every cluster it went
    /// to failed it (nothing to wait for).
    fn decided(&self, tp: &Tp, t: &Acks, set: &WriteSet) -> bool {
        self.holding(tp, t, set) >= set.required || (t.acks.is_empty() && t.failed >= t.queued)
    }

    /// Learns the offset map from cluster `i`'s base offset for a batch others also took.
    fn learn_offsets(
        &self,
        tp: &Tp,
        i: ClusterIdx,
        base: i64,
        acks: &[(ClusterIdx, PartitionProduceResponse)],
    ) {
        let authority = if i.is_first() {
            for (j, r) in acks {
                self.note_delta(tp, *j, r.base_offset, base);
            }
            return;
        } else {
            acks.iter()
                .find(|(j, _)| j.is_first())
                .map(|(_, r)| r.base_offset)
        };
        if let Some(a) = authority {
            self.note_delta(tp, i, base, a);
        }
    }

    /// Waits for cluster `i`'s answer to a queued write and records, per partition, what it
    /// means for the lanes and for client retries.
    async fn settle(
        &self,
        i: ClusterIdx,
        pending: Pending,
        tps: &[Tp],
        ids: &[Sent],
    ) -> Vec<PartitionAnswer> {
        let result = self.clusters[i].finish(pending).await;
        let resp = match result {
            Ok(a) => match a.body {
                ResponseKind::Produce(r) => Ok(r),
                _ => Err("answered with another API's response".to_owned()),
            },
            Err(e) => Err(e.to_string()),
        };
        let mut out = Vec::with_capacity(tps.len());
        for (tp, sent) in tps.iter().zip(ids) {
            let found = match &resp {
                Ok(r) => r
                    .responses
                    .iter()
                    .find(|t| t.name == tp.topic)
                    .and_then(|t| {
                        t.partition_responses
                            .iter()
                            .find(|p| p.index == tp.partition)
                    })
                    .cloned()
                    .ok_or_else(|| "no answer for the partition".to_owned()),
                Err(e) => Err(e.clone()),
            };
            let outcome = match found {
                // Below an end the cluster had reached: it lost records (a broker restarted
                // empty took the write before the loss was seen). Not counted, and nothing
                // learned from it; compared again before more writes.
                Ok(p) if p.error_code == 0 && p.base_offset < sent.ticket.floor => {
                    let why = format!(
                        "it took the write at offset {} below its end {}: it lost records",
                        p.base_offset, sent.ticket.floor
                    );
                    self.lane_finished(tp, i, sent.ticket, Landing::Missed, &why);
                    self.set_compared(i, false);
                    Err(partition_answer(
                        tp.partition,
                        ResponseError::NotEnoughReplicas.code(),
                        why,
                    ))
                }
                Ok(p) if p.error_code == 0 => {
                    let landing = Landing::At(p.base_offset);
                    if self.lane_finished(tp, i, sent.ticket, landing, &"") {
                        // Written out of order there: not counted, nothing learned from it.
                        let why = format!(
                            "the write landed at offset {} out of order with the writes \
                             before it",
                            p.base_offset
                        );
                        Err(partition_answer(
                            tp.partition,
                            ResponseError::NotEnoughReplicas.code(),
                            why,
                        ))
                    } else {
                        if let Some(meta) = &sent.meta {
                            self.writing.producers.acked(tp, meta, i, p.base_offset);
                        }
                        self.lanes.note_end(tp, i, p.base_offset + sent.count);
                        Ok(p.with_current_leader(Default::default()))
                    }
                }
                Ok(p) if is_refusal(p.error_code) => {
                    self.lane_finished(tp, i, sent.ticket, Landing::Refused, &"");
                    Err(p)
                }
                Ok(p) => {
                    let why = format!("error code {}", p.error_code);
                    self.lane_finished(tp, i, sent.ticket, Landing::Missed, &why);
                    Err(p)
                }
                Err(why) => {
                    self.lane_finished(tp, i, sent.ticket, Landing::Missed, &why);
                    // No answer: the broker may have been replaced. Compare it again.
                    self.set_compared(i, false);
                    Err(partition_answer(
                        tp.partition,
                        ResponseError::RequestTimedOut.code(),
                        why,
                    ))
                }
            };
            out.push(outcome);
        }
        out
    }

    /// Records how a write ended on cluster `i`'s lane: a failure puts the cluster behind
    /// (`why` says what failed), and a write found out of order with the ones before it
    /// makes the cluster divergent there from that offset. True when it was out of order.
    fn lane_finished(
        &self,
        tp: &Tp,
        i: ClusterIdx,
        ticket: Ticket,
        landing: Landing,
        why: &dyn std::fmt::Display,
    ) -> bool {
        let f = self.lanes.finished(tp, i, ticket, landing);
        if f.made_behind {
            self.note_behind(tp, i, why);
        }
        let Some(at) = f.out_of_order else {
            return false;
        };
        let logical = at - self.lanes.delta(tp, i);
        tracing::error!(
            cluster = %self.clusters[i].id,
            "cluster {} took a write to {tp} out of order: from offset {at} it holds records \
             in another order than the other clusters (a write landed past one that did not)",
            self.clusters[i].id
        );
        self.note_divergent(tp, i, logical);
        true
    }

    /// The answer to a client's retry of a batch already written: success once enough
    /// clusters hold it (acknowledged then, or repaired since), else a retriable error.
    fn retry_answer(&self, tp: &Tp, meta: &BatchMeta, first: &Written) -> PartitionProduceResponse {
        let set = self.write_set();
        let holding = self
            .clusters
            .indices()
            .filter(|&i| set.sync[i])
            .filter(|&i| first.acked_by(i) || self.lanes.settled(tp, i))
            .count();
        let offset = first
            .offsets
            .iter_indexed()
            .find_map(|(i, o)| o.map(|o| o - self.lanes.delta(tp, i)));
        match offset {
            Some(base) if holding >= set.required => PartitionProduceResponse::default()
                .with_index(tp.partition)
                .with_base_offset(base)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1),
            _ => partition_answer(
                tp.partition,
                ResponseError::NotEnoughReplicas.code(),
                format!(
                    "{tp}: this batch (producer {}, sequence {}) is on {holding} cluster(s); \
                     ack policy {:?} needs {}; retry",
                    meta.producer_id, meta.base_sequence, self.writing.policy, set.required
                ),
            ),
        }
    }

    /// The answer when too few clusters can take a write to `tp` now.
    fn not_enough(
        &self,
        tp: &Tp,
        admits: &PerCluster<bool>,
        set: &WriteSet,
    ) -> PartitionProduceResponse {
        let why: Vec<String> = self
            .clusters
            .iter_indexed()
            .filter_map(|(i, c)| {
                if !admits[i] {
                    Some(format!("{}: circuit open or not yet compared", c.id))
                } else if self.lanes.is_divergent(tp, i) {
                    Some(format!("{}: holds another history (divergent)", c.id))
                } else if self.lanes.is_behind(tp, i) {
                    Some(format!("{}: catching up", c.id))
                } else {
                    None
                }
            })
            .collect();
        partition_answer(
            tp.partition,
            ResponseError::NotEnoughReplicas.code(),
            format!(
                "{tp}: ack policy {:?} needs {} clusters, too few can take writes ({})",
                self.writing.policy,
                set.required,
                why.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_frame_decodes_as_the_same_request() {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default().with_index(3),
                    ]),
            ]);
        let frame = encode_frame(9, Some(StrBytes::from_static_str("c")), &req).expect("encode");
        let Ok((_, decoded)) = crate::wire::frame::decode_request(frame) else {
            panic!("the encoded frame does not decode");
        };
        match decoded.body {
            RequestKind::Produce(r) => assert_eq!(r, req),
            other => panic!("decoded as {other:?}"),
        }
    }
}
