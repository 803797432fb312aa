//! The registry: subjects, versions, ids and compatibility levels, kept as control state.
//!
//! Reads are served from memory. A change is written through a [`Store`] (the control log on
//! every cluster, in the proxy) and applied here by [`Registry::apply`], which the control
//! log calls for every entry under the registry's prefix, whichever instance wrote it. New
//! ids and versions are *claimed* through the store first, so two instances registering at
//! once never give one id to two schemas.

pub mod keys;
pub mod state;

use crate::error::RegistryError;
use crate::formats::Parsed;
use crate::schema::{Compatibility, Reference, SchemaBody};
use keys::EntryKey;
use sha2::{Digest, Sha256};
use state::{ConfigState, State, StoredSchema, VersionState};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a [`Store`] call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where the registry's changes go.
pub trait Store: Send + Sync {
    /// Resolves once the registry holds everything stored so far (changes wait for it).
    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// A number in `space` (`ids`, or `versions/{subject}`) for `value`, claimed so that no
    /// other instance holds it for another value: with `reuse`, the number `value` already
    /// holds in `space` if any; otherwise one above every number claimed there.
    fn claim<'a>(&'a self, space: &'a str, value: &'a str, reuse: bool) -> StoreFuture<'a, u32>;
    /// Stores entries (keys as [`EntryKey`] writes them); they are applied to the registry
    /// through [`Registry::apply`] before this returns.
    fn save<'a>(&'a self, entries: Vec<(String, Option<Vec<u8>>)>) -> StoreFuture<'a, ()>;
}

/// Where a registry keeps its changes.
#[derive(Clone)]
pub enum Keeping {
    /// In this process only (tests).
    Memory,
    /// Through a store (the control log).
    Stored(Arc<dyn Store>),
}

/// A version asked for: a number or the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// The highest version.
    Latest,
    /// That version.
    Number(u32),
}

impl VersionSpec {
    /// Parses `latest`, `-1` or a number from 1 to 2^31-1.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(Self::Latest);
        }
        match s.parse::<u32>() {
            Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(Self::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_owned())),
        }
    }
}

/// A registered version: the subject, version and id with the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The subject.
    pub subject: String,
    /// The version.
    pub version: u32,
    /// The schema's id.
    pub id: u32,
    /// The schema.
    pub body: SchemaBody,
}

/// The schema registry.
pub struct Registry {
    keeping: Keeping,
    state: RwLock<State>,
    /// Schemas compiled once per id, shared by every check of a record.
    compiled: RwLock<HashMap<u32, Arc<Parsed>>>,
    /// One change at a time on this instance (claims order the instances among them).
    changing: tokio::sync::Mutex<()>,
}

impl Registry {
    /// An empty registry keeping its changes as `keeping` says.
    pub fn new(keeping: Keeping) -> Self {
        Self {
            keeping,
            state: RwLock::default(),
            compiled: RwLock::default(),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one of the registry's control-log entries (key relative to its prefix).
    pub fn apply(&self, key: &str, value: Option<&[u8]>) {
        self.state_mut().apply(key, value);
    }

    async fn save(&self, entries: Vec<(EntryKey, Option<Vec<u8>>)>) -> Result<(), RegistryError> {
        let entries: Vec<(String, Option<Vec<u8>>)> = entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        match &self.keeping {
            Keeping::Memory => {
                let mut s = self.state_mut();
                for (k, v) in &entries {
                    s.apply(k, v.as_deref());
                }
                Ok(())
            }
            Keeping::Stored(store) => store.save(entries).await.map_err(RegistryError::Store),
        }
    }

    /// Waits until a change may be made (the stored state is loaded), then takes this
    /// instance's turn to change.
    async fn turn(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, RegistryError> {
        if let Keeping::Stored(store) = &self.keeping {
            store.ready().await.map_err(RegistryError::Store)?;
        }
        Ok(self.changing.lock().await)
    }

    async fn claim(&self, space: &str, value: &str, reuse: bool) -> Result<u32, RegistryError> {
        match &self.keeping {
            Keeping::Memory => {
                let s = self.state();
                Ok(match space.strip_prefix("versions/") {
                    Some(subject) => s
                        .subjects
                        .get(subject)
                        .and_then(|v| v.keys().next_back())
                        .map_or(1, |v| v + 1),
                    None => s.schemas.keys().next_back().map_or(1, |v| v + 1),
                })
            }
            Keeping::Stored(store) => store
                .claim(space, value, reuse)
                .await
                .map_err(RegistryError::Store),
        }
    }

    /// Every subject with a version (deleted ones too with `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        let s = self.state();
        s.subjects
            .iter()
            .filter(|(_, vs)| deleted || vs.values().any(|v| !v.deleted))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A subject's versions.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<u32>, RegistryError> {
        let v: Vec<u32> = self
            .state()
            .versions(subject, deleted)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        if v.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()));
        }
        Ok(v)
    }

    /// One version of a subject.
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<Registered, RegistryError> {
        let s = self.state();
        let versions = s.versions(subject, deleted);
        if versions.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()));
        }
        let found = match spec {
            VersionSpec::Latest => versions.last().copied(),
            VersionSpec::Number(n) => versions.iter().find(|(v, _)| *v == n).copied(),
        };
        let (version, vs) = found.ok_or_else(|| RegistryError::VersionNotFound {
            subject: subject.to_owned(),
            version: spec_text(spec),
        })?;
        let body = s
            .schemas
            .get(&vs.id)
            .map(|st| st.body.clone())
            .ok_or_else(|| RegistryError::SchemaNotFound(format!("Schema {} not found", vs.id)))?;
        Ok(Registered {
            subject: subject.to_owned(),
            version,
            id: vs.id,
            body,
        })
    }

    /// A schema by id.
    pub fn schema(&self, id: u32) -> Result<SchemaBody, RegistryError> {
        self.state()
            .schemas
            .get(&id)
            .map(|s| s.body.clone())
            .ok_or_else(|| RegistryError::SchemaNotFound(format!("Schema {id} not found")))
    }

    /// The (subject, version) pairs that hold schema `id`.
    pub fn schema_versions(
        &self,
        id: u32,
        deleted: bool,
    ) -> Result<Vec<(String, u32)>, RegistryError> {
        let s = self.state();
        if !s.schemas.contains_key(&id) {
            return Err(RegistryError::SchemaNotFound(format!(
                "Schema {id} not found"
            )));
        }
        Ok(s.subjects
            .iter()
            .flat_map(|(subject, vs)| {
                vs.iter()
                    .filter(move |(_, v)| v.id == id && (deleted || !v.deleted))
                    .map(move |(n, _)| (subject.clone(), *n))
            })
            .collect())
    }

    /// The referenced schemas of `references`, each with its own references before it:
    /// (name, text) pairs.
    fn resolve(&self, references: &[Reference]) -> Result<Vec<(String, String)>, RegistryError> {
        let mut out: Vec<(String, String)> = Vec::new();
        self.resolve_into(references, &mut out, 0)?;
        Ok(out)
    }

    fn resolve_into(
        &self,
        references: &[Reference],
        out: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Result<(), RegistryError> {
        if depth > 32 {
            return Err(RegistryError::InvalidSchema(
                "references nest more than 32 deep (a cycle?)".to_owned(),
            ));
        }
        for r in references {
            let found = self
                .version(&r.subject, VersionSpec::Number(r.version), false)
                .map_err(|_| {
                    RegistryError::InvalidSchema(format!(
                        "reference {:?}: subject {:?} has no version {}",
                        r.name, r.subject, r.version
                    ))
                })?;
            self.resolve_into(&found.body.references, out, depth + 1)?;
            if !out.iter().any(|(n, _)| *n == r.name) {
                out.push((r.name.clone(), found.body.schema));
            }
        }
        Ok(())
    }

    /// Parses `body` with its references; the fingerprint says which schema it is.
    pub fn parse(
        &self,
        body: &SchemaBody,
        normalize: bool,
    ) -> Result<(Parsed, String), RegistryError> {
        let refs = self.resolve(&body.references)?;
        let pairs: Vec<(&str, &str)> = refs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let parsed = Parsed::parse(body.schema_type, &body.schema, &pairs)
            .map_err(RegistryError::InvalidSchema)?;
        let mut h = Sha256::new();
        h.update(body.schema_type.as_str());
        h.update([0]);
        h.update(parsed.canonical(&body.schema, normalize));
        for r in &body.references {
            h.update([0]);
            h.update(format!("{}\u{0}{}\u{0}{}", r.name, r.subject, r.version));
        }
        let fingerprint = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((parsed, fingerprint))
    }

    /// The compiled schema of id `id` (compiled once, then shared).
    pub fn compiled(&self, id: u32) -> Result<Arc<Parsed>, RegistryError> {
        if let Some(p) = self
            .compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(p.clone());
        }
        let body = self.schema(id)?;
        let (parsed, _) = self.parse(&body, false)?;
        let parsed = Arc::new(parsed);
        self.compiled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, parsed.clone());
        Ok(parsed)
    }

    /// The version of `subject` that holds `body`, if any.
    pub fn lookup(
        &self,
        subject: &str,
        body: &SchemaBody,
        normalize: bool,
        deleted: bool,
    ) -> Result<Registered, RegistryError> {
        if self.state().versions(subject, deleted).is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()));
        }
        let (_, fingerprint) = self.parse(body, normalize)?;
        let s = self.state();
        let found = s
            .versions(subject, deleted)
            .into_iter()
            .rev()
            .find(|(_, v)| {
                s.schemas
                    .get(&v.id)
                    .is_some_and(|st| st.fingerprint == fingerprint)
            });
        let (version, vs) =
            found.ok_or_else(|| RegistryError::SchemaNotFound("Schema not found".to_owned()))?;
        let body = s
            .schemas
            .get(&vs.id)
            .map(|st| st.body.clone())
            .unwrap_or_else(|| body.clone());
        Ok(Registered {
            subject: subject.to_owned(),
            version,
            id: vs.id,
            body,
        })
    }

    /// What breaks compatibility between `new` and the versions of `subject` its level
    /// checks (the latest one, or every one when transitive); empty when nothing does.
    fn incompatibilities(
        &self,
        subject: &str,
        new: &Parsed,
        against: &[u32],
    ) -> Result<Vec<String>, RegistryError> {
        let level = self.state().level(subject);
        let mut out = Vec::new();
        for &id in against {
            let old = self.compiled(id)?;
            if level.backward() {
                out.extend(
                    new.cannot_read(&old)
                        .into_iter()
                        .map(|m| format!("reader (new) cannot read writer (id {id}): {m}")),
                );
            }
            if level.forward() {
                out.extend(
                    old.cannot_read(new)
                        .into_iter()
                        .map(|m| format!("reader (id {id}) cannot read writer (new): {m}")),
                );
            }
        }
        Ok(out)
    }

    /// The ids `subject`'s level checks a new schema against.
    fn checked_ids(&self, subject: &str) -> Vec<u32> {
        let s = self.state();
        let level = s.level(subject);
        if level == Compatibility::None {
            return Vec::new();
        }
        let live = s.versions(subject, false);
        if level.transitive() {
            live.iter().map(|(_, v)| v.id).collect()
        } else {
            live.last().map(|(_, v)| v.id).into_iter().collect()
        }
    }

    /// Registers `body` under `subject`: the existing id and version when the subject holds
    /// it already, else a new version (and a new id for a schema no subject holds).
    pub async fn register(
        &self,
        subject: &str,
        body: SchemaBody,
        normalize: bool,
    ) -> Result<Registered, RegistryError> {
        let _one = self.turn().await?;
        let (parsed, fingerprint) = self.parse(&body, normalize)?;
        if let Ok(found) = self.lookup(subject, &body, normalize, false) {
            return Ok(found);
        }
        let problems = self.incompatibilities(subject, &parsed, &self.checked_ids(subject))?;
        if !problems.is_empty() {
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                messages: problems,
            });
        }
        let known = self.state().fingerprints.get(&fingerprint).copied();
        let id = match known {
            Some(id) => id,
            None => self.claim("ids", &fingerprint, true).await?,
        };
        let version = self
            .claim(&format!("versions/{subject}"), &id.to_string(), false)
            .await?;
        let mut entries = Vec::new();
        if known.is_none() {
            let stored = StoredSchema {
                body: body.clone(),
                fingerprint,
            };
            entries.push((EntryKey::Schema { id }, Some(to_json(&stored))));
        }
        entries.push((
            EntryKey::Version {
                subject: subject.to_owned(),
                version,
            },
            Some(to_json(&VersionState { id, deleted: false })),
        ));
        self.save(entries).await?;
        let body = self.schema(id).unwrap_or(body);
        Ok(Registered {
            subject: subject.to_owned(),
            version,
            id,
            body,
        })
    }

    /// Whether `body` is compatible with a version of `subject` under its level: the
    /// problems found (empty: compatible).
    pub fn test_compatibility(
        &self,
        subject: &str,
        spec: VersionSpec,
        body: &SchemaBody,
        normalize: bool,
    ) -> Result<Vec<String>, RegistryError> {
        let (parsed, _) = self.parse(body, normalize)?;
        let ids = match spec {
            VersionSpec::Latest if self.state().level(subject).transitive() => {
                self.checked_ids(subject)
            }
            _ => match self.version(subject, spec, false) {
                Ok(r) if self.state().level(subject) != Compatibility::None => vec![r.id],
                Ok(_) => Vec::new(),
                Err(RegistryError::SubjectNotFound(_)) if spec == VersionSpec::Latest => Vec::new(),
                Err(e) => return Err(e),
            },
        };
        self.incompatibilities(subject, &parsed, &ids)
    }

    /// Deletes one version: soft first, then for good with `permanent`.
    pub async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<u32, RegistryError> {
        let _one = self.turn().await?;
        let found = self.version(subject, spec, permanent)?;
        let key = EntryKey::Version {
            subject: subject.to_owned(),
            version: found.version,
        };
        let deleted = self
            .state()
            .versions(subject, true)
            .iter()
            .any(|(v, s)| *v == found.version && s.deleted);
        let value = match (permanent, deleted) {
            (true, true) => None,
            (true, false) => {
                return Err(RegistryError::NotSoftDeleted(format!(
                    "Subject '{subject}' version {}",
                    found.version
                )));
            }
            (false, _) => Some(to_json(&VersionState {
                id: found.id,
                deleted: true,
            })),
        };
        self.save(vec![(key, value)]).await?;
        Ok(found.version)
    }

    /// Deletes a subject's versions: soft first, then for good with `permanent`. Returns
    /// the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<u32>, RegistryError> {
        let _one = self.turn().await?;
        let all = self.state().versions(subject, true);
        if all.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()));
        }
        let live = all.iter().any(|(_, v)| !v.deleted);
        let entries: Vec<(EntryKey, Option<Vec<u8>>)> = match (permanent, live) {
            (true, true) => {
                return Err(RegistryError::NotSoftDeleted(format!(
                    "Subject '{subject}'"
                )));
            }
            (false, false) => return Err(RegistryError::SubjectSoftDeleted(subject.to_owned())),
            (true, false) => all
                .iter()
                .map(|(v, _)| (version_key(subject, *v), None))
                .chain([(
                    EntryKey::Config {
                        subject: Some(subject.to_owned()),
                    },
                    None,
                )])
                .collect(),
            (false, true) => all
                .iter()
                .filter(|(_, s)| !s.deleted)
                .map(|(v, s)| {
                    (
                        version_key(subject, *v),
                        Some(to_json(&VersionState {
                            id: s.id,
                            deleted: true,
                        })),
                    )
                })
                .collect(),
        };
        let versions = all
            .iter()
            .filter(|(_, s)| permanent || !s.deleted)
            .map(|(v, _)| *v)
            .collect();
        self.save(entries).await?;
        Ok(versions)
    }

    /// The level of `subject` (global with `None`); a subject without one falls back to the
    /// global level with `default_to_global`, else 40408.
    pub fn level(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Compatibility, RegistryError> {
        let s = self.state();
        match subject {
            None => Ok(s.global.unwrap_or_default()),
            Some(sub) => match s.configs.get(sub) {
                Some(l) => Ok(*l),
                None if default_to_global => Ok(s.global.unwrap_or_default()),
                None => Err(RegistryError::NoSubjectConfig(sub.to_owned())),
            },
        }
    }

    /// Sets the level of `subject` (global with `None`).
    pub async fn set_level(
        &self,
        subject: Option<&str>,
        level: Compatibility,
    ) -> Result<(), RegistryError> {
        let _one = self.turn().await?;
        self.save(vec![(
            EntryKey::Config {
                subject: subject.map(str::to_owned),
            },
            Some(to_json(&ConfigState { level })),
        )])
        .await
    }

    /// Removes the level of `subject` (global with `None`: back to `BACKWARD`), returning
    /// the level it had.
    pub async fn delete_level(
        &self,
        subject: Option<&str>,
    ) -> Result<Compatibility, RegistryError> {
        let _one = self.turn().await?;
        let before = self.level(subject, false)?;
        self.save(vec![(
            EntryKey::Config {
                subject: subject.map(str::to_owned),
            },
            None,
        )])
        .await?;
        Ok(before)
    }

    /// Whether `id` is a live version of `subject`.
    pub fn is_version_of(&self, subject: &str, id: u32) -> bool {
        self.state()
            .versions(subject, false)
            .iter()
            .any(|(_, v)| v.id == id)
    }

    /// The id of `subject`'s latest live version.
    pub fn latest_id(&self, subject: &str) -> Option<u32> {
        self.state()
            .versions(subject, false)
            .last()
            .map(|(_, v)| v.id)
    }
}

fn version_key(subject: &str, version: u32) -> EntryKey {
    EntryKey::Version {
        subject: subject.to_owned(),
        version,
    }
}

fn spec_text(spec: VersionSpec) -> String {
    match spec {
        VersionSpec::Latest => "latest".to_owned(),
        VersionSpec::Number(n) => n.to_string(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}
