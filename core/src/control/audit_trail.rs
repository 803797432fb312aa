//! The audit trail of admin API changes: each one is logged, appended to the state log (so
//! every instance lists it, and it survives restarts) and kept in memory for
//! `GET /api/v1/audit`.

use crate::base::sync::lock;
use crate::control::control_log::Keeping;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Key prefix of audit entries in the state log.
use crate::control::keys::Key;
/// Entries kept in memory.
const KEPT: usize = 1000;

/// One change made through the admin API, as stored in the control log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The token's name, or `loopback` when no token is configured.
    pub who: String,
    /// The client's address.
    pub client: String,
    /// Method and path, e.g. `POST /api/v1/transformations/orders`.
    pub action: String,
    /// What changed, e.g. `rule orders/mask-pii` (absent in entries older than the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The new version, when the change has one.
    pub version: Option<String>,
}

/// The latest admin changes, from this instance and the others.
pub struct AuditTrail {
    entries: Mutex<VecDeque<Change>>,
    log: Keeping,
}

impl AuditTrail {
    /// An empty trail whose changes are kept as `log` says.
    pub fn new(log: Keeping) -> Self {
        Self {
            entries: Mutex::default(),
            log,
        }
    }

    /// Records a change: in the control log when kept there (every instance then applies it),
    /// else here only.
    pub async fn record(&self, entry: Change) {
        let Some(log) = self.log.log() else {
            self.keep(entry);
            return;
        };
        let key = Key::Audit {
            id: format!("{:013}-{}", entry.at_ms, std::process::id()),
        }
        .to_string();
        let value = match serde_json::to_vec(&entry) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("audit entry not encodable: {e}");
                return;
            }
        };
        if let Err(e) = log.append(&key, Some(&value)).await {
            tracing::warn!("audit entry for {:?} not stored: {e}", entry.action);
            self.keep(entry);
        }
    }

    /// Applies an audit entry read from the state log.
    pub fn apply_logged(&self, key: &str, value: Option<Bytes>) {
        if !matches!(Key::parse(key), Some(Key::Audit { .. })) {
            return;
        }
        match value.map(|v| serde_json::from_slice::<Change>(&v)) {
            Some(Ok(e)) => self.keep(e),
            Some(Err(e)) => tracing::warn!("state log entry {key:?} is not an audit entry: {e}"),
            None => {}
        }
    }

    fn keep(&self, entry: Change) {
        let mut g = lock(&self.entries);
        if g.len() >= KEPT {
            g.pop_front();
        }
        g.push_back(entry);
    }

    /// The latest `limit` changes, oldest first.
    pub fn latest(&self, limit: usize) -> Vec<Change> {
        let g = lock(&self.entries);
        let skip = g.len().saturating_sub(limit);
        g.iter().skip(skip).cloned().collect()
    }
}
