//! Topics across the clusters.

use super::Shared;
use crate::error::ApiError;
use crate::views::{ErrorBody, TopicSummaryView, TopicView};
use axum::Json;
use axum::extract::{Path, State};

/// Every topic on any cluster, with its state on each.
#[utoipa::path(get, path = "/api/v1/topics", tag = "topics",
    responses((status = 200, description = "Topics by name.", body = Vec<TopicSummaryView>)))]
pub(crate) async fn list_topics(
    State(s): State<Shared>,
) -> Result<Json<Vec<TopicSummaryView>>, ApiError> {
    s.topics().await.map(Json)
}

/// One topic: each partition on each cluster in logical offsets, and what applies to it.
#[utoipa::path(get, path = "/api/v1/topics/{topic}", tag = "topics",
    params(("topic" = String, Path, description = "Topic")),
    responses((status = 200, description = "The topic.", body = TopicView),
              (status = 404, description = "No cluster has it.", body = ErrorBody)))]
pub(crate) async fn topic(
    State(s): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<TopicView>, ApiError> {
    s.topic(&name).await.map(Json)
}
