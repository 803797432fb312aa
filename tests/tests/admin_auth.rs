//! The admin API secured by default, with the real binary: a change without a token is
//! refused, with an admin token it is made, a read token may only look; the change is in the
//! audit trail of a second instance (through the state log); tokens never appear in logs or
//! responses. Per-endpoint cases are covered in-process in the web crate.

use kafkatwin_tests::http::send;
use kafkatwin_tests::{Broker, Proxy, ProxyOptions, eventually, kafkatwin_bin};
use std::time::Duration;

const ADMIN_TOKEN: &str = "adm-Tok3n-7c1f9";
const READ_TOKEN: &str = "read-Tok3n-55e2a";

fn secured(b: &Broker) -> Proxy {
    Proxy::start_with(
        &[b],
        ProxyOptions {
            admin_yaml: format!(
                "  tokens:\n    - {{ name: ops, token: \"${{env:KT_TEST_ADMIN_TOKEN}}\", role: admin }}\n    \
                 - {{ name: viewer, token: \"{READ_TOKEN}\", role: read }}\n"
            ),
            env: vec![("KT_TEST_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
            ..Default::default()
        },
    )
}

/// Sends with an optional bearer token; (status, body).
fn call(p: &Proxy, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n"));
    kafkatwin_tests::http::send_with_headers(
        p.admin_port,
        method,
        path,
        body,
        auth.as_deref().unwrap_or(""),
    )
    .expect("admin api")
}

const RULE: &str = r#"{"id": "mask-pii", "actions": [{"type": "mask_field", "field": "ssn"}]}"#;

#[test]
fn changes_need_an_admin_token_and_are_audited_on_every_instance() {
    let b = Broker::start("c1");
    let one = secured(&b);
    let two = secured(&b);
    let mut bodies = Vec::new();
    let (s, body) = call(&one, "POST", "/api/v1/transformations/orders", RULE, None);
    assert_eq!(s, 401, "{body}");
    bodies.push(body);
    let (s, body) = call(&one, "GET", "/api/v1/clusters", "", None);
    assert_eq!(s, 401, "reads need a token too: {body}");
    bodies.push(body);
    let (s, body) = call(
        &one,
        "POST",
        "/api/v1/transformations/orders",
        RULE,
        Some(READ_TOKEN),
    );
    assert_eq!(s, 403, "{body}");
    bodies.push(body);
    let (s, body) = call(&one, "GET", "/api/v1/clusters", "", Some(READ_TOKEN));
    assert_eq!(s, 200, "{body}");
    bodies.push(body);
    let made = eventually(Duration::from_secs(20), || {
        let (s, body) = call(
            &one,
            "POST",
            "/api/v1/transformations/orders",
            RULE,
            Some(ADMIN_TOKEN),
        );
        bodies.push(body);
        s == 201
    });
    assert!(
        made,
        "the change was not made: {:?}\n{}",
        bodies.last(),
        one.log()
    );
    // Health and metrics stay open.
    assert_eq!(
        send(one.health_port, "GET", "/health/live", "")
            .expect("health")
            .0,
        200
    );
    assert_eq!(
        send(one.metrics_port, "GET", "/metrics", "")
            .expect("metrics")
            .0,
        200
    );
    // The second instance lists the change, with who made it and from where.
    let mut audit = String::new();
    let listed = eventually(Duration::from_secs(20), || {
        let (s, body) = call(&two, "GET", "/api/v1/audit?limit=10", "", Some(READ_TOKEN));
        audit = body;
        s == 200 && audit.contains("POST /api/v1/transformations/orders")
    });
    assert!(
        listed,
        "not in the second instance's audit trail: {audit}\n{}",
        two.log()
    );
    let entries: serde_json::Value = serde_json::from_str(&audit).expect("audit json");
    let entry = entries
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["action"] == "POST /api/v1/transformations/orders")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["who"], "ops", "{audit}");
    assert!(
        entry["client"]
            .as_str()
            .unwrap_or("")
            .starts_with("127.0.0.1:"),
        "{audit}"
    );
    assert!(entry["version"].is_string(), "{audit}");
    bodies.push(audit);
    assert!(
        one.log().contains("admin change by ops from 127.0.0.1:"),
        "{}",
        one.log()
    );
    for text in bodies.iter().chain([&one.log(), &two.log()]) {
        for secret in [ADMIN_TOKEN, READ_TOKEN] {
            assert!(!text.contains(secret), "a token was shown: {text}");
        }
    }
}

#[test]
fn an_admin_api_open_beyond_loopback_without_a_token_is_warned_about() {
    let b = Broker::start("c1");
    // Listening on every address (nothing connects from elsewhere here): a warning naming
    // the config key, at startup and from check-config.
    let p = Proxy::start_with(
        &[&b],
        ProxyOptions {
            env: vec![(
                "KAFKATWIN_ADMIN_API__LISTEN_ADDRESS".into(),
                "0.0.0.0".into(),
            )],
            ..Default::default()
        },
    );
    let warned = eventually(Duration::from_secs(10), || {
        p.log().contains("without a token") && p.log().contains("admin_api.auth_token")
    });
    assert!(warned, "{}", p.log());
    let out = std::process::Command::new(kafkatwin_bin())
        .arg("check-config")
        .arg(&p.config_path)
        .env("KAFKATWIN_ADMIN_API__LISTEN_ADDRESS", "0.0.0.0")
        .output()
        .expect("check-config ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning:") && text.contains("admin_api.tokens"),
        "{text}"
    );
}
