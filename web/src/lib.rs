//! KafkaTwin's HTTP side: the admin REST API (`router`), health endpoints (`health_router`) and
//! Prometheus metrics (`metrics_router`). It reaches the engine only through [`AdminState`],
//! so every router is testable in-process with a fake state.

pub mod auth;
pub mod schema_registry;
pub use auth::{AdminAuth, AuditEntry};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A backend cluster as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ClusterView {
    /// Cluster id.
    pub id: String,
    /// Configured bootstrap servers.
    pub bootstrap_servers: Vec<String>,
    /// Configured priority (lower preferred).
    pub priority: u32,
    /// Configured weight.
    pub weight: u32,
    /// Whether requests go to it (not down).
    pub reachable: bool,
    /// `healthy`, `degraded` or `down` (circuit open or never reached).
    pub status: String,
    /// The last health probe's round trip, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The last error, while failures are recent.
    pub last_error: Option<String>,
    /// Open broker connections.
    pub connections: usize,
    /// Whether it was compared with the other clusters since it was last seen: until then
    /// it takes no writes (at startup, after an outage or a lost connection).
    pub compared: bool,
    /// Partitions on which it missed writes and is being repaired.
    pub behind_partitions: usize,
    /// Records other clusters hold that it does not yet: missed writes awaiting repair and
    /// writes still on their way (replication lag).
    pub lag_records: i64,
    /// Topics whose partition count differs from another cluster's.
    pub partition_mismatches: Vec<String>,
    /// Partitions where it holds another history than the other clusters (excluded from
    /// writes and reads until reseeded).
    pub divergent_partitions: Vec<DivergentView>,
}

/// A partition whose history on a cluster differs from the other clusters'.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DivergentView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The first logical offset where it differs.
    pub first_differing_offset: i64,
}

/// What a reseed did.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ReseedView {
    /// Cluster id.
    pub cluster: String,
    /// Topic deleted and recreated there.
    pub topic: String,
    /// Its partitions, now being copied back from the other clusters.
    pub partitions: i32,
}

/// A transformation rule as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleView {
    /// The rule in the documented shape.
    pub rule: serde_json::Value,
    /// `config` (from the YAML file) or `api`.
    pub origin: String,
}

/// A client quota as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct QuotaView {
    /// Whom it applies to, as Kafka names quota entities: `client-id=app`, `user=alice`,
    /// `user=alice,client-id=app`, `user=alice,client-id=<default>`, `client-id=<default>`,
    /// `user=<default>`, `user=<default>,client-id=<default>`.
    pub entity: String,
    /// The client id, for a client id's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user, for a user's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Produce request bytes per second.
    pub produce_byte_rate: Option<u64>,
    /// Fetch response bytes per second.
    pub fetch_byte_rate: Option<u64>,
    /// Requests per second.
    pub request_rate: Option<u64>,
    /// `config`, `api`, or `default` (the client default from the config applies).
    pub origin: String,
    /// The entry's version (for `If-Match`), for entries set through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// What this instance measures the client at now, per second, for each limit that
    /// applies (`GET /api/v1/quotas/{client_id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<std::collections::BTreeMap<String, f64>>,
}

/// An uploaded WASM plugin as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PluginView {
    /// Name.
    pub name: String,
    /// Upload count of this name (1 for the first).
    pub version: u32,
    /// SHA-256 of the module, hex.
    pub sha256: String,
    /// Hooks it implements.
    pub hooks: Vec<String>,
    /// Module size, bytes.
    pub size: usize,
}

/// A consumer group as the admin API shows it (groups the proxy coordinates, in front of
/// several clusters).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupView {
    /// Group id.
    pub group: String,
    /// Kafka's name of its state: `Empty`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Stable`.
    pub state: String,
    /// Protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The assignor chosen for this generation.
    pub protocol: Option<String>,
    /// Generation.
    pub generation: i32,
    /// Node id of the instance coordinating it.
    pub coordinator: Option<i32>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members and their assignments.
    pub members: Vec<GroupMemberView>,
    /// Committed offsets (logical) and the lag behind each cluster's end.
    pub offsets: Vec<GroupOffsetView>,
    /// Per cluster: whether its own group coordinator holds the latest commits (they are
    /// mirrored every second by the coordinating instance, and to a cluster that was away
    /// when it is back). Only the coordinating instance knows: the others show `false`.
    pub mirrored: std::collections::BTreeMap<String, bool>,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupMemberView {
    /// Member id.
    pub member_id: String,
    /// Static membership id (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// The client's address (`/127.0.0.1`).
    pub client_host: String,
    /// Assigned partitions by topic.
    pub assignment: std::collections::BTreeMap<String, Vec<i32>>,
}

/// One committed offset of a group.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupOffsetView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next offset to consume (logical).
    pub committed: i64,
    /// Records between it and each cluster's end, by cluster id (sampled every 5 s).
    pub lag: std::collections::BTreeMap<String, i64>,
}

/// An API failure: its HTTP status, and the field of the request it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The request field at fault, if one is.
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(field: Option<String>, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            field,
            message: message.into(),
        }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            field: None,
            message: message.into(),
        }
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: 409,
            field: None,
            message: message.into(),
        }
    }
    /// 412: the change was based on a version that is no longer current (`If-Match`).
    pub fn stale(message: impl Into<String>) -> Self {
        Self {
            status: 412,
            field: None,
            message: message.into(),
        }
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            field: None,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(f) = self.field {
            body["field"] = serde_json::Value::String(f);
        }
        (status, Json(body)).into_response()
    }
}

/// What the HTTP side needs from the running proxy.
pub trait AdminState: Send + Sync + 'static {
    /// `Ok` when the proxy can serve clients; `Err` says why not.
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
    /// Every configured backend cluster.
    fn clusters(&self) -> Vec<ClusterView>;
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

type Shared = Arc<dyn AdminState>;

/// `GET /health/live` (always 200 while the process serves) and `GET /health/ready`.
pub fn health_router(state: Shared) -> Router {
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(serde_json::json!({"status": "live"})) }),
        )
        .route("/health/ready", get(ready))
        .with_state(state)
}

async fn ready(State(s): State<Shared>) -> Response {
    match s.ready() {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not ready", "reason": reason.to_string()})),
        )
            .into_response(),
    }
}

/// `GET /metrics` in the Prometheus text format.
pub fn metrics_router(state: Shared) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<Shared>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    s.metrics_text(),
                )
            }),
        )
        .with_state(state)
}

/// The dashboard page (one self-contained file, compiled into the binary).
const DASHBOARD: &str = include_str!("../assets/index.html");

/// The web dashboard at `/` (served with the admin API when `admin_api.web_ui` is on).
pub fn dashboard_router() -> Router {
    Router::new().route("/", get(|| async { axum::response::Html(DASHBOARD) }))
}

/// Request bodies other than plugin uploads are limited to this before they are read.
const BODY_LIMIT: usize = 1 << 20;

/// The admin REST API under `/api/v1`, guarded by `auth` (see [`auth`]). Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: without a client address, changes
/// count as coming from elsewhere.
pub fn router(state: Shared, auth: AdminAuth) -> Router {
    // One byte over the limit still reaches the handler, which answers 413 naming it.
    let upload_limit = state.max_plugin_upload().saturating_add(1).max(1);
    let guard_state = (state.clone(), Arc::new(auth));
    Router::new()
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/plugins", get(list_plugins))
        .route(
            "/api/v1/plugins/{name}",
            get(get_plugin)
                .put(put_plugin)
                .delete(delete_plugin)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/v1/quotas", get(list_quotas))
        .route(
            "/api/v1/quotas/{client_id}",
            get(get_quota).put(put_quota).delete(delete_quota),
        )
        .route(
            "/api/v1/schemas/subjects",
            get(schema_registry::admin_subjects),
        )
        .route(
            "/api/v1/schemas/subjects/{subject}",
            axum::routing::post(schema_registry::admin_register),
        )
        .route(
            "/api/v1/schemas/subjects/{subject}/versions/latest",
            get(schema_registry::admin_latest),
        )
        .route("/api/v1/groups", get(list_groups))
        .route("/api/v1/groups/{group}", get(group))
        .route("/api/v1/clusters", get(list_clusters))
        .route("/api/v1/clusters/{id}", get(cluster))
        .route("/api/v1/clusters/{id}/health", get(cluster_health))
        .route(
            "/api/v1/clusters/{id}/topics/{topic}/reseed",
            axum::routing::post(reseed),
        )
        .route(
            "/api/v1/transformations/{topic}",
            get(list_rules).post(add_rule),
        )
        .route(
            "/api/v1/transformations/{topic}/{id}",
            axum::routing::put(replace_rule).delete(delete_rule),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            guard_state,
            auth::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
}

/// A body over the limit is refused by axum before any handler runs, in plain text: answered
/// in the API's JSON error shape instead, saying which limit applies.
async fn json_errors(resp: Response) -> Response {
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || json {
        return resp;
    }
    ApiError {
        status: 413,
        field: None,
        message: format!(
            "the request body is over the limit of {BODY_LIMIT} bytes \
             (plugin uploads: plugins.max_upload)"
        ),
    }
    .into_response()
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/audit?limit=N`: the latest changes (default 100), newest last.
async fn audit_log(State(s): State<Shared>, Query(q): Query<AuditQuery>) -> Json<Vec<AuditEntry>> {
    Json(s.audit_log(q.limit.unwrap_or(100).min(10_000)))
}

async fn list_plugins(State(s): State<Shared>) -> Json<Vec<PluginView>> {
    Json(s.list_plugins())
}

async fn get_plugin(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.get_plugin(&name) {
        Some(p) => Json(p).into_response(),
        None => not_found(&format!("plugin {name}")),
    }
}

async fn put_plugin(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/wasm") {
        return ApiError {
            status: 415,
            field: None,
            message: format!(
                "plugin {name}: send the module with Content-Type: application/wasm (got {ctype:?})"
            ),
        }
        .into_response();
    }
    if body.len() > s.max_plugin_upload() {
        return ApiError {
            status: 413,
            field: None,
            message: format!(
                "plugin {name}: the module is over the limit of {} bytes (plugins.max_upload)",
                s.max_plugin_upload()
            ),
        }
        .into_response();
    }
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.put_plugin(&name, body, expected).await {
        Ok(view) => {
            let etag = format!("\"{}\"", view.version);
            (StatusCode::CREATED, [(header::ETAG, etag)], Json(view)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

async fn delete_plugin(
    State(s): State<Shared>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DeleteQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.delete_plugin(&name, q.force, expected).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `resp` with the topic's rules version as its `ETag`, when there is one.
fn with_rules_version(s: &Shared, topic: &str, mut resp: Response) -> Response {
    if let Some(v) = s.rules_version(topic)
        && let Ok(h) = axum::http::HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// The version a change was based on, from `If-Match` (`"7"` or `W/"7"`, as sent in
/// `ETag`); `None` without the header or with `*` (the last writer wins). 400 otherwise.
fn if_match(headers: &axum::http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    tag.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            Some("If-Match".into()),
            format!("If-Match {text:?} is not a version this API sent as an ETag (\"123\")"),
        )
    })
}

/// A JSON body, with a 400 naming what is wrong when it is not JSON.
fn json_body(body: &axum::body::Bytes) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(None, format!("the body is not JSON: {e}")))
}

async fn list_rules(State(s): State<Shared>, Path(topic): Path<String>) -> Response {
    match s.list_rules(&topic) {
        Ok(rules) => with_rules_version(&s, &topic, Json(rules).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn add_rule(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = match (json_body(&body), if_match(&headers)) {
        (Ok(v), Ok(expected)) => s.add_rule(&topic, v, expected).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(view) => with_rules_version(
            &s,
            &topic,
            (StatusCode::CREATED, Json(view)).into_response(),
        ),
        Err(e) => e.into_response(),
    }
}

async fn replace_rule(
    State(s): State<Shared>,
    Path((topic, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = match (json_body(&body), if_match(&headers)) {
        (Ok(v), Ok(expected)) => s.replace_rule(&topic, &id, v, expected).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(view) => with_rules_version(&s, &topic, Json(view).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn delete_rule(
    State(s): State<Shared>,
    Path((topic, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.delete_rule(&topic, &id, expected).await {
        Ok(()) => with_rules_version(&s, &topic, StatusCode::NO_CONTENT.into_response()),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/quotas`: every quota entry, with where it comes from.
async fn list_quotas(State(s): State<Shared>) -> Json<Vec<QuotaView>> {
    Json(s.list_quotas())
}

/// `resp` with `ETag` set to `version`, when there is one.
fn with_version(version: Option<i64>, mut resp: Response) -> Response {
    if let Some(v) = version
        && let Ok(h) = axum::http::HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// `GET /api/v1/quotas/{client_id}`: the quota that applies to the client id and its rates.
async fn get_quota(State(s): State<Shared>, Path(client_id): Path<String>) -> Response {
    match s.get_quota(&client_id) {
        Some(q) => with_version(q.version, Json(q).into_response()),
        None => not_found(&format!("a quota for client id {client_id}")),
    }
}

/// `PUT /api/v1/quotas/{client_id}`: 201 when new, 200 when replaced.
async fn put_quota(
    State(s): State<Shared>,
    Path(client_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.put_quota(&client_id, body, expected).await {
        Ok((view, created)) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            with_version(view.version, (status, Json(view)).into_response())
        }
        Err(e) => e.into_response(),
    }
}

/// `DELETE /api/v1/quotas/{client_id}`: 204, or 404 when the API set none.
async fn delete_quota(
    State(s): State<Shared>,
    Path(client_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.delete_quota(&client_id, expected).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/groups`: every consumer group the proxy coordinates.
async fn list_groups(State(s): State<Shared>) -> Json<Vec<GroupView>> {
    Json(s.groups())
}

/// `GET /api/v1/groups/{group}`: one group (404 when it has neither members nor commits).
async fn group(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.group(&name) {
        Some(g) => Json(g).into_response(),
        None => not_found(&format!("group {name}")),
    }
}

async fn list_clusters(State(s): State<Shared>) -> Json<Vec<ClusterView>> {
    Json(s.clusters())
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": format!("{what} not found")})),
    )
        .into_response()
}

async fn cluster(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.clusters().into_iter().find(|c| c.id == id) {
        Some(c) => Json(c).into_response(),
        None => not_found(&format!("cluster {id:?}")),
    }
}

/// `POST /api/v1/clusters/{id}/topics/{topic}/reseed` with `{"confirm": "<topic>"}`: the
/// confirmation must name the topic, since the topic's data on that cluster is deleted.
async fn reseed(
    State(s): State<Shared>,
    Path((id, topic)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if !s.clusters().iter().any(|c| c.id == id) {
        return not_found(&format!("cluster {id:?}"));
    }
    let confirm = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("confirm").and_then(|c| c.as_str()).map(str::to_owned));
    if confirm.as_deref() != Some(topic.as_str()) {
        return ApiError::bad_request(
            Some("confirm".into()),
            format!(
                "reseeding deletes topic {topic:?} on cluster {id:?} and copies it back from the \
                 other clusters: send {{\"confirm\": {topic:?}}} to go ahead"
            ),
        )
        .into_response();
    }
    match s.reseed(&id, &topic).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn cluster_health(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.clusters().into_iter().find(|c| c.id == id) {
        Some(c) => Json(serde_json::json!({
            "id": c.id,
            "status": c.status,
            "latency_ms": c.latency_ms,
            "last_error": c.last_error,
        }))
        .into_response(),
        None => not_found(&format!("cluster {id:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// A fake engine for in-process router tests.
    #[derive(Default)]
    struct FakeState {
        ready: bool,
        audit: std::sync::Mutex<Vec<AuditEntry>>,
    }

    fn fake(ready: bool) -> FakeState {
        FakeState {
            ready,
            ..Default::default()
        }
    }

    impl AdminState for FakeState {
        fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            if self.ready {
                Ok(())
            } else {
                Err("cluster c1 down".into())
            }
        }
        fn clusters(&self) -> Vec<ClusterView> {
            vec![ClusterView {
                id: "c1".into(),
                bootstrap_servers: vec!["h:1".into()],
                priority: 1,
                weight: 100,
                reachable: self.ready,
                status: if self.ready { "healthy" } else { "down" }.into(),
                latency_ms: Some(1.5),
                last_error: None,
                connections: 1,
                ..Default::default()
            }]
        }
        fn metrics_text(&self) -> String {
            "kafkatwin_x 1\n".into()
        }
        fn list_rules(&self, topic: &str) -> Result<Vec<RuleView>, ApiError> {
            Err(ApiError::not_found(format!("no rules for topic {topic:?}")))
        }
        fn add_rule<'a>(
            &'a self,
            _: &'a str,
            rule: serde_json::Value,
            _: Option<i64>,
        ) -> ApiFuture<'a, RuleView> {
            Box::pin(async move {
                match rule.get("id") {
                    Some(_) => Ok(RuleView {
                        rule,
                        origin: "api".into(),
                    }),
                    None => Err(ApiError::bad_request(Some("id".into()), "missing id")),
                }
            })
        }
        fn replace_rule<'a>(
            &'a self,
            _: &'a str,
            id: &'a str,
            _: serde_json::Value,
            _: Option<i64>,
        ) -> ApiFuture<'a, RuleView> {
            Box::pin(async move { Err(ApiError::not_found(format!("no rule {id:?}"))) })
        }
        fn delete_rule<'a>(&'a self, _: &'a str, id: &'a str, _: Option<i64>) -> ApiFuture<'a, ()> {
            Box::pin(async move { Err(ApiError::not_found(format!("no rule {id:?}"))) })
        }
        fn record_audit<'a>(
            &'a self,
            entry: AuditEntry,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
            Box::pin(async move {
                if let Ok(mut a) = self.audit.lock() {
                    a.push(entry);
                }
            })
        }
        fn audit_log(&self, limit: usize) -> Vec<AuditEntry> {
            let a = self.audit.lock().map(|a| a.clone()).unwrap_or_default();
            a.into_iter().rev().take(limit).rev().collect()
        }
    }

    fn open_router(st: Shared) -> Router {
        router(st, AdminAuth::default())
    }

    async fn get_status(r: Router, uri: &str) -> (StatusCode, String) {
        let resp = r
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A request from a loopback client with no token.
    async fn send(r: Router, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
        send_as(r, method, uri, body, LOOPBACK, None).await
    }

    const LOOPBACK: &str = "127.0.0.1:50000";
    const REMOTE: &str = "10.1.2.3:50000";

    async fn send_as(
        r: Router,
        method: &str,
        uri: &str,
        body: &str,
        peer: &str,
        token: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = req.body(Body::from(body.to_owned())).expect("request");
        let addr: std::net::SocketAddr = peer.parse().expect("address");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        let resp = r.oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn transformation_routes_map_errors_to_statuses() {
        let st: Shared = Arc::new(fake(true));
        let (s, body) = send(
            open_router(st.clone()),
            "POST",
            "/api/v1/transformations/t",
            "{not json",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(body.contains("not JSON"), "{body}");
        let (s, body) = send(
            open_router(st.clone()),
            "POST",
            "/api/v1/transformations/t",
            "{}",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(body.contains("\"field\":\"id\""), "{body}");
        let (s, _) = send(
            open_router(st.clone()),
            "POST",
            "/api/v1/transformations/t",
            r#"{"id":"a"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = send(
            open_router(st.clone()),
            "GET",
            "/api/v1/transformations/none",
            "",
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = send(
            open_router(st.clone()),
            "DELETE",
            "/api/v1/transformations/t/x",
            "",
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = send(open_router(st), "PUT", "/api/v1/transformations/t/x", "{}").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn readiness_follows_state() {
        let (s, _) = get_status(health_router(Arc::new(fake(true))), "/health/ready").await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = get_status(health_router(Arc::new(fake(false))), "/health/ready").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("cluster c1 down"), "{body}");
    }

    #[tokio::test]
    async fn clusters_and_unknown_ids() {
        let st: Shared = Arc::new(fake(true));
        let (s, body) = get_status(open_router(st.clone()), "/api/v1/clusters/c1").await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("\"bootstrap_servers\":[\"h:1\"]"), "{body}");
        let (s, _) = get_status(open_router(st.clone()), "/api/v1/clusters/nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, body) = get_status(dashboard_router(), "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("/api/v1/clusters"), "{body}");
        let (s, _) = get_status(open_router(st.clone()), "/").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, body) = get_status(metrics_router(st), "/metrics").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body, "kafkatwin_x 1\n");
    }

    /// Every admin endpoint, with whether it changes anything.
    const ENDPOINTS: &[(&str, &str, bool)] = &[
        ("GET", "/api/v1/clusters", false),
        ("GET", "/api/v1/clusters/c1", false),
        ("GET", "/api/v1/clusters/c1/health", false),
        ("POST", "/api/v1/clusters/c1/topics/t/reseed", true),
        ("GET", "/api/v1/transformations/t", false),
        ("POST", "/api/v1/transformations/t", true),
        ("PUT", "/api/v1/transformations/t/a", true),
        ("DELETE", "/api/v1/transformations/t/a", true),
        ("GET", "/api/v1/plugins", false),
        ("GET", "/api/v1/plugins/p", false),
        ("PUT", "/api/v1/plugins/p", true),
        ("DELETE", "/api/v1/plugins/p", true),
        ("GET", "/api/v1/audit", false),
    ];

    #[tokio::test]
    async fn every_endpoint_under_each_kind_of_caller() {
        let secured = AdminAuth::with_tokens(&[
            ("ops", "admin-secret-1", kafkatwin_config::AdminRole::Admin),
            ("viewer", "read-secret-2", kafkatwin_config::AdminRole::Read),
        ]);
        // (case, auth, peer, token, allowed(changes) -> expected refusal status, if any)
        let cases: &[(&str, &AdminAuth, &str, Option<&str>)] = &[
            (
                "no token configured, loopback",
                &AdminAuth::default(),
                LOOPBACK,
                None,
            ),
            (
                "no token configured, remote",
                &AdminAuth::default(),
                REMOTE,
                None,
            ),
            ("admin token", &secured, REMOTE, Some("admin-secret-1")),
            ("read token", &secured, REMOTE, Some("read-secret-2")),
            ("wrong token", &secured, LOOPBACK, Some("admin-secret-")),
            ("no token sent", &secured, LOOPBACK, None),
        ];
        for &(case, auth, peer, token) in cases {
            for &(method, uri, change) in ENDPOINTS {
                let st: Shared = Arc::new(fake(true));
                let r = router(st, auth.clone());
                let (s, body) = send_as(r, method, uri, r#"{"id":"a"}"#, peer, token).await;
                let expected = match case {
                    "no token configured, remote" if change => Some(StatusCode::FORBIDDEN),
                    "read token" if change => Some(StatusCode::FORBIDDEN),
                    "wrong token" | "no token sent" => Some(StatusCode::UNAUTHORIZED),
                    _ => None,
                };
                match expected {
                    Some(want) => assert_eq!(s, want, "{case}: {method} {uri}: {body}"),
                    None => assert!(
                        s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                        "{case}: {method} {uri} refused: {s} {body}"
                    ),
                }
                for secret in ["admin-secret-1", "read-secret-2"] {
                    assert!(
                        !body.contains(secret),
                        "{case}: {method} {uri} shows a token"
                    );
                }
                if s == StatusCode::FORBIDDEN && case.starts_with("no token configured") {
                    assert!(body.contains("admin_api.auth_token"), "{body}");
                }
            }
        }
        // Health and metrics stay open whatever the admin API needs.
        let st: Shared = Arc::new(fake(true));
        assert_eq!(
            get_status(health_router(st.clone()), "/health/live")
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            get_status(metrics_router(st), "/metrics").await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_change_is_audited_with_the_token_name_and_client() {
        let fake_state = Arc::new(fake(true));
        let st: Shared = fake_state.clone();
        let auth = AdminAuth::with_tokens(&[("ops", "s3", kafkatwin_config::AdminRole::Admin)]);
        let (s, _) = send_as(
            router(st.clone(), auth.clone()),
            "POST",
            "/api/v1/transformations/orders",
            r#"{"id":"a"}"#,
            REMOTE,
            Some("s3"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        // A refused change is not audited.
        let (s, _) = send_as(
            router(st.clone(), auth.clone()),
            "DELETE",
            "/api/v1/transformations/orders/zzz",
            "",
            REMOTE,
            Some("s3"),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, body) = send_as(
            router(st, auth),
            "GET",
            "/api/v1/audit?limit=5",
            "",
            REMOTE,
            Some("s3"),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let entries: Vec<AuditEntry> = serde_json::from_str(&body).expect("audit list");
        assert_eq!(entries.len(), 1, "{body}");
        assert_eq!(entries[0].who, "ops");
        assert_eq!(entries[0].client, REMOTE);
        assert_eq!(entries[0].action, "POST /api/v1/transformations/orders");
        assert!(!body.contains("s3\""), "{body}");
    }
}
