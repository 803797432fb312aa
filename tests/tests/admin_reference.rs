//! The HTTP reference (`docs/admin-api.md`) promises statuses and headers; this test makes,
//! against the real binary, a request for every status the page names for an endpoint and
//! for every rule it states for all of `/api/v1` (tokens, body limits, `ETag`, `If-Match`),
//! and fails when the page names a status no case here shows.

use kafkatwin_tests::http::exchange;
use kafkatwin_tests::{Broker, Proxy, ProxyOptions, eventually};
use std::collections::BTreeSet;
use std::time::Duration;

const ADMIN: &str = "Authorization: Bearer adm-Ref-81f2\r\n";
const READ: &str = "Authorization: Bearer read-Ref-c3d0\r\n";
const RULE: &str = r#"{"id": "mask", "actions": [{"type": "mask_field", "field": "ssn"}]}"#;

/// Which proxy a case runs on.
#[derive(Clone, Copy)]
enum On {
    /// Two clusters, tokens configured.
    Pair,
    /// One cluster, its broker gone.
    Alone,
}

/// One request and what the page says it gets.
struct Case {
    /// The page's row (`METHOD /path`), or `common` for the rules of all of `/api/v1`.
    row: &'static str,
    status: u16,
    on: On,
    port: fn(&Proxy) -> u16,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    headers: String,
    /// A response header that must be sent, and a part of its value.
    header: Option<(&'static str, &'static str)>,
}

fn admin(p: &Proxy) -> u16 {
    p.admin_port
}

fn health(p: &Proxy) -> u16 {
    p.health_port
}

/// A JSON request with the admin token, on the pair.
fn case(
    row: &'static str,
    status: u16,
    method: &'static str,
    path: &'static str,
    body: &str,
) -> Case {
    Case {
        row,
        status,
        on: On::Pair,
        port: admin,
        method,
        path,
        content_type: "application/json",
        body: body.as_bytes().to_vec(),
        headers: ADMIN.into(),
        header: None,
    }
}

impl Case {
    fn on(mut self, on: On) -> Self {
        self.on = on;
        self
    }
    fn headers(mut self, h: &str) -> Self {
        self.headers = h.into();
        self
    }
    fn bytes(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.content_type = content_type;
        self.body = body;
        self
    }
    fn sends(mut self, name: &'static str, part: &'static str) -> Self {
        self.header = Some((name, part));
        self
    }
}

/// The statuses each row of the page's table names (`METHOD /path` → codes).
fn documented() -> BTreeSet<(String, u16)> {
    let path = kafkatwin_tests::repo_root().join("docs/admin-api.md");
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeSet::new();
    for line in page.lines() {
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((endpoint, answers)) = row.split_once('`') else {
            continue;
        };
        if !endpoint.contains(" /") {
            continue;
        }
        for word in answers.split(|c: char| !c.is_ascii_alphanumeric()) {
            if let Ok(code @ 200..=599) = word.parse::<u16>() {
                out.insert((endpoint.to_owned(), code));
            }
        }
    }
    out
}

#[test]
fn every_documented_status_and_header_is_what_the_admin_api_answers() {
    let (a, b) = (Broker::start("a"), Broker::start("b"));
    let pair = Proxy::start_with(
        &[&a, &b],
        ProxyOptions {
            admin_yaml: "  tokens:\n    - { name: ops, token: adm-Ref-81f2, role: admin }\n    \
                         - { name: viewer, token: read-Ref-c3d0, role: read }\n"
                .into(),
            extra_yaml: "plugins:\n  max_upload: 2097152\nauth:\n  users:\n    - { username: dave, password: d-pw }\n"
                .into(),
            ..Default::default()
        },
    );
    let mut gone = Broker::start("solo");
    let alone = Proxy::start(&[&gone]);
    gone.kill();
    let ready = eventually(Duration::from_secs(30), || {
        kafkatwin_tests::http::get(pair.health_port, "/health/ready").is_ok_and(|(s, _)| s == 200)
    });
    assert!(ready, "the pair did not get ready:\n{}", pair.log());
    // The lone proxy may have loaded its control state before its cluster went: it turns
    // not ready once it notices.
    let not_ready = eventually(Duration::from_secs(30), || {
        kafkatwin_tests::http::get(alone.health_port, "/health/ready").is_ok_and(|(s, _)| s == 503)
    });
    assert!(
        not_ready,
        "a proxy without its cluster stayed ready:\n{}",
        alone.log()
    );
    let wasm = kafkatwin_tests::wasm_module("redact");
    let bound = r#"{"id": "bound", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}"#;
    let cases = vec![
        Case {
            port: health,
            ..case("GET /health/live", 200, "GET", "/health/live", "")
        },
        Case {
            port: health,
            ..case("GET /health/ready", 200, "GET", "/health/ready", "")
        },
        Case {
            port: health,
            ..case("GET /health/ready", 503, "GET", "/health/ready", "").on(On::Alone)
        },
        case(
            "GET /api/v1/clusters/{id}",
            404,
            "GET",
            "/api/v1/clusters/nope",
            "",
        ),
        case(
            "GET /api/v1/clusters/{id}/health",
            404,
            "GET",
            "/api/v1/clusters/nope/health",
            "",
        ),
        case(
            "POST /api/v1/clusters/{id}/topics/{topic}/reseed",
            400,
            "POST",
            "/api/v1/clusters/b/topics/t/reseed",
            "{}",
        ),
        case(
            "POST /api/v1/clusters/{id}/topics/{topic}/reseed",
            404,
            "POST",
            "/api/v1/clusters/nope/topics/t/reseed",
            r#"{"confirm": "t"}"#,
        ),
        case(
            "POST /api/v1/clusters/{id}/topics/{topic}/reseed",
            409,
            "POST",
            "/api/v1/clusters/solo/topics/t/reseed",
            r#"{"confirm": "t"}"#,
        )
        .on(On::Alone)
        .headers(""),
        case(
            "GET /api/v1/groups/{group}",
            404,
            "GET",
            "/api/v1/groups/nope",
            "",
        ),
        case(
            "GET /api/v1/transformations/{topic}",
            404,
            "GET",
            "/api/v1/transformations/none",
            "",
        ),
        case(
            "POST /api/v1/transformations/{topic}",
            201,
            "POST",
            "/api/v1/transformations/orders",
            RULE,
        ),
        case(
            "POST /api/v1/transformations/{topic}",
            409,
            "POST",
            "/api/v1/transformations/orders",
            RULE,
        ),
        case(
            "POST /api/v1/transformations/{topic}",
            400,
            "POST",
            "/api/v1/transformations/orders",
            r#"{"id": "x", "actions": [{"type": "nope"}]}"#,
        ),
        case(
            "PUT /api/v1/transformations/{topic}/{id}",
            400,
            "PUT",
            "/api/v1/transformations/orders/mask",
            r#"{"id": "other", "actions": [{"type": "mask_field", "field": "ssn"}]}"#,
        ),
        case(
            "PUT /api/v1/transformations/{topic}/{id}",
            404,
            "PUT",
            "/api/v1/transformations/orders/nope",
            r#"{"id": "nope", "actions": [{"type": "mask_field", "field": "ssn"}]}"#,
        ),
        // The rules of all of /api/v1, on an entry with versions.
        case("common", 200, "GET", "/api/v1/transformations/orders", "").sends("etag", "\""),
        case(
            "common",
            412,
            "DELETE",
            "/api/v1/transformations/orders/mask",
            "",
        )
        .headers(&format!("{ADMIN}If-Match: \"999999\"\r\n")),
        case(
            "common",
            400,
            "DELETE",
            "/api/v1/transformations/orders/mask",
            "",
        )
        .headers(&format!("{ADMIN}If-Match: \"v12\"\r\n")),
        case("common", 401, "GET", "/api/v1/clusters", "")
            .headers("")
            .sends("www-authenticate", "Bearer"),
        case(
            "common",
            403,
            "DELETE",
            "/api/v1/transformations/orders/mask",
            "",
        )
        .headers(READ),
        case(
            "common",
            413,
            "POST",
            "/api/v1/transformations/orders",
            &format!(r#"{{"id": "big", "pad": "{}"}}"#, "x".repeat(1 << 20)),
        ),
        case(
            "DELETE /api/v1/transformations/{topic}/{id}",
            204,
            "DELETE",
            "/api/v1/transformations/orders/mask",
            "",
        ),
        case(
            "DELETE /api/v1/transformations/{topic}/{id}",
            404,
            "DELETE",
            "/api/v1/transformations/orders/mask",
            "",
        ),
        case(
            "GET /api/v1/plugins/{name}",
            404,
            "GET",
            "/api/v1/plugins/nope",
            "",
        ),
        case(
            "PUT /api/v1/plugins/{name}",
            415,
            "PUT",
            "/api/v1/plugins/redact",
            "",
        )
        .bytes("application/octet-stream", wasm.clone()),
        case(
            "PUT /api/v1/plugins/{name}",
            400,
            "PUT",
            "/api/v1/plugins/junk",
            "",
        )
        .bytes("application/wasm", b"not a module".to_vec()),
        case(
            "PUT /api/v1/plugins/{name}",
            413,
            "PUT",
            "/api/v1/plugins/huge",
            "",
        )
        .bytes("application/wasm", vec![0; 3 << 20]),
        case(
            "PUT /api/v1/plugins/{name}",
            201,
            "PUT",
            "/api/v1/plugins/redact",
            "",
        )
        .bytes("application/wasm", wasm),
        case(
            "POST /api/v1/transformations/{topic}",
            201,
            "POST",
            "/api/v1/transformations/orders",
            bound,
        ),
        case(
            "DELETE /api/v1/plugins/{name}",
            409,
            "DELETE",
            "/api/v1/plugins/redact",
            "",
        ),
        case(
            "DELETE /api/v1/plugins/{name}",
            404,
            "DELETE",
            "/api/v1/plugins/nope",
            "",
        ),
        case(
            "GET /api/v1/quotas/{client_id}",
            404,
            "GET",
            "/api/v1/quotas/nope",
            "",
        ),
        case(
            "PUT /api/v1/quotas/{client_id}",
            201,
            "PUT",
            "/api/v1/quotas/billing",
            r#"{"produce_byte_rate": 1000000}"#,
        ),
        case(
            "PUT /api/v1/quotas/{client_id}",
            200,
            "PUT",
            "/api/v1/quotas/billing",
            r#"{"produce_byte_rate": 2000000}"#,
        ),
        case(
            "PUT /api/v1/quotas/{client_id}",
            400,
            "PUT",
            "/api/v1/quotas/billing",
            r#"{"produce_byte_rate": -1}"#,
        ),
        case(
            "DELETE /api/v1/quotas/{client_id}",
            204,
            "DELETE",
            "/api/v1/quotas/billing",
            "",
        ),
        case(
            "DELETE /api/v1/quotas/{client_id}",
            404,
            "DELETE",
            "/api/v1/quotas/billing",
            "",
        ),
        case(
            "POST /api/v1/schemas/subjects/{subject}",
            200,
            "POST",
            "/api/v1/schemas/subjects/ref-value",
            r#"{"schema": "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}"#,
        )
        .sends("etag", "\"1\""),
        case(
            "POST /api/v1/schemas/subjects/{subject}",
            409,
            "POST",
            "/api/v1/schemas/subjects/ref-value",
            r#"{"schema": "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}"}"#,
        ),
        case(
            "POST /api/v1/schemas/subjects/{subject}",
            422,
            "POST",
            "/api/v1/schemas/subjects/ref-value",
            r#"{"schema": "{\"type\":\"record\"}"}"#,
        ),
        case(
            "GET /api/v1/schemas/subjects/{subject}/versions/{version}",
            404,
            "GET",
            "/api/v1/schemas/subjects/nope/versions/latest",
            "",
        ),
        case(
            "GET /api/v1/schemas/subjects/{subject}/versions/{version}",
            422,
            "GET",
            "/api/v1/schemas/subjects/ref-value/versions/newest",
            "",
        ),
        case(
            "GET /api/v1/schemas/subjects/{subject}/versions",
            404,
            "GET",
            "/api/v1/schemas/subjects/nope/versions",
            "",
        ),
        case(
            "GET /api/v1/topics/{topic}",
            404,
            "GET",
            "/api/v1/topics/nope",
            "",
        ),
        case("PUT /api/v1/users/{name}", 201, "PUT", "/api/v1/users/carol", r#"{"password": "c-pw"}"#),
        case("PUT /api/v1/users/{name}", 200, "PUT", "/api/v1/users/carol", r#"{"password": "c-pw2"}"#),
        case("PUT /api/v1/users/{name}", 400, "PUT", "/api/v1/users/carol", r#"{"pass": "x"}"#),
        case("PUT /api/v1/users/{name}", 409, "PUT", "/api/v1/users/dave", r#"{"password": "x"}"#),
        case("DELETE /api/v1/users/{name}", 204, "DELETE", "/api/v1/users/carol", ""),
        case("DELETE /api/v1/users/{name}", 404, "DELETE", "/api/v1/users/carol", ""),
        case("POST /api/v1/acls", 201, "POST", "/api/v1/acls", r#"{"principal": "User:carol", "resource": "topic", "name": "orders", "operations": ["read"]}"#),
        case("POST /api/v1/acls", 400, "POST", "/api/v1/acls", r#"{"principal": "User:carol", "resource": "table", "name": "orders", "operations": ["read"]}"#),
        case("DELETE /api/v1/acls/{id}", 404, "DELETE", "/api/v1/acls/nope", ""),
        // The router's own answers, in the one error shape.
        case("common", 404, "GET", "/api/v1/nope", ""),
        case("common", 405, "DELETE", "/api/v1/clusters", ""),
        case("common", 400, "GET", "/api/v1/audit?limit=many", ""),
    ];

    // Shown after the cases: removing an entry needs the id its addition answered.
    let removed_acl = ("DELETE /api/v1/acls/{id}".to_owned(), 200);
    let shown: BTreeSet<(String, u16)> = cases
        .iter()
        .map(|c| (c.row.to_owned(), c.status))
        .chain(std::iter::once(removed_acl))
        .collect();
    let unshown: Vec<_> = documented().difference(&shown).cloned().collect();
    assert!(
        unshown.is_empty(),
        "docs/admin-api.md names statuses no case here shows: {unshown:?}"
    );

    for c in &cases {
        let p = match c.on {
            On::Pair => &pair,
            On::Alone => &alone,
        };
        let (status, head, body) = exchange(
            (c.port)(p),
            c.method,
            c.path,
            c.content_type,
            &c.body,
            &c.headers,
        )
        .unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.path));
        assert_eq!(
            status, c.status,
            "{} {} ({}): {body}\n{head}",
            c.method, c.path, c.row
        );
        if let Some((name, part)) = c.header {
            let value = kafkatwin_tests::http::header_in(&head, name);
            assert!(
                value.as_deref().is_some_and(|v| v.contains(part)),
                "{} {}: header {name} with {part:?} expected:\n{head}",
                c.method,
                c.path
            );
        }
        if status >= 400 && status != 401 && c.path.starts_with("/api/v1") {
            // Errors are JSON with a message.
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            assert!(
                v["error"].is_string(),
                "{} {}: an error without a JSON message: {body}",
                c.method,
                c.path
            );
        }
    }
    let (status, _, body) = exchange(
        pair.admin_port,
        "POST",
        "/api/v1/acls",
        "application/json",
        br#"{"principal": "User:erin", "resource": "group", "name": "*", "operations": ["read"]}"#,
        ADMIN,
    )
    .expect("added");
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _, body) = exchange(
        pair.admin_port,
        "DELETE",
        &format!("/api/v1/acls/{id}"),
        "application/json",
        b"",
        ADMIN,
    )
    .expect("removed");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("User:erin"), "{body}");
}
