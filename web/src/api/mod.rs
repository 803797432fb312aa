//! The admin REST API under `/api/v1`: one module per kind of object. Every handler carries
//! its OpenAPI description, and the router is built from the same list that builds the
//! document, so `GET /api/v1/openapi.json` covers exactly what is routed.

mod access;
mod audit;
mod clusters;
mod groups;
mod live;
mod names;
mod plugins;
mod quotas;
mod rules;
mod schemas;
mod topics;

use crate::error::ApiError;
use crate::state::AdminState;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{RefOr, Response as DocResponse, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The handlers' shared state.
pub(crate) type Shared = Arc<dyn AdminState>;

/// The document's frame; paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "KafkaTwin admin API",
        description = "Clusters, topics, consumer groups, instances, transformation rules, \
                       WASM plugins, schemas, quotas, metrics and the audit trail of one \
                       KafkaTwin instance. With `admin_api.auth_token` or `admin_api.tokens` \
                       set, send `Authorization: Bearer <token>`; changes need the admin role. \
                       Every error answers `{\"error\": \"...\", \"field\": \"...\"}`.",
    ),
    modifiers(&CommonAnswers),
    components(schemas(crate::views::ErrorBody))
)]
struct ApiDoc;

/// Adds the answers every endpoint can give (401, 403 for changes, 404 for an unknown
/// path, 413 for bodies, 500) so that each handler lists only its own.
struct CommonAnswers;

fn error_answer(description: &str) -> RefOr<DocResponse> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let add = |op: &mut Operation, change: bool| {
            let r = &mut op.responses.responses;
            r.entry("401".into())
                .or_insert_with(|| error_answer("A token is needed and none valid was sent."));
            if change {
                r.entry("403".into()).or_insert_with(|| {
                    error_answer("The token has the read role, or no token is configured and the client is not on loopback.")
                });
                r.entry("413".into())
                    .or_insert_with(|| error_answer("The body is over the limit."));
            }
            r.entry("500".into())
                .or_insert_with(|| error_answer("The proxy failed to carry it out."));
        };
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.head].into_iter().flatten() {
                add(op, false);
            }
            for op in [
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add(op, true);
            }
        }
    }
}

/// The routes and their document, from one list.
pub(crate) fn routes() -> (axum::Router<Shared>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(audit::audit_log))
        .routes(routes!(audit::me))
        .routes(routes!(access::list_users))
        .routes(routes!(access::put_user, access::delete_user))
        .routes(routes!(access::list_acls, access::add_acl))
        .routes(routes!(access::delete_acl))
        .routes(routes!(clusters::list_clusters))
        .routes(routes!(clusters::cluster))
        .routes(routes!(clusters::cluster_health))
        .routes(routes!(clusters::reseed))
        .routes(routes!(topics::list_topics))
        .routes(routes!(topics::topic))
        .routes(routes!(groups::list_groups))
        .routes(routes!(groups::group))
        .routes(routes!(groups::instances))
        .routes(routes!(live::summary))
        .routes(routes!(live::history))
        .routes(routes!(live::events))
        .routes(routes!(rules::list_rules, rules::add_rule))
        .routes(routes!(rules::replace_rule, rules::delete_rule))
        .routes(routes!(plugins::list_plugins))
        .routes(routes!(
            plugins::get_plugin,
            plugins::put_plugin,
            plugins::delete_plugin
        ))
        .routes(routes!(quotas::list_quotas))
        .routes(routes!(
            quotas::get_quota,
            quotas::put_quota,
            quotas::delete_quota
        ))
        .routes(routes!(schemas::subjects))
        .routes(routes!(schemas::register))
        .routes(routes!(schemas::versions))
        .routes(routes!(schemas::version))
        .split_for_parts()
}

/// The admin API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes();
    doc.paths.paths.insert(
        "/api/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document."))
                .tag("meta")
                .response(
                    "200",
                    ResponseBuilder::new().description("OpenAPI 3.1 JSON."),
                )
                .build(),
        ),
    );
    doc
}

/// What changed, attached to a change's response for the audit trail ("rule orders/mask-pii",
/// "plugin redact version 3").
#[derive(Clone, Debug)]
pub(crate) struct Changed(pub String);

/// `resp` marked as having changed `object`.
pub(crate) fn changed(mut resp: Response, object: String) -> Response {
    resp.extensions_mut().insert(Changed(object));
    resp
}

/// `resp` with `ETag` set to `version`, when there is one.
pub(crate) fn with_version(version: Option<i64>, mut resp: Response) -> Response {
    if let Some(v) = version
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// The version a change was based on, from `If-Match` (`"7"` or `W/"7"`, as sent in
/// `ETag`); `None` without the header or with `*` (the last writer wins). 400 otherwise.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    tag.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            Some("If-Match".into()),
            format!("If-Match {text:?} is not a version this API sent as an ETag (\"123\")"),
        )
    })
}

/// A JSON body, with a 400 naming what is wrong when it is not JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(None, format!("the body is not JSON: {e}")))
}
