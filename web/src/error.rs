//! The admin API's one error shape, `{"error": "...", "field": "..."}`, for handlers' errors
//! and for the router's own answers (unknown route, wrong method, body too large, a path or
//! query that does not parse), which axum would otherwise give in plain text.

use crate::views::ErrorBody;
use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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
        let body = ErrorBody {
            error: self.message,
            field: self.field,
        };
        (status, Json(body)).into_response()
    }
}

/// `404` naming what was not found.
pub(crate) fn not_found(what: &str) -> Response {
    ApiError::not_found(format!("{what} not found")).into_response()
}

/// Answers a request no route matches.
pub(crate) async fn no_route(req: Request) -> Response {
    ApiError::not_found(format!(
        "no admin API endpoint {} {} (GET /api/v1/openapi.json lists them)",
        req.method(),
        req.uri().path()
    ))
    .into_response()
}

/// Rewrites the router's plain-text errors in the API's JSON shape, keeping their message.
pub(crate) async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is over the limit of {} bytes (plugin uploads: plugins.max_upload)",
            crate::BODY_LIMIT
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            "this endpoint does not take that method (GET /api/v1/openapi.json lists them)".into()
        }
        _ => {
            let text = axum::body::to_bytes(resp.into_body(), 64 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        }
    };
    ApiError {
        status: status.as_u16(),
        field: None,
        message,
    }
    .into_response()
}
