//! One consumer group's membership as Kafka's classic group coordinator keeps it: the
//! phases (`Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`), generations,
//! member ids (handed out with `MEMBER_ID_REQUIRED`), static members (`group.instance.id`),
//! the leader, the chosen protocol and each member's assignment.
//!
//! Pure and synchronous: time comes in as an argument, and a request that must wait for the
//! other members (JoinGroup, SyncGroup) gets a receiver that the call completing the round
//! answers. Nothing here knows about clusters, so losing one cannot disturb a group.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A group's phase, named as Kafka names it in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No members (commits may remain).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl Phase {
    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }

    /// The phase of a name written by [`Phase::name`].
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Empty,
            Self::PreparingRebalance,
            Self::CompletingRebalance,
            Self::Stable,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// Limits from the coordinator's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Shortest session timeout a member may ask for.
    pub min_session: Duration,
    /// Longest session timeout a member may ask for.
    pub max_session: Duration,
    /// How long the first rebalance of an empty group waits for more members.
    pub initial_delay: Duration,
    /// Session timeout of consumer-protocol members.
    pub consumer_session: Duration,
    /// Heartbeat interval of consumer-protocol members.
    pub consumer_heartbeat: Duration,
}

/// One member.
#[derive(Debug)]
pub struct ClassicMember {
    /// Static membership id (`group.instance.id`).
    pub instance_id: Option<StrBytes>,
    /// The client's id.
    pub client_id: StrBytes,
    /// The client's address.
    pub client_host: StrBytes,
    /// Session timeout.
    pub session: Duration,
    /// Rebalance timeout.
    pub rebalance: Duration,
    /// Supported protocols in preference order, with their metadata.
    pub protocols: Vec<(StrBytes, Bytes)>,
    /// The assignment of the current generation.
    pub assignment: Bytes,
    /// Last sign of life (join, sync, heartbeat).
    pub last_seen: Instant,
    join: Option<(i16, oneshot::Sender<JoinGroupResponse>)>,
    sync: Option<oneshot::Sender<SyncGroupResponse>>,
}

impl ClassicMember {
    /// A member as stored, with no request waiting.
    #[allow(clippy::too_many_arguments)]
    pub fn stored(
        instance_id: Option<StrBytes>,
        client_id: StrBytes,
        client_host: StrBytes,
        session: Duration,
        rebalance: Duration,
        protocols: Vec<(StrBytes, Bytes)>,
        assignment: Bytes,
        now: Instant,
    ) -> Self {
        Self {
            instance_id,
            client_id,
            client_host,
            session,
            rebalance,
            protocols,
            assignment,
            last_seen: now,
            join: None,
            sync: None,
        }
    }

    fn metadata(&self, protocol: &StrBytes) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// An answer now, or a receiver the round's completion answers.
pub enum GroupReply<T> {
    /// Answered.
    Now(T),
    /// Answered when the round completes.
    Later(oneshot::Receiver<T>),
}

/// One group.
#[derive(Debug)]
pub struct Group {
    /// Phase.
    pub phase: Phase,
    /// Generation (bumped by every completed join round).
    pub generation: i32,
    /// Protocol type every member uses (`consumer` for consumers).
    pub protocol_type: Option<StrBytes>,
    /// The protocol (assignor) chosen for this generation.
    pub protocol: Option<StrBytes>,
    /// The leader's member id.
    pub leader: Option<StrBytes>,
    /// Members by id.
    pub members: BTreeMap<StrBytes, ClassicMember>,
    /// Member ids handed out with `MEMBER_ID_REQUIRED`, until when they may join with it.
    pending: HashMap<StrBytes, Instant>,
    /// When the current join round ends whoever has not rejoined.
    join_deadline: Option<Instant>,
    /// The first round of an empty group waits this long for more members.
    initial_until: Option<Instant>,
    /// When the current sync round gives up on the leader.
    sync_deadline: Option<Instant>,
    /// Whether something worth storing changed since the last [`Group::take_changed`].
    changed: bool,
    /// Why the current or last round started (for the log).
    pub reason: String,
}

fn err<T: Default>(code: ResponseError, set: impl FnOnce(&mut T, i16)) -> T {
    let mut t = T::default();
    set(&mut t, code.code());
    t
}

fn join_error(code: ResponseError) -> JoinGroupResponse {
    err(code, |r: &mut JoinGroupResponse, c| {
        r.error_code = c;
        r.generation_id = -1;
    })
}

fn sync_error(code: ResponseError) -> SyncGroupResponse {
    err(code, |r: &mut SyncGroupResponse, c| r.error_code = c)
}

impl Default for Group {
    fn default() -> Self {
        Self {
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            join_deadline: None,
            initial_until: None,
            sync_deadline: None,
            changed: false,
            reason: String::new(),
        }
    }
}

/// A new member id: the client id (or instance id) and a random part, as Kafka makes them.
fn new_member_id(prefix: &StrBytes) -> StrBytes {
    StrBytes::from_string(format!("{}-{}", prefix.as_str(), uuid::Uuid::new_v4()))
}

impl Group {
    /// A group restored from its stored form: a stable group stays stable (its members go on
    /// heartbeating and committing in their generation); one stored mid-round starts the round
    /// again, so its members rejoin.
    pub fn restored(
        phase: Phase,
        generation: i32,
        protocol_type: Option<StrBytes>,
        protocol: Option<StrBytes>,
        leader: Option<StrBytes>,
        members: BTreeMap<StrBytes, ClassicMember>,
        now: Instant,
    ) -> Self {
        let mut g = Self {
            phase,
            generation,
            protocol_type,
            protocol,
            leader,
            members,
            ..Self::default()
        };
        match g.phase {
            Phase::Empty | Phase::Stable => {}
            Phase::PreparingRebalance | Phase::CompletingRebalance => {
                g.start_rebalance(now, "restored mid-round".into())
            }
        }
        g.changed = false;
        g
    }

    /// Whether something worth storing changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// JoinGroup.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &mut self,
        version: i16,
        req: &JoinGroupRequest,
        client_id: StrBytes,
        client_host: StrBytes,
        limits: &Limits,
        now: Instant,
    ) -> GroupReply<JoinGroupResponse> {
        let session = crate::base::timing::from_ms(req.session_timeout_ms);
        if session < limits.min_session || session > limits.max_session {
            return GroupReply::Now(join_error(ResponseError::InvalidSessionTimeout));
        }
        // v0 has no rebalance timeout: it is the session timeout.
        let rebalance = if version >= 1 && req.rebalance_timeout_ms > 0 {
            crate::base::timing::from_ms(req.rebalance_timeout_ms)
        } else {
            session
        };
        let protocols: Vec<(StrBytes, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        if req.protocol_type.is_empty() || protocols.is_empty() {
            return GroupReply::Now(join_error(ResponseError::InconsistentGroupProtocol));
        }
        let others = self.members.keys().any(|id| id != &req.member_id);
        if others
            && (self.protocol_type.as_ref() != Some(&req.protocol_type)
                || !self.common_protocol_except(&protocols, &req.member_id))
        {
            return GroupReply::Now(join_error(ResponseError::InconsistentGroupProtocol));
        }
        let (member_id, replaced) = match self.identify(version, req, &client_id, now) {
            Ok(found) => found,
            Err(resp) => return GroupReply::Now(*resp),
        };
        let (tx, rx) = oneshot::channel();
        let is_new = !self.members.contains_key(&member_id);
        let member = self.members.entry(member_id.clone()).or_insert_with(|| {
            ClassicMember::stored(
                req.group_instance_id.clone(),
                client_id.clone(),
                client_host.clone(),
                session,
                rebalance,
                protocols.clone(),
                Bytes::new(),
                now,
            )
        });
        let unchanged = !is_new && member.protocols == protocols;
        member.protocols = protocols;
        member.session = session;
        member.rebalance = rebalance;
        member.client_id = client_id;
        member.client_host = client_host;
        member.last_seen = now;
        self.protocol_type = Some(req.protocol_type.clone());
        let is_leader = self.leader.as_ref() == Some(&member_id);
        match self.phase {
            // A follower that rejoins with what it had gets the current generation, and so
            // does a static member back under a new id (the leader is told to keep the
            // assignment); otherwise the leader, or a changed subscription, starts a round.
            Phase::Stable | Phase::CompletingRebalance if unchanged && (!is_leader || replaced) => {
                return GroupReply::Now(self.join_answer(version, &member_id, replaced));
            }
            Phase::CompletingRebalance if unchanged => {
                return GroupReply::Now(self.join_answer(version, &member_id, false));
            }
            Phase::Stable | Phase::CompletingRebalance => {
                let why = if is_new {
                    "joined"
                } else if unchanged {
                    "rejoined (leader)"
                } else {
                    "rejoined with another subscription"
                };
                self.start_rebalance(now, format!("member {} {why}", member_id.as_str()))
            }
            Phase::Empty => {
                self.start_rebalance(now, format!("member {} joined", member_id.as_str()));
                self.initial_until = Some(now + limits.initial_delay);
            }
            Phase::PreparingRebalance => {
                // A newcomer during the first round gives the others a little longer.
                if let Some(until) = &mut self.initial_until {
                    *until = (now + limits.initial_delay).min(self.join_deadline.unwrap_or(now));
                }
            }
        }
        if let Some(m) = self.members.get_mut(&member_id) {
            m.join = Some((version, tx));
        }
        self.changed = true;
        self.maybe_complete_join(now);
        GroupReply::Later(rx)
    }

    fn common_protocol_except(&self, protocols: &[(StrBytes, Bytes)], except: &StrBytes) -> bool {
        protocols.iter().any(|(n, _)| {
            self.members
                .iter()
                .filter(|(id, _)| *id != except)
                .all(|(_, m)| m.protocols.iter().any(|(x, _)| x == n))
        })
    }

    /// Which member a JoinGroup is from: its id, a new one, or the error to answer.
    fn identify(
        &mut self,
        version: i16,
        req: &JoinGroupRequest,
        client_id: &StrBytes,
        now: Instant,
    ) -> Result<(StrBytes, bool), Box<JoinGroupResponse>> {
        if let Some(instance) = &req.group_instance_id {
            let current = self.by_instance(instance);
            return match (req.member_id.is_empty(), current) {
                // A static member back with a new process: it takes its old place (and
                // assignment) under a new id; the old one is fenced.
                (true, Some(old)) => {
                    let new = new_member_id(instance);
                    self.replace_member(&old, new.clone());
                    Ok((new, true))
                }
                (true, None) => Ok((new_member_id(instance), false)),
                (false, Some(old)) if old == req.member_id => Ok((old, false)),
                (false, Some(_)) => Err(Box::new(join_error(ResponseError::FencedInstanceId))),
                (false, None) => Err(Box::new(join_error(ResponseError::UnknownMemberId))),
            };
        }
        if req.member_id.is_empty() {
            let id = new_member_id(client_id);
            if version >= 4 {
                // Kafka's handshake: the client rejoins with this id, so a client that dies
                // between the two leaves no member behind.
                let session = crate::base::timing::from_ms(req.session_timeout_ms);
                self.pending.insert(id.clone(), now + session);
                let mut r = join_error(ResponseError::MemberIdRequired);
                r.member_id = id;
                return Err(Box::new(r));
            }
            return Ok((id, false));
        }
        if self.pending.remove(&req.member_id).is_some()
            || self.members.contains_key(&req.member_id)
        {
            return Ok((req.member_id.clone(), false));
        }
        Err(Box::new(join_error(ResponseError::UnknownMemberId)))
    }

    fn by_instance(&self, instance: &StrBytes) -> Option<StrBytes> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_ref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    fn replace_member(&mut self, old: &StrBytes, new: StrBytes) {
        let Some(mut m) = self.members.remove(old) else {
            return;
        };
        if let Some((_, tx)) = m.join.take() {
            let _ = tx.send(join_error(ResponseError::FencedInstanceId));
        }
        if let Some(tx) = m.sync.take() {
            let _ = tx.send(sync_error(ResponseError::FencedInstanceId));
        }
        if self.leader.as_ref() == Some(old) {
            self.leader = Some(new.clone());
        }
        self.members.insert(new, m);
        self.changed = true;
    }

    /// The JoinGroup answer of the current generation for `member` (the member list goes to
    /// the leader only).
    fn join_answer(
        &self,
        version: i16,
        member: &StrBytes,
        skip_assignment: bool,
    ) -> JoinGroupResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if &leader == member {
            self.members
                .iter()
                .map(|(id, m)| {
                    join_group_response::JoinGroupResponseMember::default()
                        .with_member_id(id.clone())
                        .with_group_instance_id(m.instance_id.clone())
                        .with_metadata(m.metadata(&protocol))
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse::default()
            .with_generation_id(self.generation)
            .with_protocol_type(self.protocol_type.clone())
            .with_protocol_name(Some(protocol))
            .with_leader(leader)
            .with_skip_assignment(skip_assignment && version >= 9)
            .with_member_id(member.clone())
            .with_members(members)
    }

    /// Starts a join round: every member must rejoin within its rebalance timeout; members
    /// waiting on a sync are told to rejoin.
    fn start_rebalance(&mut self, now: Instant, reason: String) {
        self.reason = reason;
        self.phase = Phase::PreparingRebalance;
        let longest = self
            .members
            .values()
            .map(|m| m.rebalance)
            .max()
            .unwrap_or_default();
        self.join_deadline = Some(now + longest);
        self.initial_until = None;
        self.sync_deadline = None;
        for m in self.members.values_mut() {
            if let Some(tx) = m.sync.take() {
                let _ = tx.send(sync_error(ResponseError::RebalanceInProgress));
            }
        }
        self.changed = true;
    }

    /// Completes the join round when every member has rejoined (and the first round's delay
    /// is over) or the round's deadline passed.
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.phase != Phase::PreparingRebalance {
            return;
        }
        let all_in = self.members.values().all(|m| m.join.is_some());
        let delay_over = self.initial_until.is_none_or(|t| now >= t);
        let deadline = self.join_deadline.is_some_and(|t| now >= t);
        if !(deadline || all_in && delay_over) {
            return;
        }
        // Whoever did not rejoin in time leaves the group.
        self.members.retain(|_, m| m.join.is_some());
        self.generation = self.generation.wrapping_add(1).max(1);
        self.join_deadline = None;
        self.initial_until = None;
        self.changed = true;
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.leader = None;
            self.protocol = None;
            return;
        }
        self.protocol = self.vote();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.phase = Phase::CompletingRebalance;
        let longest = self.members.values().map(|m| m.rebalance).max();
        self.sync_deadline = longest.map(|d| now + d);
        let ids: Vec<StrBytes> = self.members.keys().cloned().collect();
        for id in ids {
            let answer_for = |version| self.join_answer(version, &id, false);
            let Some((version, _)) = self.members.get(&id).and_then(|m| m.join.as_ref()) else {
                continue;
            };
            let answer = answer_for(*version);
            if let Some(m) = self.members.get_mut(&id) {
                m.last_seen = now;
                m.assignment = Bytes::new();
                if let Some((_, tx)) = m.join.take() {
                    let _ = tx.send(answer);
                }
            }
        }
    }

    /// The protocol every member supports that most members prefer (Kafka's vote).
    fn vote(&self) -> Option<StrBytes> {
        let first = self.members.values().next()?;
        let candidates: Vec<&StrBytes> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &StrBytes)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n))
                && let Some(v) = votes.iter_mut().find(|(_, c)| *c == name)
            {
                v.0 += 1;
            }
        }
        // The most votes; among equals, the first member's preference.
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .into_iter()
            .find(|(n, _)| *n == best)
            .map(|(_, c)| c.clone())
    }

    /// Checks that `member` (with `instance`) may speak for generation `generation`.
    fn check_member(
        &self,
        member: &StrBytes,
        instance: Option<&StrBytes>,
        generation: Option<i32>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance
            && let Some(current) = self.by_instance(instance)
            && &current != member
        {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(member) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation.is_some_and(|g| g != self.generation) {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// SyncGroup.
    pub fn sync(&mut self, req: &SyncGroupRequest, now: Instant) -> GroupReply<SyncGroupResponse> {
        if let Err(e) = self.check_member(
            &req.member_id,
            req.group_instance_id.as_ref(),
            Some(req.generation_id),
        ) {
            return GroupReply::Now(sync_error(e));
        }
        let mismatch = |given: &Option<StrBytes>, ours: &Option<StrBytes>| {
            given.as_ref().is_some_and(|g| Some(g) != ours.as_ref())
        };
        if mismatch(&req.protocol_type, &self.protocol_type)
            || mismatch(&req.protocol_name, &self.protocol)
        {
            return GroupReply::Now(sync_error(ResponseError::InconsistentGroupProtocol));
        }
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.last_seen = now;
        }
        match self.phase {
            Phase::Empty => GroupReply::Now(sync_error(ResponseError::UnknownMemberId)),
            Phase::PreparingRebalance => {
                GroupReply::Now(sync_error(ResponseError::RebalanceInProgress))
            }
            Phase::Stable => GroupReply::Now(self.sync_answer(&req.member_id)),
            Phase::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.sync = Some(tx);
                }
                if self.leader.as_ref() == Some(&req.member_id) {
                    for m in self.members.values_mut() {
                        m.assignment = Bytes::new();
                    }
                    for a in &req.assignments {
                        if let Some(m) = self.members.get_mut(&a.member_id) {
                            m.assignment = a.assignment.clone();
                        }
                    }
                    self.phase = Phase::Stable;
                    self.sync_deadline = None;
                    self.changed = true;
                    let ids: Vec<StrBytes> = self.members.keys().cloned().collect();
                    for id in ids {
                        let answer = self.sync_answer(&id);
                        if let Some(tx) = self.members.get_mut(&id).and_then(|m| m.sync.take()) {
                            let _ = tx.send(answer);
                        }
                    }
                }
                GroupReply::Later(rx)
            }
        }
    }

    fn sync_answer(&self, member: &StrBytes) -> SyncGroupResponse {
        SyncGroupResponse::default()
            .with_protocol_type(self.protocol_type.clone())
            .with_protocol_name(self.protocol.clone())
            .with_assignment(
                self.members
                    .get(member)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default(),
            )
    }

    /// Heartbeat: the error code to answer.
    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now: Instant) -> i16 {
        if self.phase == Phase::Empty {
            return ResponseError::UnknownMemberId.code();
        }
        if let Err(e) = self.check_member(
            &req.member_id,
            req.group_instance_id.as_ref(),
            Some(req.generation_id),
        ) {
            return e.code();
        }
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.last_seen = now;
        }
        match self.phase {
            Phase::PreparingRebalance => ResponseError::RebalanceInProgress.code(),
            _ => 0,
        }
    }

    /// LeaveGroup for one member (by id, or by instance id when the id is empty): the error
    /// code for it.
    pub fn leave(&mut self, member: &StrBytes, instance: Option<&StrBytes>, now: Instant) -> i16 {
        let id = match (member.is_empty(), instance) {
            (true, Some(i)) => match self.by_instance(i) {
                Some(id) => id,
                None => return ResponseError::UnknownMemberId.code(),
            },
            _ => {
                if let Err(e) = self.check_member(member, instance, None) {
                    return e.code();
                }
                member.clone()
            }
        };
        self.remove(&id, now, "left");
        0
    }

    /// Removes a member (left or expired) and starts a round for the others.
    fn remove(&mut self, id: &StrBytes, now: Instant, why: &str) {
        let Some(mut m) = self.members.remove(id) else {
            return;
        };
        if let Some((_, tx)) = m.join.take() {
            let _ = tx.send(join_error(ResponseError::UnknownMemberId));
        }
        if let Some(tx) = m.sync.take() {
            let _ = tx.send(sync_error(ResponseError::UnknownMemberId));
        }
        if self.leader.as_ref() == Some(id) {
            self.leader = None;
        }
        self.changed = true;
        match self.phase {
            Phase::PreparingRebalance => self.maybe_complete_join(now),
            _ if self.members.is_empty() => {
                self.reason = format!("member {} {why}", id.as_str());
                self.phase = Phase::Empty;
                self.generation = self.generation.wrapping_add(1).max(1);
                self.protocol = None;
            }
            _ => self.start_rebalance(now, format!("member {} {why}", id.as_str())),
        }
    }

    /// Whether `member` of `generation` may commit offsets now; `None` for a commit made
    /// outside the group protocol (generation -1), allowed only while the group is empty.
    pub fn may_commit(
        &self,
        member: &StrBytes,
        instance: Option<&StrBytes>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if generation < 0 && member.is_empty() {
            return match self.phase {
                Phase::Empty => Ok(()),
                _ => Err(ResponseError::UnknownMemberId),
            };
        }
        if self.phase == Phase::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        self.check_member(member, instance, Some(generation))?;
        match self.phase {
            Phase::CompletingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Expires members whose session ran out and ends rounds whose time is up.
    pub fn tick(&mut self, now: Instant) {
        self.pending.retain(|_, until| *until > now);
        let expired: Vec<StrBytes> = self
            .members
            .iter()
            .filter(|(_, m)| m.join.is_none() && m.sync.is_none() && m.last_seen + m.session < now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(
                &id,
                now,
                "expired (no heartbeat within its session timeout)",
            );
        }
        if self.sync_deadline.is_some_and(|t| now >= t) && self.phase == Phase::CompletingRebalance
        {
            // The leader never sent the assignment: start over.
            self.start_rebalance(now, "the leader sent no assignment in time".into());
        }
        self.maybe_complete_join(now);
    }

    /// This instance no longer coordinates the group: requests waiting on a round are dropped
    /// (their clients are told to find the coordinator again) and members are kept alive,
    /// so that they do not expire at once if the group comes back here.
    pub fn disown(&mut self, now: Instant) {
        for m in self.members.values_mut() {
            m.join = None;
            m.sync = None;
            m.last_seen = now;
        }
    }

    /// Whether the group holds nothing worth keeping (no members, nothing pending).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Empty && self.members.is_empty() && self.pending.is_empty()
    }

    /// Whether any member's subscription (consumer protocol) names `topic`.
    pub fn subscribed_to(&self, topic: &str) -> bool {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        let Some(protocol) = &self.protocol else {
            return false;
        };
        self.members.values().any(|m| {
            let meta = m.metadata(protocol);
            if meta.len() < 2 {
                return false;
            }
            let mut buf = meta.clone();
            let version = i16::from_be_bytes([buf[0], buf[1]]);
            bytes::Buf::advance(&mut buf, 2);
            ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3))
                .is_ok_and(|s| s.topics.iter().any(|t| t.as_str() == topic))
        })
    }
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min_session: Duration::from_secs(1),
        max_session: Duration::from_secs(60),
        initial_delay: Duration::from_millis(0),
        consumer_session: Duration::from_secs(45),
        consumer_heartbeat: Duration::from_secs(5),
    };

    fn join_req(member: &str, instance: Option<&str>, protocols: &[&str]) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_string(member.into()))
            .with_group_instance_id(instance.map(|i| StrBytes::from_string(i.into())))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(
                protocols
                    .iter()
                    .map(|p| {
                        join_group_request::JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_string((*p).into()))
                            .with_metadata(Bytes::from_static(b"m"))
                    })
                    .collect(),
            )
    }

    fn now_answer<T>(r: GroupReply<T>) -> T {
        match r {
            GroupReply::Now(t) => t,
            GroupReply::Later(_) => panic!("expected an answer now"),
        }
    }

    fn later<T>(r: GroupReply<T>) -> oneshot::Receiver<T> {
        match r {
            GroupReply::Later(rx) => rx,
            GroupReply::Now(_) => panic!("expected to wait"),
        }
    }

    fn cid() -> StrBytes {
        StrBytes::from_static_str("c")
    }

    /// Joins a dynamic member through the MEMBER_ID_REQUIRED handshake; returns its id and
    /// the receiver of its join answer.
    fn join_new(g: &mut Group, t: Instant) -> (StrBytes, oneshot::Receiver<JoinGroupResponse>) {
        let first =
            now_answer(g.join(5, &join_req("", None, &["range"]), cid(), cid(), &LIMITS, t));
        assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
        let id = first.member_id;
        let rx = later(g.join(
            5,
            &join_req(id.as_str(), None, &["range"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        ));
        (id, rx)
    }

    fn sync_req(
        id: &StrBytes,
        generation: i32,
        assign: &[(&StrBytes, &'static [u8])],
    ) -> SyncGroupRequest {
        SyncGroupRequest::default()
            .with_generation_id(generation)
            .with_member_id(id.clone())
            .with_assignments(
                assign
                    .iter()
                    .map(|(m, a)| {
                        sync_group_request::SyncGroupRequestAssignment::default()
                            .with_member_id((*m).clone())
                            .with_assignment(Bytes::from_static(a))
                    })
                    .collect(),
            )
    }

    #[test]
    fn two_members_join_one_generation_and_get_the_leaders_assignment() {
        let t = Instant::now();
        let mut g = Group::default();
        let (a, mut ja) = join_new(&mut g, t);
        // The round completes at once for a lone member (no initial delay here).
        let ra = ja.try_recv().expect("a's join answered");
        assert_eq!((ra.generation_id, ra.leader.clone()), (1, a.clone()));
        // b arrives: a is told to rejoin by its heartbeat.
        let (b, mut jb) = join_new(&mut g, t);
        assert!(jb.try_recv().is_err(), "b waits for a");
        let hb = HeartbeatRequest::default()
            .with_generation_id(1)
            .with_member_id(a.clone());
        assert_eq!(
            g.heartbeat(&hb, t),
            ResponseError::RebalanceInProgress.code()
        );
        let _ja2 = later(g.join(
            5,
            &join_req(a.as_str(), None, &["range"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        ));
        let rb = jb.try_recv().expect("b's join answered");
        assert_eq!(rb.generation_id, 2);
        assert!(rb.members.is_empty(), "only the leader sees the members");
        // The follower syncs first and waits for the leader.
        let mut sb = later(g.sync(&sync_req(&b, 2, &[]), t));
        let sa = g.sync(&sync_req(&a, 2, &[(&a, b"A"), (&b, b"B")]), t);
        assert_eq!(
            later(sa).try_recv().expect("leader answered").assignment,
            Bytes::from_static(b"A")
        );
        assert_eq!(
            sb.try_recv().expect("follower answered").assignment,
            Bytes::from_static(b"B")
        );
        assert_eq!(g.phase, Phase::Stable);
        let hb = HeartbeatRequest::default()
            .with_generation_id(1)
            .with_member_id(b.clone());
        assert_eq!(g.heartbeat(&hb, t), ResponseError::IllegalGeneration.code());
    }

    #[test]
    fn a_silent_member_expires_and_the_others_rebalance_without_it() {
        let t = Instant::now();
        let mut g = Group::default();
        let (a, _) = join_new(&mut g, t);
        let (b, _) = join_new(&mut g, t);
        let _ = g.join(
            5,
            &join_req(a.as_str(), None, &["range"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        );
        assert_eq!(g.phase, Phase::CompletingRebalance);
        let _ = g.sync(&sync_req(&a, 2, &[(&a, b"A"), (&b, b"B")]), t);
        // a keeps heartbeating, b goes quiet past its 6 s session.
        let later_t = t + Duration::from_secs(7);
        let hb = HeartbeatRequest::default()
            .with_generation_id(2)
            .with_member_id(a.clone());
        assert_eq!(g.heartbeat(&hb, later_t), 0);
        g.tick(later_t);
        assert!(!g.members.contains_key(&b));
        assert_eq!(g.phase, Phase::PreparingRebalance);
        assert_eq!(
            g.heartbeat(&hb, later_t),
            ResponseError::RebalanceInProgress.code()
        );
    }

    #[test]
    fn a_static_member_restarting_keeps_its_place_without_a_rebalance() {
        let t = Instant::now();
        let mut g = Group::default();
        let mut r = later(g.join(
            5,
            &join_req("", Some("i1"), &["range"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        ));
        let first = r.try_recv().expect("answered");
        let _ = g.sync(
            &sync_req(&first.member_id, 1, &[(&first.member_id, b"A")]),
            t,
        );
        assert_eq!(g.phase, Phase::Stable);
        // Restarted: no member id, same instance id, same subscription.
        let again = g.join(
            5,
            &join_req("", Some("i1"), &["range"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        );
        let again = match again {
            GroupReply::Now(r) => r,
            GroupReply::Later(mut rx) => rx.try_recv().expect("answered"),
        };
        assert_eq!(again.generation_id, 1, "no new generation");
        assert_ne!(again.member_id, first.member_id);
        // The old process is fenced.
        let hb = HeartbeatRequest::default()
            .with_generation_id(1)
            .with_member_id(first.member_id.clone())
            .with_group_instance_id(Some(StrBytes::from_static_str("i1")));
        assert_eq!(g.heartbeat(&hb, t), ResponseError::FencedInstanceId.code());
    }

    #[test]
    fn commits_need_the_current_generation_or_an_empty_group() {
        let t = Instant::now();
        let mut g = Group::default();
        let none = StrBytes::default();
        assert!(
            g.may_commit(&none, None, -1).is_ok(),
            "empty group: standalone commit"
        );
        let (a, _) = join_new(&mut g, t);
        assert_eq!(
            g.may_commit(&a, None, 1),
            Err(ResponseError::RebalanceInProgress)
        );
        let _ = g.sync(&sync_req(&a, 1, &[(&a, b"A")]), t);
        assert!(g.may_commit(&a, None, 1).is_ok());
        assert_eq!(
            g.may_commit(&a, None, 0),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            g.may_commit(&none, None, -1),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn members_without_a_common_protocol_are_refused() {
        let t = Instant::now();
        let mut g = Group::default();
        let _ = join_new(&mut g, t);
        let r = now_answer(g.join(
            5,
            &join_req("", None, &["roundrobin"]),
            cid(),
            cid(),
            &LIMITS,
            t,
        ));
        assert_eq!(
            r.error_code,
            ResponseError::InconsistentGroupProtocol.code()
        );
    }

    #[test]
    fn a_stable_group_restored_elsewhere_keeps_its_generation_and_members() {
        let t = Instant::now();
        let mut members = BTreeMap::new();
        let id = StrBytes::from_static_str("m-1");
        members.insert(
            id.clone(),
            ClassicMember::stored(
                None,
                cid(),
                cid(),
                Duration::from_secs(6),
                Duration::from_secs(6),
                vec![],
                Bytes::from_static(b"A"),
                t,
            ),
        );
        let mut g = Group::restored(Phase::Stable, 7, None, None, Some(id.clone()), members, t);
        let hb = HeartbeatRequest::default()
            .with_generation_id(7)
            .with_member_id(id);
        assert_eq!(g.heartbeat(&hb, t), 0, "members go on as before");
    }
}
