//! A client's Produce, in phases: refuse what cannot be served (KafkaTwin's own topics,
//! partitions another instance owns), run the on_produce hooks, send (fanned out by the
//! replicator, or routed to the one cluster's leaders), and answer. A transactional Produce
//! is held by its transaction instead (see `transactions`).

use super::{Proxy, partitioned};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use partitioned::PartitionedApi;
use std::time::Instant;

impl Proxy {
    /// Serves a Produce; `None` when no answer is due (acks=0).
    // Each argument is one thing the request came with; bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn produce(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        mut r: ProduceRequest,
        client_frame: bytes::Bytes,
        started: Instant,
        gate: Option<partitioned::OrderGate>,
        principal: Option<&str>,
    ) -> Option<ProduceResponse> {
        // acks=0: the client gets no answer, whatever happens.
        let answer = r.acks != 0;
        if let Some(tid) = r.transactional_id.clone() {
            let resp = self.produce_in_transaction(version, &tid.0, r, principal);
            return answer.then_some(resp);
        }
        // The proxy itself always asks the backend for an answer: a broker closes the
        // connection on any acks=0 error, and the answer reports leader moves.
        if !answer {
            r.acks = 1;
        }
        let refused = self.screen_partitions(&mut r, principal);
        let sizes = self.produce_sizes(&r);
        // Unchanged requests (acks kept) can go out as the client's own frame.
        let whole = (answer && !refused.changed()).then(|| partitioned::Whole {
            frame: client_frame,
            wait: crate::base::timing::from_ms(r.timeout_ms),
        });
        let resp = self.send_produce(version, client_id, r, whole, gate).await;
        let mut resp = self.rewrite_produce(resp);
        for part in refused.answers() {
            ProduceRequest::extend_response(&mut resp, part);
        }
        self.record_produce(&sizes, &resp, started);
        answer.then_some(resp)
    }

    /// A transactional Produce: screened like any other, and what passes is held by the
    /// transaction until it ends (see `transactions`).
    fn produce_in_transaction(
        &self,
        version: i16,
        tid: &StrBytes,
        mut r: ProduceRequest,
        principal: Option<&str>,
    ) -> ProduceResponse {
        if let Some(why) = self.transactions_refused() {
            tracing::warn!("refused a transactional produce: {why}");
            return r.fail_all(ResponseError::UnsupportedVersion.code());
        }
        let refused = self.screen_partitions(&mut r, principal);
        let mut resp = self.produce_transactional(version, tid.as_str(), &r);
        for part in refused.answers() {
            ProduceRequest::extend_response(&mut resp, part);
        }
        resp
    }

    /// Takes out of `r` what is not written (KafkaTwin's own topics, partitions another
    /// instance owns, batches a hook refused) and runs the on_produce hooks on the rest.
    fn screen_partitions(
        &self,
        r: &mut ProduceRequest,
        principal: Option<&str>,
    ) -> ScreenedRequest {
        let internal = take_internal(r);
        let denied = self.take_denied(r, principal, kafkatwin_config::AclOperation::Write);
        let theirs = self.take_not_owned(r);
        let hooked = self.on_produce(r);
        ScreenedRequest {
            hooks_changed: hooked.changed,
            refused: [hooked.refused, theirs, internal, denied],
        }
    }

    /// Writes the batches: fanned out to every cluster under the ack policy, or routed to
    /// the one cluster's leaders.
    pub(super) async fn send_produce(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        r: ProduceRequest,
        whole: Option<partitioned::Whole>,
        gate: Option<partitioned::OrderGate>,
    ) -> ProduceResponse {
        match &self.backends.replicator {
            Some(rep) => {
                rep.produce(version, client_id, r, whole.map(|w| w.frame), gate)
                    .await
            }
            None => {
                let retries = self.retries();
                partitioned::route_raw(
                    &self.backends.cluster,
                    version,
                    client_id,
                    r,
                    retries,
                    gate,
                    whole,
                )
                .await
                .resp
            }
        }
    }

    /// With scale-out: removes the partitions another instance owns from a produce, and
    /// answers them `NOT_LEADER_OR_FOLLOWER` so the client refreshes metadata and goes to
    /// their owner.
    fn take_not_owned(&self, r: &mut ProduceRequest) -> Option<ProduceResponse> {
        if !self.membership.enabled() {
            return None;
        }
        let owns = |t: &TopicName, p: i32| self.membership.owns(t, p);
        if r.partitions()
            .iter()
            .all(|tp| owns(&tp.topic, tp.partition))
        {
            return None;
        }
        let mut theirs = r.clone();
        theirs.retain(&|t, p| !owns(t, p));
        r.retain(&|t, p| owns(t, p));
        Some(theirs.fail_all(ResponseError::NotLeaderOrFollower.code()))
    }
}

/// What screening took out of a produce, answered with the rest.
struct ScreenedRequest {
    /// Whether a hook rewrote any batch.
    hooks_changed: bool,
    /// Answers for the partitions not written: refused by a hook, owned by another instance,
    /// KafkaTwin's own topics, denied by the ACLs.
    refused: [Option<ProduceResponse>; 4],
}

impl ScreenedRequest {
    /// Whether the request differs from the client's (so its frame cannot be forwarded).
    fn changed(&self) -> bool {
        self.hooks_changed || self.refused.iter().any(Option::is_some)
    }

    fn answers(self) -> impl Iterator<Item = ProduceResponse> {
        self.refused.into_iter().flatten()
    }
}

/// Removes the partitions of KafkaTwin's own topics from a produce and answers them with
/// `TOPIC_AUTHORIZATION_FAILED`: clients may not write the control state.
fn take_internal(r: &mut ProduceRequest) -> Option<ProduceResponse> {
    if !r
        .topic_data
        .iter()
        .any(|t| crate::control::state_log::is_internal(t.name.as_str()))
    {
        return None;
    }
    let mut ours = r.clone();
    ours.retain(&|t, _| crate::control::state_log::is_internal(t.as_str()));
    r.retain(&|t, _| !crate::control::state_log::is_internal(t.as_str()));
    let mut resp = ours.fail_all(ResponseError::TopicAuthorizationFailed.code());
    for t in &mut resp.responses {
        let msg = format!(
            "topic {} is KafkaTwin's own (control state): clients cannot produce to it",
            t.name.as_str()
        );
        for p in &mut t.partition_responses {
            p.error_message = Some(kafka_protocol::protocol::StrBytes::from_string(msg.clone()));
        }
    }
    Some(resp)
}
