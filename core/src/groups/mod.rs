//! Consumer groups coordinated by the proxy itself, in front of several clusters.
//!
//! Why: passing a group through to one cluster's coordinator made that cluster the group's
//! single point of failure (losing it forced a rebalance), and instances that chose the
//! cluster from their own memory could split one group in two. Here the proxy is the group
//! coordinator (Kafka's classic protocol, see `state`): each group is owned by one instance,
//! the way partitions are (`Membership::group_owner`), and its membership, generation,
//! assignments and committed offsets are control state, kept on every cluster (`stored`).
//! Losing a cluster changes nothing a group can see; losing an instance moves its groups to
//! another, which restores them from the control log with the same generation and members.
//!
//! Committed offsets are logical offsets. They are also mirrored, translated, to each
//! cluster's own group coordinator (see `Proxy::mirror_group_commits`), so a consumer pointed
//! straight at a cluster in a disaster resumes where the group was.

pub mod consumer;
mod consumer_coordinator;
pub mod state;
pub mod stored;

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::metrics::Metrics;
use crate::base::sync::lock;
use crate::control::control_log::{ControlError, Keeping};
use crate::replication::partitions::lanes::Tp;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use state::{Group, GroupReply, Limits, Phase};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
pub use stored::Commit;
use stored::{StoredCommit, StoredGroup};

use crate::control::keys::Key;

/// Why a group's commits were not stored.
#[derive(Debug, thiserror::Error)]
enum StoreError {
    /// A commit could not be written as JSON.
    #[error("cannot encode a commit: {0}")]
    Encode(#[from] serde_json::Error),
    /// The control log did not take it on a majority.
    #[error(transparent)]
    Log(#[from] ControlError),
}

/// Every group this instance knows (owned here or followed from the control log) and their
/// committed offsets.
pub struct Coordinator {
    limits: Limits,
    groups: Mutex<HashMap<StrBytes, Group>>,
    /// Groups of the consumer group protocol (`group.protocol=consumer`).
    consumer_groups: Mutex<HashMap<StrBytes, consumer::ConsumerGroup>>,
    offsets: Mutex<HashMap<StrBytes, HashMap<Tp, Commit>>>,
    log: Keeping,
    /// Per group: held while its entries are written, so they reach the log in the order
    /// their contents were taken.
    writing: Mutex<HashMap<StrBytes, Arc<tokio::sync::Mutex<()>>>>,
    /// Tells this process's entries from others' (a restarted instance reads its own old
    /// entries back as another's).
    incarnation: String,
    /// Per cluster: groups whose latest commits that cluster's own coordinator has not
    /// acknowledged, each with the mark it was given (a newer commit gets a newer mark, so
    /// the answer to an older send does not clear it).
    unmirrored: PerCluster<Mutex<HashMap<StrBytes, u64>>>,
    /// The last mark given.
    marks: std::sync::atomic::AtomicU64,
    metrics: Metrics,
}

/// A group as operators see it (the admin API's view is built from this).
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// Group id.
    pub name: String,
    /// Kafka's name of its state (`Empty`, `Stable`…; `Empty` for a group with commits only).
    pub state: &'static str,
    /// Protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The chosen assignor.
    pub protocol: Option<String>,
    /// Generation.
    pub generation: i32,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members.
    pub members: Vec<MemberReport>,
    /// Committed offsets: topic, partition, offset (logical).
    pub offsets: Vec<(String, i32, i64)>,
    /// The clusters whose own coordinator has not been sent the latest commits.
    pub unmirrored: Vec<ClusterIdx>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Group id.
    pub name: StrBytes,
    /// Protocol type (`consumer` for consumers).
    pub protocol_type: StrBytes,
    /// Kafka's name of its state.
    pub state: &'static str,
    /// Which protocol its members use.
    pub kind: GroupKind,
}

/// Which group protocol a group's members use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// JoinGroup and SyncGroup, the client-side assignors.
    Classic,
    /// ConsumerGroupHeartbeat, assigned by the coordinator.
    Consumer,
}

impl GroupKind {
    /// Kafka's name for it (ListGroups' group type).
    pub fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Consumer => "consumer",
        }
    }
}

/// One member as operators see it.
#[derive(Debug, Clone)]
pub struct MemberReport {
    /// Member id.
    pub id: String,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// The client's address, as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    /// Assigned partitions by topic (consumer protocol; empty for other protocols).
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// Reads a consumer protocol assignment (version, then the body); empty when it is not one.
fn consumer_assignment(bytes: &bytes::Bytes) -> Vec<(String, Vec<i32>)> {
    use kafka_protocol::protocol::Decodable;
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut body = bytes.slice(2..);
    ConsumerProtocolAssignment::decode(&mut body, version.clamp(0, 3))
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|t| (t.topic.as_str().to_owned(), t.partitions))
                .collect()
        })
        .unwrap_or_default()
}

/// A group whose latest commits a cluster's own coordinator lacks: its id, the mark to clear
/// (see `Coordinator::mirrored`) and the commits.
pub type Unmirrored = (StrBytes, u64, Vec<(Tp, Commit)>);

/// Committed offsets by topic and partition; `None` where nothing was committed.
pub type Committed = Vec<(TopicName, Vec<(i32, Option<Commit>)>)>;

impl Coordinator {
    /// A coordinator for `clusters` clusters (commits are mirrored to each).
    pub fn new(limits: Limits, clusters: usize, metrics: Metrics, log: Keeping) -> Arc<Self> {
        Arc::new(Self {
            limits,
            groups: Mutex::default(),
            consumer_groups: Mutex::default(),
            offsets: Mutex::default(),
            log,
            writing: Mutex::default(),
            incarnation: uuid::Uuid::new_v4().to_string(),
            unmirrored: PerCluster::from_fn(clusters, |_| Mutex::default()),
            marks: Default::default(),
            metrics,
        })
    }

    /// Runs `f` on `group` (created empty if unknown), then counts a new generation and
    /// stores the group if it changed.
    fn with_group<T>(self: &Arc<Self>, group: &StrBytes, f: impl FnOnce(&mut Group) -> T) -> T {
        let (out, changed) = {
            let mut groups = lock(&self.groups);
            let g = groups.entry(group.clone()).or_default();
            let before = (g.generation, g.phase);
            let out = f(g);
            self.observe(group, g, before);
            let changed = g.take_changed();
            if g.is_idle() && !lock(&self.offsets).contains_key(group) && !changed {
                groups.remove(group);
            }
            (out, changed)
        };
        if changed {
            let me = self.clone();
            let group = group.clone();
            tokio::spawn(async move { me.store_group(&group).await });
        }
        out
    }

    /// Logs a round's start and end and counts them (`before`: generation and phase before
    /// the change).
    fn observe(&self, group: &StrBytes, g: &Group, (before, phase_before): (i32, Phase)) {
        if g.phase == Phase::PreparingRebalance && phase_before != Phase::PreparingRebalance {
            tracing::info!(
                "group {:?}: round after generation {} started as {}",
                group.as_str(),
                g.generation,
                g.reason
            );
        }
        if g.generation != before {
            tracing::info!(
                "group {:?}: generation {} with {} member(s) (round started as {})",
                group.as_str(),
                g.generation,
                g.members.len(),
                g.reason
            );
        }
        self.count(group, g.members.len(), g.generation != before);
    }

    /// Counts `group`'s members, and a rebalance when a round that has members ended.
    fn count(&self, group: &StrBytes, members: usize, new_round: bool) {
        let label = [group.as_str()];
        if new_round && members > 0 {
            self.metrics
                .group_rebalances
                .with_label_values(&label)
                .inc();
        }
        self.metrics
            .group_members
            .with_label_values(&label)
            .set(members as i64);
    }

    fn writing(&self, group: &StrBytes) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.writing)
            .entry(group.clone())
            .or_default()
            .clone()
    }

    /// Writes `group`'s membership entry as it is now. Best effort: members that lose it to
    /// an instance failure rejoin.
    async fn store_group(&self, group: &StrBytes) {
        let key = Key::Group {
            group: group.as_str().to_owned(),
        };
        self.store_whole(group, key, || {
            lock(&self.groups)
                .get(group)
                .map(|g| serde_json::to_vec(&StoredGroup::of(g, &self.incarnation)))
        })
        .await;
    }

    /// Writes the entry `{prefix}{group}` that `take` serializes (under the group's
    /// `writing` lock, so entries reach the log in the order their contents were taken;
    /// `None`: nothing to store). Best effort: members that lose it to an instance failure
    /// join again.
    async fn store_whole(
        &self,
        group: &StrBytes,
        key: Key,
        take: impl FnOnce() -> Option<serde_json::Result<Vec<u8>>>,
    ) {
        let Some(log) = self.log.log() else { return };
        let writing = self.writing(group);
        let _in_order = writing.lock().await;
        let key = key.to_string();
        let value = match take() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                tracing::warn!("control log entry {key:?} not stored: {e}");
                return;
            }
            None => return,
        };
        if let Err(e) = log.append(&key, Some(&value)).await {
            tracing::warn!(
                "control log entry {key:?} not stored: {e}; the group's members join again if \
                 this instance is lost"
            );
        }
    }

    /// Writes `group`'s entries of these partitions (`None`: deleted), all in one batch;
    /// `Err` names why not. The caller holds the group's `writing` lock.
    async fn store_commits(
        &self,
        group: &StrBytes,
        commits: &[(Tp, Option<Commit>)],
    ) -> Result<(), StoreError> {
        let Some(log) = self.log.log() else {
            return Ok(());
        };
        let mut entries = Vec::with_capacity(commits.len());
        for (tp, c) in commits {
            let value = match c {
                Some(c) => Some(serde_json::to_vec(&StoredCommit::of(c, &self.incarnation))?),
                None => None,
            };
            let key = Key::GroupOffset {
                group: group.as_str().to_owned(),
                topic: tp.topic.as_str().to_owned(),
                partition: tp.partition,
            };
            entries.push((key.to_string(), value));
        }
        let entries: Vec<(&str, Option<&[u8]>)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        log.append_all(&entries).await?;
        Ok(())
    }

    /// Takes a group or offsets entry from the control log: another instance's (or an
    /// earlier process's) replaces what is known here; this process's own are already here.
    pub fn apply_logged(&self, key: &str, value: Option<&[u8]>) {
        let now = Instant::now();
        match Key::parse(key) {
            Some(Key::ConsumerGroup { group }) => {
                self.apply_logged_consumer_group(key, &group, value, now)
            }
            Some(Key::Group { group }) => self.apply_logged_group(key, group, value, now),
            Some(Key::GroupOffset {
                group,
                topic,
                partition,
            }) => self.apply_logged_offset(key, group, &topic, partition, value),
            _ => {}
        }
    }

    /// A classic group's entry from the control log (see `apply_logged`).
    fn apply_logged_group(&self, key: &str, name: String, value: Option<&[u8]>, now: Instant) {
        let name = StrBytes::from_string(name);
        let Some(value) = value else {
            lock(&self.groups).remove(&name);
            return;
        };
        match serde_json::from_slice::<StoredGroup>(value) {
            Ok(s) if s.incarnation == self.incarnation => {}
            Ok(s) => match s.restore(now) {
                Ok(g) => {
                    lock(&self.groups).insert(name, g);
                }
                Err(e) => tracing::warn!("control log entry {key:?}: {e}; left alone"),
            },
            Err(e) => tracing::warn!("control log entry {key:?}: {e}; left alone"),
        }
    }

    /// A committed offset's entry from the control log (see `apply_logged`).
    fn apply_logged_offset(
        &self,
        key: &str,
        group: String,
        topic: &str,
        partition: i32,
        value: Option<&[u8]>,
    ) {
        let name = StrBytes::from_string(group);
        let tp = Tp::new(
            TopicName(StrBytes::from_string(topic.to_owned())),
            partition,
        );
        let Some(value) = value else {
            let mut offsets = lock(&self.offsets);
            if let Some(book) = offsets.get_mut(&name) {
                book.remove(&tp);
                if book.is_empty() {
                    offsets.remove(&name);
                }
            }
            return;
        };
        match serde_json::from_slice::<StoredCommit>(value) {
            Ok(s) if s.incarnation == self.incarnation => {}
            Ok(s) => {
                // Whoever owns the group now sends it to every cluster's coordinator (a
                // restarted or new owner has not).
                self.unmirrored(None, &name);
                lock(&self.offsets)
                    .entry(name)
                    .or_default()
                    .insert(tp, s.restore());
            }
            Err(e) => tracing::warn!("control log entry {key:?}: {e}; left alone"),
        }
    }

    /// Expires silent members and ends overdue rounds of the groups `owned` here; groups
    /// owned elsewhere drop their waiting requests and keep their members alive, so that
    /// they do not expire at once if this instance owns them again.
    pub fn tick(self: &Arc<Self>, owned: impl Fn(&StrBytes) -> bool) {
        let now = Instant::now();
        let names: Vec<StrBytes> = lock(&self.groups).keys().cloned().collect();
        for name in names {
            if owned(&name) {
                self.with_group(&name, |g| g.tick(now));
            } else if let Some(g) = lock(&self.groups).get_mut(&name) {
                g.disown(now);
            }
        }
        self.tick_consumer_groups(&owned, now);
    }

    /// JoinGroup.
    pub async fn join(
        self: &Arc<Self>,
        version: i16,
        req: &JoinGroupRequest,
        client_id: StrBytes,
        client_host: StrBytes,
    ) -> JoinGroupResponse {
        if self.is_consumer_group(&req.group_id.0) {
            // Kafka's answer when a classic member joins a group of the other protocol.
            return JoinGroupResponse::default()
                .with_error_code(ResponseError::InconsistentGroupProtocol.code())
                .with_generation_id(-1);
        }
        let limits = self.limits;
        let reply = self.with_group(&req.group_id.0, |g| {
            g.join(
                version,
                req,
                client_id,
                client_host,
                &limits,
                Instant::now(),
            )
        });
        match reply {
            GroupReply::Now(r) => r,
            GroupReply::Later(rx) => rx.await.unwrap_or_else(|_| {
                JoinGroupResponse::default()
                    .with_error_code(ResponseError::NotCoordinator.code())
                    .with_generation_id(-1)
            }),
        }
    }

    /// SyncGroup.
    pub async fn sync(self: &Arc<Self>, req: &SyncGroupRequest) -> SyncGroupResponse {
        let reply = self.with_group(&req.group_id.0, |g| g.sync(req, Instant::now()));
        match reply {
            GroupReply::Now(r) => r,
            GroupReply::Later(rx) => rx.await.unwrap_or_else(|_| {
                SyncGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code())
            }),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(self: &Arc<Self>, req: &HeartbeatRequest) -> HeartbeatResponse {
        let code = self.with_group(&req.group_id.0, |g| g.heartbeat(req, Instant::now()));
        HeartbeatResponse::default().with_error_code(code)
    }

    /// LeaveGroup (one member before v3, a batch from v3).
    pub fn leave(self: &Arc<Self>, version: i16, req: &LeaveGroupRequest) -> LeaveGroupResponse {
        let now = Instant::now();
        if version < 3 {
            let code = self.with_group(&req.group_id.0, |g| g.leave(&req.member_id, None, now));
            return LeaveGroupResponse::default().with_error_code(code);
        }
        let members = self.with_group(&req.group_id.0, |g| {
            req.members
                .iter()
                .map(|m| {
                    leave_group_response::MemberResponse::default()
                        .with_member_id(m.member_id.clone())
                        .with_group_instance_id(m.group_instance_id.clone())
                        .with_error_code(g.leave(&m.member_id, m.group_instance_id.as_ref(), now))
                })
                .collect::<Vec<_>>()
        });
        LeaveGroupResponse::default().with_members(members)
    }

    /// OffsetCommit: checked against the group's generation, stored on a majority of
    /// clusters before it is acknowledged. The error code for every partition of it (0 when
    /// committed).
    pub async fn commit(self: &Arc<Self>, req: &OffsetCommitRequest) -> i16 {
        let group = &req.group_id.0;
        let parts = req.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.as_str(), p.partition_index))
        });
        if let Err(code) = self.may_commit(
            group,
            &req.member_id,
            req.group_instance_id.as_ref(),
            req.generation_id_or_member_epoch,
            parts,
        ) {
            return code;
        }
        let commits: Vec<(Tp, Commit)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    let commit = Commit {
                        offset: p.committed_offset,
                        metadata: p.committed_metadata.clone(),
                    };
                    (Tp::new(t.name.clone(), p.partition_index), commit)
                })
            })
            .collect();
        self.store_offsets(group, commits).await
    }

    /// Whether `member` of `group` at `generation` (a member epoch in a consumer-protocol
    /// group) may commit offsets of `parts` now; the error code when not.
    pub fn may_commit<'a>(
        self: &Arc<Self>,
        group: &StrBytes,
        member: &StrBytes,
        instance: Option<&StrBytes>,
        generation: i32,
        parts: impl Iterator<Item = (&'a str, i32)>,
    ) -> Result<(), i16> {
        let consumer = lock(&self.consumer_groups)
            .get(group)
            .map(|g| g.may_commit(member.as_str(), generation, parts));
        match consumer {
            Some(result) => result,
            None => self
                .with_group(group, |g| g.may_commit(member, instance, generation))
                .map_err(|e| e.code()),
        }
    }

    /// Stores offsets of `group` (already checked against its members) on a majority of
    /// clusters; 0, or the error code for every partition of them.
    pub async fn store_offsets(
        self: &Arc<Self>,
        group: &StrBytes,
        commits: Vec<(Tp, Commit)>,
    ) -> i16 {
        let commits: Vec<(Tp, Option<Commit>)> =
            commits.into_iter().map(|(tp, c)| (tp, Some(c))).collect();
        // Held from taking the commits into the book to their entries' append, so that the
        // log orders a partition's commits as the book does.
        let writing = self.writing(group);
        let _in_order = writing.lock().await;
        {
            let mut offsets = lock(&self.offsets);
            let book = offsets.entry(group.clone()).or_default();
            for (tp, c) in &commits {
                if let Some(c) = c {
                    book.insert(tp.clone(), c.clone());
                }
            }
        }
        if let Err(e) = self.store_commits(group, &commits).await {
            tracing::warn!("group {:?}'s commit not stored: {e}", group.as_str());
            return ResponseError::CoordinatorNotAvailable.code();
        }
        self.unmirrored(None, group);
        0
    }

    /// A group's committed offsets for `topics` (every committed partition when `None`);
    /// -1 where nothing was committed.
    pub fn committed(
        &self,
        group: &StrBytes,
        topics: Option<Vec<(TopicName, Vec<i32>)>>,
    ) -> Committed {
        let offsets = lock(&self.offsets);
        let book = offsets.get(group);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let found = parts
                        .into_iter()
                        .map(|p| (p, book.and_then(|b| b.get(&Tp::new(t.clone(), p)).cloned())))
                        .collect();
                    (t, found)
                })
                .collect(),
            None => {
                let mut by_topic: HashMap<TopicName, Vec<(i32, Option<Commit>)>> = HashMap::new();
                for (
                    Tp {
                        topic: t,
                        partition: p,
                    },
                    c,
                ) in book.into_iter().flatten()
                {
                    by_topic
                        .entry(t.clone())
                        .or_default()
                        .push((*p, Some(c.clone())));
                }
                let mut out: Vec<_> = by_topic.into_iter().collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, parts) in &mut out {
                    parts.sort_by_key(|(p, _)| *p);
                }
                out
            }
        }
    }

    /// DescribeGroups for one group.
    pub fn describe(&self, group: &StrBytes) -> describe_groups_response::DescribedGroup {
        let out = describe_groups_response::DescribedGroup::default()
            .with_group_id(GroupId(group.clone()))
            .with_authorized_operations(i32::MIN);
        if self.is_consumer_group(group) {
            // As Kafka: DescribeGroups does not describe groups of the consumer protocol.
            return out.with_error_code(ResponseError::GroupIdNotFound.code());
        }
        let groups = lock(&self.groups);
        let Some(g) = groups.get(group) else {
            let known = lock(&self.offsets).contains_key(group);
            return out.with_group_state(StrBytes::from_static_str(if known {
                "Empty"
            } else {
                "Dead"
            }));
        };
        let protocol = g.protocol.clone().unwrap_or_default();
        let in_round = matches!(
            g.phase,
            Phase::PreparingRebalance | Phase::CompletingRebalance
        );
        out.with_group_state(StrBytes::from_static_str(g.phase.name()))
            .with_protocol_type(g.protocol_type.clone().unwrap_or_default())
            .with_protocol_data(protocol.clone())
            .with_members(
                g.members
                    .iter()
                    .map(|(id, m)| {
                        describe_groups_response::DescribedGroupMember::default()
                            .with_member_id(id.clone())
                            .with_group_instance_id(m.instance_id.clone())
                            .with_client_id(m.client_id.clone())
                            .with_client_host(m.client_host.clone())
                            .with_member_metadata(
                                m.protocols
                                    .iter()
                                    .find(|(n, _)| *n == protocol)
                                    .map(|(_, d)| d.clone())
                                    .unwrap_or_default(),
                            )
                            // Kafka shows assignments only once they are settled.
                            .with_member_assignment(if in_round {
                                Default::default()
                            } else {
                                m.assignment.clone()
                            })
                    })
                    .collect(),
            )
    }

    /// Every group known (with members or commits), by name.
    pub fn list(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = lock(&self.consumer_groups)
            .iter()
            .map(|(n, g)| Listed {
                name: n.clone(),
                protocol_type: StrBytes::from_static_str("consumer"),
                state: g.state(),
                kind: GroupKind::Consumer,
            })
            .collect();
        let groups = lock(&self.groups);
        for (n, g) in groups.iter() {
            if !out.iter().any(|l| &l.name == n) {
                out.push(Listed {
                    name: n.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.phase.name(),
                    kind: GroupKind::Classic,
                });
            }
        }
        for n in lock(&self.offsets).keys() {
            if !out.iter().any(|l| &l.name == n) {
                out.push(Listed {
                    name: n.clone(),
                    protocol_type: StrBytes::default(),
                    state: Phase::Empty.name(),
                    kind: GroupKind::Classic,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// DeleteGroups for one group: only an empty one; its entries leave the control log.
    pub async fn delete(self: &Arc<Self>, group: &StrBytes) -> i16 {
        let consumer = match lock(&self.consumer_groups).get(group) {
            Some(g) if !g.members.is_empty() => return ResponseError::NonEmptyGroup.code(),
            Some(_) => true,
            None => false,
        };
        let code = {
            let mut groups = lock(&self.groups);
            let known_offsets = lock(&self.offsets).contains_key(group);
            match groups.get(group) {
                Some(g) if g.phase != Phase::Empty || !g.members.is_empty() => {
                    ResponseError::NonEmptyGroup.code()
                }
                Some(_) => {
                    groups.remove(group);
                    0
                }
                None if known_offsets || consumer => 0,
                None => ResponseError::GroupIdNotFound.code(),
            }
        };
        if code != 0 {
            return code;
        }
        let writing = self.writing(group);
        let _in_order = writing.lock().await;
        let book = lock(&self.offsets).remove(group).unwrap_or_default();
        for u in &self.unmirrored {
            lock(u).remove(group);
        }
        if let Some(log) = self.log.log() {
            lock(&self.consumer_groups).remove(group);
            let name = || group.as_str().to_owned();
            let mut entries = vec![
                Key::Group { group: name() }.to_string(),
                Key::ConsumerGroup { group: name() }.to_string(),
            ];
            entries.extend(book.keys().map(|tp| {
                Key::GroupOffset {
                    group: name(),
                    topic: tp.topic.as_str().to_owned(),
                    partition: tp.partition,
                }
                .to_string()
            }));
            let entries: Vec<(&str, Option<&[u8]>)> =
                entries.iter().map(|k| (k.as_str(), None)).collect();
            if let Err(e) = log.append_all(&entries).await {
                tracing::warn!("deleting group {:?}: {e}", group.as_str());
                return ResponseError::CoordinatorNotAvailable.code();
            }
        }
        0
    }

    /// OffsetDelete: the group-level code and, per partition, its code.
    pub async fn delete_offsets(
        self: &Arc<Self>,
        group: &StrBytes,
        parts: &[Tp],
    ) -> (i16, Vec<i16>) {
        let subscribed: Vec<bool> = {
            let groups = lock(&self.groups);
            let known = groups.contains_key(group)
                || lock(&self.offsets).contains_key(group)
                || lock(&self.consumer_groups).contains_key(group);
            if !known {
                return (ResponseError::GroupIdNotFound.code(), Vec::new());
            }
            parts
                .iter()
                .map(|Tp { topic: t, .. }| {
                    groups
                        .get(group)
                        .is_some_and(|g| g.phase != Phase::Empty && g.subscribed_to(t.as_str()))
                        || lock(&self.consumer_groups)
                            .get(group)
                            .is_some_and(|g| g.subscribed_to(t.as_str()))
                })
                .collect()
        };
        let deleted: Vec<(Tp, Option<Commit>)> = parts
            .iter()
            .zip(&subscribed)
            .filter(|(_, s)| !**s)
            .map(|(tp, _)| (tp.clone(), None))
            .collect();
        let writing = self.writing(group);
        let _in_order = writing.lock().await;
        if let Some(book) = lock(&self.offsets).get_mut(group) {
            for (tp, _) in &deleted {
                book.remove(tp);
            }
        }
        if let Err(e) = self.store_commits(group, &deleted).await {
            tracing::warn!("group {:?}'s offsets not deleted: {e}", group.as_str());
            return (ResponseError::CoordinatorNotAvailable.code(), Vec::new());
        }
        let codes = subscribed
            .into_iter()
            .map(|s| {
                if s {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    0
                }
            })
            .collect();
        (0, codes)
    }

    /// Every group known here, with members or commits, by name.
    pub fn reports(&self) -> Vec<GroupReport> {
        self.list()
            .into_iter()
            .filter_map(|l| self.report(l.name.as_str()))
            .collect()
    }

    /// One group as operators see it; `None` when it has neither members nor commits.
    pub fn report(&self, group: &str) -> Option<GroupReport> {
        let name = StrBytes::from_string(group.to_owned());
        let mut offsets: Vec<(String, i32, i64)> = lock(&self.offsets)
            .get(&name)
            .map(|b| {
                b.iter()
                    .map(|(tp, c)| (tp.topic.as_str().to_owned(), tp.partition, c.offset))
                    .collect()
            })
            .unwrap_or_default();
        offsets.sort();
        let unmirrored: Vec<ClusterIdx> = self
            .unmirrored
            .iter_indexed()
            .filter(|(_, u)| lock(u).contains_key(&name))
            .map(|(i, _)| i)
            .collect();
        if let Some(report) = self.consumer_report(&name, &offsets, &unmirrored) {
            return Some(report);
        }
        let groups = lock(&self.groups);
        let g = groups.get(&name);
        if g.is_none() && offsets.is_empty() {
            return None;
        }
        let text = |v: &Option<StrBytes>| v.as_ref().map(|x| x.as_str().to_owned());
        Some(GroupReport {
            name: group.to_owned(),
            state: g.map_or(Phase::Empty, |g| g.phase).name(),
            protocol_type: g.and_then(|g| text(&g.protocol_type)).unwrap_or_default(),
            protocol: g.and_then(|g| text(&g.protocol)),
            generation: g.map_or(0, |g| g.generation),
            leader: g.and_then(|g| text(&g.leader)),
            members: g
                .map(|g| {
                    g.members
                        .iter()
                        .map(|(id, m)| MemberReport {
                            id: id.as_str().to_owned(),
                            instance_id: text(&m.instance_id),
                            client_id: m.client_id.as_str().to_owned(),
                            client_host: m.client_host.as_str().to_owned(),
                            assignment: consumer_assignment(&m.assignment),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            offsets,
            unmirrored,
        })
    }

    /// Every group's commits (for the lag gauge).
    pub fn all_commits(&self) -> Vec<(StrBytes, Vec<(Tp, Commit)>)> {
        lock(&self.offsets)
            .iter()
            .map(|(g, m)| {
                (
                    g.clone(),
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            })
            .collect()
    }

    /// Records commits a single cluster's coordinator acknowledged (groups passed through).
    pub fn note_commits(&self, group: &StrBytes, commits: impl IntoIterator<Item = (Tp, Commit)>) {
        lock(&self.offsets)
            .entry(group.clone())
            .or_default()
            .extend(commits);
    }

    /// Forgets a group deleted on a single cluster's coordinator.
    pub fn forget(&self, group: &StrBytes) {
        lock(&self.offsets).remove(group);
        lock(&self.groups).remove(group);
    }

    /// The groups whose latest commits cluster `i`'s own coordinator lacks: each with its
    /// mark (for [`Self::mirrored`]) and those commits.
    pub fn unmirrored_on(&self, i: ClusterIdx) -> Vec<Unmirrored> {
        let Some(u) = self.unmirrored.get(i) else {
            return Vec::new();
        };
        let names: Vec<(StrBytes, u64)> = lock(u).iter().map(|(n, m)| (n.clone(), *m)).collect();
        let offsets = lock(&self.offsets);
        names
            .into_iter()
            .filter_map(|(n, mark)| {
                let c = offsets.get(&n)?;
                Some((
                    n,
                    mark,
                    c.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ))
            })
            .collect()
    }

    /// Cluster `i`'s coordinator acknowledged `group`'s commits as of `mark`.
    pub fn mirrored(&self, i: ClusterIdx, group: &StrBytes, mark: u64) {
        if let Some(u) = self.unmirrored.get(i) {
            let mut u = lock(u);
            if u.get(group) == Some(&mark) {
                u.remove(group);
            }
        }
    }

    /// Marks `group`'s commits as not yet acknowledged by cluster `i` (every cluster when
    /// `None`).
    fn unmirrored(&self, i: Option<ClusterIdx>, group: &StrBytes) {
        let mark = self
            .marks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        for (k, u) in self.unmirrored.iter_indexed() {
            if i.is_none_or(|i| i == k) {
                lock(u).insert(group.clone(), mark);
            }
        }
    }

    /// Marks every group's commits as not yet acknowledged by cluster `i` (back from an
    /// outage).
    pub fn unmirrored_all(&self, i: ClusterIdx) {
        let names: Vec<StrBytes> = lock(&self.offsets).keys().cloned().collect();
        for n in names {
            self.unmirrored(Some(i), &n);
        }
    }
}
