//! The control state the request handlers read and the admin API changes: rules, plugins,
//! quotas, consumer groups and the audit trail, each kept in the control log.

use crate::backend::Cluster;
use crate::base::cluster_idx::PerCluster;
use crate::base::metrics::Metrics;
use crate::control::control_log::{ControlLog, Keeping};
use kafkatwin_config::Config;
use std::sync::Arc;

/// Bytes of records one transaction may hold until its commit.
const TRANSACTION_BUFFER: usize = 64 << 20;

/// The control state: kept in the control log on every cluster, changed through the admin
/// API, the same on every instance.
pub struct Books {
    /// Rules from the config and the admin API, and the hooks compiled from them.
    pub(super) rules: crate::hooks::rule_book::RuleBook,
    /// The WASM plugin host (uploads through the admin API; bindings in rule chains).
    pub(super) plugins: Arc<kafkatwin_plugins::wasm::PluginHost>,
    /// Uploads and deletions, kept in the control log.
    pub(super) plugin_store: crate::hooks::plugin_store::PluginStore,
    /// Admin API changes, from this instance and the others.
    pub(super) audit: crate::control::audit_trail::AuditTrail,
    /// Consumer groups: coordinated here in front of several clusters (membership, commits
    /// as control state); with one cluster, the commits seen (for the lag gauge).
    pub(super) groups: Arc<crate::groups::Coordinator>,
    /// Client quotas (config and admin API) and the rates they are measured against.
    pub(super) quotas: crate::quotas::Quotas,
    /// The schema registry (served on its own listener when `schema_registry.enabled`; read
    /// by `validate_schema` rules).
    pub(super) schemas: Arc<kafkatwin_schema_registry::Registry>,
    /// The control log on every cluster, where every book keeps its changes.
    pub(super) control_log: Arc<crate::control::control_log::ControlLog>,
    /// True once the control state (rules, plugins, offset maps) was read from a majority of
    /// clusters; until then no produce or fetch is served (fail closed).
    pub(super) control_loaded: Arc<tokio::sync::watch::Sender<bool>>,
    /// The users who may log in (`auth.users` and the admin API's), with their SCRAM
    /// credentials.
    pub(super) users: crate::control::users::Users,
    /// What each principal may do (`auth.acls` and the admin API's entries).
    pub(super) acls: crate::control::acls::Acls,
    /// Transactional ids and their open transactions (in front of several clusters).
    pub(super) transactions: crate::transactions::Transactions,
}

impl Books {
    /// Every book for `config`, kept in a control log over `clusters`.
    pub fn new(
        config: &Config,
        metrics: &Metrics,
        clusters: &PerCluster<Arc<Cluster>>,
    ) -> anyhow::Result<Self> {
        let plugins = Arc::new(
            kafkatwin_plugins::wasm::PluginHost::new(kafkatwin_plugins::wasm::Sandbox {
                cpu_deadline: config.plugins.cpu_deadline.get(),
                memory: usize::try_from(config.plugins.memory_limit).unwrap_or(usize::MAX),
                max_upload: usize::try_from(config.plugins.max_upload).unwrap_or(usize::MAX),
            })
            .map_err(|e| anyhow::anyhow!("cannot start the WASM plugin host: {e:#}"))?,
        );
        let hooks = crate::hooks::Hooks::from_config(config).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid transformations:\n  - {}", list.join("\n  - "))
        })?;
        let control_loaded = Arc::new(tokio::sync::watch::Sender::new(false));
        let control_log = ControlLog::new(clusters, control_loaded.clone());
        let keeping = Keeping::Logged(control_log.clone());
        let consumer = &config.consumer;
        let schemas = Arc::new(kafkatwin_schema_registry::Registry::new(
            kafkatwin_schema_registry::Keeping::Stored(Arc::new(
                crate::control::schema_store::LoggedRegistry::new(
                    control_log.clone(),
                    crate::control::schema_claims::SchemaClaims::new(clusters),
                    control_loaded.subscribe(),
                ),
            )),
        ));
        Ok(Self {
            users: crate::control::users::Users::new(&config.auth.users, keeping.clone())?,
            acls: crate::control::acls::Acls::new(&config.auth.acls, keeping.clone()),
            transactions: crate::transactions::Transactions::new(
                keeping.clone(),
                TRANSACTION_BUFFER,
                crate::transactions::decision::Decider {
                    node: config.server.node_id,
                    incarnation: control_log.writer_id().to_owned(),
                },
            ),
            schemas,
            rules: crate::hooks::rule_book::RuleBook::new(
                config.transformations.clone(),
                hooks,
                keeping.clone(),
            ),
            plugin_store: crate::hooks::plugin_store::PluginStore::new(
                plugins.clone(),
                keeping.clone(),
            ),
            plugins,
            audit: crate::control::audit_trail::AuditTrail::new(keeping.clone()),
            quotas: crate::quotas::Quotas::new(
                config.quotas.clone(),
                metrics.clone(),
                keeping.clone(),
            ),
            groups: crate::groups::Coordinator::new(
                crate::groups::state::Limits {
                    min_session: consumer.group_min_session_timeout.get(),
                    max_session: consumer.group_max_session_timeout.get(),
                    initial_delay: consumer.group_initial_rebalance_delay.get(),
                    consumer_session: consumer.group_consumer_session_timeout.get(),
                    consumer_heartbeat: consumer.group_consumer_heartbeat_interval.get(),
                },
                clusters.len(),
                metrics.clone(),
                keeping,
            ),
            control_log,
            control_loaded,
        })
    }
}
