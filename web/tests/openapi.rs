//! The OpenAPI document against the router, in process over a fake engine (`Fake`): every
//! documented operation is routed and answers only statuses it documents, in the one JSON
//! error shape; the router's own errors (unknown route, wrong method, body too large, a query
//! that does not parse) come in that shape too; and no route bypasses the document.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kafkatwin_web::auth::{AdminAuth, AuditEntry};
use kafkatwin_web::*;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

/// A fake engine answering every question with one plausible object.
struct Fake;

fn rule() -> RuleView {
    RuleView {
        rule: json!({"id": "r1", "actions": [{"type": "wasm", "plugin": "p"}]}),
        origin: "api".into(),
    }
}

impl AdminState for Fake {
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
    fn clusters(&self) -> Vec<ClusterView> {
        vec![ClusterView {
            id: "c1".into(),
            status: "healthy".into(),
            ..Default::default()
        }]
    }
    fn metrics_text(&self) -> String {
        String::new()
    }
    fn topics(&self) -> ApiFuture<'_, Vec<TopicSummaryView>> {
        Box::pin(async { Ok(vec![TopicSummaryView::default()]) })
    }
    fn topic<'a>(&'a self, name: &'a str) -> ApiFuture<'a, TopicView> {
        Box::pin(async move {
            Ok(TopicView {
                name: name.into(),
                ..Default::default()
            })
        })
    }
    fn metrics_history(&self) -> Vec<MetricsSample> {
        vec![MetricsSample::default()]
    }
    fn group(&self, name: &str) -> Option<GroupView> {
        Some(GroupView {
            group: name.into(),
            ..Default::default()
        })
    }
    fn list_rules(&self, _: &str) -> Result<Vec<RuleView>, ApiError> {
        Ok(vec![rule()])
    }
    fn add_rule<'a>(&'a self, _: &'a str, _: Value, _: Option<i64>) -> ApiFuture<'a, RuleView> {
        Box::pin(async { Ok(rule()) })
    }
    fn replace_rule<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Value,
        _: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async { Ok(rule()) })
    }
    fn delete_rule<'a>(&'a self, _: &'a str, _: &'a str, _: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn max_plugin_upload(&self) -> usize {
        1024
    }
    fn put_plugin<'a>(
        &'a self,
        name: &'a str,
        _: axum::body::Bytes,
        _: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move {
            Ok(PluginView {
                name: name.into(),
                version: 1,
                ..Default::default()
            })
        })
    }
    fn get_plugin(&self, name: &str) -> Option<PluginView> {
        Some(PluginView {
            name: name.into(),
            ..Default::default()
        })
    }
    fn delete_plugin<'a>(
        &'a self,
        name: &'a str,
        _: bool,
        _: Option<i64>,
    ) -> ApiFuture<'a, PluginView> {
        Box::pin(async move {
            Ok(PluginView {
                name: name.into(),
                ..Default::default()
            })
        })
    }
    fn reseed<'a>(&'a self, id: &'a str, topic: &'a str) -> ApiFuture<'a, ReseedView> {
        Box::pin(async move {
            Ok(ReseedView {
                cluster: id.into(),
                topic: topic.into(),
                partitions: 1,
            })
        })
    }
    fn get_quota(&self, client_id: &str) -> Option<QuotaView> {
        Some(QuotaView {
            entity: format!("client-id={client_id}"),
            ..Default::default()
        })
    }
    fn put_quota<'a>(
        &'a self,
        client_id: &'a str,
        _: axum::body::Bytes,
        _: Option<i64>,
    ) -> ApiFuture<'a, (QuotaView, bool)> {
        Box::pin(async move {
            Ok((
                QuotaView {
                    entity: format!("client-id={client_id}"),
                    ..Default::default()
                },
                true,
            ))
        })
    }
    fn delete_quota<'a>(&'a self, _: &'a str, _: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn put_user<'a>(&'a self, _: &'a str, _: axum::body::Bytes) -> ApiFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }
    fn delete_user<'a>(&'a self, _: &'a str) -> ApiFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn add_acl<'a>(&'a self, _: axum::body::Bytes) -> ApiFuture<'a, AclView> {
        Box::pin(async {
            Ok(AclView {
                id: Some("a1".into()),
                ..Default::default()
            })
        })
    }
    fn delete_acl<'a>(&'a self, id: &'a str) -> ApiFuture<'a, AclView> {
        Box::pin(async move {
            Ok(AclView {
                id: Some(id.into()),
                ..Default::default()
            })
        })
    }
    fn record_audit<'a>(
        &'a self,
        _: AuditEntry,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

fn doc() -> Value {
    serde_json::to_value(openapi()).expect("the document serializes")
}

/// A loopback request (changes allowed with no token configured).
async fn send(method: &str, uri: &str, ctype: &str, body: Vec<u8>) -> (StatusCode, Value, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ctype)
        .body(Body::from(body))
        .expect("request");
    let addr: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("address");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    let resp = router(Arc::new(Fake), AdminAuth::default())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ctype.starts_with("text/event-stream") {
        return (status, Value::Null, ctype);
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, ctype)
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_what_it_documents() {
    let doc = doc();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        let uri = path
            .replace("{id}", "c1")
            .replace("{topic}", "t")
            .replace("{group}", "g")
            .replace("{name}", "p")
            .replace("{client_id}", "app")
            .replace("{subject}", "s-value")
            .replace("{version}", "latest");
        assert!(!uri.contains('{'), "a parameter of {path} is not filled in");
        for (method, op) in item.as_object().expect("item") {
            if !["get", "post", "put", "delete"].contains(&method.as_str()) {
                continue;
            }
            let (ctype, body) = match (method.as_str(), path.as_str()) {
                ("put", "/api/v1/plugins/{name}") => ("application/wasm", b"\0asm".to_vec()),
                ("post", p) if p.ends_with("/reseed") => {
                    ("application/json", br#"{"confirm":"t"}"#.to_vec())
                }
                _ => ("application/json", br#"{"id":"r1"}"#.to_vec()),
            };
            let (status, json, got_type) = send(&method.to_uppercase(), &uri, ctype, body).await;
            let what = format!("{} {uri}: {status} {json}", method.to_uppercase());
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
            let routed = !json["error"]
                .as_str()
                .is_some_and(|e| e.contains("no admin API endpoint"));
            assert!(routed, "documented but not routed: {what}");
            let documented = op["responses"]
                .as_object()
                .expect("responses")
                .contains_key(status.as_str());
            assert!(documented, "answered an undocumented status: {what}");
            if status.is_client_error() || status.is_server_error() {
                assert!(json["error"].is_string(), "not the error shape: {what}");
            } else if path != "/api/v1/events" && status != StatusCode::NO_CONTENT {
                assert!(!json.is_null(), "not JSON ({got_type}): {what}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 28, "only {checked} operations checked");
}

#[tokio::test]
async fn every_error_of_the_router_itself_is_json() {
    let cases: &[(&str, &str, usize, StatusCode)] = &[
        ("GET", "/api/v1/nope", 0, StatusCode::NOT_FOUND),
        (
            "DELETE",
            "/api/v1/clusters",
            0,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "POST",
            "/api/v1/transformations/t",
            2 << 20,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "GET",
            "/api/v1/audit?limit=many",
            0,
            StatusCode::BAD_REQUEST,
        ),
        (
            "DELETE",
            "/api/v1/plugins/p?force=perhaps",
            0,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for &(method, uri, size, want) in cases {
        let (status, json, ctype) = send(method, uri, "application/json", vec![b' '; size]).await;
        assert_eq!(status, want, "{method} {uri}: {json}");
        assert!(
            ctype.starts_with("application/json"),
            "{method} {uri}: {ctype}"
        );
        let msg = json["error"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "{method} {uri}: {json}");
    }
    // The plugin upload has its own, larger limit, and says so.
    let (status, json, _) = send(
        "PUT",
        "/api/v1/plugins/p",
        "application/wasm",
        vec![0; 2048],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("plugins.max_upload"),
        "{json}"
    );
}

#[tokio::test]
async fn the_document_is_served_and_names_the_error_shape() {
    let (status, json, _) = send("GET", "/api/v1/openapi.json", "application/json", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{json}"
    );
    assert_eq!(json, doc());
    let error = &json["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
}

/// Routes are added only through the document's list: a plain `.route(` in the API's
/// modules would serve an endpoint the document does not show.
#[test]
fn no_route_bypasses_the_document() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    for entry in std::fs::read_dir(&dir).expect("src/api") {
        let path = entry.expect("entry").path();
        let code = std::fs::read_to_string(&path).expect("source");
        assert!(
            !code.contains(".route("),
            "{} adds a route by hand",
            path.display()
        );
    }
    let lib = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"),
    )
    .expect("lib.rs");
    let router = lib.split("pub fn router(").nth(1).expect("router()");
    let router = router.split("\n}\n").next().unwrap_or_default();
    assert_eq!(
        router.matches(".route(").count(),
        1,
        "the admin router adds routes besides the document's own"
    );
}
