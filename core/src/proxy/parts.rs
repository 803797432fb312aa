//! What the process around the proxy (listeners, samplers, the admin API) reaches of it: its
//! settings, the clusters, the replicator and the books, read-only; and the one way control
//! log entries reach the books. The request handlers in this folder use the fields directly.

use super::books::Books;
use super::{Identity, Proxy};
use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::metrics::Metrics;
use crate::control::keys::{Key, Section};
use crate::control::membership::Membership;
use crate::control::producer_ids::ProducerIds;
use crate::replication::Replicator;
use kafkatwin_config::Config;
use std::sync::Arc;

impl Proxy {
    /// The loaded config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The broker identity presented to clients.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Metric families.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This instance among the instances.
    pub fn membership(&self) -> &Arc<Membership> {
        &self.membership
    }

    /// The cluster requests go to with one cluster, and the first by priority with several.
    pub fn primary(&self) -> &Arc<Cluster> {
        &self.backends.cluster
    }

    /// Every configured cluster, in authority order.
    pub fn clusters(&self) -> &PerCluster<Arc<Cluster>> {
        &self.backends.clusters
    }

    /// The write path over several clusters; `None` in front of one cluster.
    pub fn replicator(&self) -> Option<&Arc<Replicator>> {
        self.backends.replicator.as_ref()
    }

    /// Producer ids issued by the proxy (several clusters only).
    pub fn producer_ids(&self) -> Option<&Arc<ProducerIds>> {
        self.backends.producer_ids.as_ref()
    }

    /// The control state: rules, plugins, groups, quotas, users, ACLs, schemas, audit.
    pub fn books(&self) -> &Books {
        &self.books
    }

    /// Applies one control log entry (from this instance or another) to the book it belongs
    /// to: offset maps to the replicator, everything else to the books.
    pub fn apply_logged(&self, key: &str, value: Option<bytes::Bytes>, offset: i64) {
        let books = &self.books;
        match Section::of(key) {
            Section::OffsetMap => {
                if let Some(rep) = &self.backends.replicator {
                    rep.apply_logged(key, value.as_deref());
                }
            }
            Section::Audit => books.audit.apply_logged(key, value),
            Section::Plugin => books.plugin_store.apply_logged(key, value),
            Section::Rules => books.rules.apply_logged(key, value, Some(offset)),
            Section::Groups => books.groups.apply_logged(key, value.as_deref()),
            Section::Quotas => books.quotas.apply_logged(key, value, Some(offset)),
            Section::Access => {
                books.users.apply_logged(key, value.as_deref());
                books.acls.apply_logged(key, value.as_deref());
            }
            Section::SchemaRegistry => {
                if let Some(Key::SchemaRegistry { entry }) = Key::parse(key) {
                    books.schemas.apply(&entry, value.as_deref());
                }
            }
            Section::Transactions => books.transactions.apply_logged(key, value, offset),
            Section::Unknown => tracing::debug!("control log entry {key:?} left alone"),
        }
    }
}

impl Books {
    /// Rules from the config and the admin API.
    pub fn rules(&self) -> &crate::hooks::rule_book::RuleBook {
        &self.rules
    }

    /// The WASM plugin host.
    pub fn plugins(&self) -> &Arc<kafkatwin_plugins::wasm::PluginHost> {
        &self.plugins
    }

    /// Plugin uploads and deletions.
    pub fn plugin_store(&self) -> &crate::hooks::plugin_store::PluginStore {
        &self.plugin_store
    }

    /// Admin API changes, from every instance.
    pub fn audit(&self) -> &crate::control::audit_trail::AuditTrail {
        &self.audit
    }

    /// Consumer groups.
    pub fn groups(&self) -> &Arc<crate::groups::Coordinator> {
        &self.groups
    }

    /// Client quotas.
    pub fn quotas(&self) -> &crate::quotas::Quotas {
        &self.quotas
    }

    /// The schema registry.
    pub fn schemas(&self) -> &Arc<kafkatwin_schema_registry::Registry> {
        &self.schemas
    }

    /// The users who may log in.
    pub fn users(&self) -> &crate::control::users::Users {
        &self.users
    }

    /// What each principal may do.
    pub fn acls(&self) -> &crate::control::acls::Acls {
        &self.acls
    }

    /// Transactional ids and their open transactions.
    pub fn transactions(&self) -> &crate::transactions::Transactions {
        &self.transactions
    }

    /// The control log on every cluster.
    pub fn control_log(&self) -> &Arc<crate::control::control_log::ControlLog> {
        &self.control_log
    }

    /// Whether the control state was read from a majority of clusters (until then no produce
    /// or fetch is served).
    pub fn loaded(&self) -> bool {
        *self.control_loaded.borrow()
    }
}
