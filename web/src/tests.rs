//! In-process router tests against a fake engine.
use super::*;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

/// A fake engine for in-process router tests.
#[derive(Default)]
struct FakeState {
    ready: bool,
    audit: std::sync::Mutex<Vec<AuditEntry>>,
}

fn fake(ready: bool) -> FakeState {
    FakeState {
        ready,
        ..Default::default()
    }
}

impl AdminState for FakeState {
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.ready {
            Ok(())
        } else {
            Err("cluster c1 down".into())
        }
    }
    fn clusters(&self) -> Vec<ClusterView> {
        vec![ClusterView {
            id: "c1".into(),
            bootstrap_servers: vec!["h:1".into()],
            priority: 1,
            weight: 100,
            reachable: self.ready,
            status: if self.ready { "healthy" } else { "down" }.into(),
            latency_ms: Some(1.5),
            last_error: None,
            connections: 1,
            ..Default::default()
        }]
    }
    fn metrics_text(&self) -> String {
        "kafkatwin_x 1\n".into()
    }
    fn list_rules(&self, topic: &str) -> Result<Vec<RuleView>, ApiError> {
        Err(ApiError::not_found(format!("no rules for topic {topic:?}")))
    }
    fn add_rule<'a>(
        &'a self,
        _: &'a str,
        rule: serde_json::Value,
        _: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async move {
            match rule.get("id") {
                Some(_) => Ok(RuleView {
                    rule,
                    origin: "api".into(),
                }),
                None => Err(ApiError::bad_request(Some("id".into()), "missing id")),
            }
        })
    }
    fn replace_rule<'a>(
        &'a self,
        _: &'a str,
        id: &'a str,
        _: serde_json::Value,
        _: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async move { Err(ApiError::not_found(format!("no rule {id:?}"))) })
    }
    fn delete_rule<'a>(&'a self, _: &'a str, id: &'a str, _: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async move { Err(ApiError::not_found(format!("no rule {id:?}"))) })
    }
    fn record_audit<'a>(
        &'a self,
        entry: AuditEntry,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Ok(mut a) = self.audit.lock() {
                a.push(entry);
            }
        })
    }
    fn audit_log(&self, limit: usize) -> Vec<AuditEntry> {
        let a = self.audit.lock().map(|a| a.clone()).unwrap_or_default();
        a.into_iter().rev().take(limit).rev().collect()
    }
}

fn open_router(st: Shared) -> Router {
    router(st, AdminAuth::default())
}

async fn get_status(r: Router, uri: &str) -> (StatusCode, String) {
    let resp = r
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A request from a loopback client with no token.
async fn send(r: Router, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
    send_as(r, method, uri, body, LOOPBACK, None).await
}

const LOOPBACK: &str = "127.0.0.1:50000";
const REMOTE: &str = "10.1.2.3:50000";

async fn send_as(
    r: Router,
    method: &str,
    uri: &str,
    body: &str,
    peer: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::from(body.to_owned())).expect("request");
    let addr: std::net::SocketAddr = peer.parse().expect("address");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    let resp = r.oneshot(req).await.expect("infallible");
    let status = resp.status();
    // An event stream never ends: its status is the answer.
    let stream = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if stream {
        return (status, String::new());
    }
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn transformation_routes_map_errors_to_statuses() {
    let st: Shared = Arc::new(fake(true));
    let (s, body) = send(
        open_router(st.clone()),
        "POST",
        "/api/v1/transformations/t",
        "{not json",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("not JSON"), "{body}");
    let (s, body) = send(
        open_router(st.clone()),
        "POST",
        "/api/v1/transformations/t",
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"field\":\"id\""), "{body}");
    let (s, _) = send(
        open_router(st.clone()),
        "POST",
        "/api/v1/transformations/t",
        r#"{"id":"a"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = send(
        open_router(st.clone()),
        "GET",
        "/api/v1/transformations/none",
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        open_router(st.clone()),
        "DELETE",
        "/api/v1/transformations/t/x",
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(open_router(st), "PUT", "/api/v1/transformations/t/x", "{}").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readiness_follows_state() {
    let (s, _) = get_status(health_router(Arc::new(fake(true))), "/health/ready").await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = get_status(health_router(Arc::new(fake(false))), "/health/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("cluster c1 down"), "{body}");
}

#[tokio::test]
async fn clusters_and_unknown_ids() {
    let st: Shared = Arc::new(fake(true));
    let (s, body) = get_status(open_router(st.clone()), "/api/v1/clusters/c1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("\"bootstrap_servers\":[\"h:1\"]"), "{body}");
    let (s, _) = get_status(open_router(st.clone()), "/api/v1/clusters/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = get_status(dashboard_router(), "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("/api/v1/clusters"), "{body}");
    let (s, _) = get_status(open_router(st.clone()), "/").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = get_status(metrics_router(st), "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "kafkatwin_x 1\n");
}

/// Every admin endpoint (from the OpenAPI document), with whether it changes anything.
fn endpoints() -> Vec<(String, String, bool)> {
    let doc = serde_json::to_value(openapi()).expect("document");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let uri = path
            .replace("{id}", "c1")
            .replace("{topic}", "t")
            .replace("{name}", "p")
            .replace("{group}", "g")
            .replace("{client_id}", "app")
            .replace("{subject}", "s")
            .replace("{version}", "1");
        for method in item.as_object().expect("item").keys() {
            let m = method.to_uppercase();
            if ["GET", "POST", "PUT", "DELETE"].contains(&m.as_str()) {
                out.push((m.clone(), uri.clone(), m != "GET"));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_endpoint_under_each_kind_of_caller() {
    let secured = AdminAuth::with_tokens(&[
        ("ops", "admin-secret-1", kafkatwin_config::AdminRole::Admin),
        ("viewer", "read-secret-2", kafkatwin_config::AdminRole::Read),
    ]);
    // (case, auth, peer, token, allowed(changes) -> expected refusal status, if any)
    let cases: &[(&str, &AdminAuth, &str, Option<&str>)] = &[
        (
            "no token configured, loopback",
            &AdminAuth::default(),
            LOOPBACK,
            None,
        ),
        (
            "no token configured, remote",
            &AdminAuth::default(),
            REMOTE,
            None,
        ),
        ("admin token", &secured, REMOTE, Some("admin-secret-1")),
        ("read token", &secured, REMOTE, Some("read-secret-2")),
        ("wrong token", &secured, LOOPBACK, Some("admin-secret-")),
        ("no token sent", &secured, LOOPBACK, None),
    ];
    for &(case, auth, peer, token) in cases {
        for (method, uri, change) in endpoints() {
            let (method, uri) = (method.as_str(), uri.as_str());
            let st: Shared = Arc::new(fake(true));
            let r = router(st, auth.clone());
            let (s, body) = send_as(r, method, uri, r#"{"id":"a"}"#, peer, token).await;
            let expected = match case {
                "no token configured, remote" if change => Some(StatusCode::FORBIDDEN),
                "read token" if change => Some(StatusCode::FORBIDDEN),
                "wrong token" | "no token sent" => Some(StatusCode::UNAUTHORIZED),
                _ => None,
            };
            match expected {
                Some(want) => assert_eq!(s, want, "{case}: {method} {uri}: {body}"),
                None => assert!(
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                    "{case}: {method} {uri} refused: {s} {body}"
                ),
            }
            for secret in ["admin-secret-1", "read-secret-2"] {
                assert!(
                    !body.contains(secret),
                    "{case}: {method} {uri} shows a token"
                );
            }
            if s == StatusCode::FORBIDDEN && case.starts_with("no token configured") {
                assert!(body.contains("admin_api.auth_token"), "{body}");
            }
        }
    }
    // Health and metrics stay open whatever the admin API needs.
    let st: Shared = Arc::new(fake(true));
    assert_eq!(
        get_status(health_router(st.clone()), "/health/live")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_status(metrics_router(st), "/metrics").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_change_is_audited_with_the_token_name_and_client() {
    let fake_state = Arc::new(fake(true));
    let st: Shared = fake_state.clone();
    let auth = AdminAuth::with_tokens(&[("ops", "s3", kafkatwin_config::AdminRole::Admin)]);
    let (s, _) = send_as(
        router(st.clone(), auth.clone()),
        "POST",
        "/api/v1/transformations/orders",
        r#"{"id":"a"}"#,
        REMOTE,
        Some("s3"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // A refused change is not audited.
    let (s, _) = send_as(
        router(st.clone(), auth.clone()),
        "DELETE",
        "/api/v1/transformations/orders/zzz",
        "",
        REMOTE,
        Some("s3"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = send_as(
        router(st, auth),
        "GET",
        "/api/v1/audit?limit=5",
        "",
        REMOTE,
        Some("s3"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let entries: Vec<AuditEntry> = serde_json::from_str(&body).expect("audit list");
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0].who, "ops");
    assert_eq!(entries[0].client, REMOTE);
    assert_eq!(entries[0].action, "POST /api/v1/transformations/orders");
    assert_eq!(entries[0].object.as_deref(), Some("rule orders/a"));
    assert!(!body.contains("s3\""), "{body}");
}

#[tokio::test]
async fn me_says_what_the_caller_may_change() {
    let secured = AdminAuth::with_tokens(&[
        ("ops", "admin-secret-1", kafkatwin_config::AdminRole::Admin),
        ("viewer", "read-secret-2", kafkatwin_config::AdminRole::Read),
    ]);
    // (auth, peer, token, who, role, can change)
    type Case<'a> = (
        &'a AdminAuth,
        &'a str,
        Option<&'a str>,
        &'a str,
        &'a str,
        bool,
    );
    let cases: &[Case] = &[
        (
            &secured,
            REMOTE,
            Some("admin-secret-1"),
            "ops",
            "admin",
            true,
        ),
        (
            &secured,
            REMOTE,
            Some("read-secret-2"),
            "viewer",
            "read",
            false,
        ),
        (
            &AdminAuth::default(),
            LOOPBACK,
            None,
            "loopback",
            "admin",
            true,
        ),
        (
            &AdminAuth::default(),
            REMOTE,
            None,
            "anonymous",
            "read",
            false,
        ),
    ];
    for &(auth, peer, token, who, role, can_change) in cases {
        let st: Shared = Arc::new(fake(true));
        let (s, body) = send_as(
            router(st, auth.clone()),
            "GET",
            "/api/v1/me",
            "",
            peer,
            token,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let me: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(me["who"], who, "{body}");
        assert_eq!(me["role"], role, "{body}");
        assert_eq!(me["can_change"], can_change, "{body}");
    }
}

#[tokio::test]
async fn the_event_stream_takes_the_token_from_its_query_only() {
    let auth =
        AdminAuth::with_tokens(&[("viewer", "read secret", kafkatwin_config::AdminRole::Read)]);
    let st: Shared = Arc::new(fake(true));
    let (s, _) = send_as(
        router(st.clone(), auth.clone()),
        "GET",
        "/api/v1/events?token=read%20secret",
        "",
        REMOTE,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send_as(
        router(st, auth),
        "GET",
        "/api/v1/clusters?token=read%20secret",
        "",
        REMOTE,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
