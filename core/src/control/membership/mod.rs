//! Scale-out: live instances join a consumer group on the backend clusters and
//! divide partition leadership the way Kafka brokers do. Kafka's group protocol is the
//! membership engine: the group leader hands every member the full member list, and each
//! instance derives the same owner for every partition from it. An instance advertises every
//! member as a broker and the owner as each partition's leader; a Produce for a partition it
//! does not own gets `NOT_LEADER_OR_FOLLOWER`, so clients go to the owner.
//!
//! A division takes effect one session timeout after it is handed out, so that an instance
//! still acting on an older one (in a group on another cluster) has dropped it by then.
//!
//! The group lives on the first cluster (authority order) an instance can reach. Instances
//! that see different clusters as reachable can end up in two groups on two clusters: a split
//! brain, in which both own every partition. Each instance looks for the group on the other
//! clusters it can reach and reports a second group (log and
//! `kafkatwin_instance_split_brain`); see `docs/groups-and-scale-out.md`.

mod member;

use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::metrics::Metrics;
use crate::base::sync::{read, write};
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use member::InstanceMember;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// One kafkatwin instance as clients reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Its broker id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// The current division of partitions.
#[derive(Debug, Clone, Default)]
struct View {
    /// Members by node id; empty while not in a group.
    members: Vec<Instance>,
    /// Ownership takes effect then (see [`Membership::install`]); `None`: at once.
    effective_at: Option<std::time::Instant>,
    /// Counts installed views, so a fence that ends applies only to its own view.
    epoch: u64,
    /// Ownership lapses then unless a heartbeat confirms the membership first: one session
    /// timeout after the last heartbeat sent that the group took. An instance frozen past
    /// it (its partitions handed to others meanwhile) owns nothing when it thaws, before it
    /// has heard of the new division.
    lease_until: Option<std::time::Instant>,
    /// The members clients are shown: the latest non-empty member list, kept while this
    /// instance is in no group. Leaders that flip to "this instance" during a regroup and
    /// back make some clients lose records (kafkajs drops the batches of a partition whose
    /// leader moved to a broker that already answered in the same send), so what clients
    /// see changes only when the instances really change.
    presented: Vec<Instance>,
}

/// This instance's place among the instances.
pub struct Membership {
    me: Instance,
    enabled: bool,
    view: RwLock<View>,
    changed: watch::Sender<u64>,
}

/// The protocol type and name the instances' group uses.
const PROTOCOL_TYPE: &str = "kafkatwin";
const PROTOCOL_NAME: &str = "partitions";

impl Membership {
    /// Membership for `me`; when not `enabled`, `me` owns every partition.
    pub fn new(me: Instance, enabled: bool) -> Self {
        Self {
            me,
            enabled,
            view: RwLock::new(View::default()),
            changed: watch::channel(0).0,
        }
    }

    /// This instance.
    pub fn me(&self) -> &Instance {
        &self.me
    }

    /// Whether instances divide partitions (scale-out on).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The node id `pick` chooses among the members of the division in effect: this instance
    /// without scale-out; `None` while in no group or during a fence.
    fn in_effect(&self, pick: impl Fn(&[Instance]) -> Option<&Instance>) -> Option<i32> {
        if !self.enabled {
            return Some(self.me.node_id);
        }
        let view = read(&self.view);
        let now = std::time::Instant::now();
        if view.effective_at.is_some_and(|t| now < t) || view.lease_until.is_some_and(|t| now >= t)
        {
            return None;
        }
        pick(&view.members).map(|m| m.node_id)
    }

    /// The owner's node id of a partition; `None` while this instance is in no group.
    pub fn owner(&self, topic: &TopicName, partition: i32) -> Option<i32> {
        self.in_effect(|members| owner_of(members, topic, partition))
    }

    /// The partition's leader as clients are shown it: its owner under the latest division
    /// handed out (in effect or not, kept while in no group); this instance when alone.
    pub fn presented_owner(&self, topic: &TopicName, partition: i32) -> i32 {
        if !self.enabled {
            return self.me.node_id;
        }
        owner_of(&read(&self.view).presented, topic, partition)
            .map_or(self.me.node_id, |m| m.node_id)
    }

    /// The node id of the instance coordinating consumer group `group` now; `None` while
    /// that is not known (in no instance group, or during a fence).
    pub fn group_owner(&self, group: &str) -> Option<i32> {
        self.in_effect(|members| group_owner_of(members, group))
    }

    /// The instance clients are sent to for consumer group `group` (FindCoordinator): its
    /// coordinator under the latest division handed out; this instance when alone.
    pub fn presented_group_owner(&self, group: &str) -> Instance {
        if !self.enabled {
            return self.me.clone();
        }
        group_owner_of(&read(&self.view).presented, group)
            .cloned()
            .unwrap_or_else(|| self.me.clone())
    }

    /// Whether another instance owns the partition now (not while ownership is unknown:
    /// in no group, or during a fence).
    pub fn owned_by_other(&self, topic: &TopicName, partition: i32) -> bool {
        self.owner(topic, partition)
            .is_some_and(|o| o != self.me.node_id)
    }

    /// Whether this instance owns the partition.
    pub fn owns(&self, topic: &TopicName, partition: i32) -> bool {
        self.owner(topic, partition) == Some(self.me.node_id)
    }

    /// The brokers to advertise: the presented members (see [`View::presented`]), or just
    /// this instance.
    pub fn brokers(&self) -> Vec<Instance> {
        let members = read(&self.view).presented.clone();
        if members.is_empty() {
            vec![self.me.clone()]
        } else {
            members
        }
    }

    /// A heartbeat sent at `sent` was taken by the group: the membership holds until one
    /// `session` after it.
    pub(super) fn confirm(&self, sent: std::time::Instant, session: Duration) {
        let mut v = write(&self.view);
        if let Some(until) = &mut v.lease_until {
            *until = (*until).max(sent + session);
        }
    }

    /// Changes whenever the division of partitions does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Installs a new division from a group round. It takes effect only `fence` later: an
    /// instance still acting on an older division (in a group on another cluster, or one that
    /// has not yet heard of this round) drops it within that time, so no partition has two
    /// writers (two writers can order its batches differently on different clusters).
    fn install(self: &Arc<Self>, members: Vec<Instance>, fence: Duration) {
        let epoch = read(&self.view).epoch + 1;
        let now = std::time::Instant::now();
        self.set_view(View {
            members,
            effective_at: Some(now + fence),
            epoch,
            presented: Vec::new(),
            lease_until: Some(now + fence),
        });
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(fence).await;
            let current = read(&me.view).epoch == epoch;
            if current {
                tracing::info!(
                    "instance membership in effect: this instance owns its partitions now"
                );
                me.changed.send_modify(|n| *n += 1);
            }
        });
    }

    fn set_view(&self, mut view: View) {
        let summary: Vec<i32> = view.members.iter().map(|m| m.node_id).collect();
        let changed = {
            let mut v = write(&self.view);
            let changed = v.members != view.members || view.effective_at.is_some();
            view.epoch = view.epoch.max(v.epoch + 1);
            view.presented = if view.members.is_empty() {
                std::mem::take(&mut v.presented)
            } else {
                view.members.clone()
            };
            *v = view;
            changed
        };
        if changed {
            tracing::info!(
                "instance membership: {} instance(s) {summary:?}; this instance is node {}",
                summary.len(),
                self.me.node_id
            );
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Runs the group membership until `stop`, then leaves the group; the task, so that a
    /// shutdown can wait for the leave (the other instances regroup at once, not after a
    /// session timeout). `None` without scale-out.
    pub fn spawn(
        self: &Arc<Self>,
        clusters: PerCluster<Arc<Cluster>>,
        group: String,
        session: Duration,
        metrics: Metrics,
        stop: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.enabled {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            let member = InstanceMember {
                membership: me,
                clusters,
                group: StrBytes::from_string(group),
                session,
                metrics,
            };
            member.run(stop).await;
        }))
    }
}

/// The owner of a partition among `members` (sorted by node id): a stable spread of each
/// topic's partitions over the members, the same on every instance.
fn owner_of<'a>(
    members: &'a [Instance],
    topic: &TopicName,
    partition: i32,
) -> Option<&'a Instance> {
    if members.is_empty() {
        return None;
    }
    let h = u64::from(crc32c::crc32c(topic.as_bytes())) + u64::from(partition.unsigned_abs());
    members.get((h % members.len() as u64) as usize)
}

/// The instance coordinating a consumer group among `members`: a stable spread of groups
/// over the members, the same on every instance.
fn group_owner_of<'a>(members: &'a [Instance], group: &str) -> Option<&'a Instance> {
    if members.is_empty() {
        return None;
    }
    let h = u64::from(crc32c::crc32c(group.as_bytes()));
    members.get((h % members.len() as u64) as usize)
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn inst(n: i32) -> Instance {
        Instance {
            node_id: n,
            host: "h".into(),
            port: 9000 + n,
        }
    }

    #[test]
    fn partitions_spread_over_members_the_same_way_everywhere() {
        let members = vec![inst(1), inst(2)];
        let t = TopicName(StrBytes::from_static_str("orders"));
        let owners: Vec<i32> = (0..6)
            .map(|p| owner_of(&members, &t, p).map_or(-1, |m| m.node_id))
            .collect();
        assert_eq!(owners.iter().filter(|&&o| o == 1).count(), 3, "{owners:?}");
        assert_eq!(owners.iter().filter(|&&o| o == 2).count(), 3, "{owners:?}");
        assert!(owner_of(&[], &t, 0).is_none());
        let single = Membership::new(inst(7), false);
        assert!(
            single.owns(&t, 5),
            "without scale-out one instance owns everything"
        );
        let joined = Membership::new(inst(1), true);
        assert!(!joined.owns(&t, 0), "in no group yet: owns nothing");
    }

    #[test]
    fn clients_see_the_same_leaders_while_the_instances_regroup() {
        let t = TopicName(StrBytes::from_static_str("orders"));
        let m = Membership::new(inst(1), true);
        assert_eq!(m.presented_owner(&t, 0), 1, "alone: this instance");
        m.set_view(View {
            members: vec![inst(1), inst(2)],
            ..View::default()
        });
        let shown: Vec<i32> = (0..6).map(|p| m.presented_owner(&t, p)).collect();
        assert!(shown.contains(&2), "{shown:?}");
        // Out of the group (its cluster died): owns nothing, but clients are shown the same
        // leaders and brokers, not this instance for everything.
        m.set_view(View::default());
        assert!((0..6).all(|p| !m.owns(&t, p)));
        assert_eq!(
            (0..6).map(|p| m.presented_owner(&t, p)).collect::<Vec<_>>(),
            shown
        );
        assert_eq!(m.brokers().len(), 2);
        // A new division is shown as soon as it is handed out.
        m.set_view(View {
            members: vec![inst(1)],
            ..View::default()
        });
        assert!((0..6).all(|p| m.presented_owner(&t, p) == 1));
    }

    #[test]
    fn an_instance_whose_lease_lapsed_owns_nothing_until_a_heartbeat_confirms_it() {
        let t = TopicName(StrBytes::from_static_str("orders"));
        let m = Membership::new(inst(1), true);
        let long_ago = std::time::Instant::now() - Duration::from_secs(60);
        m.set_view(View {
            members: vec![inst(1)],
            lease_until: Some(long_ago + Duration::from_secs(10)),
            ..View::default()
        });
        assert!((0..6).all(|p| !m.owns(&t, p)), "frozen past its lease");
        assert_eq!(m.group_owner("g"), None);
        m.confirm(std::time::Instant::now(), Duration::from_secs(10));
        assert!((0..6).all(|p| m.owns(&t, p)), "confirmed by a heartbeat");
    }
}
