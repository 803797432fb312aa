//! Transformation rules per topic. Every change carries the topic's rules version as its
//! `ETag`; with `If-Match` a change applies only if no other landed since.

use super::{Shared, changed, if_match, json_body, names};
use crate::error::ApiError;
use crate::views::{ErrorBody, RuleView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `resp` with the topic's rules version as its `ETag`, when there is one.
fn with_rules_version(s: &Shared, topic: &str, mut resp: Response) -> Response {
    if let Some(v) = s.rules_version(topic)
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// The rule in a change's body, once its topic and id are names the API takes.
fn checked(topic: &str, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    names::topic(topic)?;
    let rule = json_body(body)?;
    if let Some(id) = rule.get("id").and_then(|i| i.as_str()) {
        names::bounded("id", id)?;
    }
    Ok(rule)
}

/// How the audit trail names a rule: topic, id, and the plugins it binds.
fn rule_object(topic: &str, view: &RuleView) -> String {
    let id = view.rule.get("id").and_then(|v| v.as_str()).unwrap_or("?");
    let plugins: Vec<&str> = view
        .rule
        .get("actions")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("plugin").and_then(|p| p.as_str()))
        .collect();
    if plugins.is_empty() {
        format!("rule {topic}/{id}")
    } else {
        format!("rule {topic}/{id} (binds plugin {})", plugins.join(", "))
    }
}

/// The rules that apply to a topic, config ones first.
#[utoipa::path(get, path = "/api/v1/transformations/{topic}", tag = "transformations",
    params(("topic" = String, Path, description = "Topic")),
    responses((status = 200, description = "Its rules; `ETag` is the rules version.", body = Vec<RuleView>),
              (status = 404, description = "No rules for the topic.", body = ErrorBody)))]
pub(crate) async fn list_rules(State(s): State<Shared>, Path(topic): Path<String>) -> Response {
    match s.list_rules(&topic) {
        Ok(rules) => with_rules_version(&s, &topic, Json(rules).into_response()),
        Err(e) => e.into_response(),
    }
}

/// Adds a rule to a topic.
#[utoipa::path(post, path = "/api/v1/transformations/{topic}", tag = "transformations",
    params(("topic" = String, Path, description = "Topic"),
           ("If-Match" = Option<String>, Header, description = "The rules version the change is based on")),
    request_body(content = Object, description = "The rule (id, name, enabled, priority, conditions, actions).", content_type = "application/json"),
    responses((status = 201, description = "Added.", body = RuleView),
              (status = 400, description = "Not a valid rule, or the topic is not a Kafka topic name; `field` names the part at fault.", body = ErrorBody),
              (status = 409, description = "A rule with that id exists.", body = ErrorBody),
              (status = 412, description = "The rules changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn add_rule(
    State(s): State<Shared>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = match (checked(&topic, &body), if_match(&headers)) {
        (Ok(v), Ok(expected)) => s.add_rule(&topic, v, expected).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(view) => {
            let object = rule_object(&topic, &view);
            let resp = (StatusCode::CREATED, Json(view)).into_response();
            changed(with_rules_version(&s, &topic, resp), object)
        }
        Err(e) => e.into_response(),
    }
}

/// Replaces a rule.
#[utoipa::path(put, path = "/api/v1/transformations/{topic}/{id}", tag = "transformations",
    params(("topic" = String, Path, description = "Topic"), ("id" = String, Path, description = "Rule id"),
           ("If-Match" = Option<String>, Header, description = "The rules version the change is based on")),
    request_body(content = Object, description = "The rule.", content_type = "application/json"),
    responses((status = 200, description = "Replaced.", body = RuleView),
              (status = 400, description = "Not a valid rule.", body = ErrorBody),
              (status = 404, description = "No such rule.", body = ErrorBody),
              (status = 412, description = "The rules changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn replace_rule(
    State(s): State<Shared>,
    Path((topic, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = match (checked(&topic, &body), if_match(&headers)) {
        (Ok(v), Ok(expected)) => s.replace_rule(&topic, &id, v, expected).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(view) => {
            let object = rule_object(&topic, &view);
            changed(
                with_rules_version(&s, &topic, Json(view).into_response()),
                object,
            )
        }
        Err(e) => e.into_response(),
    }
}

/// Deletes a rule set through the API.
#[utoipa::path(delete, path = "/api/v1/transformations/{topic}/{id}", tag = "transformations",
    params(("topic" = String, Path, description = "Topic"), ("id" = String, Path, description = "Rule id"),
           ("If-Match" = Option<String>, Header, description = "The rules version the change is based on")),
    responses((status = 204, description = "Deleted."),
              (status = 404, description = "No such rule.", body = ErrorBody),
              (status = 409, description = "A rule from the config file.", body = ErrorBody),
              (status = 412, description = "The rules changed since the `If-Match` version.", body = ErrorBody)))]
pub(crate) async fn delete_rule(
    State(s): State<Shared>,
    Path((topic, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = match if_match(&headers) {
        Ok(expected) => s.delete_rule(&topic, &id, expected).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => changed(
            with_rules_version(&s, &topic, StatusCode::NO_CONTENT.into_response()),
            format!("rule {topic}/{id}"),
        ),
        Err(e) => ApiError::into_response(e),
    }
}
