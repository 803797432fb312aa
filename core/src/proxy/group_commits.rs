//! What group answers mean beyond the client: the commit book, commits mirrored to the
//! other clusters (and replayed to one that comes back), logical offsets in commits, and the
//! group metrics.

use crate::group_book::Commit;
use crate::proxy::Proxy;
use crate::replication::lanes::Tp;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::timing::COMMIT_MIRROR_WAIT;

/// Moves a commit's offsets by the cluster's offset map.
pub(super) fn shift_commit(r: &mut OffsetCommitRequest, delta: impl Fn(&Tp) -> i64) {
    for t in &mut r.topics {
        for p in &mut t.partitions {
            if p.committed_offset >= 0 {
                p.committed_offset += delta(&(t.name.clone(), p.partition_index));
            }
        }
    }
}

/// A commit outside any generation (how a consumer without a group membership commits).
fn standalone_commit(
    group: &StrBytes,
    commits: &[(Tp, Commit)],
    delta: impl Fn(&Tp) -> i64,
) -> RequestKind {
    let mut topics: Vec<offset_commit_request::OffsetCommitRequestTopic> = Vec::new();
    for (tp, c) in commits {
        let part = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(tp.1)
            .with_committed_offset(c.offset + delta(tp))
            .with_committed_metadata(c.metadata.clone());
        match topics.iter_mut().find(|t| t.name == tp.0) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(tp.0.clone())
                    .with_partitions(vec![part]),
            ),
        }
    }
    RequestKind::OffsetCommit(
        OffsetCommitRequest::default()
            .with_group_id(GroupId(group.clone()))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::default())
            .with_topics(topics),
    )
}

impl Proxy {
    /// What a group answer means beyond the client: metrics, the commit book, mirroring
    /// commits to the other clusters, and logical offsets in OffsetFetch.
    pub(super) async fn after_group_answer(
        &self,
        home: usize,
        group: &StrBytes,
        req: &RequestKind,
        resp: &mut ResponseKind,
        version: i16,
        client_id: Option<StrBytes>,
    ) {
        let label = [group.as_str()];
        match (req, resp) {
            (RequestKind::JoinGroup(_), ResponseKind::JoinGroup(r))
                if r.error_code == 0 && r.leader == r.member_id =>
            {
                // The leader's answer lists the members: one per generation.
                if self.groups.new_generation(group, home, r.generation_id) {
                    self.metrics
                        .group_rebalances
                        .with_label_values(&label)
                        .inc();
                }
                self.metrics
                    .group_members
                    .with_label_values(&label)
                    .set(r.members.len() as i64);
            }
            (_, ResponseKind::DescribeGroups(r)) => {
                for g in &r.groups {
                    if g.error_code == 0 {
                        self.metrics
                            .group_members
                            .with_label_values(&[g.group_id.as_str()])
                            .set(g.members.len() as i64);
                    }
                }
            }
            (RequestKind::OffsetCommit(sent), ResponseKind::OffsetCommit(r)) => {
                let delta = |tp: &Tp| {
                    self.replicator
                        .as_ref()
                        .map_or(0, |rep| rep.delta(tp, home))
                };
                let ok: Vec<(Tp, Commit)> = sent
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
                        let tp = (t.name.clone(), p.partition_index);
                        let offset = p.committed_offset - delta(&tp);
                        (
                            tp,
                            Commit {
                                offset,
                                metadata: p.committed_metadata.clone(),
                            },
                        )
                    })
                    .collect();
                if !ok.is_empty() {
                    self.groups.committed(group, ok.clone());
                    self.mirror_commits(home, group, version, client_id, &ok)
                        .await;
                }
            }
            (_, ResponseKind::OffsetFetch(r)) => {
                let Some(rep) = &self.replicator else { return };
                let to_logical = |offset: &mut i64, topic: &TopicName, partition: i32| {
                    if *offset >= 0 {
                        *offset -= rep.delta(&(topic.clone(), partition), home);
                    }
                };
                // Before v8 the answer lists topics; from v8, groups of topics.
                for t in &mut r.topics {
                    for p in &mut t.partitions {
                        to_logical(&mut p.committed_offset, &t.name, p.partition_index);
                    }
                }
                for t in r.groups.iter_mut().flat_map(|g| &mut g.topics) {
                    for p in &mut t.partitions {
                        to_logical(&mut p.committed_offset, &t.name, p.partition_index);
                    }
                }
            }
            (sent @ RequestKind::DeleteGroups(_), ResponseKind::DeleteGroups(r)) => {
                let deleted = r.results.iter().any(|g| g.error_code == 0);
                for g in &r.results {
                    if g.error_code == 0 {
                        self.groups.forget(&g.group_id.0);
                    }
                }
                if deleted {
                    // The mirrored commits go too, or a group re-formed elsewhere would
                    // resume from them.
                    self.on_other_clusters(home, group, ApiKey::DeleteGroups, version, sent)
                        .await;
                }
            }
            _ => {}
        }
    }

    /// Copies commits to every other cluster that is up, as standalone commits (generation
    /// -1), so that a group moved there resumes from them. Bounded: a slow cluster gets them
    /// again when it comes back (see `replay_commits`).
    pub(crate) async fn mirror_commits(
        &self,
        home: usize,
        group: &StrBytes,
        version: i16,
        client_id: Option<StrBytes>,
        commits: &[(Tp, Commit)],
    ) {
        let Some(rep) = &self.replicator else { return };
        let sends = (0..rep.clusters().len())
            .filter(|&j| j != home && rep.clusters()[j].admits() && !rep.read_avoided(j))
            .map(|j| {
                let client_id = client_id.clone();
                async move {
                    let c = &rep.clusters()[j];
                    let v = c
                        .supports(ApiKey::OffsetCommit)
                        .map_or(version, |r| version.clamp(r.min, r.max));
                    let req = standalone_commit(group, commits, |tp| rep.delta(tp, j));
                    let r = self
                        .send_group(c, ApiKey::OffsetCommit, v, client_id, group, &req, Some(COMMIT_MIRROR_WAIT))
                        .await;
                    let failed = match &r {
                        Ok(resp) => group_error(resp),
                        Err(_) => ResponseError::RequestTimedOut.code(),
                    };
                    if failed != 0 {
                        tracing::warn!(
                            cluster = %c.id,
                            "mirroring group {:?}'s commits to cluster {} failed (code {failed}); they are sent again when it is back",
                            group.as_str(),
                            c.id
                        );
                    }
                }
            });
        futures::future::join_all(sends).await;
    }

    /// Sends a group request to every other cluster that is up, bounded; failures are logged.
    async fn on_other_clusters(
        &self,
        home: usize,
        group: &StrBytes,
        api: ApiKey,
        version: i16,
        req: &RequestKind,
    ) {
        let Some(rep) = &self.replicator else { return };
        let sends = (0..rep.clusters().len())
            .filter(|&j| j != home && rep.clusters()[j].admits() && !rep.read_avoided(j))
            .map(|j| async move {
                let c = &rep.clusters()[j];
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

    /// Sends every remembered commit to cluster `j` (after it was away).
    pub async fn replay_commits(&self, j: usize) {
        let Some(rep) = &self.replicator else { return };
        let c = &rep.clusters()[j];
        for (group, commits) in self.groups.all_commits() {
            let version = c
                .supports(ApiKey::OffsetCommit)
                .map_or(2, |r| 8.clamp(r.min, r.max));
            let req = standalone_commit(&group, &commits, |tp| rep.delta(tp, j));
            if let Err((e, _)) = self
                .send_group(
                    c,
                    ApiKey::OffsetCommit,
                    version,
                    None,
                    &group,
                    &req,
                    Some(COMMIT_MIRROR_WAIT),
                )
                .await
            {
                tracing::warn!(cluster = %c.id, "replaying group {:?}'s commits: {e}", group.as_str());
            }
        }
    }
}

/// The first non-zero code, or 0.
fn first_error(codes: impl Iterator<Item = i16>) -> i16 {
    codes.into_iter().find(|c| *c != 0).unwrap_or(0)
}

/// The first group-level error code of a group response.
pub(super) fn group_error(resp: &ResponseKind) -> i16 {
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
