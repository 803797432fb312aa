//! What the HTTP side needs from the running proxy: the one interface between the routers
//! and the engine, so every router is testable in-process with a fake.

use crate::auth::AuditEntry;
use crate::error::ApiError;
use crate::views::*;
use std::sync::Arc;

/// What the HTTP side needs from the running proxy.
pub trait AdminState: Send + Sync + 'static {
    /// `Ok` when the proxy can serve clients; `Err` says why not.
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
    /// Every configured backend cluster.
    fn clusters(&self) -> Vec<ClusterView>;
    /// Every topic on any cluster (internal ones, `__`-prefixed, left out).
    fn topics(&self) -> ApiFuture<'_, Vec<TopicSummaryView>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// One topic in detail; 404 when no cluster has it.
    fn topic<'a>(&'a self, name: &'a str) -> ApiFuture<'a, TopicView> {
        Box::pin(async move { Err(ApiError::not_found(format!("topic {name:?} not found"))) })
    }
    /// The kafkatwin instances and what each owns.
    fn instances(&self) -> InstancesView {
        InstancesView::default()
    }
    /// The rates sampled over the last 15 minutes, oldest first.
    fn metrics_history(&self) -> Vec<MetricsSample> {
        Vec::new()
    }
    /// The newest sample of the rates, if any.
    fn latest_sample(&self) -> Option<MetricsSample> {
        self.metrics_history().pop()
    }
    /// Every consumer group the proxy coordinates.
    fn groups(&self) -> Vec<GroupView> {
        Vec::new()
    }
    /// One consumer group.
    fn group(&self, _name: &str) -> Option<GroupView> {
        None
    }
    /// The Prometheus text exposition of all metrics.
    fn metrics_text(&self) -> String;
    /// The schema registry, when it is on.
    fn schema_registry(&self) -> Option<Arc<kafkatwin_schema_registry::Registry>> {
        None
    }
    /// Transformation rules that apply to `topic`.
    fn list_rules(&self, topic: &str) -> Result<Vec<RuleView>, ApiError>;
    /// Adds a rule to `topic`. With `expected` (the request's `If-Match`), only if `topic`'s
    /// rules are still at that version (412 otherwise); so for every rule change.
    fn add_rule<'a>(
        &'a self,
        topic: &'a str,
        rule: serde_json::Value,
        expected: Option<i64>,
    ) -> ApiFuture<'a, RuleView>;
    /// Replaces rule `id` of `topic`.
    fn replace_rule<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
        rule: serde_json::Value,
        expected: Option<i64>,
    ) -> ApiFuture<'a, RuleView>;
    /// Deletes rule `id` of `topic`.
    fn delete_rule<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
        expected: Option<i64>,
    ) -> ApiFuture<'a, ()>;
    /// Largest plugin module accepted, bytes.
    fn max_plugin_upload(&self) -> usize {
        0
    }
    /// Validates, compiles and loads a plugin module (400 with the reason when it is not one).
    /// With `expected` (`If-Match`), only if the plugin is still at that version (412).
    fn put_plugin<'a>(
        &'a self,
        name: &'a str,
        _module: axum::body::Bytes,
        _expected: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move {
            Err(ApiError::not_found(format!(
                "plugin {name}: plugins are not supported here"
            )))
        })
    }
    /// Every loaded plugin.
    fn list_plugins(&self) -> Vec<PluginView> {
        Vec::new()
    }
    /// One plugin.
    fn get_plugin(&self, _name: &str) -> Option<PluginView> {
        None
    }
    /// Deletes `topic` on cluster `id`, recreates it and has it copied back from the other
    /// clusters (the admin's resolution of a divergent history).
    fn reseed<'a>(&'a self, id: &'a str, topic: &'a str) -> ApiFuture<'a, ReseedView> {
        Box::pin(async move {
            Err(ApiError::conflict(format!(
                "cannot reseed {topic} on cluster {id}: only with several clusters"
            )))
        })
    }
    /// The version of `topic`'s API rules (changes so far), for the `ETag` of rule changes.
    fn rules_version(&self, _topic: &str) -> Option<i64> {
        None
    }
    /// Records a change made through the API (see [`auth`]).
    fn record_audit<'a>(
        &'a self,
        _entry: AuditEntry,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
    /// The latest changes, newest last, at most `limit`.
    fn audit_log(&self, _limit: usize) -> Vec<AuditEntry> {
        Vec::new()
    }
    /// Every user who may log in.
    fn list_users(&self) -> Vec<UserView> {
        Vec::new()
    }
    /// Sets a user's password from a `{"password": "..."}` body; whether the user is new.
    fn put_user<'a>(&'a self, name: &'a str, _body: axum::body::Bytes) -> ApiFuture<'a, bool> {
        Box::pin(async move {
            Err(ApiError::conflict(format!(
                "users cannot be set here (user {name})"
            )))
        })
    }
    /// Removes a user set through the API.
    fn delete_user<'a>(&'a self, name: &'a str) -> ApiFuture<'a, ()> {
        Box::pin(async move { Err(ApiError::not_found(format!("no user {name}"))) })
    }
    /// Every ACL entry.
    fn list_acls(&self) -> Vec<AclView> {
        Vec::new()
    }
    /// Adds an ACL entry from a JSON body.
    fn add_acl<'a>(&'a self, _body: axum::body::Bytes) -> ApiFuture<'a, AclView> {
        Box::pin(async move { Err(ApiError::conflict("ACL entries cannot be added here")) })
    }
    /// Removes an ACL entry added through the API.
    fn delete_acl<'a>(&'a self, id: &'a str) -> ApiFuture<'a, AclView> {
        Box::pin(async move { Err(ApiError::not_found(format!("no ACL entry {id}"))) })
    }
    /// Every quota entry (config and API).
    fn list_quotas(&self) -> Vec<QuotaView> {
        Vec::new()
    }
    /// The quota that applies to a client id, with its current rates.
    fn get_quota(&self, _client_id: &str) -> Option<QuotaView> {
        None
    }
    /// Sets a client id's quota from a JSON body; the view and whether it is new.
    fn put_quota<'a>(
        &'a self,
        client_id: &'a str,
        _body: axum::body::Bytes,
        _expected: Option<i64>,
    ) -> ApiFuture<'a, (QuotaView, bool)> {
        Box::pin(async move {
            Err(ApiError::conflict(format!(
                "quotas cannot be set here (client id {client_id})"
            )))
        })
    }
    /// Removes a client id's quota set through the API.
    fn delete_quota<'a>(&'a self, client_id: &'a str, _expected: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            Err(ApiError::not_found(format!(
                "no quota for client id {client_id}"
            )))
        })
    }
    /// Unloads a plugin (409 while a rule binds it, unless `force`; 412 when `expected` is
    /// not its version).
    fn delete_plugin<'a>(
        &'a self,
        name: &'a str,
        _force: bool,
        _expected: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move { Err(ApiError::not_found(format!("plugin {name} not found"))) })
    }
}

/// The result of an admin operation that has to write somewhere first (the state log).
pub type ApiFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 'a>>;
