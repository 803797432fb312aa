//! What group answers mean beyond the client: commits mirrored, translated, to each
//! cluster's own coordinator (groups the proxy coordinates), and the commit book and group
//! metrics of groups passed through to a single cluster.

use crate::groups::Commit;
use crate::proxy::Proxy;
use crate::replication::partitions::lanes::Tp;
use crate::transactions::Member;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::sync::watch;

use crate::base::timing::{COMMIT_MIRROR_WAIT, GROUP_MIRROR_EVERY};

/// A commit for `member`, or outside any generation when `None` (how a consumer without a
/// group membership commits).
fn offset_commit(
    group: &StrBytes,
    member: Option<&Member>,
    commits: &[(Tp, Commit)],
    delta: impl Fn(&Tp) -> i64,
) -> RequestKind {
    let mut topics: Vec<offset_commit_request::OffsetCommitRequestTopic> = Vec::new();
    for (tp, c) in commits {
        let part = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(c.offset + delta(tp))
            .with_committed_metadata(c.metadata.clone());
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(tp.topic.clone())
                    .with_partitions(vec![part]),
            ),
        }
    }
    RequestKind::OffsetCommit(
        OffsetCommitRequest::default()
            .with_group_id(GroupId(group.clone()))
            .with_generation_id_or_member_epoch(member.map_or(-1, |m| m.generation))
            .with_member_id(member.map(|m| m.member_id.clone()).unwrap_or_default())
            .with_group_instance_id(member.and_then(|m| m.instance_id.clone()))
            .with_topics(topics),
    )
}

impl Proxy {
    /// Commits `commits` for `member` of `group` on the one cluster's own coordinator of
    /// the group (a transaction's offsets, in front of one cluster): the error code.
    pub(in crate::proxy) async fn commit_on_cluster(
        &self,
        group: &StrBytes,
        member: Option<&Member>,
        commits: &[(Tp, Commit)],
    ) -> i16 {
        let c = &self.backends.cluster;
        let v = c
            .supports(ApiKey::OffsetCommit)
            .map_or(2, |r| 8.clamp(r.min, r.max));
        let req = offset_commit(group, member, commits, |_| 0);
        let bound = Some(self.config.consumer.group_request_timeout.get());
        match self
            .send_group(c, ApiKey::OffsetCommit, v, None, group, &req, bound)
            .await
        {
            Ok(resp) => group_error(&resp),
            Err((msg, _)) => {
                tracing::warn!(
                    "committing group {:?}'s offsets on cluster {}: {msg}",
                    group.as_str(),
                    c.id
                );
                ResponseError::CoordinatorNotAvailable.code()
            }
        }
    }

    /// What a passed-through group answer means beyond the client: metrics and the commit
    /// book (for the lag gauge).
    pub(in crate::proxy) fn after_group_answer(
        &self,
        group: &StrBytes,
        req: &RequestKind,
        resp: &mut ResponseKind,
    ) {
        let label = [group.as_str()];
        match (req, resp) {
            (RequestKind::JoinGroup(_), ResponseKind::JoinGroup(r))
                if r.error_code == 0 && r.leader == r.member_id =>
            {
                // The leader's answer lists the members: one per generation.
                self.metrics
                    .group_rebalances
                    .with_label_values(&label)
                    .inc();
                self.metrics
                    .group_members
                    .with_label_values(&label)
                    .set(r.members.len() as i64);
            }
            (RequestKind::OffsetCommit(sent), ResponseKind::OffsetCommit(r)) => {
                let ok = sent
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
                    .filter(|(t, p)| {
                        r.topics.iter().any(|rt| {
                            rt.name == t.name
                                && rt.partitions.iter().any(|rp| {
                                    rp.partition_index == p.partition_index && rp.error_code == 0
                                })
                        })
                    })
                    .map(|(t, p)| {
                        (
                            Tp::new(t.name.clone(), p.partition_index),
                            Commit {
                                offset: p.committed_offset,
                                metadata: p.committed_metadata.clone(),
                            },
                        )
                    });
                self.books.groups.note_commits(group, ok);
            }
            (_, ResponseKind::DeleteGroups(r)) => {
                for g in &r.results {
                    if g.error_code == 0 {
                        self.books.groups.forget(&g.group_id.0);
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends the commits of the groups this instance coordinates to every cluster's own
    /// coordinator, translated to that cluster's offsets, as standalone commits (generation
    /// -1), every `GROUP_MIRROR_EVERY` until `stop`. A consumer pointed straight at a cluster
    /// (the proxy gone) resumes from them: they lag the group's commits by at most that
    /// period while the cluster is up, and a cluster that was away gets them all when it is
    /// back.
    pub async fn mirror_group_commits(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(rep) = self.backends.replicator.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(GROUP_MIRROR_EVERY);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            let me = &self;
            let sends = rep.clusters().indices().map(|j| {
                let rep = &rep;
                async move {
                    let this = me;
                    let c = &rep.clusters()[j];
                    if !c.admits() {
                        return;
                    }
                    for (group, mark, commits) in this.books.groups.unmirrored_on(j) {
                        if this.membership.group_owner(group.as_str()) != Some(this.identity.node_id) {
                            // Left for whichever instance owns it (this one may, later: it
                            // has just started, or ownership is fenced).
                            continue;
                        }
                        let v = c
                            .supports(ApiKey::OffsetCommit)
                            .map_or(2, |r| 8.clamp(r.min, r.max));
                        let req = offset_commit(&group, None, &commits, |tp| rep.delta(tp, j));
                        let r = this
                            .send_group(c, ApiKey::OffsetCommit, v, None, &group, &req, Some(COMMIT_MIRROR_WAIT))
                            .await;
                        let failed = match &r {
                            Ok(resp) => group_error(resp),
                            Err(_) => ResponseError::RequestTimedOut.code(),
                        };
                        if failed == 0 {
                            this.books.groups.mirrored(j, &group, mark);
                        } else {
                            tracing::debug!(
                                cluster = %c.id,
                                "mirroring group {:?}'s commits to cluster {} failed (code {failed}); sent again later",
                                group.as_str(),
                                c.id
                            );
                        }
                    }
                }
            });
            futures::future::join_all(sends).await;
        }
    }

    /// Sends a group request to every cluster that is up, bounded; failures are logged.
    pub(in crate::proxy) async fn on_every_cluster(
        &self,
        group: &StrBytes,
        api: ApiKey,
        version: i16,
        req: &RequestKind,
    ) {
        let Some(rep) = &self.backends.replicator else {
            return;
        };
        let sends = rep
            .clusters()
            .iter()
            .filter(|c| c.admits())
            .map(|c| async move {
                let v = c.supports(api).map_or(version, |r| version.clamp(r.min, r.max));
                if let Err((e, _)) = self
                    .send_group(c, api, v, None, group, req, Some(COMMIT_MIRROR_WAIT))
                    .await
                {
                    tracing::warn!(cluster = %c.id, "{api:?} for group {:?} on cluster {}: {e}", group.as_str(), c.id);
                }
            });
        futures::future::join_all(sends).await;
    }
}

/// The first non-zero code, or 0.
fn first_error(codes: impl Iterator<Item = i16>) -> i16 {
    codes.into_iter().find(|c| *c != 0).unwrap_or(0)
}

/// The first group-level error code of a group response.
pub(in crate::proxy) fn group_error(resp: &ResponseKind) -> i16 {
    match resp {
        ResponseKind::JoinGroup(r) => r.error_code,
        ResponseKind::SyncGroup(r) => r.error_code,
        ResponseKind::Heartbeat(r) => r.error_code,
        ResponseKind::LeaveGroup(r) => r.error_code,
        ResponseKind::OffsetCommit(r) => first_error(
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code),
        ),
        ResponseKind::OffsetFetch(r) if r.error_code != 0 => r.error_code,
        ResponseKind::OffsetFetch(r) => first_error(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DescribeGroups(r) => first_error(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DeleteGroups(r) => first_error(r.results.iter().map(|g| g.error_code)),
        _ => 0,
    }
}
