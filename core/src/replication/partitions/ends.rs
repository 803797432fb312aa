//! Small backend lookups the repairer needs: topics and partition counts, end offsets, a
//! fetch from a given offset, topic creation and deletion.

use crate::backend::{BackendError, Cluster};
use crate::replication::partitions::lanes::Tp;
use bytes::Bytes;
use kafka_protocol::messages::*;
use std::collections::HashMap;

/// Version `want`, within what `cluster` supports for `api`.
fn version(cluster: &Cluster, api: ApiKey, want: i16) -> i16 {
    cluster
        .supports(api)
        .map_or(want, |r| want.clamp(r.min, r.max.max(r.min)))
}

fn unexpected(cluster: &Cluster, api: ApiKey) -> BackendError {
    BackendError::WrongAnswer {
        cluster: cluster.id.to_string(),
        api,
    }
}

/// Every topic on the cluster with its partition count (internal `__` topics left out).
pub async fn topics(cluster: &Cluster) -> Result<HashMap<TopicName, i32>, BackendError> {
    let v = version(cluster, ApiKey::Metadata, 9);
    let req = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    let resp = cluster
        .send_any(ApiKey::Metadata, v, None, &RequestKind::Metadata(req))
        .await?;
    let ResponseKind::Metadata(m) = resp else {
        return Err(unexpected(cluster, ApiKey::Metadata));
    };
    cluster.learn_metadata(&m);
    Ok(m.topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| t.name.map(|n| (n, t.partitions.len() as i32)))
        .filter(|(n, _)| !n.as_str().starts_with("__"))
        .collect())
}

/// What a fetch from one partition returned.
pub struct Fetched {
    /// The partition's error code.
    pub error_code: i16,
    /// Its high watermark.
    pub high_watermark: i64,
    /// Whole and partial record batches from the requested offset.
    pub records: Bytes,
}

/// The error for a fetch of `tp` at `offset` from `cluster` answered with `code`.
pub fn fetch_failed(cluster: &Cluster, tp: &Tp, offset: i64, code: i16) -> BackendError {
    BackendError::Refused {
        cluster: cluster.id.to_string(),
        what: format!("fetch of {tp} at {offset}"),
        code,
    }
}

/// Fetches `tp` from `offset`, waiting up to `wait_ms` for data (at most 4 MiB).
pub async fn fetch(
    cluster: &Cluster,
    tp: &Tp,
    offset: i64,
    wait_ms: i32,
) -> Result<Fetched, BackendError> {
    fetch_at_most(cluster, tp, offset, wait_ms, 4 << 20).await
}

/// Fetches `tp` from `offset`, waiting up to `wait_ms` for data, at most `max_bytes` (a
/// first batch larger than that still comes whole).
pub async fn fetch_at_most(
    cluster: &Cluster,
    tp: &Tp,
    offset: i64,
    wait_ms: i32,
    max_bytes: i32,
) -> Result<Fetched, BackendError> {
    let v = version(cluster, ApiKey::Fetch, 12);
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(tp.topic.clone())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(tp.partition)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1)
                        .with_partition_max_bytes(max_bytes),
                ]),
        ]);
    let leader = cluster.leader(&tp.topic, tp.partition).await;
    let resp = cluster
        .call(leader, ApiKey::Fetch, v, None, &RequestKind::Fetch(req))
        .await?;
    let ResponseKind::Fetch(r) = resp.body else {
        return Err(unexpected(cluster, ApiKey::Fetch));
    };
    let p = r
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == tp.partition)
        .ok_or_else(|| BackendError::Decode {
            cluster: cluster.id.to_string(),
            api: ApiKey::Fetch,
            version: v,
            reason: format!("the answer holds no partition {tp}"),
        })?;
    Ok(Fetched {
        error_code: p.error_code,
        high_watermark: p.high_watermark,
        records: p.records.unwrap_or_default(),
    })
}

/// "Latest" offsets of partitions as ListOffsets reports them. On Apache Kafka that is the end
/// offset; Tansu reports the last batch's base offset + 1 instead, which still orders two
/// clusters holding the same batches correctly (equal when equal, lower when batches are
/// missing), and that is what it is used for.
pub async fn latest(cluster: &Cluster, parts: &[Tp]) -> Result<HashMap<Tp, i64>, BackendError> {
    let v = version(cluster, ApiKey::ListOffsets, 7);
    let mut by_topic: HashMap<TopicName, Vec<i32>> = HashMap::new();
    for Tp { topic, partition } in parts {
        by_topic.entry(topic.clone()).or_default().push(*partition);
    }
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(t)
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let resp = crate::backend::partitioned::route(cluster, v, None, req, 1).await;
    let mut out = HashMap::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code == 0 {
                out.insert(Tp::new(t.name.clone(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

/// The first offset of one partition's log (ListOffsets EARLIEST); `None` when the partition
/// is not there.
pub async fn earliest(cluster: &Cluster, tp: &Tp) -> Result<Option<i64>, BackendError> {
    let v = version(cluster, ApiKey::ListOffsets, 7);
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(tp.topic.clone())
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_current_leader_epoch(-1)
                        .with_timestamp(-2),
                ]),
        ]);
    let resp = crate::backend::partitioned::route(cluster, v, None, req, 1).await;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == tp.partition && p.error_code == 0)
        .map(|p| p.offset))
}

/// The true end offset (high watermark) of one partition: ListOffsets narrows it down, a
/// fetch of the last batch reads it (see [`latest`] for why both).
pub async fn end_offset(cluster: &Cluster, tp: &Tp) -> Result<Option<i64>, BackendError> {
    let Some(&l) = latest(cluster, std::slice::from_ref(tp)).await?.get(tp) else {
        return Ok(None);
    };
    if l <= 0 {
        return Ok(Some(0));
    }
    let f = fetch(cluster, tp, l - 1, crate::base::timing::END_FETCH_WAIT_MS).await?;
    Ok((f.error_code == 0).then_some(f.high_watermark.max(l)))
}

/// Creates `topic` with `partitions` partitions (the cluster's default replication).
pub async fn create_topic(
    cluster: &Cluster,
    topic: &TopicName,
    partitions: i32,
) -> Result<i16, BackendError> {
    let v = version(cluster, ApiKey::CreateTopics, 5);
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(crate::base::timing::BROKER_REQUEST_TIMEOUT_MS)
        .with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic.clone())
                .with_num_partitions(partitions)
                .with_replication_factor(-1),
        ]);
    let resp = cluster
        .send_any(
            ApiKey::CreateTopics,
            v,
            None,
            &RequestKind::CreateTopics(req),
        )
        .await?;
    cluster.forget_topic(topic);
    match resp {
        ResponseKind::CreateTopics(r) => Ok(r.topics.first().map_or(0, |t| t.error_code)),
        _ => Err(unexpected(cluster, ApiKey::CreateTopics)),
    }
}

/// Deletes `topic`.
pub async fn delete_topic(cluster: &Cluster, topic: &TopicName) -> Result<(), BackendError> {
    let v = version(cluster, ApiKey::DeleteTopics, 4);
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(crate::base::timing::BROKER_REQUEST_TIMEOUT_MS)
        .with_topic_names(vec![topic.clone()]);
    cluster
        .send_any(
            ApiKey::DeleteTopics,
            v,
            None,
            &RequestKind::DeleteTopics(req),
        )
        .await?;
    cluster.forget_topic(topic);
    Ok(())
}
