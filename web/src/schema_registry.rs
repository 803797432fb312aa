//! The schema registry over HTTP: Confluent's REST API (what the Confluent serializers, kcat
//! and the Java clients call) on its own listener. The admin API's `/api/v1/schemas`
//! endpoints work on the same [`Registry`].
//!
//! Bodies are read whatever their `Content-Type` (clients send
//! `application/vnd.schemaregistry.v1+json`); unknown request fields are ignored, and
//! responses carry only Confluent's fields. Errors are `{"error_code", "message"}`.

use crate::AdminState;
use crate::auth::{AdminAuth, audit, is_change, version_of};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kafkatwin_schema_registry::{
    Compatibility, Reference, Registered, Registry, RegistryError, SchemaBody, SchemaType,
    VersionSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The registry's media type.
const MEDIA: &str = "application/vnd.schemaregistry.v1+json";
/// Largest request body (a schema with its references).
const BODY_LIMIT: usize = 4 << 20;

/// A registry answer: JSON with the registry's media type.
struct Answer(StatusCode, Value);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = (self.0, self.1.to_string()).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA));
        r
    }
}

fn ok(v: Value) -> Answer {
    Answer(StatusCode::OK, v)
}

fn error(code: u32, status: u16, message: impl Into<String>) -> Answer {
    Answer(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"error_code": code, "message": message.into()}),
    )
}

fn failed(e: RegistryError) -> Answer {
    error(e.code(), e.status(), e.to_string())
}

type Answered = Result<Answer, Answer>;

/// What the registry's handlers share.
#[derive(Clone)]
struct Ctx {
    registry: Arc<Registry>,
    state: Arc<dyn AdminState>,
    auth: Arc<AdminAuth>,
}

/// Query flags, read case-insensitively (clients send `False`).
struct Flags(HashMap<String, String>);

impl Flags {
    fn on(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A registration or lookup body (Confluent's fields; others ignored).
#[derive(Deserialize)]
struct SchemaRequest {
    schema: Option<String>,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

pub(crate) fn body_of(bytes: &[u8]) -> Result<SchemaBody, RegistryError> {
    let req: SchemaRequest = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::BadRequest(format!("the request body is not a schema: {e}")))?;
    let schema = req.schema.ok_or_else(|| {
        RegistryError::InvalidSchema("the request body has no \"schema\" field".to_owned())
    })?;
    let schema_type = match req.schema_type.as_deref() {
        None => SchemaType::Avro,
        Some(t) => SchemaType::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                RegistryError::InvalidSchema(format!(
                    "unknown schemaType {t:?}: AVRO, JSON or PROTOBUF"
                ))
            })?,
    };
    Ok(SchemaBody {
        schema_type,
        schema,
        references: req.references,
    })
}

/// The schema fields of a response: `schemaType` only when not Avro, `references` only when
/// there are some, as Confluent does; `serialized` gives Protobuf as a base64 descriptor.
fn schema_fields(reg: &Registry, id: u32, body: &SchemaBody, serialized: bool) -> Value {
    let mut text = body.schema.clone();
    if serialized
        && body.schema_type == SchemaType::Protobuf
        && let Ok(p) = reg.compiled(id)
        && let Some(s) = p.serialized()
    {
        text = s;
    }
    let mut v = json!({ "schema": text });
    if body.schema_type != SchemaType::Avro {
        v["schemaType"] = json!(body.schema_type.as_str());
    }
    if !body.references.is_empty() {
        v["references"] = json!(body.references);
    }
    v
}

fn registered(reg: &Registry, r: &Registered, serialized: bool) -> Value {
    let mut v = json!({"subject": r.subject, "version": r.version, "id": r.id});
    if let (Value::Object(m), Value::Object(f)) =
        (&mut v, schema_fields(reg, r.id, &r.body, serialized))
    {
        m.extend(f);
    }
    v
}

fn serialized(f: &Flags) -> bool {
    f.get("format")
        .is_some_and(|v| v.eq_ignore_ascii_case("serialized"))
}

async fn subjects(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Answer {
    ok(json!(c.registry.subjects(Flags(q).on("deleted"))))
}

async fn versions(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let v = c
        .registry
        .versions(&subject, Flags(q).on("deleted"))
        .map_err(failed)?;
    Ok(ok(json!(v)))
}

async fn register(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answered {
    let body = body_of(&body).map_err(failed)?;
    let r = c
        .registry
        .register(&subject, body, Flags(q).on("normalize"))
        .await
        .map_err(failed)?;
    Ok(ok(json!({"id": r.id})))
}

async fn lookup(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answered {
    let f = Flags(q);
    let body = body_of(&body).map_err(failed)?;
    let r = c
        .registry
        .lookup(&subject, &body, f.on("normalize"), f.on("deleted"))
        .map_err(failed)?;
    Ok(ok(registered(&c.registry, &r, false)))
}

async fn delete_subject(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let v = c
        .registry
        .delete_subject(&subject, Flags(q).on("permanent"))
        .await
        .map_err(failed)?;
    Ok(ok(json!(v)))
}

async fn version(
    State(c): State<Ctx>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let f = Flags(q);
    let spec = VersionSpec::parse(&version).map_err(failed)?;
    let r = c
        .registry
        .version(&subject, spec, f.on("deleted"))
        .map_err(failed)?;
    Ok(ok(registered(&c.registry, &r, serialized(&f))))
}

async fn version_schema(
    State(c): State<Ctx>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, Answer> {
    let spec = VersionSpec::parse(&version).map_err(failed)?;
    let r = c.registry.version(&subject, spec, false).map_err(failed)?;
    let mut resp = r.body.schema.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA));
    Ok(resp)
}

async fn delete_version(
    State(c): State<Ctx>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let spec = VersionSpec::parse(&version).map_err(failed)?;
    let v = c
        .registry
        .delete_version(&subject, spec, Flags(q).on("permanent"))
        .await
        .map_err(failed)?;
    Ok(ok(json!(v)))
}

fn parse_id(id: &str) -> Result<u32, Answer> {
    id.parse().map_err(|_| {
        failed(RegistryError::SchemaNotFound(format!(
            "Schema {id} not found"
        )))
    })
}

async fn schema_by_id(
    State(c): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let f = Flags(q);
    let id = parse_id(&id)?;
    let body = c.registry.schema(id).map_err(failed)?;
    if let Some(subject) = f.get("subject")
        && !c.registry.is_version_of(subject, id)
    {
        return Err(failed(RegistryError::SchemaNotFound(format!(
            "Schema {id} not found under subject {subject}"
        ))));
    }
    Ok(ok(schema_fields(&c.registry, id, &body, serialized(&f))))
}

async fn schema_versions(
    State(c): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let id = parse_id(&id)?;
    let v = c
        .registry
        .schema_versions(id, Flags(q).on("deleted"))
        .map_err(failed)?;
    let v: Vec<Value> = v
        .into_iter()
        .map(|(s, n)| json!({"subject": s, "version": n}))
        .collect();
    Ok(ok(json!(v)))
}

async fn schema_subjects(
    State(c): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    let id = parse_id(&id)?;
    let mut v: Vec<String> = c
        .registry
        .schema_versions(id, Flags(q).on("deleted"))
        .map_err(failed)?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    v.dedup();
    Ok(ok(json!(v)))
}

async fn types() -> Answer {
    ok(json!(SchemaType::ALL.map(SchemaType::as_str)))
}

/// A `PUT /config` body.
#[derive(Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

async fn get_config(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Answered {
    config_of(&c, None, &Flags(q))
}

async fn get_subject_config(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answered {
    config_of(&c, Some(&subject), &Flags(q))
}

fn config_of(c: &Ctx, subject: Option<&str>, f: &Flags) -> Answered {
    let level = c
        .registry
        .level(subject, f.on("defaultToGlobal"))
        .map_err(failed)?;
    Ok(ok(json!({"compatibilityLevel": level.as_str()})))
}

async fn put_config(State(c): State<Ctx>, body: Bytes) -> Answered {
    set_config(&c, None, &body).await
}

async fn put_subject_config(
    State(c): State<Ctx>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answered {
    set_config(&c, Some(&subject), &body).await
}

async fn set_config(c: &Ctx, subject: Option<&str>, body: &[u8]) -> Answered {
    let req: ConfigRequest = serde_json::from_slice(body).map_err(|e| {
        failed(RegistryError::BadRequest(format!(
            "the request body is not a config: {e}"
        )))
    })?;
    let text = req
        .compatibility
        .or(req.compatibility_level)
        .unwrap_or_default();
    let level = Compatibility::parse(&text)
        .ok_or_else(|| failed(RegistryError::InvalidCompatibility(text.clone())))?;
    c.registry.set_level(subject, level).await.map_err(failed)?;
    Ok(ok(json!({"compatibility": level.as_str()})))
}

async fn delete_config(State(c): State<Ctx>) -> Answered {
    let l = c.registry.delete_level(None).await.map_err(failed)?;
    Ok(ok(json!({"compatibilityLevel": l.as_str()})))
}

async fn delete_subject_config(State(c): State<Ctx>, Path(subject): Path<String>) -> Answered {
    let l = c
        .registry
        .delete_level(Some(&subject))
        .await
        .map_err(failed)?;
    Ok(ok(json!({"compatibilityLevel": l.as_str()})))
}

async fn compatibility(
    State(c): State<Ctx>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answered {
    let f = Flags(q);
    let spec = VersionSpec::parse(&version).map_err(failed)?;
    let body = body_of(&body).map_err(failed)?;
    let problems = c
        .registry
        .test_compatibility(&subject, spec, &body, f.on("normalize"))
        .map_err(failed)?;
    let mut v = json!({"is_compatible": problems.is_empty()});
    if f.on("verbose") {
        v["messages"] = json!(problems);
    }
    Ok(ok(v))
}

async fn mode() -> Answer {
    ok(json!({"mode": "READWRITE"}))
}

async fn not_found() -> Answer {
    error(404, 404, "HTTP 404 Not Found")
}

/// Checks the caller as the admin API does (HTTP Basic with a token as the password also
/// works), runs the request, and records a successful change in the audit trail.
async fn guard(State(c): State<Ctx>, req: Request, next: Next) -> Response {
    let caller = match c.auth.authorize(&req, "schema registry", true) {
        Ok(caller) => caller,
        Err(r) => {
            let mut resp = error(r.status.into(), r.status, r.message).into_response();
            if r.status == 401 {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"schema-registry\""),
                );
            }
            return resp;
        }
    };
    let change = is_change(req.method());
    let path = req.uri().path().to_owned();
    let action = format!("schema registry: {} {path}", req.method());
    let resp = next.run(req).await;
    if change && resp.status().is_success() {
        audit(
            c.state.as_ref(),
            "schema registry",
            caller,
            action,
            Some(changed_object(&path)),
            version_of(&resp),
        )
        .await;
    }
    resp
}

/// What a change to `path` is about: the subject (with its version), or the global
/// compatibility level.
fn changed_object(path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["subjects", s, "versions", v, ..] => format!("schema subject {s} version {v}"),
        ["subjects", s, ..] => format!("schema subject {s}"),
        ["config", s] => format!("compatibility level of subject {s}"),
        ["config"] => "global compatibility level".to_owned(),
        _ => format!("schema registry {path}"),
    }
}

/// A body over the limit, or a method a route does not take, answered in the registry's
/// error shape.
async fn registry_errors(resp: Response) -> Response {
    let ours = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == MEDIA.as_bytes());
    match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !ours => error(
            413,
            413,
            format!("the request body is over the limit of {BODY_LIMIT} bytes"),
        )
        .into_response(),
        StatusCode::METHOD_NOT_ALLOWED if !ours => {
            error(405, 405, "HTTP 405 Method Not Allowed").into_response()
        }
        _ => resp,
    }
}

/// Confluent's schema-registry REST API over `registry`, guarded by `auth` like the admin
/// API; changes land in `state`'s audit trail. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(registry: Arc<Registry>, state: Arc<dyn AdminState>, auth: AdminAuth) -> Router {
    let ctx = Ctx {
        registry,
        state,
        auth: Arc::new(auth),
    };
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/types", get(types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/versions", get(schema_versions))
        .route("/schemas/ids/{id}/subjects", get(schema_subjects))
        .route(
            "/config",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility),
        )
        .route("/mode", get(mode))
        .route("/mode/{subject}", get(mode))
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(registry_errors))
        .with_state(ctx)
}
