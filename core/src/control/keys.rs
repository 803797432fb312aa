//! The control log's keys, typed: each entry's key says which part of the control state it
//! belongs to and what it is about. Written as text and parsed back here only.
//!
//! | Key | Text |
//! |---|---|
//! | offset map | `offsets/{cluster}/{topic}/{partition}` |
//! | audit entry | `audit/{ms}-{pid}` |
//! | plugin head | `plugins/{name}` |
//! | plugin module chunk | `plugin-chunks/{sha256}/{index}` |
//! | a topic's API rules | `rules/{topic}` |
//! | a classic consumer group | `groups/{group}` |
//! | a consumer-protocol group | `consumer-groups/{group}` |
//! | a group's committed offset | `group-offsets/{group}/{topic}/{partition}` |
//! | a client id's quota | `quotas/{client_id}` |
//! | a schema-registry entry | `schema-registry/{entry}` (the registry parses `entry`) |
//! | a user set through the admin API | `users/{name}` |
//! | an ACL entry set through the admin API | `acls/{id}` |
//! | a transactional id's producer id and epoch | `transactions/{id}` |
//! | a transactional id's commit decision | `txn-decisions/{id}` |
//! | a chunk of a commit decision's records | `txn-decision-chunks/{index}/{id}` |

use std::fmt;

const OFFSETS: &str = "offsets/";
const AUDIT: &str = "audit/";
const PLUGIN_HEADS: &str = "plugins/";
const PLUGIN_CHUNKS: &str = "plugin-chunks/";
const RULES: &str = "rules/";
const GROUPS: &str = "groups/";
const CONSUMER_GROUPS: &str = "consumer-groups/";
const GROUP_OFFSETS: &str = "group-offsets/";
const QUOTAS: &str = "quotas/";
const SCHEMA_REGISTRY: &str = "schema-registry/";
const USERS: &str = "users/";
const ACLS: &str = "acls/";
const TRANSACTIONS: &str = "transactions/";
const TXN_DECISIONS: &str = "txn-decisions/";
const TXN_DECISION_CHUNKS: &str = "txn-decision-chunks/";

/// A control-log key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A partition's offset map on a cluster.
    OffsetMap {
        /// The cluster id.
        cluster: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// An audit trail entry, named by when and by which process it was written.
    Audit {
        /// `{ms}-{pid}`.
        id: String,
    },
    /// A plugin's head (its module's checksum and settings).
    PluginHead {
        /// The plugin's name.
        name: String,
    },
    /// A chunk of a plugin module.
    PluginChunk {
        /// The module's SHA-256, hex.
        sha256: String,
        /// The chunk's index.
        index: u32,
    },
    /// A topic's rules set through the admin API.
    Rules {
        /// The topic.
        topic: String,
    },
    /// A classic consumer group's membership.
    Group {
        /// The group id.
        group: String,
    },
    /// A consumer-protocol group.
    ConsumerGroup {
        /// The group id.
        group: String,
    },
    /// A group's committed offset of one partition.
    GroupOffset {
        /// The group id (may hold `/`).
        group: String,
        /// The topic (holds no `/`).
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A client id's quota set through the admin API.
    Quota {
        /// The client id.
        client_id: String,
    },
    /// An entry of the schema registry (schemas, versions, levels).
    SchemaRegistry {
        /// The entry's key within the registry.
        entry: String,
    },
    /// A user set through the admin API (its SCRAM credentials, never the password).
    User {
        /// The user name.
        name: String,
    },
    /// An ACL entry set through the admin API.
    Acl {
        /// The entry's id.
        id: String,
    },
    /// A transactional id's producer id and epoch.
    Transaction {
        /// The transactional id.
        id: String,
    },
    /// A transactional id's commit decision, kept until the commit is written.
    TxnDecision {
        /// The transactional id.
        id: String,
    },
    /// A chunk of a commit decision's records.
    TxnDecisionChunk {
        /// The chunk's index.
        index: u32,
        /// The transactional id (may hold `/`).
        id: String,
    },
}

/// Which part of the control state an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// An offset map (replication).
    OffsetMap,
    /// An audit trail entry.
    Audit,
    /// A plugin head or module chunk.
    Plugin,
    /// A topic's API rules.
    Rules,
    /// A consumer group's membership or committed offsets.
    Groups,
    /// A client id's quota.
    Quotas,
    /// The schema registry.
    SchemaRegistry,
    /// Users and ACL entries set through the admin API.
    Access,
    /// Transactional ids and their commit decisions.
    Transactions,
    /// Written by another version of KafkaTwin: left alone.
    Unknown,
}

impl Section {
    /// The section of entry `key`.
    pub fn of(key: &str) -> Self {
        Key::parse(key).map_or(Self::Unknown, |k| k.section())
    }
}

/// `topic/partition` at the end of `rest`, read from the right (a topic holds no `/`).
fn topic_partition(rest: &str) -> Option<(&str, &str, i32)> {
    let (rest, partition) = rest.rsplit_once('/')?;
    let (before, topic) = rest.rsplit_once('/')?;
    Some((before, topic, partition.parse().ok()?))
}

impl Key {
    /// The key `text` stands for; `None` for a key of no known shape (another version's).
    pub fn parse(text: &str) -> Option<Self> {
        let owned = |s: &str| s.to_owned();
        // Longer prefixes first where one starts another (`groups/`, `group-offsets/`).
        if let Some(rest) = text.strip_prefix(OFFSETS) {
            let (cluster, topic, partition) = topic_partition(rest)?;
            return Some(Self::OffsetMap {
                cluster: owned(cluster),
                topic: owned(topic),
                partition,
            });
        }
        if let Some(rest) = text.strip_prefix(GROUP_OFFSETS) {
            let (group, topic, partition) = topic_partition(rest)?;
            return Some(Self::GroupOffset {
                group: owned(group),
                topic: owned(topic),
                partition,
            });
        }
        if let Some(rest) = text.strip_prefix(PLUGIN_CHUNKS) {
            let (sha256, index) = rest.rsplit_once('/')?;
            return Some(Self::PluginChunk {
                sha256: owned(sha256),
                index: index.parse().ok()?,
            });
        }
        if let Some(rest) = text.strip_prefix(TXN_DECISION_CHUNKS) {
            let (index, id) = rest.split_once('/')?;
            return Some(Self::TxnDecisionChunk {
                index: index.parse().ok()?,
                id: owned(id),
            });
        }
        let one = |prefix: &str| text.strip_prefix(prefix).map(owned);
        if let Some(id) = one(AUDIT) {
            Some(Self::Audit { id })
        } else if let Some(name) = one(PLUGIN_HEADS) {
            Some(Self::PluginHead { name })
        } else if let Some(topic) = one(RULES) {
            Some(Self::Rules { topic })
        } else if let Some(group) = one(CONSUMER_GROUPS) {
            Some(Self::ConsumerGroup { group })
        } else if let Some(group) = one(GROUPS) {
            Some(Self::Group { group })
        } else if let Some(entry) = one(SCHEMA_REGISTRY) {
            Some(Self::SchemaRegistry { entry })
        } else if let Some(name) = one(USERS) {
            Some(Self::User { name })
        } else if let Some(id) = one(ACLS) {
            Some(Self::Acl { id })
        } else if let Some(id) = one(TRANSACTIONS) {
            Some(Self::Transaction { id })
        } else if let Some(id) = one(TXN_DECISIONS) {
            Some(Self::TxnDecision { id })
        } else {
            one(QUOTAS).map(|client_id| Self::Quota { client_id })
        }
    }

    /// The part of the control state it belongs to.
    pub fn section(&self) -> Section {
        match self {
            Self::OffsetMap { .. } => Section::OffsetMap,
            Self::Audit { .. } => Section::Audit,
            Self::PluginHead { .. } | Self::PluginChunk { .. } => Section::Plugin,
            Self::Rules { .. } => Section::Rules,
            Self::Group { .. } | Self::ConsumerGroup { .. } | Self::GroupOffset { .. } => {
                Section::Groups
            }
            Self::Quota { .. } => Section::Quotas,
            Self::SchemaRegistry { .. } => Section::SchemaRegistry,
            Self::User { .. } | Self::Acl { .. } => Section::Access,
            Self::Transaction { .. } | Self::TxnDecision { .. } | Self::TxnDecisionChunk { .. } => {
                Section::Transactions
            }
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OffsetMap {
                cluster,
                topic,
                partition,
            } => write!(f, "{OFFSETS}{cluster}/{topic}/{partition}"),
            Self::Audit { id } => write!(f, "{AUDIT}{id}"),
            Self::PluginHead { name } => write!(f, "{PLUGIN_HEADS}{name}"),
            Self::PluginChunk { sha256, index } => write!(f, "{PLUGIN_CHUNKS}{sha256}/{index}"),
            Self::Rules { topic } => write!(f, "{RULES}{topic}"),
            Self::Group { group } => write!(f, "{GROUPS}{group}"),
            Self::ConsumerGroup { group } => write!(f, "{CONSUMER_GROUPS}{group}"),
            Self::GroupOffset {
                group,
                topic,
                partition,
            } => write!(f, "{GROUP_OFFSETS}{group}/{topic}/{partition}"),
            Self::User { name } => write!(f, "{USERS}{name}"),
            Self::Acl { id } => write!(f, "{ACLS}{id}"),
            Self::Transaction { id } => write!(f, "{TRANSACTIONS}{id}"),
            Self::TxnDecision { id } => write!(f, "{TXN_DECISIONS}{id}"),
            Self::TxnDecisionChunk { index, id } => {
                write!(f, "{TXN_DECISION_CHUNKS}{index}/{id}")
            }
            Self::Quota { client_id } => write!(f, "{QUOTAS}{client_id}"),
            Self::SchemaRegistry { entry } => write!(f, "{SCHEMA_REGISTRY}{entry}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_as_written() {
        let s = |v: &str| v.to_owned();
        let keys = [
            Key::OffsetMap {
                cluster: s("c1"),
                topic: s("orders"),
                partition: 3,
            },
            Key::Audit {
                id: s("0001700000000-42"),
            },
            Key::PluginHead { name: s("redact") },
            Key::PluginChunk {
                sha256: s("ab12"),
                index: 7,
            },
            Key::Rules { topic: s("t") },
            Key::Group {
                group: s("g/with/slashes"),
            },
            Key::ConsumerGroup { group: s("g2") },
            Key::GroupOffset {
                group: s("g/with/slashes"),
                topic: s("orders"),
                partition: 0,
            },
            Key::Quota {
                client_id: s("app-1"),
            },
            Key::SchemaRegistry {
                entry: s("versions/a/b-value/3"),
            },
            Key::User { name: s("alice") },
            Key::Acl { id: s("acl-1") },
            Key::Transaction { id: s("app/tx-1") },
            Key::TxnDecision { id: s("app/tx-1") },
            Key::TxnDecisionChunk {
                index: 3,
                id: s("app/tx-1"),
            },
        ];
        for k in keys {
            assert_eq!(Key::parse(&k.to_string()), Some(k.clone()), "{k}");
        }
        assert_eq!(
            Key::GroupOffset {
                group: s("g"),
                topic: s("t"),
                partition: 2
            }
            .to_string(),
            "group-offsets/g/t/2"
        );
        assert_eq!(Key::parse("future-things/x"), None);
        assert_eq!(Key::parse("group-offsets/g/t/not-a-number"), None);
    }

    #[test]
    fn entries_are_routed_by_their_key() {
        assert_eq!(Section::of("offsets/c1/t/0"), Section::OffsetMap);
        assert_eq!(Section::of("audit/0000000000001-7"), Section::Audit);
        assert_eq!(Section::of("plugins/redact"), Section::Plugin);
        assert_eq!(Section::of("plugin-chunks/ab12/0"), Section::Plugin);
        assert_eq!(Section::of("rules/orders"), Section::Rules);
        assert_eq!(Section::of("users/alice"), Section::Access);
        assert_eq!(Section::of("acls/acl-1"), Section::Access);
        assert_eq!(Section::of("groups/billing"), Section::Groups);
        assert_eq!(Section::of("group-offsets/billing/t/0"), Section::Groups);
        assert_eq!(Section::of("consumer-groups/billing"), Section::Groups);
        assert_eq!(Section::of("quotas/app"), Section::Quotas);
        assert_eq!(Section::of("schemas/orders-value"), Section::Unknown);
        assert_eq!(
            Section::of("schema-registry/ids/1"),
            Section::SchemaRegistry
        );
        assert_eq!(Section::of("group-offsets/billing"), Section::Unknown);
    }
}
