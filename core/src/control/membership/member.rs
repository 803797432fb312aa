//! The instance group's member: joins, syncs (the leader hands out the member list),
//! heartbeats, moves the group back to a better cluster, and looks for a split brain.

use super::{Instance, Membership, PROTOCOL_NAME, PROTOCOL_TYPE, View};
use crate::backend::{BackendError, Cluster};
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::metrics::Metrics;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A cluster to host the group on: circuit closed and a health probe answered lately.
fn reachable_now(c: &Cluster) -> bool {
    c.admits()
        && c.status().reachable
        && c.last_probe_ok()
            .is_some_and(|t| t.elapsed() < crate::base::timing::PROBE_FRESH)
}

/// One instance's seat in the instance group.
pub(super) struct InstanceMember {
    pub(super) membership: Arc<Membership>,
    /// Clusters in authority order: the group lives on the first healthy one.
    pub(super) clusters: PerCluster<Arc<Cluster>>,
    pub(super) group: StrBytes,
    pub(super) session: Duration,
    pub(super) metrics: Metrics,
}

/// Why joining the instance group on a cluster failed.
#[derive(Debug, thiserror::Error)]
enum JoinError {
    /// A request failed or was refused.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// This instance's member metadata could not be written as JSON.
    #[error("cannot encode this instance's member metadata: {0}")]
    Encode(serde_json::Error),
    /// The leader's assignment is not a member list.
    #[error("the group leader's assignment does not parse: {0}")]
    BadAssignment(serde_json::Error),
    /// Every attempt met a rebalance.
    #[error("the group kept rebalancing")]
    KeptRebalancing,
}

/// Why the member left its group round.
enum Rejoin {
    /// The group rebalanced or the member was dropped.
    Group(i16),
    /// The hosting cluster failed.
    Cluster(JoinError),
    /// A higher-priority cluster is reachable again: move the group there.
    MoveBack,
    /// Shutting down.
    Stop,
}

impl InstanceMember {
    /// Takes part in the group until `stop`, then leaves it.
    pub(super) async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut member_id = StrBytes::default();
        loop {
            if *stop.borrow() {
                return;
            }
            let Some(k) = self.clusters.position(|c| reachable_now(c)) else {
                self.lose_view();
                tokio::time::sleep(crate::base::timing::NO_GROUP_CLUSTER_PAUSE).await;
                continue;
            };
            tracing::debug!(
                cluster = %self.clusters[k].id,
                "instance group {:?}: joining",
                self.group.as_str()
            );
            // A join can wait a whole rebalance timeout (for a member that died mid-join):
            // a stop or a better cluster coming back cuts it short.
            let joined = tokio::select! {
                joined = self.join(k, &mut member_id) => Ok(joined),
                cut = self.interruption(k, &mut stop) => Err(cut),
            };
            let outcome = match joined {
                Ok(Ok(generation)) => self.heartbeat(k, &member_id, generation, &mut stop).await,
                Ok(Err(e)) => Rejoin::Cluster(e),
                Err(cut) => cut,
            };
            match outcome {
                Rejoin::Stop => {
                    self.leave(k, &member_id).await;
                    return;
                }
                Rejoin::MoveBack => {
                    self.leave(k, &member_id).await;
                    member_id = StrBytes::default();
                }
                Rejoin::Group(code) => {
                    // Revoke before rejoining, as Kafka's eager rebalance does: the new
                    // division is handed out once every member has rejoined, so no member
                    // still writes by the old one by then.
                    self.lose_view();
                    if code == ResponseError::UnknownMemberId.code() {
                        member_id = StrBytes::default();
                    }
                }
                Rejoin::Cluster(e) => {
                    tracing::warn!(
                        cluster = %self.clusters[k].id,
                        "instance group {:?} on cluster {}: {e}",
                        self.group.as_str(),
                        self.clusters[k].id
                    );
                    member_id = StrBytes::default();
                    self.lose_view();
                    tokio::time::sleep(crate::base::timing::REJOIN_PAUSE).await;
                }
            }
        }
    }

    /// Resolves when the member should give up a join on cluster `k`: on a stop, or when a
    /// cluster before `k` in authority order is healthy again.
    async fn interruption(&self, k: ClusterIdx, stop: &mut watch::Receiver<bool>) -> Rejoin {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(crate::base::timing::REJOIN_PAUSE) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return Rejoin::Stop;
                    }
                }
            }
            if self.clusters.before(k).any(|c| reachable_now(c)) {
                return Rejoin::MoveBack;
            }
        }
    }

    /// Owning nothing is safe; owning what another instance also owns is not.
    fn lose_view(&self) {
        self.membership.set_view(View::default());
    }

    fn version(&self, k: ClusterIdx, api: ApiKey, want: i16) -> i16 {
        self.clusters[k]
            .supports(api)
            .map_or(want, |r| want.clamp(r.min, r.max))
    }

    async fn send(
        &self,
        k: ClusterIdx,
        api: ApiKey,
        version: i16,
        req: RequestKind,
        within: Duration,
    ) -> Result<ResponseKind, BackendError> {
        let c = &self.clusters[k];
        let attempt = async {
            let node = c.coordinator(&self.group).await?;
            c.send_to(node, api, version, None, &req).await
        };
        match c.within(within, api, attempt).await {
            Ok(r) => Ok(r),
            Err(e) => {
                c.forget_coordinator(&self.group);
                Err(e)
            }
        }
    }

    /// Joins (JoinGroup, then SyncGroup) and installs the member list; the generation.
    async fn join(&self, k: ClusterIdx, member_id: &mut StrBytes) -> Result<i32, JoinError> {
        let me = serde_json::to_vec(self.membership.me()).map_err(JoinError::Encode)?;
        let session_ms = i32::try_from(self.session.as_millis()).unwrap_or(i32::MAX);
        let v = self.version(k, ApiKey::JoinGroup, 5);
        for _ in 0..3 {
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(self.group.clone()))
                .with_session_timeout_ms(session_ms)
                .with_rebalance_timeout_ms(session_ms)
                .with_member_id(member_id.clone())
                .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
                .with_protocols(vec![
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str(PROTOCOL_NAME))
                        .with_metadata(me.clone().into()),
                ]);
            let wait = self.session * 2 + crate::base::timing::JOIN_EXTRA_WAIT;
            let resp = self
                .send(k, ApiKey::JoinGroup, v, RequestKind::JoinGroup(req), wait)
                .await?;
            let ResponseKind::JoinGroup(r) = resp else {
                return Err(self.wrong_answer(k, ApiKey::JoinGroup));
            };
            if r.error_code == ResponseError::MemberIdRequired.code() {
                *member_id = r.member_id;
                continue;
            }
            if r.error_code == ResponseError::UnknownMemberId.code() {
                *member_id = StrBytes::default();
                continue;
            }
            if r.error_code != 0 {
                return Err(BackendError::Refused {
                    cluster: self.clusters[k].id.to_string(),
                    what: format!("JoinGroup for instance group {:?}", self.group.as_str()),
                    code: r.error_code,
                }
                .into());
            }
            *member_id = r.member_id.clone();
            let assignments = if r.leader == r.member_id {
                self.assign(&r)
            } else {
                Vec::new()
            };
            let sv = self.version(k, ApiKey::SyncGroup, 5);
            let sync = SyncGroupRequest::default()
                .with_group_id(GroupId(self.group.clone()))
                .with_generation_id(r.generation_id)
                .with_member_id(member_id.clone())
                .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
                .with_protocol_name(Some(StrBytes::from_static_str(PROTOCOL_NAME)))
                .with_assignments(assignments);
            let resp = self
                .send(k, ApiKey::SyncGroup, sv, RequestKind::SyncGroup(sync), wait)
                .await?;
            let ResponseKind::SyncGroup(s) = resp else {
                return Err(self.wrong_answer(k, ApiKey::SyncGroup));
            };
            if s.error_code != 0 {
                // A rebalance started meanwhile: join again.
                continue;
            }
            let members: Vec<Instance> =
                serde_json::from_slice(&s.assignment).map_err(JoinError::BadAssignment)?;
            self.membership.install(members, self.session);
            return Ok(r.generation_id);
        }
        Err(JoinError::KeptRebalancing)
    }

    fn wrong_answer(&self, k: ClusterIdx, api: ApiKey) -> JoinError {
        BackendError::WrongAnswer {
            cluster: self.clusters[k].id.to_string(),
            api,
        }
        .into()
    }

    /// The leader's assignment: every member gets the whole member list, sorted by node id.
    fn assign(&self, r: &JoinGroupResponse) -> Vec<sync_group_request::SyncGroupRequestAssignment> {
        let mut members: Vec<Instance> = r
            .members
            .iter()
            .filter_map(|m| serde_json::from_slice::<Instance>(&m.metadata).ok())
            .collect();
        members.sort_by_key(|m| m.node_id);
        members.dedup_by_key(|m| m.node_id);
        let list = serde_json::to_vec(&members).unwrap_or_default();
        r.members
            .iter()
            .map(|m| {
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(m.member_id.clone())
                    .with_assignment(list.clone().into())
            })
            .collect()
    }

    /// Heartbeats until the group changes, the cluster fails, or a better cluster is back;
    /// meanwhile looks for a second instance group on the other clusters (split brain).
    async fn heartbeat(
        &self,
        k: ClusterIdx,
        member_id: &StrBytes,
        generation: i32,
        stop: &mut watch::Receiver<bool>,
    ) -> Rejoin {
        let every = (self.session / 3).max(crate::base::timing::MIN_HEARTBEAT);
        let mut ticks = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return Rejoin::Stop,
            }
            if *stop.borrow() {
                return Rejoin::Stop;
            }
            if self.clusters.before(k).any(|c| reachable_now(c)) {
                return Rejoin::MoveBack;
            }
            let v = self.version(k, ApiKey::Heartbeat, 3);
            let sent = std::time::Instant::now();
            let req = HeartbeatRequest::default()
                .with_group_id(GroupId(self.group.clone()))
                .with_generation_id(generation)
                .with_member_id(member_id.clone());
            match self
                .send(
                    k,
                    ApiKey::Heartbeat,
                    v,
                    RequestKind::Heartbeat(req),
                    every * 2,
                )
                .await
            {
                Ok(ResponseKind::Heartbeat(r)) if r.error_code == 0 => {
                    self.membership.confirm(sent, self.session);
                }
                Ok(ResponseKind::Heartbeat(r)) => return Rejoin::Group(r.error_code),
                Ok(_) => return Rejoin::Cluster(self.wrong_answer(k, ApiKey::Heartbeat)),
                Err(e) => return Rejoin::Cluster(e.into()),
            }
            ticks += 1;
            if ticks.is_multiple_of(3) {
                self.look_for_split_brain(k).await;
            }
        }
    }

    /// Reports an instance group with live members on a cluster other than `k`.
    async fn look_for_split_brain(&self, k: ClusterIdx) {
        let mut others = Vec::new();
        for (j, c) in self.clusters.iter_indexed() {
            if j == k || !c.admits() {
                continue;
            }
            let v = self.version(j, ApiKey::DescribeGroups, 1);
            let req =
                DescribeGroupsRequest::default().with_groups(vec![GroupId(self.group.clone())]);
            let Ok(ResponseKind::DescribeGroups(r)) = self
                .send(
                    j,
                    ApiKey::DescribeGroups,
                    v,
                    RequestKind::DescribeGroups(req),
                    crate::base::timing::MEMBERSHIP_REQUEST_WAIT,
                )
                .await
            else {
                continue;
            };
            for g in r.groups {
                let live = g.error_code == 0 && !g.members.is_empty();
                if live && g.group_state.as_str() != "Dead" && g.group_state.as_str() != "Empty" {
                    let nodes: Vec<String> = g
                        .members
                        .iter()
                        .filter_map(|m| serde_json::from_slice::<Instance>(&m.member_metadata).ok())
                        .map(|m| m.node_id.to_string())
                        .collect();
                    others.push(format!(
                        "cluster {}: instance(s) [{}]",
                        c.id,
                        nodes.join(", ")
                    ));
                }
            }
        }
        let split = !others.is_empty();
        self.metrics
            .split_brain
            .with_label_values::<&str>(&[])
            .set(i64::from(split));
        if split {
            tracing::error!(
                "split brain: another instance group is live on {} while this instance's group is on cluster {}; \
                 both groups own every partition they cover. Check which clusters each instance can reach",
                others.join("; "),
                self.clusters[k].id
            );
        }
    }

    async fn leave(&self, k: ClusterIdx, member_id: &StrBytes) {
        if member_id.is_empty() {
            return;
        }
        let v = self.version(k, ApiKey::LeaveGroup, 3);
        let req = if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(self.group.clone()))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default()
                        .with_member_id(member_id.clone()),
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(self.group.clone()))
                .with_member_id(member_id.clone())
        };
        let _ = self
            .send(
                k,
                ApiKey::LeaveGroup,
                v,
                RequestKind::LeaveGroup(req),
                crate::base::timing::MEMBERSHIP_REQUEST_WAIT,
            )
            .await;
        self.lose_view();
    }
}
