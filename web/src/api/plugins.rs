//! WASM plugins: upload, list, delete.

use super::{Shared, changed, if_match, names};
use crate::error::{ApiError, not_found};
use crate::views::{ErrorBody, PluginView};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every loaded plugin.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, description = "Plugins.", body = Vec<PluginView>)))]
pub(crate) async fn list_plugins(State(s): State<Shared>) -> Json<Vec<PluginView>> {
    Json(s.list_plugins())
}

/// One plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, description = "The plugin.", body = PluginView),
              (status = 404, description = "No such plugin.", body = ErrorBody)))]
pub(crate) async fn get_plugin(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.get_plugin(&name) {
        Some(p) => Json(p).into_response(),
        None => not_found(&format!("plugin {name}")),
    }
}

/// Uploads a plugin (a WASM component), or a new version of one.
#[utoipa::path(put, path = "/api/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"),
           ("If-Match" = Option<String>, Header, description = "The version the upload replaces")),
    request_body(content = Vec<u8>, description = "The module.", content_type = "application/wasm"),
    responses((status = 201, description = "Loaded; `ETag` is its version.", body = PluginView),
              (status = 400, description = "Not a plugin component, or not a plugin name; says why.", body = ErrorBody),
              (status = 412, description = "Changed since the `If-Match` version.", body = ErrorBody),
              (status = 415, description = "Not sent as application/wasm.", body = ErrorBody)))]
pub(crate) async fn put_plugin(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
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
    if let Err(e) = names::plugin(&name) {
        return e.into_response();
    }
    let limit = s.max_plugin_upload();
    let Ok(module) = axum::body::to_bytes(body, limit).await else {
        return ApiError {
            status: 413,
            field: None,
            message: format!(
                "plugin {name}: the module is over the limit of {limit} bytes (plugins.max_upload)"
            ),
        }
        .into_response();
    };
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.put_plugin(&name, module, expected).await {
        Ok(view) => {
            let etag = format!("\"{}\"", view.version);
            let object = format!("plugin {} version {}", view.name, view.version);
            changed(
                (StatusCode::CREATED, [(header::ETAG, etag)], Json(view)).into_response(),
                object,
            )
        }
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct DeleteQuery {
    /// Delete even while a rule binds it (those rules then reject their records).
    #[serde(default)]
    force: bool,
}

/// Unloads a plugin.
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), DeleteQuery,
           ("If-Match" = Option<String>, Header, description = "The version being deleted")),
    responses((status = 200, description = "Deleted; the plugin as it was.", body = PluginView),
              (status = 404, description = "No such plugin.", body = ErrorBody),
              (status = 409, description = "A rule binds it.", body = ErrorBody),
              (status = 412, description = "Changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn delete_plugin(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
    headers: HeaderMap,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.delete_plugin(&name, q.force, expected).await {
        Ok(view) => {
            let object = format!("plugin {} version {}", view.name, view.version);
            changed(Json(view).into_response(), object)
        }
        Err(e) => e.into_response(),
    }
}
