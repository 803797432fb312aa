//! Groups of the consumer group protocol (`group.protocol=consumer`): members send
//! `ConsumerGroupHeartbeat` and the coordinator assigns the partitions itself.
//!
//! Every change of membership, subscriptions or partition counts bumps the group epoch and
//! computes a new target assignment at once. Each member then reaches its target in steps, so
//! that no partition is ever owned by two members: first it is told to give up what it must
//! (its epoch stays), once it reports them gone it gets the new epoch and the partitions no
//! one else holds, and those still held elsewhere follow once they are released. Pure: time
//! is passed in, topics are named (the proxy maps topic ids at its edge).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Partitions by topic name.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// The server-side assignors offered (both balance each topic's partitions over its
/// subscribers and keep partitions where they are when they can).
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// Namespace of [`topic_id`]'s name-based ids.
const TOPIC_IDS: uuid::Uuid = uuid::Uuid::from_u128(0x6b61_666b_6174_7769_6e2d_746f_7069_6373);

/// The id the proxy presents for `topic`: derived from the name, so that it is the same on
/// every instance and through every failover (each backend cluster has ids of its own).
pub fn topic_id(topic: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&TOPIC_IDS, topic.as_bytes())
}

/// A consumer-protocol group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsumerGroup {
    /// Bumped by every change of membership, subscriptions or partitions.
    pub epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    /// Partition counts of the subscribed topics the target was computed with.
    pub partitions: BTreeMap<String, i32>,
    /// Whether something worth storing changed since [`ConsumerGroup::take_changed`].
    #[serde(skip)]
    changed: bool,
}

/// One member.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsumerMember {
    /// Its epoch: the group epoch of the target it has reached.
    pub epoch: i32,
    /// Its epoch before the last bump (a heartbeat crossing the bump may carry it).
    pub previous_epoch: i32,
    /// Static membership id (`group.instance.id`).
    pub instance_id: Option<String>,
    /// Rack.
    pub rack_id: Option<String>,
    /// The client's id.
    pub client_id: String,
    /// The client's address (`/ip`).
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed: BTreeSet<String>,
    /// Assignor asked for.
    pub assignor: Option<String>,
    /// How long it may take to give partitions up.
    pub rebalance_timeout_ms: i32,
    /// Where it is going.
    pub target: Assignment,
    /// What it has been given and may own.
    pub assigned: Assignment,
    /// What it has been told to give up and has not yet reported gone.
    pub revoking: Assignment,
    /// Whether the next answer carries its assignment.
    #[serde(skip)]
    send: bool,
    /// When it was last heard from.
    #[serde(skip)]
    last_seen: Option<Instant>,
    /// When it is fenced unless it has given up `revoking`.
    #[serde(skip)]
    revoke_by: Option<Instant>,
}

/// One heartbeat, as the member sent it (topics named).
#[derive(Debug, Default)]
pub struct Beat {
    /// Member id (empty on a first join from clients that let the coordinator choose).
    pub member_id: String,
    /// Member epoch: 0 joins, -1 leaves, -2 leaves as a static member.
    pub epoch: i32,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Rack (`None`: unchanged).
    pub rack_id: Option<String>,
    /// Rebalance timeout (-1: unchanged).
    pub rebalance_timeout_ms: i32,
    /// Subscribed topics (`None`: unchanged).
    pub subscribed: Option<BTreeSet<String>>,
    /// Server assignor (`None`: unchanged or default).
    pub assignor: Option<String>,
    /// The partitions it owns (`None`: unchanged).
    pub owned: Option<Assignment>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Debug, PartialEq)]
pub struct HeartbeatAnswer {
    /// Member id.
    pub member_id: String,
    /// Member epoch.
    pub epoch: i32,
    /// The member's assignment, when it changed (or the member is out of step).
    pub assignment: Option<Assignment>,
    /// Whether the member has not reached its target yet (it has partitions to give up, or
    /// to receive once others release them).
    pub settling: bool,
}

/// Why a heartbeat is refused: Kafka's error and a message.
#[derive(Debug, PartialEq)]
pub struct Refused {
    /// Kafka error code.
    pub code: i16,
    /// What was wrong.
    pub message: String,
}

fn group_refusal(e: kafka_protocol::error::ResponseError, message: String) -> Refused {
    Refused {
        code: e.code(),
        message,
    }
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let left: BTreeSet<i32> = match b.get(t) {
            Some(bs) => ps.difference(bs).copied().collect(),
            None => ps.clone(),
        };
        if !left.is_empty() {
            out.insert(t.clone(), left);
        }
    }
    out
}

fn union_into(a: &mut Assignment, b: &Assignment) {
    for (t, ps) in b {
        a.entry(t.clone()).or_default().extend(ps.iter().copied());
    }
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|bs| !ps.is_disjoint(bs)))
}

/// Drops empty topics, so that assignments compare by their partitions alone.
fn normal(mut a: Assignment) -> Assignment {
    a.retain(|_, ps| !ps.is_empty());
    a
}

impl ConsumerGroup {
    /// Whether it changed since last asked (then the caller stores it).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Kafka's name of its state.
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.epoch || !m.revoking.is_empty() || m.assigned != m.target)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The group as restored from the control log at `now`: every member gets a session
    /// from now to come back, and is sent its assignment again.
    pub fn restored(mut self, now: Instant) -> Self {
        for m in self.members.values_mut() {
            m.last_seen = Some(now);
            m.send = true;
            if !m.revoking.is_empty() {
                m.revoke_by = Some(now + timeout(m.rebalance_timeout_ms));
            }
        }
        self
    }

    /// Handles one heartbeat. `counts`: partition counts of the topics the group subscribes
    /// to (a topic missing is assigned nothing); `new_id` makes a member id.
    pub fn heartbeat(
        &mut self,
        beat: Beat,
        counts: &BTreeMap<String, i32>,
        now: Instant,
        new_id: impl FnOnce() -> String,
    ) -> Result<HeartbeatAnswer, Refused> {
        use kafka_protocol::error::ResponseError::*;
        if let Some(a) = beat.assignor.as_deref()
            && !ASSIGNORS.contains(&a)
        {
            return Err(group_refusal(
                UnsupportedAssignor,
                format!("server assignor {a:?} is not offered; use one of {ASSIGNORS:?}"),
            ));
        }
        if beat.epoch < 0 {
            if self.members.remove(&beat.member_id).is_some() {
                self.bump();
            }
            return Ok(HeartbeatAnswer {
                member_id: beat.member_id,
                epoch: beat.epoch,
                assignment: None,
                settling: false,
            });
        }
        let joined = beat.epoch == 0;
        let id = if joined {
            self.join(&beat, new_id)?
        } else {
            let Some(m) = self.members.get(&beat.member_id) else {
                return Err(group_refusal(
                    UnknownMemberId,
                    format!("member {:?} is not in the group", beat.member_id),
                ));
            };
            if beat.epoch != m.epoch && !(beat.epoch == m.previous_epoch && beat.owned.is_some()) {
                return Err(group_refusal(
                    FencedMemberEpoch,
                    format!(
                        "member {:?} sent epoch {}, its epoch is {}",
                        beat.member_id, beat.epoch, m.epoch
                    ),
                ));
            }
            beat.member_id.clone()
        };
        let mut bumped = joined;
        if let Some(m) = self.members.get_mut(&id) {
            m.last_seen = Some(now);
            m.client_id = beat.client_id;
            m.client_host = beat.client_host;
            if beat.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = beat.rebalance_timeout_ms;
            }
            if beat.rack_id.is_some() {
                m.rack_id = beat.rack_id;
            }
            if let Some(a) = beat.assignor {
                m.assignor = Some(a);
            }
            if let Some(s) = beat.subscribed
                && s != m.subscribed
            {
                m.subscribed = s;
                bumped = true;
            }
        }
        let wanted: BTreeMap<String, i32> = self
            .members
            .values()
            .flat_map(|m| m.subscribed.iter())
            .filter_map(|t| counts.get(t).map(|n| (t.clone(), *n)))
            .collect();
        if bumped || wanted != self.partitions {
            self.partitions = wanted;
            self.bump();
        }
        Ok(self.reconcile(&id, beat.owned, now))
    }

    /// Adds (or resets) the member joining with `beat`; its id.
    fn join(&mut self, beat: &Beat, new_id: impl FnOnce() -> String) -> Result<String, Refused> {
        use kafka_protocol::error::ResponseError::*;
        if beat.subscribed.is_none() {
            return Err(group_refusal(
                InvalidRequest,
                "a joining member must send its subscribed topic names".into(),
            ));
        }
        let id = if beat.member_id.is_empty() {
            new_id()
        } else {
            beat.member_id.clone()
        };
        if let Some(instance) = &beat.instance_id
            && let Some((other, _)) = self
                .members
                .iter()
                .find(|(o, m)| **o != id && m.instance_id.as_ref() == Some(instance))
        {
            return Err(group_refusal(
                UnreleasedInstanceId,
                format!("instance id {instance:?} is still used by member {other:?}"),
            ));
        }
        // A member that joins again has lost what it owned.
        self.members.insert(
            id.clone(),
            ConsumerMember {
                instance_id: beat.instance_id.clone(),
                rebalance_timeout_ms: beat.rebalance_timeout_ms.max(0),
                send: true,
                ..ConsumerMember::default()
            },
        );
        Ok(id)
    }

    fn bump(&mut self) {
        self.epoch += 1;
        self.changed = true;
        self.retarget();
    }

    /// Computes every member's target at the current epoch: each topic's partitions spread
    /// evenly over its subscribers, partitions staying where they are targeted when they can.
    fn retarget(&mut self) {
        let mut targets: BTreeMap<String, Assignment> = self
            .members
            .keys()
            .map(|id| (id.clone(), Assignment::new()))
            .collect();
        for (topic, &n) in &self.partitions {
            let subs: Vec<&String> = self
                .members
                .iter()
                .filter(|(_, m)| m.subscribed.contains(topic))
                .map(|(id, _)| id)
                .collect();
            if subs.is_empty() || n <= 0 {
                continue;
            }
            let mut taken = BTreeSet::new();
            let mut kept: Vec<(&String, Vec<i32>)> = subs
                .iter()
                .map(|id| {
                    let now: Vec<i32> = self.members[*id]
                        .target
                        .get(topic)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|p| *p < n && taken.insert(*p))
                        .collect();
                    (*id, now)
                })
                .collect();
            // The members holding most keep the one extra partition each, when there are some.
            kept.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
            let k = kept.len() as i32;
            let (base, extra) = (n / k, n % k);
            let mut free: Vec<i32> = Vec::new();
            for (i, (_, ps)) in kept.iter_mut().enumerate() {
                let cap = (base + i32::from((i as i32) < extra)) as usize;
                if ps.len() > cap {
                    free.extend(ps.drain(cap..));
                }
            }
            free.extend((0..n).filter(|p| !taken.contains(p)));
            free.sort_unstable();
            let mut free = free.into_iter();
            for (i, (id, mut ps)) in kept.into_iter().enumerate() {
                let cap = (base + i32::from((i as i32) < extra)) as usize;
                while ps.len() < cap {
                    match free.next() {
                        Some(p) => ps.push(p),
                        None => break,
                    }
                }
                if let Some(t) = targets.get_mut(id) {
                    t.insert(topic.clone(), ps.into_iter().collect());
                }
            }
        }
        for (id, t) in targets {
            if let Some(m) = self.members.get_mut(&id) {
                m.target = normal(t);
            }
        }
    }

    /// Moves member `id` one step towards its target and answers it.
    fn reconcile(&mut self, id: &str, owned: Option<Assignment>, now: Instant) -> HeartbeatAnswer {
        let held_elsewhere: Assignment = {
            let mut h = Assignment::new();
            for (o, m) in &self.members {
                if o != id {
                    union_into(&mut h, &m.assigned);
                    union_into(&mut h, &m.revoking);
                }
            }
            h
        };
        let epoch = self.epoch;
        let Some(m) = self.members.get_mut(id) else {
            return HeartbeatAnswer {
                member_id: id.to_owned(),
                epoch: -1,
                assignment: None,
                settling: false,
            };
        };
        let owned = owned.map(normal);
        if let Some(o) = &owned {
            if !m.revoking.is_empty() && !intersects(o, &m.revoking) {
                m.revoking.clear();
                m.revoke_by = None;
                self.changed = true;
            }
            if *o != m.assigned {
                // Out of step (an answer lost, or a restored group): say it again.
                m.send = true;
            }
        }
        if m.revoking.is_empty() {
            let give_up = minus(&m.assigned, &m.target);
            if !give_up.is_empty() {
                m.assigned = minus(&m.assigned, &give_up);
                m.revoking = give_up;
                m.revoke_by = Some(now + timeout(m.rebalance_timeout_ms));
                m.send = true;
                self.changed = true;
            } else {
                if m.epoch != epoch {
                    m.previous_epoch = m.epoch;
                    m.epoch = epoch;
                    self.changed = true;
                }
                let free = minus(&minus(&m.target, &m.assigned), &held_elsewhere);
                if !free.is_empty() {
                    union_into(&mut m.assigned, &free);
                    m.send = true;
                    self.changed = true;
                }
            }
        }
        HeartbeatAnswer {
            member_id: id.to_owned(),
            epoch: m.epoch,
            assignment: std::mem::take(&mut m.send).then(|| m.assigned.clone()),
            settling: !m.revoking.is_empty() || m.assigned != m.target,
        }
    }

    /// Removes members silent for `session`, and those that did not give partitions up in
    /// time; true when any was removed.
    pub fn tick(&mut self, session: Duration, now: Instant) -> bool {
        let before = self.members.len();
        self.members.retain(|id, m| {
            let silent = m.last_seen.is_some_and(|t| now >= t + session);
            let stuck = m.revoke_by.is_some_and(|t| now >= t);
            if silent || stuck {
                tracing::info!(
                    "consumer group member {id:?} removed: {}",
                    if silent {
                        "its session expired"
                    } else {
                        "it did not give up its revoked partitions within its rebalance timeout"
                    }
                );
            }
            !(silent || stuck)
        });
        let removed = self.members.len() != before;
        if removed {
            self.bump();
        }
        removed
    }

    /// Keeps members alive while another instance owns the group (see `Group::disown`).
    pub fn disown(&mut self, now: Instant) {
        for m in self.members.values_mut() {
            m.last_seen = Some(now);
            if m.revoke_by.is_some() {
                m.revoke_by = Some(now + timeout(m.rebalance_timeout_ms));
            }
        }
    }

    /// Whether member `member` at `epoch` may commit `parts` (an empty member id with epoch
    /// -1 commits for a group without members, as admin tools do). A commit sent with the
    /// member's previous epoch, crossing its bump, is taken for partitions it still holds:
    /// Kafka refuses it, and the client then counts a failed commit for nothing.
    pub fn may_commit<'a>(
        &self,
        member: &str,
        epoch: i32,
        mut parts: impl Iterator<Item = (&'a str, i32)>,
    ) -> Result<(), i16> {
        use kafka_protocol::error::ResponseError::*;
        if member.is_empty() && epoch < 0 {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(UnknownMemberId.code())
            };
        }
        let holds = |m: &ConsumerMember, t: &str, p: i32| {
            [&m.assigned, &m.revoking]
                .iter()
                .any(|a| a.get(t).is_some_and(|ps| ps.contains(&p)))
        };
        match self.members.get(member) {
            None => Err(UnknownMemberId.code()),
            Some(m) if m.epoch == epoch => Ok(()),
            Some(m) if epoch == m.previous_epoch && parts.all(|(t, p)| holds(m, t, p)) => Ok(()),
            Some(_) => Err(StaleMemberEpoch.code()),
        }
    }

    /// Whether any member subscribes to `topic`.
    pub fn subscribed_to(&self, topic: &str) -> bool {
        self.members.values().any(|m| m.subscribed.contains(topic))
    }
}

fn timeout(ms: i32) -> Duration {
    crate::base::timing::from_ms(ms).max(crate::base::timing::MIN_MEMBER_TIMEOUT)
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn set(topic: &str, ps: &[i32]) -> Assignment {
        let mut a = Assignment::new();
        if !ps.is_empty() {
            a.insert(topic.to_owned(), ps.iter().copied().collect());
        }
        a
    }

    fn counts() -> BTreeMap<String, i32> {
        [("t".to_owned(), 4)].into_iter().collect()
    }

    fn join(g: &mut ConsumerGroup, id: &str, now: Instant) -> HeartbeatAnswer {
        g.heartbeat(
            Beat {
                member_id: id.into(),
                epoch: 0,
                rebalance_timeout_ms: 30_000,
                subscribed: Some(["t".to_owned()].into_iter().collect()),
                ..Beat::default()
            },
            &counts(),
            now,
            || unreachable!("ids are given"),
        )
        .expect("joins")
    }

    fn beat(
        g: &mut ConsumerGroup,
        id: &str,
        epoch: i32,
        owned: Assignment,
        now: Instant,
    ) -> HeartbeatAnswer {
        g.heartbeat(
            Beat {
                member_id: id.into(),
                epoch,
                owned: Some(owned),
                ..Beat::default()
            },
            &counts(),
            now,
            || unreachable!("ids are given"),
        )
        .expect("beats")
    }

    #[test]
    fn a_lone_member_gets_every_partition_at_the_group_epoch() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        let a = join(&mut g, "a", now);
        assert_eq!(a.epoch, g.epoch);
        assert_eq!(a.assignment, Some(set("t", &[0, 1, 2, 3])));
        assert_eq!(g.state(), "Stable");
    }

    #[test]
    fn partitions_move_only_after_the_old_owner_gives_them_up() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        let a = join(&mut g, "a", now);
        let b = join(&mut g, "b", now);
        // b's target is half of t, but a holds it all: b gets nothing yet, at the new epoch,
        // and is told to come back soon.
        assert_eq!(b.assignment, Some(Assignment::new()));
        assert!(b.settling);
        // a is told to give up two partitions and keeps its epoch.
        let a2 = beat(&mut g, "a", a.epoch, set("t", &[0, 1, 2, 3]), now);
        assert_eq!(a2.epoch, a.epoch);
        let kept = a2.assignment.expect("a's smaller assignment");
        assert_eq!(kept["t"].len(), 2);
        assert_eq!(g.state(), "Reconciling");
        // Until a reports them gone, b still gets none of them.
        let b2 = beat(&mut g, "b", b.epoch, Assignment::new(), now);
        assert_eq!(b2.assignment, None);
        // a reports; it moves to the new epoch; then b gets the released partitions.
        let a3 = beat(&mut g, "a", a.epoch, kept.clone(), now);
        assert_eq!(a3.epoch, g.epoch);
        let b3 = beat(&mut g, "b", b.epoch, Assignment::new(), now);
        let got = b3.assignment.expect("b's partitions");
        assert_eq!(got["t"].len(), 2);
        assert!(got["t"].is_disjoint(&kept["t"]));
        let b4 = beat(&mut g, "b", b3.epoch, got.clone(), now);
        assert!(!b4.settling);
        assert_eq!(g.state(), "Stable");
        // A commit crossing a's epoch bump is taken for what a still holds, not for the rest.
        let held = kept["t"]
            .iter()
            .next()
            .copied()
            .expect("a holds a partition");
        let gone = got["t"]
            .iter()
            .next()
            .copied()
            .expect("b holds a partition");
        assert_eq!(
            g.may_commit("a", a.epoch, [("t", held)].into_iter()),
            Ok(())
        );
        assert_eq!(
            g.may_commit("a", a.epoch, [("t", gone)].into_iter()),
            Err(kafka_protocol::error::ResponseError::StaleMemberEpoch.code())
        );
    }

    #[test]
    fn a_silent_member_is_removed_and_its_partitions_go_to_the_others() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        join(&mut g, "a", now);
        join(&mut g, "b", now);
        let later = now + Duration::from_secs(50);
        let (epoch, owned) = (g.members["a"].epoch, g.members["a"].assigned.clone());
        let a = beat(&mut g, "a", epoch, owned, later);
        assert!(g.tick(Duration::from_secs(45), later + Duration::from_secs(1)));
        assert!(!g.members.contains_key("b"));
        let owned = g.members["a"].assigned.clone();
        let a = beat(&mut g, "a", a.epoch, owned, later);
        assert_eq!(a.assignment, Some(set("t", &[0, 1, 2, 3])));
    }

    #[test]
    fn stale_epochs_unknown_members_and_unknown_assignors_are_refused() {
        use kafka_protocol::error::ResponseError::*;
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        let a = join(&mut g, "a", now);
        let stale = g.heartbeat(
            Beat {
                member_id: "a".into(),
                epoch: a.epoch + 5,
                ..Beat::default()
            },
            &counts(),
            now,
            String::new,
        );
        assert_eq!(stale.map_err(|r| r.code), Err(FencedMemberEpoch.code()));
        let unknown = g.heartbeat(
            Beat {
                member_id: "zz".into(),
                epoch: 3,
                ..Beat::default()
            },
            &counts(),
            now,
            String::new,
        );
        assert_eq!(unknown.map_err(|r| r.code), Err(UnknownMemberId.code()));
        let assignor = g.heartbeat(
            Beat {
                member_id: "a".into(),
                epoch: a.epoch,
                assignor: Some("sticky".into()),
                ..Beat::default()
            },
            &counts(),
            now,
            String::new,
        );
        assert_eq!(
            assignor.map_err(|r| r.code),
            Err(UnsupportedAssignor.code())
        );
        let t0 = [("t", 0)];
        assert_eq!(g.may_commit("a", a.epoch, t0.into_iter()), Ok(()));
        assert_eq!(
            g.may_commit("a", a.epoch + 1, t0.into_iter()),
            Err(StaleMemberEpoch.code())
        );
    }

    #[test]
    fn a_leaving_member_hands_its_partitions_over() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        let a = join(&mut g, "a", now);
        let _ = beat(&mut g, "a", a.epoch, set("t", &[0, 1, 2, 3]), now);
        join(&mut g, "b", now);
        let left = g
            .heartbeat(
                Beat {
                    member_id: "a".into(),
                    epoch: -1,
                    ..Beat::default()
                },
                &counts(),
                now,
                String::new,
            )
            .expect("leaves");
        assert_eq!(left.epoch, -1);
        let epoch = g.members["b"].epoch;
        let b = beat(&mut g, "b", epoch, Assignment::new(), now);
        assert_eq!(b.assignment, Some(set("t", &[0, 1, 2, 3])));
    }

    #[test]
    fn it_survives_the_round_trip_through_json() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        join(&mut g, "a", now);
        let json = serde_json::to_vec(&g).expect("encodes");
        let back: ConsumerGroup = serde_json::from_slice(&json).expect("decodes");
        let back = back.restored(now);
        assert_eq!(back.epoch, g.epoch);
        assert_eq!(back.members["a"].assigned, g.members["a"].assigned);
    }
}
