//! The transactional APIs (see `crate::transactions`): InitProducerId with a transactional
//! id, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, transactional Produce, EndTxn,
//! DescribeTransactions and ListTransactions. A commit writes the transaction's records like
//! any produce (through the replicator in front of several clusters, to the leaders of the
//! one cluster otherwise), then its offsets (through the proxy's group coordinator, or the
//! one cluster's own).

use super::Proxy;
use crate::backend::partitioned::Tp;
use crate::groups::Commit;
use crate::transactions::{Decided, Ending, InitError, Member, TxnError, Work};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Records one commit request carries to the clusters before the next partitions go in another
/// request. A partition's records always go whole, in one request: each of its batches is
/// within the limits the client's own produce kept.
const COMMIT_REQUEST_BYTES: usize = 1 << 20;

/// The longest `transaction.timeout.ms` accepted (Kafka's default
/// `transaction.max.timeout.ms`, 15 minutes).
const MAX_TRANSACTION_TIMEOUT_MS: i32 = 900_000;

/// How long a commit's writes may take before the client is told to retry EndTxn.
const COMMIT_TIMEOUT_MS: i32 = 30_000;

impl Proxy {
    /// Why transactions cannot be served here, if they cannot.
    pub(super) fn transactions_refused(&self) -> Option<String> {
        if self.membership.enabled() {
            return Some(
                "transactions are not supported with server.scale_out yet (a transactional \
                 id must be owned by one instance)"
                    .into(),
            );
        }
        None
    }

    /// InitProducerId with a transactional id.
    pub(super) async fn init_transactional(
        &self,
        tid: &str,
        r: &InitProducerIdRequest,
    ) -> ResponseKind {
        let fail = |code: i16, why: &str| {
            tracing::warn!("InitProducerId: {why}");
            ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_error_code(code)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
        };
        if let Some(why) = self.transactions_refused() {
            return fail(ResponseError::UnsupportedVersion.code(), &why);
        }
        if !(1..=MAX_TRANSACTION_TIMEOUT_MS).contains(&r.transaction_timeout_ms) {
            let why = format!(
                "transactional id {tid:?}: transaction.timeout.ms {} is outside 1..={MAX_TRANSACTION_TIMEOUT_MS}",
                r.transaction_timeout_ms
            );
            return fail(ResponseError::InvalidTransactionTimeout.code(), &why);
        }
        // Ids and epochs are control state: without it, an older producer would go unfenced.
        if !self.control_loaded_within().await {
            return fail(
                ResponseError::CoordinatorLoadInProgress.code(),
                "the control state is not loaded from a majority of clusters yet",
            );
        }
        let timeout = crate::base::timing::from_ms(r.transaction_timeout_ms);
        let given = (r.producer_id.0, r.producer_epoch);
        let ids = &self.backends.transaction_ids;
        match self.books.transactions.init(tid, timeout, given, ids).await {
            Ok((id, epoch)) => ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch),
            ),
            Err(InitError::Txn(e)) => fail(e.code(false), &e.to_string()),
            Err(e @ InitError::Unavailable { .. }) => fail(
                ResponseError::CoordinatorNotAvailable.code(),
                &e.to_string(),
            ),
        }
    }

    /// A transactional Produce: every partition's batches are held by the transaction until
    /// it ends; the answer says they were taken (offsets are known only at the commit).
    pub(super) fn produce_transactional(
        &self,
        version: i16,
        tid: &str,
        r: &ProduceRequest,
    ) -> ProduceResponse {
        let mut resp = ProduceResponse::default();
        for t in &r.topic_data {
            let mut answers = Vec::with_capacity(t.partition_data.len());
            for p in &t.partition_data {
                let tp = Tp::new(t.name.clone(), p.index);
                let held = match &p.records {
                    Some(records) => self.books.transactions.hold(tid, &tp, records, version),
                    None => Ok(()),
                };
                let mut answer = produce_response::PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                if let Err(e) = held {
                    tracing::debug!("transactional produce refused: {e}");
                    answer = answer
                        .with_error_code(e.code(true))
                        .with_error_message(Some(StrBytes::from_string(e.to_string())));
                }
                answers.push(answer);
            }
            resp.responses.push(
                produce_response::TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(answers),
            );
        }
        resp
    }

    /// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, DescribeTransactions and
    /// ListTransactions.
    pub(super) async fn transaction_request(
        &self,
        req: RequestKind,
    ) -> Result<ResponseKind, super::errors::Unanswerable> {
        if let Some(why) = self.transactions_refused() {
            return super::errors::refusal(&req, ResponseError::UnsupportedVersion.code(), why);
        }
        let txns = &self.books.transactions;
        Ok(match req {
            RequestKind::AddPartitionsToTxn(r) => {
                ResponseKind::AddPartitionsToTxn(self.add_partitions_to_txn(&r))
            }
            RequestKind::AddOffsetsToTxn(r) => {
                let code = txns
                    .with(r.transactional_id.as_str(), |t| {
                        t.add_group(r.producer_id.0, r.producer_epoch, r.group_id.0.clone())
                    })
                    .map_or_else(|e| logged(&e, false), |()| 0);
                ResponseKind::AddOffsetsToTxn(
                    AddOffsetsToTxnResponse::default().with_error_code(code),
                )
            }
            RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(
                super::errors::txn_offsets_answer(&r, self.txn_offset_commit(&r)),
            ),
            RequestKind::EndTxn(r) => {
                let code = self.end_txn(&r).await;
                ResponseKind::EndTxn(
                    EndTxnResponse::default()
                        .with_error_code(code)
                        .with_producer_id(r.producer_id)
                        .with_producer_epoch(r.producer_epoch),
                )
            }
            RequestKind::DescribeTransactions(r) => {
                ResponseKind::DescribeTransactions(self.describe_transactions(&r))
            }
            RequestKind::ListTransactions(r) => {
                ResponseKind::ListTransactions(self.list_transactions(&r))
            }
            other => {
                let why = "not a transactional request".to_owned();
                return super::errors::refusal(
                    &other,
                    ResponseError::UnsupportedVersion.code(),
                    why,
                );
            }
        })
    }

    /// AddPartitionsToTxn, in the client form (v3 and below) and the batched form (v4 on).
    fn add_partitions_to_txn(&self, r: &AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
        let add =
            |tid: &TransactionalId,
             producer_id: ProducerId,
             epoch: i16,
             topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic]| {
                let tps = topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| Tp::new(t.name.clone(), *p)));
                let code = self
                    .books
                    .transactions
                    .with(tid.as_str(), |t| {
                        t.add_partitions(producer_id.0, epoch, tps)
                    })
                    .map_or_else(|e| logged(&e, false), |()| 0);
                super::errors::txn_partitions_answer(topics, code)
            };
        let mut resp = AddPartitionsToTxnResponse::default();
        if r.transactions.is_empty() {
            resp.results_by_topic_v3_and_below = add(
                &r.v3_and_below_transactional_id,
                r.v3_and_below_producer_id,
                r.v3_and_below_producer_epoch,
                &r.v3_and_below_topics,
            );
        } else {
            resp.results_by_transaction = r
                .transactions
                .iter()
                .map(|t| {
                    add_partitions_to_txn_response::AddPartitionsToTxnResult::default()
                        .with_transactional_id(t.transactional_id.clone())
                        .with_topic_results(add(
                            &t.transactional_id,
                            t.producer_id,
                            t.producer_epoch,
                            &t.topics,
                        ))
                })
                .collect();
        }
        resp
    }

    /// TxnOffsetCommit: checked against the group's members now, as a broker does; stored
    /// with the commit. The error code for every partition (0 when staged).
    fn txn_offset_commit(&self, r: &TxnOffsetCommitRequest) -> i16 {
        let group = &r.group_id.0;
        let parts = r.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.as_str(), p.partition_index))
        });
        // A producer that names no member (older clients) commits as the group's admin would.
        // In front of one cluster, the cluster's coordinator checks the member at the commit.
        if self.backends.replicator.is_some()
            && !r.member_id.is_empty()
            && let Err(code) = self.books.groups.may_commit(
                group,
                &r.member_id,
                r.group_instance_id.as_ref(),
                r.generation_id,
                parts,
            )
        {
            tracing::debug!(
                "TxnOffsetCommit of {:?} for group {:?} refused: code {code}",
                r.transactional_id.as_str(),
                group.as_str()
            );
            return code;
        }
        let commits = r.topics.iter().flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    Tp::new(t.name.clone(), p.partition_index),
                    Commit {
                        offset: p.committed_offset,
                        metadata: p.committed_metadata.clone(),
                    },
                )
            })
        });
        let member = (!r.member_id.is_empty()).then(|| Member {
            member_id: r.member_id.clone(),
            generation: r.generation_id,
            instance_id: r.group_instance_id.clone(),
        });
        self.books
            .transactions
            .with(r.transactional_id.as_str(), |t| {
                t.stage_offsets(r.producer_id.0, r.producer_epoch, group, member, commits)
            })
            .map_or_else(|e| logged(&e, false), |()| 0)
    }

    /// EndTxn: an abort drops the transaction; a commit is decided (stored in the control
    /// log), written to every cluster under the ack policy, and then its offsets are stored.
    /// A retry gets the first answer, or writes what the first attempt could not.
    async fn end_txn(&self, r: &EndTxnRequest) -> i16 {
        let tid = r.transactional_id.as_str();
        match self.books.transactions.with(tid, |t| {
            t.end(r.producer_id.0, r.producer_epoch, r.committed)
        }) {
            Ok(Ending::Done) => 0,
            Ok(Ending::Write(decided)) => {
                self.finish_commit(tid, r.producer_id.0, r.producer_epoch, decided)
                    .await
            }
            Err(e) => logged(&e, false),
        }
    }

    /// Finishes the commits that wait for another try: left partly written, or decided
    /// before this instance (or another) stopped. Each goes on in its own task.
    pub fn finish_pending_commits(self: &Arc<Self>) {
        if !*self.books.control_loaded.borrow() {
            // A decision read before the control state is whole may be one already settled.
            return;
        }
        self.books.transactions.adopt();
        for (tid, producer_id, epoch, decided) in self.books.transactions.due() {
            let me = self.clone();
            tokio::spawn(async move {
                let code = me.finish_commit(&tid, producer_id, epoch, decided).await;
                if code == 0 {
                    tracing::info!("transactional id {tid:?}: pending commit written");
                }
            });
        }
    }

    /// Takes a decided commit of `tid` (which holds it as being written) to its end: the
    /// decision stored when it is not yet, what no cluster holds yet written, the offsets
    /// stored, the decision deleted. What it could not do waits for a retry. The code for
    /// the client.
    async fn finish_commit(&self, tid: &str, producer_id: i64, epoch: i16, mut d: Decided) -> i16 {
        let txns = &self.books.transactions;
        if !d.stored {
            if let Err(e) = txns.decide(tid, producer_id, epoch, &d.work).await {
                tracing::warn!("{e}");
                txns.finished(tid, Some(d));
                return ResponseError::CoordinatorNotAvailable.code();
            }
            d.stored = true;
            crate::base::crash_point::reached("transaction-decided");
        }
        if d.maybe_written {
            match self.unwritten(&d.work).await {
                Some(rest) => d.work = rest,
                None => {
                    tracing::info!(
                        "transactional id {tid:?}: cannot tell yet what of its pending commit the clusters hold"
                    );
                    txns.finished(tid, Some(d));
                    return ResponseError::CoordinatorNotAvailable.code();
                }
            }
        }
        let (rest, code) = self.write_commit(tid, std::mem::take(&mut d.work)).await;
        if rest.is_empty() {
            txns.settle(tid);
            txns.finished(tid, None);
        } else {
            tracing::warn!(
                "transactional id {tid:?}: commit partly written (code {code}); the rest is written on the client's retry of EndTxn or shortly"
            );
            d.work = rest;
            d.maybe_written = true;
            txns.finished(tid, Some(d));
        }
        code
    }

    /// Writes a commit's records (in requests of at most [`COMMIT_REQUEST_BYTES`], a
    /// partition's batches in order) and then its offsets; what is left unwritten, and the
    /// first error code (0 when all was written).
    async fn write_commit(&self, tid: &str, work: Work) -> (Work, i16) {
        let Work {
            partitions,
            groups,
            produce_version,
        } = work;
        let mut left = Work {
            produce_version,
            ..Work::default()
        };
        let mut first_error = 0;
        let mut queue = partitions.into_iter().peekable();
        while queue.peek().is_some() {
            let mut chunk: Vec<(Tp, bytes::Bytes)> = Vec::new();
            let mut size = 0;
            while let Some((_, records)) = queue.peek() {
                if !chunk.is_empty() && size + records.len() > COMMIT_REQUEST_BYTES {
                    break;
                }
                size += records.len();
                chunk.extend(queue.next());
            }
            let req = commit_request(&chunk);
            let resp = self
                .send_produce(produce_version, None, req, None, None)
                .await;
            for (tp, records) in chunk {
                let code = partition_code(&resp, &tp);
                if code != 0 {
                    tracing::warn!(
                        "transactional id {tid:?}: committing {tp} failed with code {code}"
                    );
                    if first_error == 0 {
                        first_error = code;
                    }
                    left.partitions.push((tp, records));
                }
            }
        }
        if !left.partitions.is_empty() {
            // Offsets are stored only after every record is written.
            left.groups = groups;
            return (left, retriable(first_error));
        }
        for g in groups {
            let code = match &self.backends.replicator {
                Some(_) => {
                    self.books
                        .groups
                        .store_offsets(&g.group, g.offsets.clone())
                        .await
                }
                None => {
                    self.commit_on_cluster(&g.group, g.member.as_ref(), &g.offsets)
                        .await
                }
            };
            if code != 0 {
                tracing::warn!(
                    "transactional id {tid:?}: storing group {:?}'s offsets failed with code {code}",
                    g.group.as_str()
                );
                if first_error == 0 {
                    first_error = code;
                }
                left.groups.push(g);
            }
        }
        (left, retriable(first_error))
    }

    /// What of `work` no cluster holds yet: per partition, the batches after the leading
    /// ones found on a cluster (the offsets are all kept: storing them again changes nothing).
    /// `None` when a cluster could not be searched now.
    async fn unwritten(&self, work: &Work) -> Option<Work> {
        let mut rest = Work {
            partitions: Vec::new(),
            groups: work.groups.clone(),
            produce_version: work.produce_version,
        };
        for (tp, records) in &work.partitions {
            let landed = match &self.backends.replicator {
                Some(rep) => rep.landed_batches(tp, records).await?,
                None => {
                    crate::replication::write::landed_on(&self.backends.cluster, tp, records)
                        .await?
                }
            };
            let batches = crate::wire::records::batches(records);
            if let Some((_, range)) = batches.get(landed) {
                rest.partitions
                    .push((tp.clone(), records.slice(range.start..)));
            }
            if landed > 0 {
                tracing::info!(
                    "{tp}: {landed} of the pending commit's {} batches are on a cluster already",
                    batches.len()
                );
            }
        }
        Some(rest)
    }

    fn describe_transactions(
        &self,
        r: &DescribeTransactionsRequest,
    ) -> DescribeTransactionsResponse {
        let states = r
            .transactional_ids
            .iter()
            .map(|id| {
                let state = describe_transactions_response::TransactionState::default()
                    .with_transactional_id(id.clone());
                match self.books.transactions.describe(id.as_str()) {
                    None => state.with_error_code(ResponseError::TransactionalIdNotFound.code()),
                    Some(d) => {
                        let mut topics: Vec<describe_transactions_response::TopicData> = Vec::new();
                        for tp in d.partitions {
                            match topics.last_mut() {
                                Some(t) if t.topic == tp.topic => t.partitions.push(tp.partition),
                                _ => topics.push(
                                    describe_transactions_response::TopicData::default()
                                        .with_topic(tp.topic.clone())
                                        .with_partitions(vec![tp.partition]),
                                ),
                            }
                        }
                        state
                            .with_transaction_state(StrBytes::from_static_str(d.state))
                            .with_transaction_timeout_ms(d.timeout_ms)
                            .with_transaction_start_time_ms(d.started_ms)
                            .with_producer_id(ProducerId(d.producer_id))
                            .with_producer_epoch(d.epoch)
                            .with_topics(topics)
                    }
                }
            })
            .collect();
        DescribeTransactionsResponse::default().with_transaction_states(states)
    }

    fn list_transactions(&self, r: &ListTransactionsRequest) -> ListTransactionsResponse {
        let open_for: std::collections::HashMap<String, std::time::Duration> =
            self.books.transactions.open_for().into_iter().collect();
        let states = self
            .books
            .transactions
            .list()
            .into_iter()
            .filter(|(_, d)| {
                r.state_filters.is_empty() || r.state_filters.iter().any(|s| s.as_str() == d.state)
            })
            .filter(|(_, d)| {
                r.producer_id_filters.is_empty()
                    || r.producer_id_filters.iter().any(|p| p.0 == d.producer_id)
            })
            .filter(|(id, _)| {
                r.duration_filter < 0
                    || open_for.get(id).is_some_and(|d| {
                        i64::try_from(d.as_millis()).unwrap_or(i64::MAX) >= r.duration_filter
                    })
            })
            .map(|(id, d)| {
                list_transactions_response::TransactionState::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                    .with_producer_id(ProducerId(d.producer_id))
                    .with_transaction_state(StrBytes::from_static_str(d.state))
            })
            .collect();
        const KNOWN: [&str; 5] = [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "CompleteCommit",
            "CompleteAbort",
        ];
        ListTransactionsResponse::default()
            .with_unknown_state_filters(
                r.state_filters
                    .iter()
                    .filter(|s| !KNOWN.contains(&s.as_str()))
                    .cloned()
                    .collect(),
            )
            .with_transaction_states(states)
    }
}

/// Logs a refused transactional request and gives its code.
fn logged(e: &TxnError, produce: bool) -> i16 {
    tracing::debug!("transactional request refused: {e}");
    e.code(produce)
}

/// What the client may retry: a commit that could not be written yet is retried by EndTxn.
fn retriable(code: i16) -> i16 {
    if code == 0 {
        0
    } else {
        ResponseError::CoordinatorNotAvailable.code()
    }
}

/// A produce of a commit's records, acknowledged under the ack policy.
fn commit_request(chunk: &[(Tp, bytes::Bytes)]) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for (tp, records) in chunk {
        let part = PartitionProduceData::default()
            .with_index(tp.partition)
            .with_records(Some(records.clone()));
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partition_data.push(part),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(tp.topic.clone())
                    .with_partition_data(vec![part]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(COMMIT_TIMEOUT_MS)
        .with_topic_data(topics)
}

/// The error code the answer gives partition `tp`; unknown-topic when it names none.
fn partition_code(resp: &ProduceResponse, tp: &Tp) -> i16 {
    resp.responses
        .iter()
        .filter(|t| t.name == tp.topic)
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == tp.partition)
        .map_or(ResponseError::UnknownTopicOrPartition.code(), |p| {
            p.error_code
        })
}
