//! Wires the `web` crate's routers to the running proxy: which endpoints listen where and what
//! readiness means.

use crate::app::listen::{ServeError, socket_addr};
use crate::app::rates::RateHistory;
use crate::base::change_error::ChangeError;
use crate::control::audit_trail::Change;
use crate::hooks::rule_book::ListedRule;
use crate::proxy::Proxy;
use axum::Router;
use kafkatwin_web::{AdminState, ApiError, ApiFuture, ClusterView, PluginView, RuleView};

/// The HTTP answer to a refused change.
fn api_error(e: ChangeError) -> ApiError {
    let status = match &e {
        ChangeError::Invalid { .. } => 400,
        ChangeError::NotFound(_) => 404,
        ChangeError::Conflict(_) => 409,
        ChangeError::Stale(_) => 412,
        ChangeError::Unavailable(_) => 503,
        ChangeError::Internal(_) => 500,
    };
    let field = match &e {
        ChangeError::Invalid { field, .. } => field.clone(),
        _ => None,
    };
    ApiError {
        status,
        field,
        message: e.to_string(),
    }
}

fn plugin_view(p: kafkatwin_plugins::wasm::PluginInfo) -> PluginView {
    PluginView {
        name: p.name,
        version: p.version,
        sha256: p.sha256,
        hooks: p.hooks,
        size: p.size,
    }
}

/// A rule as the API shows it.
fn rule_view(l: ListedRule) -> RuleView {
    RuleView {
        // A rule is plain data (string keys, JSON values): it always serializes.
        rule: serde_json::to_value(&l.rule).unwrap_or_default(),
        origin: l.origin.label().to_owned(),
    }
}

/// An ACL entry as the API shows it.
fn acl_view(id: Option<String>, e: &kafkatwin_config::AclEntry) -> kafkatwin_web::AclView {
    // The config's names for the enums (lowercase), as the entry was written.
    let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    kafkatwin_web::AclView {
        origin: if id.is_some() { "api" } else { "config" }.to_owned(),
        id,
        principal: e.principal.clone(),
        resource: name(serde_json::to_value(e.resource).unwrap_or_default()),
        name: e.name.clone(),
        pattern: name(serde_json::to_value(e.pattern).unwrap_or_default()),
        operations: e
            .operations
            .iter()
            .map(|o| name(serde_json::to_value(o).unwrap_or_default()))
            .collect(),
    }
}

/// A quota entry as the API shows it.
fn quota_view(e: crate::quotas::QuotaEntry) -> kafkatwin_web::QuotaView {
    use crate::quotas::DefaultOf;
    use crate::quotas::Origin;
    let entity = match (e.default_of, &e.entity.user) {
        (Some(DefaultOf::User), _) => "user=<default>".to_owned(),
        (Some(DefaultOf::UserClient), _) => "user=<default>,client-id=<default>".to_owned(),
        (Some(DefaultOf::Client), Some(user)) => format!("user={user},client-id=<default>"),
        (Some(DefaultOf::Client), None) => "client-id=<default>".to_owned(),
        (None, _) => e.entity.to_string(),
    };
    let origin = match (e.origin, e.default_of) {
        (Origin::Config, Some(_)) => "default",
        (origin, _) => origin.label(),
    };
    kafkatwin_web::QuotaView {
        entity,
        client_id: e.entity.client,
        user: e.entity.user,
        produce_byte_rate: e.limits.produce_byte_rate.map(|r| r.get()),
        fetch_byte_rate: e.limits.fetch_byte_rate.map(|r| r.get()),
        request_rate: e.limits.request_rate.map(|r| r.get()),
        origin: origin.to_owned(),
        version: e.version,
        current: None,
    }
}

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The engine as the HTTP side sees it, with the rate history the sampler fills.
struct ProxyAdmin(Arc<Proxy>, Arc<RateHistory>);

/// Why the proxy cannot serve clients yet.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    /// The control log has not been read from a majority of clusters.
    #[error(
        "control state (rules, plugins, offset maps) not loaded yet: a majority of clusters has \
         not been read"
    )]
    ControlNotLoaded,
    /// Too few clusters are reachable for the ack policy.
    #[error("ack policy {policy} needs {needed} reachable clusters; down: {down}")]
    PolicyUnmet {
        /// The ack policy.
        policy: String,
        /// Clusters it needs.
        needed: usize,
        /// The unreachable ones, each with its last error.
        down: String,
    },
    /// The one backend cluster is not reachable.
    #[error("backend cluster {cluster} is not reachable: {error}")]
    Unreachable {
        /// The cluster.
        cluster: String,
        /// Its last error.
        error: String,
    },
}

impl AdminState for ProxyAdmin {
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if !self.0.books().loaded() {
            return Err(NotReady::ControlNotLoaded.into());
        }
        if let Some(rep) = self.0.replicator() {
            return if rep.policy_can_be_met() {
                Ok(())
            } else {
                let down: Vec<String> = self
                    .0
                    .clusters()
                    .iter()
                    .map(|c| c.status())
                    .filter(|s| !s.reachable)
                    .map(|s| format!("{}: {}", s.id, s.last_error.unwrap_or_default()))
                    .collect();
                Err(NotReady::PolicyUnmet {
                    policy: format!("{:?}", self.0.config().producer.ack_policy),
                    needed: rep.required_of(rep.plan().sync.len()),
                    down: down.join("; "),
                }
                .into())
            };
        }
        let c = self.0.primary().status();
        if c.reachable {
            Ok(())
        } else {
            Err(NotReady::Unreachable {
                cluster: c.id.to_string(),
                error: c.last_error.unwrap_or_else(|| "not connected yet".into()),
            }
            .into())
        }
    }

    fn clusters(&self) -> Vec<ClusterView> {
        let cfg = self.0.config();
        self.0
            .clusters()
            .iter()
            .map(|c| {
                let s = c.status();
                let conf = cfg.clusters.iter().find(|x| x.id == s.id);
                let datacenter = cfg
                    .multi_dc
                    .datacenters
                    .iter()
                    .find(|d| d.cluster_ids.iter().any(|id| *id == *s.id))
                    .map(|d| {
                        let name = if d.name.is_empty() { &d.id } else { &d.name };
                        if d.region.is_empty() {
                            name.clone()
                        } else {
                            format!("{name} ({})", d.region)
                        }
                    });
                let rep = self.0.replicator();
                let repl = rep.and_then(|r| r.status_of(&s.id)).unwrap_or_default();
                let mismatches = rep
                    .map(|r| r.mismatches())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.cluster == *s.id)
                    .map(|m| m.to_string())
                    .collect();
                ClusterView {
                    id: s.id,
                    bootstrap_servers: conf
                        .map(|c| c.bootstrap_servers.clone())
                        .unwrap_or_default(),
                    priority: conf.map_or(0, |c| c.priority),
                    weight: conf.map_or(0, |c| c.weight),
                    datacenter,
                    reachable: s.reachable,
                    status: s.state.as_str().into(),
                    latency_ms: s.latency.map(|l| l.as_secs_f64() * 1000.0),
                    last_error: s.last_error,
                    connections: s.connections,
                    compared: repl.compared,
                    behind_partitions: repl.behind_partitions,
                    lag_records: repl.lag_records,
                    partition_mismatches: mismatches,
                    divergent_partitions: repl
                        .divergent
                        .into_iter()
                        .map(|(topic, partition, at)| kafkatwin_web::DivergentView {
                            topic,
                            partition,
                            first_differing_offset: at,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn topics(&self) -> ApiFuture<'_, Vec<kafkatwin_web::TopicSummaryView>> {
        Box::pin(async move { Ok(crate::app::topics::topic_summaries(&self.0).await) })
    }

    fn topic<'a>(&'a self, name: &'a str) -> ApiFuture<'a, kafkatwin_web::TopicView> {
        Box::pin(async move {
            let Some((partitions, details)) = crate::app::topics::partitions(&self.0, name).await
            else {
                return Err(ApiError::not_found(format!(
                    "topic {name:?} not found on any cluster"
                )));
            };
            let rules = self.list_rules(name).unwrap_or_default();
            let mut plugins: Vec<String> = Vec::new();
            let mut subjects = vec![format!("{name}-key"), format!("{name}-value")];
            for r in &rules {
                let actions = r.rule.get("actions").and_then(|a| a.as_array());
                for a in actions.into_iter().flatten() {
                    if let Some(p) = a.get("plugin").and_then(|p| p.as_str()) {
                        plugins.push(p.to_owned());
                    }
                    if let Some(s) = a.get("subject").and_then(|s| s.as_str()) {
                        subjects.push(s.to_owned());
                    }
                }
            }
            plugins.sort();
            plugins.dedup();
            let registered = self.0.books().schemas().subjects(false);
            subjects.retain(|s| registered.contains(s));
            subjects.sort();
            subjects.dedup();
            Ok(kafkatwin_web::TopicView {
                name: name.to_owned(),
                partitions,
                partition_details: details,
                rules,
                plugins,
                schema_subjects: subjects,
                quotas: self.list_quotas(),
            })
        })
    }

    fn instances(&self) -> kafkatwin_web::InstancesView {
        crate::app::topics::instances(&self.0)
    }

    fn metrics_history(&self) -> Vec<kafkatwin_web::MetricsSample> {
        self.1.all()
    }

    fn latest_sample(&self) -> Option<kafkatwin_web::MetricsSample> {
        self.1.latest()
    }

    fn groups(&self) -> Vec<kafkatwin_web::GroupView> {
        if self.0.replicator().is_none() {
            return Vec::new();
        }
        let lag = self.lag_by_partition();
        self.0
            .books()
            .groups()
            .reports()
            .into_iter()
            .map(|r| self.group_view(r, &lag))
            .collect()
    }

    fn group(&self, name: &str) -> Option<kafkatwin_web::GroupView> {
        self.0.replicator()?;
        let report = self.0.books().groups().report(name)?;
        Some(self.group_view(report, &self.lag_by_partition()))
    }

    fn reseed<'a>(
        &'a self,
        id: &'a str,
        topic: &'a str,
    ) -> ApiFuture<'a, kafkatwin_web::ReseedView> {
        Box::pin(async move {
            let Some(rep) = self.0.replicator() else {
                return Err(ApiError::conflict(format!(
                    "cannot reseed {topic} on cluster {id}: there is no other cluster to copy it from"
                )));
            };
            let partitions = rep
                .reseed(id, topic)
                .await
                .map_err(|e| ApiError::conflict(e.to_string()))?;
            Ok(kafkatwin_web::ReseedView {
                cluster: id.to_owned(),
                topic: topic.to_owned(),
                partitions,
            })
        })
    }

    fn record_audit<'a>(
        &'a self,
        e: kafkatwin_web::AuditEntry,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(self.0.books().audit().record(Change {
            at_ms: e.at_ms,
            who: e.who,
            client: e.client,
            action: e.action,
            object: e.object,
            version: e.version,
        }))
    }

    fn rules_version(&self, topic: &str) -> Option<i64> {
        self.0.books().rules().version(topic)
    }

    fn audit_log(&self, limit: usize) -> Vec<kafkatwin_web::AuditEntry> {
        let entry = |c: Change| kafkatwin_web::AuditEntry {
            at_ms: c.at_ms,
            who: c.who,
            client: c.client,
            action: c.action,
            object: c.object,
            version: c.version,
        };
        self.0
            .books()
            .audit()
            .latest(limit)
            .into_iter()
            .map(entry)
            .collect()
    }

    fn list_rules(&self, topic: &str) -> Result<Vec<RuleView>, ApiError> {
        let rules = self.0.books().rules().list(topic).map_err(api_error)?;
        Ok(rules.into_iter().map(rule_view).collect())
    }

    fn add_rule<'a>(
        &'a self,
        topic: &'a str,
        rule: serde_json::Value,
        expected: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async move {
            self.0
                .books()
                .rules()
                .add(topic, rule, expected)
                .await
                .map(rule_view)
                .map_err(api_error)
        })
    }

    fn replace_rule<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
        rule: serde_json::Value,
        expected: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async move {
            self.0
                .books()
                .rules()
                .replace(topic, id, rule, expected)
                .await
                .map(rule_view)
                .map_err(api_error)
        })
    }

    fn delete_rule<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
        expected: Option<i64>,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.0
                .books()
                .rules()
                .delete(topic, id, expected)
                .await
                .map_err(api_error)
        })
    }

    fn list_users(&self) -> Vec<kafkatwin_web::UserView> {
        use crate::control::users::UserOrigin;
        self.0
            .books()
            .users()
            .list()
            .into_iter()
            .map(|(username, origin, mechanisms)| kafkatwin_web::UserView {
                username,
                origin: match origin {
                    UserOrigin::Config => "config",
                    UserOrigin::Api => "api",
                }
                .to_owned(),
                mechanisms: mechanisms.into_iter().map(str::to_owned).collect(),
            })
            .collect()
    }

    fn put_user<'a>(&'a self, name: &'a str, body: axum::body::Bytes) -> ApiFuture<'a, bool> {
        Box::pin(async move {
            self.0
                .books()
                .users()
                .put(name, &body)
                .await
                .map_err(api_error)
        })
    }

    fn delete_user<'a>(&'a self, name: &'a str) -> ApiFuture<'a, ()> {
        Box::pin(async move { self.0.books().users().delete(name).await.map_err(api_error) })
    }

    fn list_acls(&self) -> Vec<kafkatwin_web::AclView> {
        self.0
            .books()
            .acls()
            .list()
            .into_iter()
            .map(|(id, e)| acl_view(id, &e))
            .collect()
    }

    fn add_acl<'a>(&'a self, body: axum::body::Bytes) -> ApiFuture<'a, kafkatwin_web::AclView> {
        Box::pin(async move {
            let (id, e) = self.0.books().acls().add(&body).await.map_err(api_error)?;
            Ok(acl_view(Some(id), &e))
        })
    }

    fn delete_acl<'a>(&'a self, id: &'a str) -> ApiFuture<'a, kafkatwin_web::AclView> {
        Box::pin(async move {
            let e = self.0.books().acls().delete(id).await.map_err(api_error)?;
            Ok(acl_view(Some(id.to_owned()), &e))
        })
    }

    fn list_quotas(&self) -> Vec<kafkatwin_web::QuotaView> {
        self.0
            .books()
            .quotas()
            .list()
            .into_iter()
            .map(quota_view)
            .collect()
    }

    fn get_quota(&self, client_id: &str) -> Option<kafkatwin_web::QuotaView> {
        let q = &self.0.books().quotas();
        let mut view = quota_view(q.entry(client_id)?);
        view.current = Some(
            q.current(client_id)
                .into_iter()
                .map(|(k, v)| (k.field().to_owned(), v))
                .collect(),
        );
        Some(view)
    }

    fn put_quota<'a>(
        &'a self,
        client_id: &'a str,
        body: axum::body::Bytes,
        expected: Option<i64>,
    ) -> ApiFuture<'a, (kafkatwin_web::QuotaView, bool)> {
        Box::pin(async move {
            let (entry, created) = self
                .0
                .books()
                .quotas()
                .put(client_id, &body, expected)
                .await
                .map_err(api_error)?;
            Ok((quota_view(entry), created))
        })
    }

    fn delete_quota<'a>(&'a self, client_id: &'a str, expected: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.0
                .books()
                .quotas()
                .delete(client_id, expected)
                .await
                .map_err(api_error)
        })
    }

    fn max_plugin_upload(&self) -> usize {
        usize::try_from(self.0.config().plugins.max_upload).unwrap_or(usize::MAX)
    }

    fn put_plugin<'a>(
        &'a self,
        name: &'a str,
        module: axum::body::Bytes,
        expected: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move {
            self.0
                .books()
                .plugin_store()
                .put(name, module, expected)
                .await
                .map(plugin_view)
                .map_err(api_error)
        })
    }

    fn list_plugins(&self) -> Vec<PluginView> {
        self.0
            .books()
            .plugins()
            .list()
            .into_iter()
            .map(plugin_view)
            .collect()
    }

    fn get_plugin(&self, name: &str) -> Option<PluginView> {
        self.0.books().plugins().get(name).map(plugin_view)
    }

    fn delete_plugin<'a>(
        &'a self,
        name: &'a str,
        force: bool,
        expected: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move {
            if self.0.books().plugins().get(name).is_none() {
                return Err(ApiError::not_found(format!("plugin {name} not found")));
            }
            if !force && self.0.books().rules().hooks().binds_plugin(name) {
                return Err(ApiError::conflict(format!(
                    "plugin {name} is bound by a transformation rule; unbind it first or delete with ?force=true"
                )));
            }
            self.0
                .books()
                .plugin_store()
                .delete(name, expected)
                .await
                .map(plugin_view)
                .map_err(api_error)
        })
    }

    fn schema_registry(&self) -> Option<Arc<kafkatwin_schema_registry::Registry>> {
        Some(self.0.books().schemas().clone())
    }
    fn metrics_text(&self) -> String {
        let families = self.0.metrics().registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Per (group, topic, partition): each cluster's lag, from the lag gauge.
type LagTable = HashMap<(String, String, i32), std::collections::BTreeMap<String, i64>>;

impl ProxyAdmin {
    /// The lag gauge's current values.
    fn lag_by_partition(&self) -> LagTable {
        use prometheus::core::Collector;
        let mut out = LagTable::new();
        for family in self.0.metrics().consumer_lag.collect() {
            for m in family.get_metric() {
                let label = |n: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == n)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                let key = (
                    label("group"),
                    label("topic"),
                    label("partition").parse().unwrap_or(-1),
                );
                out.entry(key)
                    .or_default()
                    .insert(label("cluster"), m.get_gauge().get_value() as i64);
            }
        }
        out
    }

    fn group_view(
        &self,
        r: crate::groups::GroupReport,
        lag: &LagTable,
    ) -> kafkatwin_web::GroupView {
        let p = &self.0;
        kafkatwin_web::GroupView {
            coordinator: p.membership().group_owner(&r.name),
            offsets: r
                .offsets
                .iter()
                .map(|(t, part, off)| kafkatwin_web::GroupOffsetView {
                    topic: t.clone(),
                    partition: *part,
                    committed: *off,
                    lag: lag
                        .get(&(r.name.clone(), t.clone(), *part))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect(),
            mirrored: p
                .clusters()
                .iter_indexed()
                .map(|(i, c)| (c.id.to_string(), !r.unmirrored.contains(&i)))
                .collect(),
            members: r
                .members
                .into_iter()
                .map(|m| kafkatwin_web::GroupMemberView {
                    member_id: m.id,
                    group_instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: m.assignment.into_iter().collect(),
                })
                .collect(),
            group: r.name,
            state: r.state.to_owned(),
            protocol_type: r.protocol_type,
            protocol: r.protocol,
            generation: r.generation,
            leader: r.leader,
        }
    }
}

/// Binds every enabled HTTP endpoint and returns each listener with the router it serves.
/// Endpoints that share an address are merged into one router. A port that cannot be bound
/// fails startup, naming the config key.
pub async fn bind_all(
    proxy: Arc<Proxy>,
    rates: Arc<RateHistory>,
) -> Result<Vec<(&'static str, TcpListener, Router)>, ServeError> {
    let cfg = proxy.config().clone();
    let auth = kafkatwin_web::AdminAuth::from_config(&cfg.admin_api).map_err(ServeError::Setup)?;
    let schemas = proxy.books().schemas().clone();
    let state: Arc<dyn AdminState> = Arc::new(ProxyAdmin(proxy, rates));
    let mut by_addr: BTreeMap<SocketAddr, (&'static str, Router)> = BTreeMap::new();
    let mut add =
        |what: &'static str, host: &str, port: u16, r: Router| -> Result<(), ServeError> {
            let addr = socket_addr(host, port).ok_or_else(|| ServeError::Bind {
                what,
                addr: format!("{host}:{port}"),
                source: std::io::Error::other("address does not resolve"),
            })?;
            let merged = match by_addr.remove(&addr) {
                Some((first, existing)) => (first, existing.merge(r)),
                None => (what, r),
            };
            by_addr.insert(addr, merged);
            Ok(())
        };
    let m = &cfg.monitoring;
    if m.health.enabled {
        add(
            "monitoring.health",
            &m.health.listen_address,
            m.health.port,
            kafkatwin_web::health_router(state.clone()),
        )?;
    }
    if m.metrics.enabled {
        add(
            "monitoring.metrics",
            &m.metrics.listen_address,
            m.metrics.port,
            kafkatwin_web::metrics_router(state.clone()),
        )?;
    }
    if cfg.admin_api.enabled {
        add(
            "admin_api",
            &cfg.admin_api.listen_address,
            cfg.admin_api.port,
            if cfg.admin_api.web_ui {
                kafkatwin_web::router(state.clone(), auth.clone())
                    .merge(kafkatwin_web::dashboard_router())
            } else {
                kafkatwin_web::router(state.clone(), auth.clone())
            },
        )?;
    }
    let sr = &cfg.schema_registry;
    if sr.enabled {
        // The config check keeps its port apart from the others, so this never merges.
        add(
            "schema_registry",
            &sr.listen_address,
            sr.port,
            kafkatwin_web::schema_registry::router(schemas, state.clone(), auth),
        )?;
    }
    let mut bound = Vec::new();
    for (addr, (what, router)) in by_addr {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what,
                addr: addr.to_string(),
                source,
            })?;
        bound.push((what, listener, router));
    }
    Ok(bound)
}
