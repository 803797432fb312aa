//! The admin API's view of the schema registry (the registry's own, Confluent-compatible
//! API listens on `schema_registry.port`).

use super::{Shared, changed};
use crate::error::ApiError;
use crate::schema_registry::body_of;
use crate::state::AdminState;
use crate::views::{ErrorBody, SchemaView};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kafkatwin_schema_registry::{Registered, Registry, RegistryError, VersionSpec};
use std::sync::Arc;

fn registry(s: &dyn AdminState) -> Result<Arc<Registry>, ApiError> {
    s.schema_registry().ok_or_else(|| {
        ApiError::not_found("the schema registry is off: set schema_registry.enabled: true")
    })
}

fn api_error(e: RegistryError) -> ApiError {
    ApiError {
        status: e.status(),
        field: None,
        message: e.to_string(),
    }
}

fn view(r: &Registered) -> SchemaView {
    SchemaView {
        subject: r.subject.clone(),
        version: r.version,
        id: r.id,
        schema_type: r.body.schema_type.as_str().to_owned(),
        schema: r.body.schema.clone(),
        references: serde_json::to_value(&r.body.references).unwrap_or_default(),
    }
}

/// Every subject.
#[utoipa::path(get, path = "/api/v1/schemas/subjects", tag = "schemas",
    responses((status = 200, description = "Subjects.", body = Vec<String>),
              (status = 404, description = "The registry is off.", body = ErrorBody)))]
pub(crate) async fn subjects(State(s): State<Shared>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(registry(s.as_ref())?.subjects(false)))
}

/// A subject's versions.
#[utoipa::path(get, path = "/api/v1/schemas/subjects/{subject}/versions", tag = "schemas",
    params(("subject" = String, Path, description = "Subject")),
    responses((status = 200, description = "Versions, ascending.", body = Vec<u32>),
              (status = 404, description = "No such subject.", body = ErrorBody)))]
pub(crate) async fn versions(
    State(s): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Json<Vec<u32>>, ApiError> {
    registry(s.as_ref())?
        .versions(&subject, false)
        .map(Json)
        .map_err(api_error)
}

/// One version of a subject (`latest` for the newest).
#[utoipa::path(get, path = "/api/v1/schemas/subjects/{subject}/versions/{version}", tag = "schemas",
    params(("subject" = String, Path, description = "Subject"),
           ("version" = String, Path, description = "Version number, or `latest`")),
    responses((status = 200, description = "The schema.", body = SchemaView),
              (status = 404, description = "No such subject or version.", body = ErrorBody),
              (status = 422, description = "Not a version number.", body = ErrorBody)))]
pub(crate) async fn version(
    State(s): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Json<SchemaView>, ApiError> {
    let reg = registry(s.as_ref())?;
    let spec = VersionSpec::parse(&version).map_err(api_error)?;
    let r = reg.version(&subject, spec, false).map_err(api_error)?;
    Ok(Json(view(&r)))
}

/// Registers a schema under a subject (checked against the subject's compatibility level).
#[utoipa::path(post, path = "/api/v1/schemas/subjects/{subject}", tag = "schemas",
    params(("subject" = String, Path, description = "Subject")),
    request_body(content = Object, description = "`{\"schema\": \"...\", \"schemaType\": \"AVRO\" | \"JSON\" | \"PROTOBUF\", \"references\": [...]}`", content_type = "application/json"),
    responses((status = 200, description = "Registered (or already there); `ETag` is its version.", body = SchemaView),
              (status = 404, description = "The registry is off.", body = ErrorBody),
              (status = 409, description = "Incompatible with earlier versions; says where.", body = ErrorBody),
              (status = 422, description = "Not a valid schema; says where.", body = ErrorBody)))]
pub(crate) async fn register(
    State(s): State<Shared>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reg = registry(s.as_ref())?;
    let body = body_of(&body).map_err(api_error)?;
    let r = reg
        .register(&subject, body, false)
        .await
        .map_err(api_error)?;
    let object = format!("schema {} version {} (id {})", r.subject, r.version, r.id);
    let mut resp = Json(view(&r)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", r.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(changed(resp, object))
}
