//! Client quotas.

use super::{Shared, changed, if_match, names, with_version};
use crate::error::not_found;
use crate::views::{ErrorBody, QuotaView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every quota entry, with where it comes from.
#[utoipa::path(get, path = "/api/v1/quotas", tag = "quotas",
    responses((status = 200, description = "Quota entries.", body = Vec<QuotaView>)))]
pub(crate) async fn list_quotas(State(s): State<Shared>) -> Json<Vec<QuotaView>> {
    Json(s.list_quotas())
}

/// The quota that applies to a client id, and the rates it is measured at now.
#[utoipa::path(get, path = "/api/v1/quotas/{client_id}", tag = "quotas",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The quota; `ETag` is its version.", body = QuotaView),
              (status = 404, description = "No quota applies.", body = ErrorBody)))]
pub(crate) async fn get_quota(State(s): State<Shared>, Path(client_id): Path<String>) -> Response {
    match s.get_quota(&client_id) {
        Some(q) => with_version(q.version, Json(q).into_response()),
        None => not_found(&format!("a quota for client id {client_id}")),
    }
}

/// Sets a client id's quota.
#[utoipa::path(put, path = "/api/v1/quotas/{client_id}", tag = "quotas",
    params(("client_id" = String, Path, description = "Client id"),
           ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    request_body(content = Object, description = "`{\"produce_byte_rate\": 10485760, \"fetch_byte_rate\": 52428800, \"request_rate\": 1000}`", content_type = "application/json"),
    responses((status = 200, description = "Replaced.", body = QuotaView),
              (status = 201, description = "Created.", body = QuotaView),
              (status = 400, description = "Not a valid quota; `field` names the part at fault.", body = ErrorBody),
              (status = 412, description = "Changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn put_quota(
    State(s): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let expected = match (names::bounded("client_id", &client_id), if_match(&headers)) {
        (Ok(()), Ok(v)) => v,
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    match s.put_quota(&client_id, body, expected).await {
        Ok((view, created)) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let object = format!("quota {}", view.entity);
            changed(
                with_version(view.version, (status, Json(view)).into_response()),
                object,
            )
        }
        Err(e) => e.into_response(),
    }
}

/// Removes a client id's quota set through the API.
#[utoipa::path(delete, path = "/api/v1/quotas/{client_id}", tag = "quotas",
    params(("client_id" = String, Path, description = "Client id"),
           ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 204, description = "Removed."),
              (status = 404, description = "The API set none.", body = ErrorBody),
              (status = 412, description = "Changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn delete_quota(
    State(s): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.delete_quota(&client_id, expected).await {
        Ok(()) => changed(
            StatusCode::NO_CONTENT.into_response(),
            format!("quota client-id={client_id}"),
        ),
        Err(e) => e.into_response(),
    }
}
