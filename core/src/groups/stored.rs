//! How groups and their committed offsets are kept in the control log: one entry per group
//! (`groups/{group}`: phase, generation, protocol, leader, members with their subscriptions
//! and assignments), written whole by the instance coordinating the group, and one per
//! committed partition (`group-offsets/{group}/{topic}/{partition}`), written only when that
//! partition is committed: an instance that takes a group over before it has read the last
//! commits of the previous owner cannot write them back stale.

use super::state::{ClassicMember, Group, Phase};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// A committed offset, in logical offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The next offset to consume.
    pub offset: i64,
    /// The client's metadata string.
    pub metadata: Option<StrBytes>,
}

/// A group's entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredGroup {
    /// The process that wrote it (see `Coordinator::apply_logged`).
    pub incarnation: String,
    phase: String,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: Vec<StoredMember>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredMember {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_ms: u64,
    rebalance_ms: u64,
    /// Protocol names and their metadata (base64).
    protocols: Vec<(String, String)>,
    /// Base64.
    assignment: String,
}

fn s(v: &StrBytes) -> String {
    v.as_str().to_owned()
}

fn b64(b: &Bytes) -> String {
    STANDARD.encode(b)
}

/// Why a stored group could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The phase is none the coordinator knows.
    #[error("unknown phase {0:?}")]
    UnknownPhase(String),
    /// A member's subscription or assignment is not base64.
    #[error("member {member:?}: {what} is not base64: {reason}")]
    BadBase64 {
        /// The member id.
        member: String,
        /// Which field.
        what: &'static str,
        /// The decoder's message.
        reason: base64::DecodeError,
    },
}

fn unb64(s: &str, member: &str, what: &'static str) -> Result<Bytes, RestoreError> {
    STANDARD
        .decode(s)
        .map(Bytes::from)
        .map_err(|reason| RestoreError::BadBase64 {
            member: member.to_owned(),
            what,
            reason,
        })
}

impl StoredGroup {
    /// The stored form of `g`.
    pub fn of(g: &Group, incarnation: &str) -> Self {
        Self {
            incarnation: incarnation.to_owned(),
            phase: g.phase.name().to_owned(),
            generation: g.generation,
            protocol_type: g.protocol_type.as_ref().map(s),
            protocol: g.protocol.as_ref().map(s),
            leader: g.leader.as_ref().map(s),
            members: g
                .members
                .iter()
                .map(|(id, m)| StoredMember {
                    id: s(id),
                    instance_id: m.instance_id.as_ref().map(s),
                    client_id: s(&m.client_id),
                    client_host: s(&m.client_host),
                    session_ms: m.session.as_millis() as u64,
                    rebalance_ms: m.rebalance.as_millis() as u64,
                    protocols: m.protocols.iter().map(|(n, d)| (s(n), b64(d))).collect(),
                    assignment: b64(&m.assignment),
                })
                .collect(),
        }
    }

    /// The group it describes, its members alive as of `now`.
    pub fn restore(self, now: Instant) -> Result<Group, RestoreError> {
        let phase = Phase::parse(&self.phase).ok_or(RestoreError::UnknownPhase(self.phase))?;
        let mut members = BTreeMap::new();
        for m in self.members {
            let protocols = m
                .protocols
                .into_iter()
                .map(|(n, d)| Ok((StrBytes::from_string(n), unb64(&d, &m.id, "a protocol")?)))
                .collect::<Result<Vec<_>, RestoreError>>()?;
            let assignment = unb64(&m.assignment, &m.id, "the assignment")?;
            members.insert(
                StrBytes::from_string(m.id),
                ClassicMember::stored(
                    m.instance_id.map(StrBytes::from_string),
                    StrBytes::from_string(m.client_id),
                    StrBytes::from_string(m.client_host),
                    crate::base::timing::from_ms(m.session_ms),
                    crate::base::timing::from_ms(m.rebalance_ms),
                    protocols,
                    assignment,
                    now,
                ),
            );
        }
        Ok(Group::restored(
            phase,
            self.generation,
            self.protocol_type.map(StrBytes::from_string),
            self.protocol.map(StrBytes::from_string),
            self.leader.map(StrBytes::from_string),
            members,
            now,
        ))
    }
}

/// One committed partition's entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredCommit {
    /// The process that wrote it.
    pub incarnation: String,
    offset: i64,
    metadata: Option<String>,
}

impl StoredCommit {
    /// The stored form of a commit.
    pub fn of(c: &Commit, incarnation: &str) -> Self {
        Self {
            incarnation: incarnation.to_owned(),
            offset: c.offset,
            metadata: c.metadata.as_ref().map(s),
        }
    }

    /// The commit it holds.
    pub fn restore(self) -> Commit {
        Commit {
            offset: self.offset,
            metadata: self.metadata.map(StrBytes::from_string),
        }
    }
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn a_group_and_its_offsets_survive_the_round_trip() {
        let now = Instant::now();
        let mut members = BTreeMap::new();
        members.insert(
            StrBytes::from_static_str("m-1"),
            ClassicMember::stored(
                Some(StrBytes::from_static_str("i-1")),
                StrBytes::from_static_str("c"),
                StrBytes::from_static_str("/10.0.0.1"),
                std::time::Duration::from_secs(10),
                std::time::Duration::from_secs(30),
                vec![(
                    StrBytes::from_static_str("range"),
                    Bytes::from_static(b"\0\x01x"),
                )],
                Bytes::from_static(b"\0\x02y"),
                now,
            ),
        );
        let g = Group::restored(
            Phase::Stable,
            4,
            Some(StrBytes::from_static_str("consumer")),
            Some(StrBytes::from_static_str("range")),
            Some(StrBytes::from_static_str("m-1")),
            members,
            now,
        );
        let json = serde_json::to_vec(&StoredGroup::of(&g, "x")).expect("encodes");
        let back: StoredGroup = serde_json::from_slice(&json).expect("decodes");
        let back = back.restore(now).expect("restores");
        assert_eq!((back.phase, back.generation), (Phase::Stable, 4));
        let m = &back.members[&StrBytes::from_static_str("m-1")];
        assert_eq!(m.assignment, Bytes::from_static(b"\0\x02y"));
        assert_eq!(
            m.protocols,
            g.members[&StrBytes::from_static_str("m-1")].protocols
        );

        let commit = Commit {
            offset: 42,
            metadata: Some(StrBytes::from_static_str("m")),
        };
        let json = serde_json::to_vec(&StoredCommit::of(&commit, "x")).expect("encodes");
        let back: StoredCommit = serde_json::from_slice(&json).expect("decodes");
        assert_eq!(back.restore(), commit);
    }
}
