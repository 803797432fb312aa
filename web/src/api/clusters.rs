//! Backend clusters: health, replication state, and the reseed of a divergent topic.

use super::{Shared, changed};
use crate::error::{ApiError, not_found};
use crate::views::{ClusterView, ErrorBody, ReseedView};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// Every configured backend cluster.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters",
    responses((status = 200, description = "Every cluster, in configured order.", body = Vec<ClusterView>)))]
pub(crate) async fn list_clusters(State(s): State<Shared>) -> Json<Vec<ClusterView>> {
    Json(s.clusters())
}

/// One cluster.
#[utoipa::path(get, path = "/api/v1/clusters/{id}", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 200, description = "The cluster.", body = ClusterView),
              (status = 404, description = "No such cluster.", body = ErrorBody)))]
pub(crate) async fn cluster(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.clusters().into_iter().find(|c| c.id == id) {
        Some(c) => Json(c).into_response(),
        None => not_found(&format!("cluster {id:?}")),
    }
}

/// The health of one cluster.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct HealthView {
    /// Cluster id.
    id: String,
    /// `healthy`, `degraded` or `down`.
    status: String,
    /// The last probe's round trip, ms.
    latency_ms: Option<f64>,
    /// The last error, while failures are recent.
    last_error: Option<String>,
}

/// One cluster's health.
#[utoipa::path(get, path = "/api/v1/clusters/{id}/health", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 200, description = "Its health.", body = HealthView),
              (status = 404, description = "No such cluster.", body = ErrorBody)))]
pub(crate) async fn cluster_health(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.clusters().into_iter().find(|c| c.id == id) {
        Some(c) => Json(HealthView {
            id: c.id,
            status: c.status,
            latency_ms: c.latency_ms,
            last_error: c.last_error,
        })
        .into_response(),
        None => not_found(&format!("cluster {id:?}")),
    }
}

/// Deletes the topic on the cluster, recreates it and copies it back from the other
/// clusters: the way out of a divergent history. The body must be `{"confirm": "<topic>"}`,
/// since the topic's data on that cluster is deleted.
#[utoipa::path(post, path = "/api/v1/clusters/{id}/topics/{topic}/reseed", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id"), ("topic" = String, Path, description = "Topic")),
    request_body(content = Object, description = "`{\"confirm\": \"<topic>\"}`", content_type = "application/json"),
    responses((status = 200, description = "Reseeding.", body = ReseedView),
              (status = 400, description = "The confirmation does not name the topic.", body = ErrorBody),
              (status = 404, description = "No such cluster.", body = ErrorBody),
              (status = 409, description = "Nothing to copy it from.", body = ErrorBody)))]
pub(crate) async fn reseed(
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
        Ok(v) => changed(
            Json(v).into_response(),
            format!("topic {topic} on cluster {id} (reseed)"),
        ),
        Err(e) => e.into_response(),
    }
}
