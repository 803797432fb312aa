//! ListOffsets in logical offsets: each partition asked of its read cluster, the answer moved
//! into logical offsets, and partitions a cluster cannot answer asked of the next.

use super::Proxy;
use super::partitioned::{self, PartitionedApi};
use crate::backend::Cluster;
use crate::base::cluster_idx::ClusterIdx;
use crate::replication::partitions::lanes::Tp;
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;

/// ListOffsets' "latest" timestamp.
const LATEST_TIMESTAMP: i64 = -1;

use crate::base::timing::LIST_OFFSETS_WAIT;

impl Proxy {
    /// Answers ListOffsets (earliest, latest, by timestamp) in logical offsets.
    pub(super) async fn list_offsets(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        mut req: ListOffsetsRequest,
    ) -> ListOffsetsResponse {
        for t in &mut req.topics {
            for p in &mut t.partitions {
                // Leader epochs are per backend cluster; the proxy hides them.
                p.current_leader_epoch = -1;
            }
        }
        let Some(rep) = &self.backends.replicator else {
            return self
                .list_offsets_on(&self.backends.cluster, version, client_id, req)
                .await;
        };
        let plan = rep.plan();
        let n = rep.clusters().len();
        let mut tried: HashMap<Tp, Vec<ClusterIdx>> = HashMap::new();
        let mut pending = req.partitions();
        let mut out = ListOffsetsResponse::default();
        for round in 0..n {
            let (groups, left) = rep.assign_reads(&plan, std::mem::take(&mut pending), &tried);
            let asks = groups.into_iter().map(|(i, tps)| {
                let sub = partitioned::subset(&req, &tps);
                let client_id = client_id.clone();
                async move {
                    let cluster = &rep.clusters()[i];
                    let f = self.list_offsets_on(cluster, version, client_id, sub);
                    (
                        i,
                        tps,
                        tokio::time::timeout(LIST_OFFSETS_WAIT, f).await.ok(),
                    )
                }
            });
            let last_round = round + 1 == n;
            for (i, tps, resp) in futures::future::join_all(asks).await {
                let usable = match &resp {
                    None => {
                        // Stalled: reads pass this cluster over for a while.
                        rep.avoid_reads(i);
                        false
                    }
                    Some(r) => last_round || !any_failed(r),
                };
                let Some(mut resp) = resp.filter(|_| usable) else {
                    for tp in tps {
                        tried.entry(tp.clone()).or_default().push(i);
                        pending.push(tp);
                    }
                    continue;
                };
                for t in &mut resp.topics {
                    for p in &mut t.partitions {
                        let d = rep.delta(&Tp::new(t.name.clone(), p.partition_index), i);
                        if p.offset >= 0 {
                            p.offset -= d;
                        }
                    }
                }
                ListOffsetsRequest::extend_response(&mut out, resp);
            }
            pending.extend(left);
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() {
            let rest = partitioned::subset(&req, &pending);
            ListOffsetsRequest::extend_response(
                &mut out,
                rest.fail_all(kafka_protocol::error::ResponseError::NotLeaderOrFollower.code()),
            );
        }
        out
    }

    /// ListOffsets on one cluster, "latest" taken from the high watermark.
    pub(super) async fn list_offsets_on(
        &self,
        cluster: &Cluster,
        version: i16,
        client_id: Option<StrBytes>,
        r: ListOffsetsRequest,
    ) -> ListOffsetsResponse {
        let isolation = r.isolation_level;
        let latest: Vec<Tp> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| p.timestamp == LATEST_TIMESTAMP)
                    .map(move |p| Tp::new(t.name.clone(), p.partition_index))
            })
            .collect();
        let mut resp =
            partitioned::route(cluster, version, client_id.clone(), r, self.retries()).await;
        if !latest.is_empty() {
            self.latest_from_high_watermark(cluster, &mut resp, &latest, isolation, client_id)
                .await;
        }
        for t in &mut resp.topics {
            for p in &mut t.partitions {
                p.leader_epoch = -1;
            }
        }
        resp
    }
}

/// Whether a cluster failed any partition in a way another cluster might not.
fn any_failed(r: &ListOffsetsResponse) -> bool {
    use kafka_protocol::error::ResponseError;
    r.topics.iter().flat_map(|t| &t.partitions).any(|p| {
        [
            ResponseError::UnknownTopicOrPartition,
            ResponseError::NotLeaderOrFollower,
            ResponseError::LeaderNotAvailable,
            ResponseError::RequestTimedOut,
            ResponseError::NetworkException,
            ResponseError::UnknownServerError,
            ResponseError::BrokerNotAvailable,
        ]
        .iter()
        .any(|e| e.code() == p.error_code)
    })
}
