//! The schema registry's REST API in process, over an in-memory registry and a fake engine
//! (`FakeEngine`): every endpoint, its answers and its error codes, and who may change what.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use kafkatwin_config::AdminRole;
use kafkatwin_schema_registry::{Keeping, Registry};
use kafkatwin_web::auth::{AdminAuth, AuditEntry};
use kafkatwin_web::{AdminState, ApiError, ApiFuture, ClusterView, RuleView};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// A fake engine: only the audit trail and the registry are real.
struct FakeEngine {
    registry: Arc<Registry>,
    audit: Mutex<Vec<AuditEntry>>,
}

impl AdminState for FakeEngine {
    fn ready(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
    fn clusters(&self) -> Vec<ClusterView> {
        Vec::new()
    }
    fn metrics_text(&self) -> String {
        String::new()
    }
    fn list_rules(&self, _: &str) -> Result<Vec<RuleView>, ApiError> {
        Ok(Vec::new())
    }
    fn add_rule<'a>(&'a self, _: &'a str, _: Value, _: Option<i64>) -> ApiFuture<'a, RuleView> {
        Box::pin(async { Err(ApiError::not_found("fake")) })
    }
    fn replace_rule<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Value,
        _: Option<i64>,
    ) -> ApiFuture<'a, RuleView> {
        Box::pin(async { Err(ApiError::not_found("fake")) })
    }
    fn delete_rule<'a>(&'a self, _: &'a str, _: &'a str, _: Option<i64>) -> ApiFuture<'a, ()> {
        Box::pin(async { Err(ApiError::not_found("fake")) })
    }
    fn schema_registry(&self) -> Option<Arc<Registry>> {
        Some(self.registry.clone())
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
}

struct Rig {
    engine: Arc<FakeEngine>,
    auth: AdminAuth,
}

impl Rig {
    fn new(auth: AdminAuth) -> Self {
        Self {
            engine: Arc::new(FakeEngine {
                registry: Arc::new(Registry::new(Keeping::Memory)),
                audit: Mutex::default(),
            }),
            auth,
        }
    }

    fn router(&self) -> Router {
        kafkatwin_web::schema_registry::router(
            self.engine.registry.clone(),
            self.engine.clone(),
            self.auth.clone(),
        )
    }

    async fn call_as(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        peer: &str,
        authorization: Option<&str>,
    ) -> (u16, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/vnd.schemaregistry.v1+json");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let mut req = req.body(body).expect("request");
        let addr: std::net::SocketAddr = peer.parse().expect("address");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        let resp = self.router().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .expect("body");
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if v.is_object() || v.is_array() {
            assert_eq!(ct, "application/vnd.schemaregistry.v1+json", "{uri}");
        }
        (status, v)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(method, uri, body, "127.0.0.1:4000", None)
            .await
    }
}

const V1: &str = r#"{"type":"record","name":"P","fields":[{"name":"a","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"P","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}"#;
const BAD: &str = r#"{"type":"record","name":"P","fields":[{"name":"a","type":"string"},{"name":"c","type":"int"}]}"#;

fn code(v: &Value) -> i64 {
    v["error_code"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn register_read_and_look_up() {
    let r = Rig::new(AdminAuth::default());
    // Newer clients send fields we do not keep: ignored.
    let body = json!({"schema": V1, "metadata": {"properties": {}}, "ruleSet": null});
    let (s, v) = r
        .call(
            "POST",
            "/subjects/p-value/versions?normalize=False",
            Some(body),
        )
        .await;
    assert_eq!((s, v.clone()), (200, json!({"id": 1})));
    let (s, v) = r.call("GET", "/subjects", None).await;
    assert_eq!((s, v), (200, json!(["p-value"])));
    let (s, v) = r.call("GET", "/subjects/p-value/versions", None).await;
    assert_eq!((s, v), (200, json!([1])));
    let (s, v) = r
        .call("GET", "/subjects/p-value/versions/latest", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"subject": "p-value", "version": 1, "id": 1, "schema": V1})
    );
    let (s, v) = r
        .call("GET", "/subjects/p-value/versions/1/schema", None)
        .await;
    assert_eq!((s, v["name"].clone()), (200, json!("P")));
    let (s, v) = r.call("GET", "/schemas/ids/1", None).await;
    assert_eq!((s, v), (200, json!({"schema": V1})));
    let (s, v) = r.call("GET", "/schemas/ids/1?subject=p-value", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = r.call("GET", "/schemas/ids/1/versions", None).await;
    assert_eq!((s, v), (200, json!([{"subject": "p-value", "version": 1}])));
    let (s, v) = r.call("GET", "/schemas/ids/1/subjects", None).await;
    assert_eq!((s, v), (200, json!(["p-value"])));
    let (s, v) = r
        .call("POST", "/subjects/p-value", Some(json!({"schema": V1})))
        .await;
    assert_eq!(
        (s, v["id"].clone(), v["version"].clone()),
        (200, json!(1), json!(1))
    );
    let (s, v) = r.call("GET", "/schemas/types", None).await;
    assert_eq!((s, v), (200, json!(["JSON", "PROTOBUF", "AVRO"])));
    let (s, v) = r.call("GET", "/mode", None).await;
    assert_eq!((s, v), (200, json!({"mode": "READWRITE"})));
}

#[tokio::test]
async fn not_found_codes() {
    let r = Rig::new(AdminAuth::default());
    let (s, v) = r.call("GET", "/subjects/nope/versions", None).await;
    assert_eq!((s, code(&v)), (404, 40401));
    r.call("POST", "/subjects/p/versions", Some(json!({"schema": V1})))
        .await;
    let (s, v) = r.call("GET", "/subjects/p/versions/7", None).await;
    assert_eq!((s, code(&v)), (404, 40402));
    let (s, v) = r.call("GET", "/schemas/ids/9999", None).await;
    assert_eq!((s, code(&v)), (404, 40403));
    let (s, v) = r
        .call("POST", "/subjects/p", Some(json!({"schema": V2})))
        .await;
    assert_eq!((s, code(&v)), (404, 40403));
    let (s, v) = r
        .call("POST", "/subjects/other", Some(json!({"schema": V1})))
        .await;
    assert_eq!((s, code(&v)), (404, 40401));
    let (s, v) = r.call("GET", "/no/such/route", None).await;
    assert_eq!((s, code(&v)), (404, 404));
    let (s, v) = r.call("GET", "/subjects/p/versions/zero", None).await;
    assert_eq!((s, code(&v)), (422, 42202));
    let (s, v) = r.call("GET", "/config/p", None).await;
    assert_eq!((s, code(&v)), (404, 40408));
}

#[tokio::test]
async fn compatibility_is_enforced_and_testable() {
    let r = Rig::new(AdminAuth::default());
    r.call("POST", "/subjects/p/versions", Some(json!({"schema": V1})))
        .await;
    let (s, v) = r
        .call("POST", "/subjects/p/versions", Some(json!({"schema": BAD})))
        .await;
    assert_eq!((s, code(&v)), (409, 409), "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("'c'"), "{v}");
    let uri = "/compatibility/subjects/p/versions/latest?verbose=True";
    let (s, v) = r.call("POST", uri, Some(json!({"schema": BAD}))).await;
    assert_eq!((s, v["is_compatible"].clone()), (200, json!(false)));
    assert!(
        !v["messages"].as_array().map(Vec::is_empty).unwrap_or(true),
        "{v}"
    );
    let (s, v) = r.call("POST", uri, Some(json!({"schema": V2}))).await;
    assert_eq!(
        (s, v),
        (200, json!({"is_compatible": true, "messages": []}))
    );
    let (s, v) = r
        .call("POST", "/subjects/p/versions", Some(json!({"schema": V2})))
        .await;
    assert_eq!((s, v), (200, json!({"id": 2})));
    let (s, v) = r
        .call(
            "POST",
            "/subjects/p/versions",
            Some(json!({"schema": "{nope"})),
        )
        .await;
    assert_eq!((s, code(&v)), (422, 42201));
    let body = json!({"schema": "{}", "schemaType": "XML"});
    let (s, v) = r.call("POST", "/subjects/p/versions", Some(body)).await;
    assert_eq!((s, code(&v)), (422, 42201));
}

#[tokio::test]
async fn config_levels() {
    let r = Rig::new(AdminAuth::default());
    let (s, v) = r.call("GET", "/config", None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "BACKWARD"})));
    let (s, v) = r
        .call("PUT", "/config", Some(json!({"compatibility": "full"})))
        .await;
    assert_eq!((s, v), (200, json!({"compatibility": "FULL"})));
    let (s, v) = r.call("GET", "/config/p?defaultToGlobal=true", None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "FULL"})));
    let (s, v) = r
        .call("PUT", "/config/p", Some(json!({"compatibility": "NONE"})))
        .await;
    assert_eq!((s, v), (200, json!({"compatibility": "NONE"})));
    let (s, v) = r.call("GET", "/config/p", None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "NONE"})));
    let (s, v) = r.call("DELETE", "/config/p", None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "NONE"})));
    let (s, v) = r.call("DELETE", "/config", None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "FULL"})));
    let (s, v) = r
        .call("PUT", "/config", Some(json!({"compatibility": "SIDEWAYS"})))
        .await;
    assert_eq!((s, code(&v)), (422, 42203));
}

#[tokio::test]
async fn deletes_soft_then_permanent() {
    let r = Rig::new(AdminAuth::default());
    r.call("POST", "/subjects/p/versions", Some(json!({"schema": V1})))
        .await;
    r.call("POST", "/subjects/p/versions", Some(json!({"schema": V2})))
        .await;
    let (s, v) = r
        .call("DELETE", "/subjects/p/versions/1?permanent=true", None)
        .await;
    assert_eq!((s, code(&v)), (404, 40405));
    let (s, v) = r.call("DELETE", "/subjects/p/versions/1", None).await;
    assert_eq!((s, v), (200, json!(1)));
    let (s, v) = r
        .call("GET", "/subjects/p/versions?deleted=true", None)
        .await;
    assert_eq!((s, v), (200, json!([1, 2])));
    let (s, v) = r
        .call("GET", "/subjects/p/versions/1?deleted=true", None)
        .await;
    assert_eq!((s, v["id"].clone()), (200, json!(1)));
    let (s, v) = r
        .call("DELETE", "/subjects/p/versions/1?permanent=true", None)
        .await;
    assert_eq!((s, v), (200, json!(1)));
    let (s, v) = r.call("DELETE", "/subjects/p", None).await;
    assert_eq!((s, v), (200, json!([2])));
    let (s, v) = r.call("DELETE", "/subjects/p", None).await;
    assert_eq!((s, code(&v)), (404, 40404));
    let (s, v) = r.call("DELETE", "/subjects/p?permanent=true", None).await;
    assert_eq!((s, v), (200, json!([2])));
    let (s, v) = r.call("GET", "/subjects?deleted=true", None).await;
    assert_eq!((s, v), (200, json!([])));
}

#[tokio::test]
async fn protobuf_serialized_format() {
    let r = Rig::new(AdminAuth::default());
    let proto = "syntax = \"proto3\";\nmessage M { string a = 1; }\n";
    let body = json!({"schema": proto, "schemaType": "PROTOBUF"});
    let (s, v) = r.call("POST", "/subjects/m/versions", Some(body)).await;
    assert_eq!((s, v), (200, json!({"id": 1})));
    let (_, v) = r.call("GET", "/schemas/ids/1", None).await;
    assert_eq!(v, json!({"schema": proto, "schemaType": "PROTOBUF"}));
    let (_, v) = r
        .call("GET", "/schemas/ids/1?format=serialized", None)
        .await;
    let text = v["schema"].as_str().unwrap_or("");
    assert!(!text.contains("syntax") && !text.is_empty(), "{v}");
    // The serialized form registers as a schema too (what confluent-kafka's serializer sends).
    let body = json!({"schema": text, "schemaType": "PROTOBUF"});
    let (s, v) = r.call("POST", "/subjects/m2/versions", Some(body)).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn access_is_guarded_and_audited() {
    let open = Rig::new(AdminAuth::default());
    let body = Some(json!({"schema": V1}));
    let (s, v) = open
        .call_as(
            "POST",
            "/subjects/p/versions",
            body.clone(),
            "10.0.0.9:1",
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (403, 403), "{v}");
    let (s, _) = open
        .call_as("GET", "/subjects", None, "10.0.0.9:1", None)
        .await;
    assert_eq!(s, 200);

    let tokens = AdminAuth::with_tokens(&[
        ("ops", "s3cret", AdminRole::Admin),
        ("viewer", "look", AdminRole::Read),
    ]);
    let r = Rig::new(tokens);
    let remote = "10.0.0.9:1";
    let (s, v) = r.call_as("GET", "/subjects", None, remote, None).await;
    assert_eq!((s, code(&v)), (401, 401));
    let (s, _) = r
        .call_as("GET", "/subjects", None, remote, Some("Bearer look"))
        .await;
    assert_eq!(s, 200);
    // basic.auth.user.info = viewer:look
    let viewer = "Basic dmlld2VyOmxvb2s=";
    let (s, v) = r
        .call_as(
            "POST",
            "/subjects/p/versions",
            body.clone(),
            remote,
            Some(viewer),
        )
        .await;
    assert_eq!((s, code(&v)), (403, 403), "{v}");
    // basic.auth.user.info = anyone:s3cret
    let ops = "Basic YW55b25lOnMzY3JldA==";
    let (s, v) = r
        .call_as("POST", "/subjects/p/versions", body, remote, Some(ops))
        .await;
    assert_eq!((s, v), (200, json!({"id": 1})));
    let audit = r.engine.audit.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].who, "ops");
    assert_eq!(
        audit[0].action,
        "schema registry: POST /subjects/p/versions"
    );
}
