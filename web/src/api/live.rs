//! Rates over time and the live event stream the dashboard draws from.

use super::Shared;
use crate::error::ApiError;
use crate::views::{ClusterView, ErrorBody, MetricsSample};
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use std::time::Duration;

/// How often the event stream sends.
const EVENT_EVERY: Duration = Duration::from_secs(2);

/// The newest sample of the proxy's rates.
#[utoipa::path(get, path = "/api/v1/metrics/summary", tag = "metrics",
    responses((status = 200, description = "Rates over the last sampling interval (2 s).", body = MetricsSample),
              (status = 503, description = "No interval sampled yet (just started).", body = ErrorBody)))]
pub(crate) async fn summary(State(s): State<Shared>) -> Result<Json<MetricsSample>, ApiError> {
    s.latest_sample().map(Json).ok_or_else(|| ApiError {
        status: 503,
        field: None,
        message: "no rates sampled yet: the first sample comes 2 s after start".into(),
    })
}

/// The rates over the last 15 minutes, kept in memory by this instance.
#[utoipa::path(get, path = "/api/v1/metrics/history", tag = "metrics",
    responses((status = 200, description = "Samples, oldest first, one per 2 s.", body = Vec<MetricsSample>)))]
pub(crate) async fn history(State(s): State<Shared>) -> Json<Vec<MetricsSample>> {
    Json(s.metrics_history())
}

/// One round of events: the newest rates, then every cluster's state.
fn events_now(s: &Shared) -> Vec<Event> {
    let mut out = Vec::with_capacity(2);
    if let Some(sample) = s.latest_sample()
        && let Ok(e) = Event::default().event("summary").json_data(sample)
    {
        out.push(e);
    }
    let clusters: Vec<ClusterView> = s.clusters();
    if let Ok(e) = Event::default().event("clusters").json_data(clusters) {
        out.push(e);
    }
    out
}

/// Server-sent events every 2 s, the first at once: `summary` (a [`MetricsSample`]) and
/// `clusters` (every cluster, as `GET /api/v1/clusters`). A browser's `EventSource` cannot
/// send headers: with tokens configured, pass the token as `?token=`.
#[utoipa::path(get, path = "/api/v1/events", tag = "metrics",
    params(("token" = Option<String>, Query, description = "The admin API token, for clients that cannot send headers")),
    responses((status = 200, description = "`text/event-stream` of `summary` and `clusters` events.", content_type = "text/event-stream", body = String)))]
pub(crate) async fn events(
    State(s): State<Shared>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let ticks = futures::stream::unfold(
        (s, tokio::time::interval(EVENT_EVERY)),
        |(s, mut tick)| async move {
            tick.tick().await;
            let batch = events_now(&s);
            Some((futures::stream::iter(batch.into_iter().map(Ok)), (s, tick)))
        },
    );
    Sse::new(futures::StreamExt::flatten(ticks)).keep_alive(KeepAlive::default())
}
