//! Uploaded WASM plugins kept in the state log, so they survive restarts and reach every
//! instance: the module in chunks (`plugin-chunks/<sha256>/<i>`, at most 256 KiB each, under
//! any broker's message size limit), then a head entry `plugins/<name>` naming the chunks
//! and the version. A deleted plugin's head is a tombstone.

use crate::base::change_error::ChangeError;
use crate::base::sync::lock;
use crate::control::control_log::{ControlLog, Keeping};
use bytes::Bytes;
use kafkatwin_plugins::wasm::{PluginHost, PluginInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::control::keys::Key;

/// The control-log key of plugin `name`'s head.
fn head_key(name: &str) -> String {
    Key::PluginHead {
        name: name.to_owned(),
    }
    .to_string()
}

/// The control-log key of chunk `index` of module `sha256`.
fn chunk_key(sha256: &str, index: u32) -> String {
    Key::PluginChunk {
        sha256: sha256.to_owned(),
        index,
    }
    .to_string()
}
const CHUNK_SIZE: usize = 256 << 10;

#[derive(Clone, Serialize, Deserialize)]
struct Head {
    sha256: String,
    chunks: u32,
    version: u32,
}

/// The plugins of this instance and their durable copy.
pub struct PluginStore {
    /// The host the plugins run in.
    pub host: Arc<PluginHost>,
    log: Keeping,
    chunks: Mutex<HashMap<String, BTreeMap<u32, Bytes>>>,
    /// Heads read before all their chunks (each cluster's log is read on its own): loaded
    /// once the last chunk arrives.
    pending: Mutex<HashMap<String, Head>>,
    /// Held through a change, so a version check (`If-Match`) and the change are one step.
    changing: tokio::sync::Mutex<()>,
}

impl PluginStore {
    /// A store over `host`, keeping uploads as `log` says.
    pub fn new(host: Arc<PluginHost>, log: Keeping) -> Self {
        Self {
            host,
            log,
            chunks: Mutex::default(),
            pending: Mutex::default(),
            changing: tokio::sync::Mutex::default(),
        }
    }

    /// Loads a module here, then records it in the state log for restarts and the other
    /// instances. 400 when it is not a valid plugin, 503 when it could not be recorded.
    pub async fn put(
        &self,
        name: &str,
        module: Bytes,
        expected: Option<i64>,
    ) -> Result<PluginInfo, ChangeError> {
        let _changing = self.begin(name, expected).await?;
        let previous = self.host.get(name).map(|p| p.sha256);
        let info = tokio::task::block_in_place(|| self.host.upload(name, &module))
            .map_err(|e| ChangeError::bad_request(None, e.to_string()))?;
        if let Some(log) = self.log.log() {
            let unavailable = |e: crate::control::control_log::ControlError| {
                ChangeError::unavailable(format!(
                    "plugin {name} v{} is loaded on this instance but could not be stored: {e}",
                    info.version
                ))
            };
            let chunks: Vec<&[u8]> = module.chunks(CHUNK_SIZE).collect();
            for (i, c) in (0u32..).zip(&chunks) {
                log.append(&chunk_key(&info.sha256, i), Some(c))
                    .await
                    .map_err(unavailable)?;
            }
            let head = Head {
                sha256: info.sha256.clone(),
                chunks: chunks.len() as u32,
                version: info.version,
            };
            let value =
                serde_json::to_vec(&head).map_err(|e| ChangeError::internal(e.to_string()))?;
            log.append(&head_key(name), Some(&value))
                .await
                .map_err(unavailable)?;
            if let Some(old) = previous.filter(|old| *old != info.sha256) {
                self.drop_unused_chunks(log, &old).await;
            }
        }
        Ok(info)
    }

    /// Deletes (tombstones) the chunks of module `sha` once no loaded plugin uses it, so the
    /// control log does not keep every version ever uploaded.
    async fn drop_unused_chunks(&self, log: &ControlLog, sha: &str) {
        if self.host.list().iter().any(|p| p.sha256 == sha) {
            return;
        }
        let indexes: Vec<u32> = lock(&self.chunks)
            .get(sha)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for i in indexes {
            if let Err(e) = log.append(&chunk_key(sha, i), None).await {
                tracing::warn!("deleting chunk {i} of unused plugin module {sha}: {e}");
                return;
            }
        }
        lock(&self.chunks).remove(sha);
    }

    /// Starts a change of plugin `name`: 412 when `expected` (`If-Match`) is not its current
    /// version. Hold the guard until the change is stored.
    async fn begin(
        &self,
        name: &str,
        expected: Option<i64>,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, ChangeError> {
        let guard = self.changing.lock().await;
        let current = self.host.get(name).map(|p| i64::from(p.version));
        crate::base::change_error::check_version(&format!("plugin {name}"), expected, current)?;
        Ok(guard)
    }

    /// Unloads a plugin here and everywhere (412 when `expected` is not its version).
    pub async fn delete(
        &self,
        name: &str,
        expected: Option<i64>,
    ) -> Result<PluginInfo, ChangeError> {
        let _changing = self.begin(name, expected).await?;
        let info = self
            .host
            .remove(name)
            .ok_or_else(|| ChangeError::not_found(format!("plugin {name} not found")))?;
        if let Some(log) = self.log.log() {
            log.append(&head_key(name), None).await.map_err(|e| {
                ChangeError::unavailable(format!(
                    "plugin {name} is unloaded here but the deletion could not be stored: {e}"
                ))
            })?;
            self.drop_unused_chunks(log, &info.sha256).await;
        }
        Ok(info)
    }

    /// Applies a state log entry (this instance's or another's).
    pub fn apply_logged(&self, key: &str, value: Option<Bytes>) {
        let name = match Key::parse(key) {
            Some(Key::PluginChunk { sha256, index }) => {
                self.apply_chunk(&sha256, index, value);
                return;
            }
            Some(Key::PluginHead { name }) => name,
            _ => return,
        };
        self.apply_head(&name, value);
    }

    /// A module chunk from the log: kept, and plugins waiting for it loaded.
    fn apply_chunk(&self, sha: &str, i: u32, value: Option<Bytes>) {
        let Some(v) = value else {
            // A deleted chunk of a module no plugin uses any more.
            let mut c = lock(&self.chunks);
            if let Some(m) = c.get_mut(sha) {
                m.remove(&i);
                if m.is_empty() {
                    c.remove(sha);
                }
            }
            return;
        };
        lock(&self.chunks)
            .entry(sha.to_owned())
            .or_default()
            .insert(i, v);
        let waiting: Vec<(String, Head)> = lock(&self.pending)
            .iter()
            .filter(|(_, h)| h.sha256 == sha)
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect();
        for (name, head) in waiting {
            self.load(&name, head);
        }
    }

    /// A plugin head from the log: its module loaded (or awaited), or the plugin removed.
    fn apply_head(&self, name: &str, value: Option<Bytes>) {
        lock(&self.pending).remove(name);
        let Some(value) = value else {
            self.host.remove(name);
            return;
        };
        let head: Head = match serde_json::from_slice(&value) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(
                    "the control log's head of plugin {name} does not parse, ignored: {e}"
                );
                return;
            }
        };
        self.load(name, head);
    }

    /// Loads a plugin from its head and chunks, or keeps the head until its chunks are in.
    fn load(&self, name: &str, head: Head) {
        if self
            .host
            .get(name)
            .is_some_and(|p| p.sha256 == head.sha256 && p.version >= head.version)
        {
            lock(&self.pending).remove(name);
            return; // already loaded (our own upload)
        }
        let module: Option<Vec<u8>> = lock(&self.chunks).get(&head.sha256).and_then(|parts| {
            (0..head.chunks)
                .map(|i| parts.get(&i).cloned())
                .collect::<Option<Vec<Bytes>>>()
                .map(|v| v.concat())
        });
        let Some(module) = module else {
            tracing::debug!(
                "plugin {name} v{}: waiting for its chunks from the control log",
                head.version
            );
            lock(&self.pending).insert(name.to_owned(), head);
            return;
        };
        lock(&self.pending).remove(name);
        match tokio::task::block_in_place(|| self.host.install(name, &module, Some(head.version))) {
            Ok(info) => tracing::info!("plugin {name} v{} loaded from the state log", info.version),
            Err(e) => tracing::warn!("plugin {name} from the state log: {e}"),
        }
    }
}
