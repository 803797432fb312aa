//! ConsumerGroupHeartbeat answered by the proxy's coordinator (in front of several
//! clusters): topic ids mapped to names at this edge (the proxy presents its own ids, see
//! `groups::consumer::topic_id`), partition counts from the backends' metadata.

use crate::groups::consumer::{Assignment, Beat, topic_id};
use crate::proxy::Proxy;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet};

fn refused_heartbeat(code: i16, message: Option<String>) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
}

impl Proxy {
    /// ConsumerGroupHeartbeat.
    pub(in crate::proxy) async fn consumer_heartbeat(
        &self,
        r: ConsumerGroupHeartbeatRequest,
        client_id: StrBytes,
        client_host: StrBytes,
    ) -> ConsumerGroupHeartbeatResponse {
        let group = r.group_id.0.clone();
        if let Err(code) = self.serves_group(&group) {
            return refused_heartbeat(code, None);
        }
        if r.subscribed_topic_regex
            .as_ref()
            .is_some_and(|x| !x.is_empty())
        {
            return refused_heartbeat(
                ResponseError::InvalidRequest.code(),
                Some(format!(
                    "group {:?}: regular expression subscriptions are not supported by the \
                     consumer group protocol here; subscribe to topic names",
                    group.as_str()
                )),
            );
        }
        let mut topics = self.books.groups.consumer_topics(&group);
        if let Some(names) = &r.subscribed_topic_names {
            topics.extend(names.iter().map(|t| t.0.as_str().to_owned()));
        }
        let counts = self.partition_counts(&topics).await;
        let by_id: BTreeMap<uuid::Uuid, &String> =
            topics.iter().map(|t| (topic_id(t), t)).collect();
        let owned = r.topic_partitions.map(|tps| {
            let mut owned = Assignment::new();
            for tp in tps {
                match by_id.get(&tp.topic_id) {
                    Some(name) => owned
                        .entry((*name).clone())
                        .or_default()
                        .extend(tp.partitions),
                    None => tracing::debug!(
                        "group {:?}: a member owns partitions of unknown topic id {}",
                        group.as_str(),
                        tp.topic_id
                    ),
                }
            }
            owned
        });
        let text = |s: Option<StrBytes>| s.map(|s| s.as_str().to_owned());
        let beat = Beat {
            member_id: r.member_id.as_str().to_owned(),
            epoch: r.member_epoch,
            instance_id: text(r.instance_id),
            rack_id: text(r.rack_id),
            rebalance_timeout_ms: r.rebalance_timeout_ms,
            subscribed: r
                .subscribed_topic_names
                .map(|v| v.into_iter().map(|t| t.0.as_str().to_owned()).collect()),
            assignor: text(r.server_assignor),
            owned,
            client_id: client_id.as_str().to_owned(),
            client_host: client_host.as_str().to_owned(),
        };
        match self.books.groups.consumer_heartbeat(&group, beat, &counts) {
            Err(e) => refused_heartbeat(e.code, Some(e.message)),
            Ok(a) => {
                let mut interval = self.config.consumer.group_consumer_heartbeat_interval.get();
                if a.settling {
                    interval = interval.min(crate::base::timing::GROUP_SETTLING_HEARTBEAT);
                }
                ConsumerGroupHeartbeatResponse::default()
                    .with_member_id(Some(StrBytes::from_string(a.member_id)))
                    .with_member_epoch(a.epoch)
                    .with_heartbeat_interval_ms(
                        i32::try_from(interval.as_millis()).unwrap_or(i32::MAX),
                    )
                    .with_assignment(a.assignment.map(|a| {
                        consumer_group_heartbeat_response::Assignment::default()
                            .with_topic_partitions(
                                a.into_iter()
                                    .map(|(t, ps)| {
                                        consumer_group_heartbeat_response::TopicPartitions::default(
                                        )
                                        .with_topic_id(topic_id(&t))
                                        .with_partitions(ps.into_iter().collect())
                                    })
                                    .collect(),
                            )
                    }))
            }
        }
    }

    /// Partition counts of `topics` that exist: from cached metadata, asking the clusters
    /// (as Metadata does, any cluster answering) for those not known yet.
    async fn partition_counts(&self, topics: &BTreeSet<String>) -> BTreeMap<String, i32> {
        let front = self.front();
        let mut counts = BTreeMap::new();
        let mut missing = Vec::new();
        for t in topics {
            let name = TopicName(StrBytes::from_string(t.clone()));
            match front.partition_count(&name) {
                Some(n) => {
                    counts.insert(t.clone(), n);
                }
                None => missing.push(name),
            }
        }
        if missing.is_empty() {
            return counts;
        }
        let req = MetadataRequest::default().with_topics(Some(
            missing
                .into_iter()
                .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(n)))
                .collect(),
        ));
        if let ResponseKind::Metadata(m) = self.metadata(9, None, req).await {
            for t in m.topics {
                if let Some(name) = t.name
                    && t.error_code == 0
                    && !t.partitions.is_empty()
                {
                    let n = t.partitions.iter().map(|p| p.partition_index + 1).max();
                    counts.insert(name.0.as_str().to_owned(), n.unwrap_or(0));
                }
            }
        }
        counts
    }
}
