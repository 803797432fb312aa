//! The coordinator's side of the consumer group protocol: heartbeats, descriptions and
//! reports of `consumer::ConsumerGroup`s, kept as control state (`consumer-groups/{group}`,
//! written whole by the owning instance) like classic groups.

use super::consumer::{Beat, ConsumerGroup, HeartbeatAnswer, Refused};
use super::{Coordinator, GroupReport, MemberReport};
use crate::base::cluster_idx::ClusterIdx;
use crate::base::sync::lock;
use crate::control::keys::Key;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::consumer_group_describe_response;
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// A consumer group's entry.
#[derive(Serialize, Deserialize)]
struct StoredConsumerGroup {
    /// The process that wrote it (see `Coordinator::apply_logged`).
    incarnation: String,
    group: ConsumerGroup,
}

impl Coordinator {
    /// Whether `group` is a consumer-protocol group with members (classic members may not
    /// join it).
    pub fn is_consumer_group(&self, group: &StrBytes) -> bool {
        lock(&self.consumer_groups)
            .get(group)
            .is_some_and(|g| !g.members.is_empty())
    }

    /// The topics `group`'s members subscribe to, own or are giving up.
    pub fn consumer_topics(&self, group: &StrBytes) -> BTreeSet<String> {
        lock(&self.consumer_groups)
            .get(group)
            .map(|g| {
                g.members
                    .values()
                    .flat_map(|m| {
                        m.subscribed
                            .iter()
                            .chain(m.assigned.keys())
                            .chain(m.revoking.keys())
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// ConsumerGroupHeartbeat, topics named. `counts`: partition counts of the topics the
    /// group subscribes to.
    pub fn consumer_heartbeat(
        self: &Arc<Self>,
        group: &StrBytes,
        beat: Beat,
        counts: &BTreeMap<String, i32>,
    ) -> Result<HeartbeatAnswer, Refused> {
        if lock(&self.groups)
            .get(group)
            .is_some_and(|g| !g.members.is_empty())
        {
            return Err(Refused {
                code: ResponseError::GroupIdNotFound.code(),
                message: format!(
                    "group {:?} has members of the classic protocol; it is not a consumer group",
                    group.as_str()
                ),
            });
        }
        let (answer, changed) = {
            let mut groups = lock(&self.consumer_groups);
            let g = groups.entry(group.clone()).or_default();
            let before = g.epoch;
            let answer = g.heartbeat(beat, counts, Instant::now(), || {
                uuid::Uuid::new_v4().to_string()
            });
            self.observe_consumer(group, g, before);
            (answer, g.take_changed())
        };
        if changed {
            self.spawn_store_consumer_group(group);
        }
        answer
    }

    fn observe_consumer(&self, group: &StrBytes, g: &ConsumerGroup, before: i32) {
        if g.epoch != before {
            tracing::info!(
                "consumer group {:?}: epoch {} with {} member(s)",
                group.as_str(),
                g.epoch,
                g.members.len()
            );
        }
        self.count(group, g.members.len(), g.epoch != before);
    }

    fn spawn_store_consumer_group(self: &Arc<Self>, group: &StrBytes) {
        let me = self.clone();
        let group = group.clone();
        tokio::spawn(async move { me.store_consumer_group(&group).await });
    }

    /// Writes `group`'s entry as it is now (see `store_whole`).
    async fn store_consumer_group(&self, group: &StrBytes) {
        let key = Key::ConsumerGroup {
            group: group.as_str().to_owned(),
        };
        self.store_whole(group, key, || {
            lock(&self.consumer_groups).get(group).map(|g| {
                serde_json::to_vec(&StoredConsumerGroup {
                    incarnation: self.incarnation.clone(),
                    group: g.clone(),
                })
            })
        })
        .await;
    }

    /// Takes a consumer group entry from the control log (see `apply_logged`).
    pub(super) fn apply_logged_consumer_group(
        &self,
        key: &str,
        name: &str,
        value: Option<&[u8]>,
        now: Instant,
    ) {
        let name = StrBytes::from_string(name.to_owned());
        let Some(value) = value else {
            lock(&self.consumer_groups).remove(&name);
            return;
        };
        match serde_json::from_slice::<StoredConsumerGroup>(value) {
            Ok(s) if s.incarnation == self.incarnation => {}
            Ok(s) => {
                lock(&self.consumer_groups).insert(name, s.group.restored(now));
            }
            Err(e) => tracing::warn!("control log entry {key:?}: {e}; left alone"),
        }
    }

    /// Expires members of the consumer groups `owned` here; keeps the others' alive.
    pub(super) fn tick_consumer_groups(
        self: &Arc<Self>,
        owned: &impl Fn(&StrBytes) -> bool,
        now: Instant,
    ) {
        let mut changed = Vec::new();
        {
            let mut groups = lock(&self.consumer_groups);
            for (name, g) in groups.iter_mut() {
                if owned(name) {
                    let before = g.epoch;
                    if g.tick(self.limits.consumer_session, now) {
                        self.observe_consumer(name, g, before);
                    }
                    if g.take_changed() {
                        changed.push(name.clone());
                    }
                } else {
                    g.disown(now);
                }
            }
        }
        for name in changed {
            self.spawn_store_consumer_group(&name);
        }
    }

    /// ConsumerGroupDescribe for one group; `topic_id` names topics as clients see them.
    pub fn consumer_describe(
        &self,
        group: &StrBytes,
        topic_id: impl Fn(&str) -> uuid::Uuid,
    ) -> consumer_group_describe_response::DescribedGroup {
        let out = consumer_group_describe_response::DescribedGroup::default()
            .with_group_id(kafka_protocol::messages::GroupId(group.clone()))
            .with_authorized_operations(i32::MIN);
        let groups = lock(&self.consumer_groups);
        let Some(g) = groups.get(group) else {
            return out
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "group {:?} is not a consumer group",
                    group.as_str()
                ))));
        };
        let assignment = |a: &super::consumer::Assignment| {
            consumer_group_describe_response::Assignment::default().with_topic_partitions(
                a.iter()
                    .map(|(t, ps)| {
                        consumer_group_describe_response::TopicPartitions::default()
                            .with_topic_id(topic_id(t))
                            .with_topic_name(TopicName(StrBytes::from_string(t.clone())))
                            .with_partitions(ps.iter().copied().collect())
                    })
                    .collect(),
            )
        };
        out.with_group_state(StrBytes::from_static_str(g.state()))
            .with_group_epoch(g.epoch)
            .with_assignment_epoch(g.epoch)
            .with_assignor_name(StrBytes::from_string(assignor(g)))
            .with_members(
                g.members
                    .iter()
                    .map(|(id, m)| {
                        consumer_group_describe_response::Member::default()
                            .with_member_id(StrBytes::from_string(id.clone()))
                            .with_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                            .with_rack_id(m.rack_id.clone().map(StrBytes::from_string))
                            .with_member_epoch(m.epoch)
                            .with_client_id(StrBytes::from_string(m.client_id.clone()))
                            .with_client_host(StrBytes::from_string(m.client_host.clone()))
                            .with_subscribed_topic_names(
                                m.subscribed
                                    .iter()
                                    .map(|t| TopicName(StrBytes::from_string(t.clone())))
                                    .collect(),
                            )
                            .with_assignment(assignment(&m.assigned))
                            .with_target_assignment(assignment(&m.target))
                    })
                    .collect(),
            )
    }

    /// `group` as operators see it, when it is a consumer-protocol group.
    pub(super) fn consumer_report(
        &self,
        group: &StrBytes,
        offsets: &[(String, i32, i64)],
        unmirrored: &[ClusterIdx],
    ) -> Option<GroupReport> {
        let groups = lock(&self.consumer_groups);
        let g = groups.get(group)?;
        Some(GroupReport {
            name: group.as_str().to_owned(),
            state: g.state(),
            protocol_type: "consumer".into(),
            protocol: Some(assignor(g)),
            generation: g.epoch,
            leader: None,
            members: g
                .members
                .iter()
                .map(|(id, m)| MemberReport {
                    id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    assignment: m
                        .assigned
                        .iter()
                        .map(|(t, ps)| (t.clone(), ps.iter().copied().collect()))
                        .collect(),
                })
                .collect(),
            offsets: offsets.to_vec(),
            unmirrored: unmirrored.to_vec(),
        })
    }
}

/// The assignor a group's members asked for (the first one's; `uniform` by default).
fn assignor(g: &ConsumerGroup) -> String {
    g.members
        .values()
        .find_map(|m| m.assignor.clone())
        .unwrap_or_else(|| super::consumer::ASSIGNORS[0].to_owned())
}
