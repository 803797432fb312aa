//! The consumer lag gauge: for every group that committed through this proxy, the records
//! between its committed (logical) offset and each cluster's end of the partition.

use super::Proxy;
use crate::base::cluster_idx::ClusterIdx;
use crate::replication::partitions::lanes::Tp;
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, list_offsets_request};
use std::collections::HashMap;
use std::sync::Arc;

/// ListOffsets' timestamp for the end of a partition.
pub const LATEST: i64 = -1;
/// ListOffsets' timestamp for the start of a partition.
pub const EARLIEST: i64 = -2;

impl Proxy {
    /// Updates `kafkatwin_consumer_lag` from the commit book and every reachable cluster.
    pub async fn sample_consumer_lag(&self) {
        let commits = self.books.groups.all_commits();
        if commits.is_empty() {
            return;
        }
        let mut parts: Vec<Tp> = commits
            .iter()
            .flat_map(|(_, c)| c.iter().map(|(tp, _)| tp.clone()))
            .collect();
        parts.sort();
        parts.dedup();
        let clusters: Vec<(ClusterIdx, &Arc<crate::backend::Cluster>)> =
            match &self.backends.replicator {
                Some(rep) => rep.clusters().iter_indexed().collect(),
                None => vec![(ClusterIdx::FIRST, &self.backends.cluster)],
            };
        // All clusters at once: one that hangs costs its own bound only.
        let ends = futures::future::join_all(clusters.iter().map(|(_, c)| async {
            if c.admits() {
                self.offsets_on(c, &parts, LATEST).await
            } else {
                HashMap::new()
            }
        }))
        .await;
        for ((i, cluster), ends) in clusters.into_iter().zip(ends) {
            for (group, list) in &commits {
                for (tp, c) in list {
                    let Some(end) = ends.get(tp) else { continue };
                    let delta = self
                        .backends
                        .replicator
                        .as_ref()
                        .map_or(0, |r| r.delta(tp, i));
                    let lag = (end - delta - c.offset).max(0);
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[
                            group.as_str(),
                            tp.topic.as_str(),
                            &tp.partition.to_string(),
                            &cluster.id,
                        ])
                        .set(lag);
                }
            }
        }
    }

    /// Physical offsets of `parts` on `cluster` at `timestamp` ([`LATEST`]: the high
    /// watermarks; [`EARLIEST`]: the log starts), bounded in time; partitions that did not
    /// answer are left out.
    pub async fn offsets_on(
        &self,
        cluster: &crate::backend::Cluster,
        parts: &[Tp],
        timestamp: i64,
    ) -> HashMap<Tp, i64> {
        let mut req = ListOffsetsRequest::default();
        for Tp {
            topic: t,
            partition: p,
        } in parts
        {
            let part = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(*p)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp);
            match req.topics.iter_mut().find(|x| x.name == *t) {
                Some(x) => x.partitions.push(part),
                None => req.topics.push(
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(t.clone())
                        .with_partitions(vec![part]),
                ),
            }
        }
        let version = cluster
            .supports(ApiKey::ListOffsets)
            .map_or(1, |r| 7.clamp(r.min, r.max));
        let ask = self.list_offsets_on(cluster, version, None, req);
        let Ok(resp) = tokio::time::timeout(crate::base::timing::LAG_LOOKUP_WAIT, ask).await else {
            return HashMap::new();
        };
        resp.topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .filter(|p| p.error_code == 0 && p.offset >= 0)
                    .map(move |p| (Tp::new(name.clone(), p.partition_index), p.offset))
            })
            .collect()
    }
}
