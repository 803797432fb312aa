//! Requests addressed to partitions (Produce, Fetch, ListOffsets, DeleteRecords,
//! OffsetForLeaderEpoch): split by partition leader, sent in parallel, merged, and retried
//! after a metadata refresh when a leader moved, so clients never see the backend's leaders.

use crate::backend::{BackendError, Cluster};
use bytes::Bytes;
use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{HashMap, HashSet};

/// A topic-partition; shown as `topic-partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tp {
    /// The topic.
    pub topic: TopicName,
    /// The partition index.
    pub partition: i32,
}

impl Tp {
    /// Partition `partition` of `topic`.
    pub fn new(topic: TopicName, partition: i32) -> Self {
        Self { topic, partition }
    }
}

impl std::fmt::Display for Tp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic.as_str(), self.partition)
    }
}

/// A request type whose work is per topic-partition.
pub trait PartitionedApi: Sized + Clone + Send + Sync {
    /// Its response type.
    type Response: Default + Send;
    /// Its API key.
    const KEY: ApiKey;
    /// Into the request enum.
    fn wrap(&self) -> RequestKind;
    /// Out of the response enum.
    fn unwrap_response(r: ResponseKind) -> Option<Self::Response>;
    /// Every partition it addresses.
    fn partitions(&self) -> Vec<Tp>;
    /// Keeps only the partitions `keep` accepts (topics left empty are dropped).
    fn retain(&mut self, keep: &dyn Fn(&TopicName, i32) -> bool);
    /// Keeps only response partitions `keep` accepts, given their error codes.
    fn retain_response(r: &mut Self::Response, keep: &dyn Fn(&TopicName, i32, i16) -> bool);
    /// Appends another response's partitions.
    fn extend_response(into: &mut Self::Response, from: Self::Response);
    /// A response failing every partition of this request with `code`.
    fn fail_all(&self, code: i16) -> Self::Response;
}

fn leader_moved(code: i16) -> bool {
    code == ResponseError::NotLeaderOrFollower.code()
        || code == ResponseError::LeaderNotAvailable.code()
        || code == ResponseError::FencedLeaderEpoch.code()
        || code == ResponseError::UnknownLeaderEpoch.code()
}

/// Keeps the order in which one client connection's requests reach the backend: each waits
/// for its predecessor to be queued on the backend connections before queuing its own.
/// (Requests are handled concurrently; without this, a later produce batch could overtake an
/// earlier one for the same partition.) Dropping a gate releases the next request.
pub struct OrderGate {
    prev: Option<tokio::sync::oneshot::Receiver<()>>,
    done: tokio::sync::oneshot::Sender<()>,
}

impl OrderGate {
    /// The next gate in a chain whose previous link is `prev`; returns the gate and the
    /// receiver the following request waits on.
    pub fn after(
        prev: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> (Self, tokio::sync::oneshot::Receiver<()>) {
        let (done, next) = tokio::sync::oneshot::channel();
        (Self { prev, done }, next)
    }

    pub(crate) async fn wait_turn(&mut self) {
        if let Some(prev) = self.prev.take() {
            // An error means the predecessor finished without sending: also our turn.
            let _ = prev.await;
        }
    }

    pub(crate) fn release(self) {
        let _ = self.done.send(());
    }
}

/// A client's request frame that may be forwarded as received when the whole request goes to
/// one broker (no split, first try).
pub struct Whole {
    /// The frame without its length prefix.
    pub frame: Bytes,
    /// How long the broker may hold it (the request's own timeout).
    pub wait: std::time::Duration,
}

/// A routed response, and the backend's raw frame when the response is exactly one backend
/// answer (one leader, first try, nothing removed), so it can be forwarded without re-encoding.
pub struct Routed<R> {
    /// The merged response.
    pub resp: R,
    /// The single backend answer's frame, when there was exactly one and it is used whole.
    pub raw: Option<Bytes>,
}

/// Sends `req` to the leaders of its partitions on `cluster` and merges the answers.
pub async fn route<A: PartitionedApi>(
    cluster: &Cluster,
    version: i16,
    client_id: Option<StrBytes>,
    req: A,
    retries: u32,
) -> A::Response {
    route_raw(cluster, version, client_id, req, retries, None, None)
        .await
        .resp
}

/// `req` split by the leader of each partition (`None`: leader unknown), one request each.
async fn split_by_leader<A: PartitionedApi>(cluster: &Cluster, req: &A) -> Vec<(Option<i32>, A)> {
    let mut by_leader: HashMap<Option<i32>, Vec<Tp>> = HashMap::new();
    for tp in req.partitions() {
        let leader = cluster.leader(&tp.topic, tp.partition).await;
        by_leader.entry(leader).or_default().push(tp);
    }
    if by_leader.len() == 1 {
        let leader = by_leader.into_keys().next().flatten();
        return vec![(leader, req.clone())];
    }
    by_leader
        .into_iter()
        .map(|(leader, list)| {
            let set: HashSet<Tp> = list.into_iter().collect();
            let mut sub = req.clone();
            sub.retain(&|t, p| set.contains(&Tp::new(t.clone(), p)));
            (leader, sub)
        })
        .collect()
}

/// Takes the partitions whose leader moved out of `resp`, to be sent again.
fn take_moved<A: PartitionedApi>(resp: &mut A::Response) -> Vec<Tp> {
    let moved = std::cell::RefCell::new(Vec::new());
    A::retain_response(resp, &|t, p, code| {
        if leader_moved(code) {
            moved.borrow_mut().push(Tp::new(t.clone(), p));
            false
        } else {
            true
        }
    });
    moved.into_inner()
}

/// [`route`], keeping the raw backend frame when the answer is one backend response whole.
pub async fn route_raw<A: PartitionedApi>(
    cluster: &Cluster,
    version: i16,
    client_id: Option<StrBytes>,
    req: A,
    retries: u32,
    mut gate: Option<OrderGate>,
    mut whole: Option<Whole>,
) -> Routed<A::Response> {
    let mut out = A::Response::default();
    let mut raw = None;
    if let Some(g) = gate.as_mut() {
        g.wait_turn().await;
    }
    let mut pending = req;
    let mut attempt = 0;
    loop {
        let last_try = attempt >= retries;
        let parts = split_by_leader(cluster, &pending).await;
        // Queue every part in order first (this is what the gate orders), then wait.
        let mut started = Vec::with_capacity(parts.len());
        let single = parts.len() == 1;
        for (leader, sub) in &parts {
            // Unknown leader: any broker gives the authoritative error (unknown topic).
            let s = match whole.take() {
                Some(w) if single => {
                    cluster
                        .start_frame(*leader, A::KEY, version, w.frame, w.wait)
                        .await
                }
                _ => {
                    cluster
                        .start(*leader, A::KEY, version, client_id.clone(), &sub.wrap())
                        .await
                }
            };
            started.push(s);
        }
        whole = None;
        if let Some(g) = gate.take() {
            g.release();
        }
        let sends = started.into_iter().map(|s| async move {
            match s {
                Ok(p) => cluster.finish(p).await,
                Err(e) => Err(e),
            }
        });
        let results = join_all(sends).await;
        let whole = attempt == 0 && parts.len() == 1;
        let mut retry: HashSet<Tp> = HashSet::new();
        for ((_, sub), result) in parts.iter().zip(results) {
            let (resp, frame) = match result {
                Ok(a) => (Ok(A::unwrap_response(a.body)), Some(a.raw)),
                Err(e) => (Err(e), None),
            };
            match resp {
                Ok(Some(mut resp)) => {
                    if !last_try {
                        retry.extend(take_moved::<A>(&mut resp));
                    }
                    if whole && retry.is_empty() {
                        raw = frame;
                    }
                    A::extend_response(&mut out, resp);
                }
                Ok(None) => {
                    tracing::warn!(cluster = %cluster.id, api = ?A::KEY, "backend answered with another API's response");
                    A::extend_response(
                        &mut out,
                        sub.fail_all(ResponseError::UnknownServerError.code()),
                    );
                }
                Err(e) if e.is_transient() && !last_try => retry.extend(sub.partitions()),
                Err(e) => {
                    tracing::warn!(
                        "{e}; failing {:?} for {} partition(s)",
                        A::KEY,
                        sub.partitions().len()
                    );
                    A::extend_response(&mut out, sub.fail_all(failure_code(&e, A::KEY)));
                }
            }
        }
        if retry.is_empty() {
            return Routed { resp: out, raw };
        }
        raw = None;
        for Tp { topic: t, .. } in &retry {
            cluster.forget_topic(t);
        }
        attempt += 1;
        pending.retain(&|t, p| retry.contains(&Tp::new(t.clone(), p)));
        tokio::time::sleep(crate::base::timing::REROUTE_BACKOFF * attempt).await;
    }
}

/// The code for partitions whose request failed for good. A backend that drops the
/// connection on every try of the same request is refusing it, not flaky (Tansu does this for
/// DeleteRecords): that is not something a client retry can fix.
fn failure_code(e: &BackendError, api: ApiKey) -> i16 {
    match (e, api) {
        (BackendError::ConnectionLost { .. }, ApiKey::DeleteRecords) => {
            ResponseError::UnknownServerError.code()
        }
        _ => e.client_code(),
    }
}

/// A copy of `req` naming only the partitions in `keep`.
pub fn subset<A: PartitionedApi>(req: &A, keep: &[Tp]) -> A {
    let set: HashSet<&Tp> = keep.iter().collect();
    let mut sub = req.clone();
    sub.retain(&|t, p| set.contains(&Tp::new(t.clone(), p)));
    sub
}

/// Implements [`PartitionedApi`] for a request/response pair whose shapes are
/// `topics[].name` → `partitions[].index`.
macro_rules! partitioned {
    ($req:ty, $resp:ty, $variant:ident,
     req: $rtopics:ident . $rname:ident / $rparts:ident . $ridx:ident,
     resp: $stopics:ident . $sname:ident / $sparts:ident . $sidx:ident,
     $stopic_ty:ty, $spart_ty:ty) => {
        impl PartitionedApi for $req {
            type Response = $resp;
            const KEY: ApiKey = ApiKey::$variant;
            fn wrap(&self) -> RequestKind {
                RequestKind::$variant(self.clone())
            }
            fn unwrap_response(r: ResponseKind) -> Option<$resp> {
                match r {
                    ResponseKind::$variant(r) => Some(r),
                    _ => None,
                }
            }
            fn partitions(&self) -> Vec<Tp> {
                self.$rtopics
                    .iter()
                    .flat_map(|t| {
                        t.$rparts
                            .iter()
                            .map(move |p| Tp::new(t.$rname.clone(), p.$ridx))
                    })
                    .collect()
            }
            fn retain(&mut self, keep: &dyn Fn(&TopicName, i32) -> bool) {
                for t in &mut self.$rtopics {
                    let name = t.$rname.clone();
                    t.$rparts.retain(|p| keep(&name, p.$ridx));
                }
                self.$rtopics.retain(|t| !t.$rparts.is_empty());
            }
            fn retain_response(r: &mut $resp, keep: &dyn Fn(&TopicName, i32, i16) -> bool) {
                for t in &mut r.$stopics {
                    let name = t.$sname.clone();
                    t.$sparts.retain(|p| keep(&name, p.$sidx, p.error_code));
                }
                r.$stopics.retain(|t| !t.$sparts.is_empty());
            }
            fn extend_response(into: &mut $resp, from: $resp) {
                for t in from.$stopics {
                    match into.$stopics.iter_mut().find(|x| x.$sname == t.$sname) {
                        Some(existing) => existing.$sparts.extend(t.$sparts),
                        None => into.$stopics.push(t),
                    }
                }
            }
            fn fail_all(&self, code: i16) -> $resp {
                let mut r = <$resp>::default();
                for t in &self.$rtopics {
                    let mut st = <$stopic_ty>::default();
                    st.$sname = t.$rname.clone();
                    for p in &t.$rparts {
                        let mut sp = <$spart_ty>::default();
                        sp.$sidx = p.$ridx;
                        sp.error_code = code;
                        st.$sparts.push(sp);
                    }
                    r.$stopics.push(st);
                }
                r
            }
        }
    };
}

partitioned!(ProduceRequest, ProduceResponse, Produce,
    req: topic_data.name / partition_data.index,
    resp: responses.name / partition_responses.index,
    produce_response::TopicProduceResponse, produce_response::PartitionProduceResponse);
partitioned!(FetchRequest, FetchResponse, Fetch,
    req: topics.topic / partitions.partition,
    resp: responses.topic / partitions.partition_index,
    fetch_response::FetchableTopicResponse, fetch_response::PartitionData);
partitioned!(ListOffsetsRequest, ListOffsetsResponse, ListOffsets,
    req: topics.name / partitions.partition_index,
    resp: topics.name / partitions.partition_index,
    list_offsets_response::ListOffsetsTopicResponse, list_offsets_response::ListOffsetsPartitionResponse);
partitioned!(DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecords,
    req: topics.name / partitions.partition_index,
    resp: topics.name / partitions.partition_index,
    delete_records_response::DeleteRecordsTopicResult, delete_records_response::DeleteRecordsPartitionResult);
partitioned!(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, OffsetForLeaderEpoch,
    req: topics.topic / partitions.partition,
    resp: topics.topic / partitions.partition,
    offset_for_leader_epoch_response::OffsetForLeaderTopicResult, offset_for_leader_epoch_response::EpochEndOffset);
