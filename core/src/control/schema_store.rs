//! The schema registry's storage: its entries in the control log under their own prefix
//! (so every instance serves them and a restart finds them), its ids and versions claimed
//! in the claims topic (so two instances never hand one id to two schemas).

use crate::control::control_log::ControlLog;
use crate::control::keys::Key;
use crate::control::schema_claims::SchemaClaims;
use kafkatwin_schema_registry::{Store, StoreFuture};
use std::sync::Arc;

/// The registry's [`Store`] over the control log and the claims topic.
pub struct LoggedRegistry {
    log: Arc<ControlLog>,
    claims: SchemaClaims,
    /// True once the control state was read from a majority of clusters.
    loaded: tokio::sync::watch::Receiver<bool>,
}

impl LoggedRegistry {
    /// A store writing to `log` and claiming through `claims`, once `loaded` turns true.
    pub fn new(
        log: Arc<ControlLog>,
        claims: SchemaClaims,
        loaded: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            log,
            claims,
            loaded,
        }
    }
}

impl Store for LoggedRegistry {
    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // A change is checked against (and numbered after) what the registry holds: not
            // before the control state is loaded.
            let mut loaded = self.loaded.clone();
            let wait = crate::base::timing::SCHEMA_LOAD_WAIT;
            match tokio::time::timeout(wait, loaded.wait_for(|l| *l)).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(format!(
                    "the control state is not loaded yet (a majority of clusters was not read \
                     within {wait:?}): try again"
                )),
            }
        })
    }

    fn claim<'a>(&'a self, space: &'a str, value: &'a str, reuse: bool) -> StoreFuture<'a, u32> {
        Box::pin(async move {
            self.claims
                .claim(space, value, reuse)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn save<'a>(&'a self, entries: Vec<(String, Option<Vec<u8>>)>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let keys: Vec<String> = entries
                .iter()
                .map(|(k, _)| Key::SchemaRegistry { entry: k.clone() }.to_string())
                .collect();
            let batch: Vec<(&str, Option<&[u8]>)> = keys
                .iter()
                .zip(&entries)
                .map(|(k, (_, v))| (k.as_str(), v.as_deref()))
                .collect();
            self.log
                .append_all(&batch)
                .await
                .map(|_| ())
                .map_err(|e| format!("schema registry change not stored: {e}"))
        })
    }
}
