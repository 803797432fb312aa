//! What the registry holds, as applied from its control-log entries: schemas by id, subjects'
//! versions and compatibility levels.

use super::keys::EntryKey;
use crate::schema::{Compatibility, SchemaBody};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A schema as kept: what was registered, and the fingerprint that tells one schema from
/// another (its canonical form's SHA-256 with its type and references).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSchema {
    /// The schema.
    #[serde(flatten)]
    pub body: SchemaBody,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionState {
    /// The schema's id.
    pub id: u32,
    /// Soft-deleted: kept, listed only when deleted ones are asked for.
    #[serde(default)]
    pub deleted: bool,
}

/// A compatibility level entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigState {
    /// The level.
    #[serde(rename = "compatibilityLevel")]
    pub level: Compatibility,
}

/// The registry's state.
#[derive(Debug, Default)]
pub struct State {
    /// Schemas by id.
    pub schemas: BTreeMap<u32, StoredSchema>,
    /// Ids by fingerprint.
    pub fingerprints: HashMap<String, u32>,
    /// Subjects' versions.
    pub subjects: BTreeMap<String, BTreeMap<u32, VersionState>>,
    /// The global level, when set.
    pub global: Option<Compatibility>,
    /// Subjects' levels.
    pub configs: HashMap<String, Compatibility>,
}

impl State {
    /// Applies one entry (`None`: deleted). An entry that does not parse is logged and left
    /// out: it was written by another version of KafkaTwin.
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        let Some(k) = EntryKey::parse(key) else {
            tracing::warn!("schema registry: unknown control-log entry {key:?} left alone");
            return;
        };
        match (k, value) {
            (EntryKey::Schema { id }, Some(v)) => match serde_json::from_slice::<StoredSchema>(v) {
                Ok(s) => {
                    self.fingerprints.insert(s.fingerprint.clone(), id);
                    self.schemas.insert(id, s);
                }
                Err(e) => tracing::warn!("schema registry: schema {id} unreadable: {e}"),
            },
            (EntryKey::Schema { id }, None) => {
                if let Some(s) = self.schemas.remove(&id) {
                    self.fingerprints.remove(&s.fingerprint);
                }
            }
            (EntryKey::Version { subject, version }, Some(v)) => {
                match serde_json::from_slice::<VersionState>(v) {
                    Ok(s) => {
                        self.subjects.entry(subject).or_default().insert(version, s);
                    }
                    Err(e) => tracing::warn!(
                        "schema registry: subject {subject:?} version {version} unreadable: {e}"
                    ),
                }
            }
            (EntryKey::Version { subject, version }, None) => {
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    vs.remove(&version);
                    if vs.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            (EntryKey::Config { subject }, v) => {
                let level = v.and_then(|v| match serde_json::from_slice::<ConfigState>(v) {
                    Ok(c) => Some(c.level),
                    Err(e) => {
                        tracing::warn!("schema registry: config {subject:?} unreadable: {e}");
                        None
                    }
                });
                match (subject, level) {
                    (None, l) => self.global = l,
                    (Some(s), Some(l)) => {
                        self.configs.insert(s, l);
                    }
                    (Some(s), None) => {
                        self.configs.remove(&s);
                    }
                }
            }
        }
    }

    /// A subject's versions, deleted ones only with `deleted`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Vec<(u32, VersionState)> {
        self.subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, s)| deleted || !s.deleted)
                    .map(|(v, s)| (*v, *s))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The level that applies to `subject`.
    pub fn level(&self, subject: &str) -> Compatibility {
        self.configs
            .get(subject)
            .copied()
            .or(self.global)
            .unwrap_or_default()
    }
}
