//! What the admin API shows of topics and instances: read from every cluster's metadata, the
//! replicator's per-partition state and the instances' division of partitions.

use crate::backend::Cluster;
use crate::backend::partitioned::Tp;
use crate::base::cluster_idx::ClusterIdx;
use crate::proxy::Proxy;
use crate::proxy::lag::{EARLIEST, LATEST};
use kafka_protocol::messages::TopicName;
use kafkatwin_web::{
    InstanceView, InstancesView, PartitionOnClusterView, PartitionView, TopicOnClusterView,
    TopicSummaryView,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The clusters in configured order, with their index in the replicator.
fn clusters(proxy: &Proxy) -> Vec<(ClusterIdx, Arc<Cluster>)> {
    match proxy.replicator() {
        Some(rep) => rep
            .clusters()
            .iter_indexed()
            .map(|(i, c)| (i, c.clone()))
            .collect(),
        None => vec![(ClusterIdx::FIRST, proxy.primary().clone())],
    }
}

/// Client topics, not the proxy's or Kafka's internal ones.
fn shown(topic: &TopicName) -> bool {
    !topic.as_str().starts_with("__")
}

/// Every topic of every reachable cluster, as each answers now (a cluster that does not
/// answer within the lookup bound shows what it last answered).
async fn topics_by_cluster(
    proxy: &Proxy,
) -> Vec<(ClusterIdx, Arc<Cluster>, BTreeMap<TopicName, i32>)> {
    let all = clusters(proxy);
    futures::future::join_all(all.into_iter().map(|(i, c)| async move {
        if c.admits() {
            let ask = c.refresh_metadata(None);
            let _ = tokio::time::timeout(crate::base::timing::LAG_LOOKUP_WAIT, ask).await;
        }
        let topics = c.topics().into_iter().filter(|(t, _)| shown(t)).collect();
        (i, c, topics)
    }))
    .await
}

/// `GET /api/v1/topics`.
pub async fn topic_summaries(proxy: &Proxy) -> Vec<TopicSummaryView> {
    let per_cluster = topics_by_cluster(proxy).await;
    let mut names: Vec<&TopicName> = per_cluster.iter().flat_map(|(_, _, t)| t.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let state = proxy.replicator().map(|r| r.topic_state(name));
            let on: Vec<TopicOnClusterView> = per_cluster
                .iter()
                .map(|(i, c, t)| {
                    let (behind, divergent, lag) = state
                        .as_ref()
                        .map(|s| (s[*i].behind.len(), s[*i].divergent.len(), s[*i].lag_records))
                        .unwrap_or_default();
                    TopicOnClusterView {
                        cluster: c.id.to_string(),
                        present: t.contains_key(name),
                        partitions: t.get(name).copied(),
                        behind_partitions: behind,
                        divergent_partitions: divergent,
                        lag_records: lag,
                    }
                })
                .collect();
            TopicSummaryView {
                name: name.as_str().to_owned(),
                partitions: on.iter().filter_map(|c| c.partitions).max().unwrap_or(0),
                clusters: on,
            }
        })
        .collect()
}

/// The partitions of `topic` per partition and cluster, in logical offsets; `None` when no
/// cluster has it.
pub async fn partitions(proxy: &Proxy, topic: &str) -> Option<(i32, Vec<PartitionView>)> {
    let name = TopicName::from(kafka_protocol::protocol::StrBytes::from_string(
        topic.to_owned(),
    ));
    let per_cluster = topics_by_cluster(proxy).await;
    let count = per_cluster
        .iter()
        .filter_map(|(_, _, t)| t.get(&name).copied())
        .max()?;
    let parts: Vec<Tp> = (0..count).map(|p| Tp::new(name.clone(), p)).collect();
    let rep = proxy.replicator();
    let state = rep.map(|r| r.topic_state(&name));
    let offsets = futures::future::join_all(per_cluster.iter().map(|(_, c, t)| {
        let (parts, name) = (&parts, &name);
        async move {
            if !c.admits() || !t.contains_key(name) {
                return Default::default();
            }
            let (start, end) = futures::join!(
                proxy.offsets_on(c, parts, EARLIEST),
                proxy.offsets_on(c, parts, LATEST)
            );
            (start, end)
        }
    }))
    .await;
    let details = parts
        .iter()
        .map(|tp| PartitionView {
            partition: tp.partition,
            read_cluster: match rep {
                Some(r) => r.read_cluster_of(tp).map(|c| c.id.to_string()),
                None => Some(proxy.primary().id.to_string()),
            },
            clusters: per_cluster
                .iter()
                .zip(&offsets)
                .map(|((i, c, _), (start, end))| {
                    let delta = rep.map_or(0, |r| r.delta(tp, *i));
                    let out = state.as_ref().is_some_and(|s| {
                        s[*i].behind.contains(&tp.partition)
                            || s[*i].divergent.contains(&tp.partition)
                    });
                    PartitionOnClusterView {
                        cluster: c.id.to_string(),
                        log_start: start.get(tp).map(|o| (o - delta).max(0)),
                        log_end: end.get(tp).map(|o| (o - delta).max(0)),
                        in_sync: !out && end.contains_key(tp),
                    }
                })
                .collect(),
        })
        .collect();
    Some((count, details))
}

/// `GET /api/v1/instances`.
pub fn instances(proxy: &Proxy) -> InstancesView {
    let m = &proxy.membership();
    let me = m.me().node_id;
    let known: Vec<(TopicName, i32)> = clusters(proxy)
        .iter()
        .flat_map(|(_, c)| c.topics())
        .filter(|(t, _)| shown(t))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let groups: Vec<String> = proxy
        .books()
        .groups()
        .reports()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let instances = m
        .brokers()
        .into_iter()
        .map(|b| InstanceView {
            owned_partitions: known
                .iter()
                .flat_map(|(t, n)| (0..*n).map(move |p| (t, p)))
                .filter(|(t, p)| m.owner(t, *p) == Some(b.node_id))
                .count(),
            owned_groups: groups
                .iter()
                .filter(|g| m.group_owner(g) == Some(b.node_id))
                .cloned()
                .collect(),
            me: b.node_id == me,
            node_id: b.node_id,
            host: b.host,
            port: b.port,
        })
        .collect();
    InstancesView {
        me,
        scale_out: m.enabled(),
        split_brain: proxy
            .metrics()
            .split_brain
            .with_label_values::<&str>(&[])
            .get()
            == 1,
        instances,
    }
}
