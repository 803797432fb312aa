//! Group requests answered by the proxy's own group coordinator (in front of several
//! clusters): each group's requests are served by the instance that owns the group, and
//! answered `NOT_COORDINATOR` elsewhere, as a Kafka broker does for groups it does not lead.

use crate::backend::partitioned::Tp;
use crate::groups::consumer::topic_id;
use crate::proxy::{Proxy, errors};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

/// What OffsetFetch answers for one partition: the committed offset and its metadata, or
/// -1 and empty metadata (as Kafka) when nothing was committed.
fn fetched(c: Option<crate::groups::Commit>) -> (i64, Option<StrBytes>) {
    match c {
        Some(c) => (c.offset, Some(c.metadata.unwrap_or_default())),
        None => (-1, Some(StrBytes::default())),
    }
}

impl Proxy {
    /// `Err(code)` when this instance may not serve `group` now: another instance owns it
    /// (`NOT_COORDINATOR`), or ownership or the control state is not known yet
    /// (`COORDINATOR_LOAD_IN_PROGRESS`, which clients retry).
    pub(in crate::proxy) fn serves_group(&self, group: &StrBytes) -> Result<(), i16> {
        if !*self.books.control_loaded.borrow() {
            return Err(ResponseError::CoordinatorLoadInProgress.code());
        }
        match self.membership.group_owner(group.as_str()) {
            Some(n) if n == self.identity.node_id => Ok(()),
            Some(_) => Err(ResponseError::NotCoordinator.code()),
            None => Err(ResponseError::CoordinatorLoadInProgress.code()),
        }
    }

    /// Answers a group request from the proxy's coordinator.
    pub(in crate::proxy) async fn coordinate(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        req: RequestKind,
        client_host: StrBytes,
    ) -> ResponseKind {
        let groups = &self.books.groups;
        // The API's own answer carrying `code` for everything it names.
        let answer_with = |req: &RequestKind, code: i16| {
            errors::error_response(req, code, "").unwrap_or(ResponseKind::Heartbeat(
                HeartbeatResponse::default().with_error_code(code),
            ))
        };
        match req {
            RequestKind::JoinGroup(r) => match self.serves_group(&r.group_id.0) {
                Err(code) => answer_with(&RequestKind::JoinGroup(r), code),
                Ok(()) => {
                    let client = client_id.unwrap_or_default();
                    ResponseKind::JoinGroup(groups.join(version, &r, client, client_host).await)
                }
            },
            RequestKind::SyncGroup(r) => match self.serves_group(&r.group_id.0) {
                Err(code) => answer_with(&RequestKind::SyncGroup(r), code),
                Ok(()) => ResponseKind::SyncGroup(groups.sync(&r).await),
            },
            RequestKind::Heartbeat(r) => match self.serves_group(&r.group_id.0) {
                Err(code) => answer_with(&RequestKind::Heartbeat(r), code),
                Ok(()) => ResponseKind::Heartbeat(groups.heartbeat(&r)),
            },
            RequestKind::LeaveGroup(r) => match self.serves_group(&r.group_id.0) {
                Err(code) => answer_with(&RequestKind::LeaveGroup(r), code),
                Ok(()) => ResponseKind::LeaveGroup(groups.leave(version, &r)),
            },
            RequestKind::OffsetCommit(r) => match self.serves_group(&r.group_id.0) {
                Err(code) => answer_with(&RequestKind::OffsetCommit(r), code),
                Ok(()) => {
                    let code = groups.commit(&r).await;
                    answer_with(&RequestKind::OffsetCommit(r), code)
                }
            },
            RequestKind::OffsetFetch(r) => {
                ResponseKind::OffsetFetch(self.fetch_offsets(version, r))
            }
            RequestKind::DescribeGroups(r) => {
                let described = r
                    .groups
                    .iter()
                    .map(|g| match self.serves_group(&g.0) {
                        Ok(()) => groups.describe(&g.0),
                        Err(code) => describe_groups_response::DescribedGroup::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                            .with_authorized_operations(i32::MIN),
                    })
                    .collect();
                ResponseKind::DescribeGroups(
                    DescribeGroupsResponse::default().with_groups(described),
                )
            }
            RequestKind::DeleteGroups(r) => self.delete_groups(version, r).await,
            RequestKind::OffsetDelete(r) => self.delete_group_offsets(r).await,
            RequestKind::ListGroups(r) => {
                ResponseKind::ListGroups(self.list_coordinated(version, &r))
            }
            RequestKind::ConsumerGroupHeartbeat(r) => {
                let client = client_id.unwrap_or_default();
                ResponseKind::ConsumerGroupHeartbeat(
                    self.consumer_heartbeat(r, client, client_host).await,
                )
            }
            RequestKind::ConsumerGroupDescribe(r) => {
                let described = r
                    .group_ids
                    .iter()
                    .map(|g| match self.serves_group(&g.0) {
                        Ok(()) => groups.consumer_describe(&g.0, topic_id),
                        Err(code) => consumer_group_describe_response::DescribedGroup::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                            .with_authorized_operations(i32::MIN),
                    })
                    .collect();
                ResponseKind::ConsumerGroupDescribe(
                    ConsumerGroupDescribeResponse::default().with_groups(described),
                )
            }
            other => answer_with(&other, ResponseError::UnsupportedVersion.code()),
        }
    }

    /// DeleteGroups: each empty group leaves the control state and every cluster's own
    /// coordinator.
    async fn delete_groups(&self, version: i16, r: DeleteGroupsRequest) -> ResponseKind {
        let mut results = Vec::new();
        for g in &r.groups_names {
            let code = match self.serves_group(&g.0) {
                Ok(()) => self.books.groups.delete(&g.0).await,
                Err(code) => code,
            };
            if code == 0 {
                // The mirrored commits go too, or a consumer pointed straight at a
                // cluster would resume from them.
                let one = DeleteGroupsRequest::default().with_groups_names(vec![g.clone()]);
                self.on_every_cluster(
                    &g.0,
                    ApiKey::DeleteGroups,
                    version,
                    &RequestKind::DeleteGroups(one),
                )
                .await;
            }
            results.push(
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g.clone())
                    .with_error_code(code),
            );
        }
        ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
    }

    /// OffsetDelete: a group's commits of partitions no member subscribes to.
    async fn delete_group_offsets(&self, r: OffsetDeleteRequest) -> ResponseKind {
        let group = r.group_id.0.clone();
        if let Err(code) = self.serves_group(&group) {
            return ResponseKind::OffsetDelete(
                OffsetDeleteResponse::default().with_error_code(code),
            );
        }
        let parts: Vec<Tp> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| Tp::new(t.name.clone(), p.partition_index))
            })
            .collect();
        let (code, codes) = self.books.groups.delete_offsets(&group, &parts).await;
        let mut topics: Vec<offset_delete_response::OffsetDeleteResponseTopic> = Vec::new();
        for (
            Tp {
                topic: t,
                partition: p,
            },
            c,
        ) in parts.into_iter().zip(codes)
        {
            let part = offset_delete_response::OffsetDeleteResponsePartition::default()
                .with_partition_index(p)
                .with_error_code(c);
            match topics.iter_mut().find(|x| x.name == t) {
                Some(x) => x.partitions.push(part),
                None => topics.push(
                    offset_delete_response::OffsetDeleteResponseTopic::default()
                        .with_name(t)
                        .with_partitions(vec![part]),
                ),
            }
        }
        ResponseKind::OffsetDelete(
            OffsetDeleteResponse::default()
                .with_error_code(code)
                .with_topics(topics),
        )
    }

    /// OffsetFetch: one group before v8, several from v8; each from this instance's copy
    /// of the control state when it coordinates the group.
    fn fetch_offsets(&self, version: i16, r: OffsetFetchRequest) -> OffsetFetchResponse {
        use offset_fetch_response::*;
        if version < 8 {
            let group = &r.group_id.0;
            if let Err(code) = self.serves_group(group) {
                return OffsetFetchResponse::default().with_error_code(code);
            }
            let topics = r.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let found = self.books.groups.committed(group, topics);
            return OffsetFetchResponse::default().with_topics(
                found
                    .into_iter()
                    .map(|(t, parts)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t)
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, c)| {
                                        let (offset, metadata) = fetched(c);
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(-1)
                                            .with_metadata(metadata)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        }
        let groups = r
            .groups
            .into_iter()
            .map(|g| {
                let out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                if let Err(code) = self.serves_group(&g.group_id.0) {
                    return out.with_error_code(code);
                }
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name, t.partition_indexes))
                        .collect()
                });
                let found = self.books.groups.committed(&g.group_id.0, topics);
                out.with_topics(
                    found
                        .into_iter()
                        .map(|(t, parts)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(t)
                                .with_partitions(
                                    parts
                                        .into_iter()
                                        .map(|(p, c)| {
                                            let (offset, metadata) = fetched(c);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(-1)
                                                .with_metadata(metadata)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
            })
            .collect();
        OffsetFetchResponse::default().with_groups(groups)
    }

    /// ListGroups: every group in the control state (any instance knows them all).
    fn list_coordinated(&self, version: i16, r: &ListGroupsRequest) -> ListGroupsResponse {
        let states: Vec<String> = r.states_filter.iter().map(|s| s.to_lowercase()).collect();
        let types: Vec<String> = r.types_filter.iter().map(|s| s.to_lowercase()).collect();
        let groups = self
            .books
            .groups
            .list()
            .into_iter()
            .filter(|l| {
                version < 4 || states.is_empty() || states.contains(&l.state.to_lowercase())
            })
            .filter(|l| version < 5 || types.is_empty() || types.iter().any(|t| t == l.kind.name()))
            .map(|l| {
                list_groups_response::ListedGroup::default()
                    .with_group_id(GroupId(l.name))
                    .with_protocol_type(l.protocol_type)
                    .with_group_state(StrBytes::from_static_str(l.state))
                    .with_group_type(StrBytes::from_static_str(l.kind.name()))
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }
}
