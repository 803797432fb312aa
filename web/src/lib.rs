//! KafkaTwin's HTTP side: the admin REST API (`router`) with its OpenAPI document, the web
//! dashboard (`dashboard_router`), health endpoints (`health_router`), Prometheus metrics
//! (`metrics_router`) and the schema registry's own API (`schema_registry::router`). It
//! reaches the engine only through [`AdminState`], so every router is testable in-process
//! with a fake state.

mod api;
pub mod auth;
mod dashboard;
mod error;
pub mod schema_registry;
mod state;
pub mod views;

pub use api::openapi;
pub use auth::{AdminAuth, AuditEntry};
pub use dashboard::dashboard_router;
pub use error::ApiError;
pub use state::{AdminState, ApiFuture};
pub use views::*;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

type Shared = Arc<dyn AdminState>;

/// Request bodies other than plugin uploads are limited to this before they are read.
pub(crate) const BODY_LIMIT: usize = 1 << 20;

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

/// The admin REST API under `/api/v1`, guarded by `auth` (see [`auth`]), with its OpenAPI
/// document at `/api/v1/openapi.json`. Requests need the client's address as a
/// `ConnectInfo<SocketAddr>` extension: without one, changes count as coming from elsewhere.
pub fn router(state: Shared, auth: AdminAuth) -> Router {
    let guard_state = (state.clone(), Arc::new(auth));
    let (routes, _) = api::routes();
    let doc = Arc::new(openapi());
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            guard_state,
            auth::guard,
        ))
        .fallback(error::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

#[cfg(test)]
mod tests;
