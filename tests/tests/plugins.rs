//! WASM plugins end to end: components built from `plugin-sdk/examples` and `tests/plugins`
//! (by tests/run.sh) are uploaded through the admin API to a proxy in front of two real Tansu
//! clusters, bound to topics in rule chains, and their effect is read back from every cluster.

use kafkatwin_tests::http::{get, send, send_bytes};
use kafkatwin_tests::{Broker, Proxy, dump_values, last_json, produce_ok};
use serde_json::Value;
use std::process::Stdio;

/// Writes to every cluster; plugin calls get 50 ms of CPU and 16 MiB of memory.
const LIMITS: &str = "producer:\n  ack_policy: ALL_CLUSTERS\n\
                      plugins:\n  cpu_deadline: 50ms\n  memory_limit: 16777216\n";

fn module(name: &str) -> Vec<u8> {
    kafkatwin_tests::wasm_module(name)
}

fn upload(p: &Proxy, name: &str, body: &[u8]) -> (u16, Value) {
    let (code, text) = send_bytes(
        p.admin_port,
        "PUT",
        &format!("/api/v1/plugins/{name}"),
        "application/wasm",
        body,
    )
    .expect("admin api");
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn bind(p: &Proxy, topic: &str, rule: Value) {
    let (code, body) = send(
        p.admin_port,
        "POST",
        &format!("/api/v1/transformations/{topic}"),
        &rule.to_string(),
    )
    .expect("admin api");
    assert_eq!(code, 201, "binding refused: {body}");
}

/// Produces `count` records through the proxy (creating the topic, 15 s delivery timeout);
/// returns the report.
fn produce(p: &Proxy, topic: &str, count: usize, extra: &[&str]) -> Value {
    let args = [["--timeout-ms", "15000"].as_slice(), extra].concat();
    produce_ok(p, topic, count, &args)
}

/// Every value of `topic` read from broker `b` directly.
fn values(b: &Broker, topic: &str) -> Vec<String> {
    kafkatwin_tests::stored_values(b, topic)
}

fn two() -> (Broker, Broker) {
    (Broker::start("c1"), Broker::start("c2"))
}

#[test]
fn redact_and_validate_json_run_on_their_topics_and_every_cluster_stores_the_result() {
    let (a, b) = two();
    let p = Proxy::with_yaml(&[&a, &b], LIMITS);
    let (code, info) = upload(&p, "redact", &module("redact"));
    assert_eq!(code, 201, "{info}");
    assert_eq!(info["version"], 1);
    assert_eq!(info["hooks"], serde_json::json!(["produce"]));
    assert_eq!(info["sha256"].as_str().map(str::len), Some(64));
    let (code, again) = upload(&p, "redact", &module("redact"));
    assert_eq!(
        (code, &again["version"]),
        (201, &Value::from(2)),
        "re-upload is a new version"
    );
    bind(
        &p,
        "pii",
        serde_json::json!({"id": "mask", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}),
    );
    let v = produce(&p, "pii", 50, &["--json"]);
    assert_eq!(v["delivered"], 50, "{v}");
    for broker in [&a, &b] {
        let vals = values(broker, "pii");
        assert_eq!(vals.len(), 50, "{}: {vals:?}", broker.id);
        for raw in &vals {
            let j: Value = serde_json::from_str(raw).expect("json value");
            assert_eq!(j["ssn"], "***", "{}: {raw}", broker.id);
            assert!(
                j["name"].as_str().is_some_and(|n| n.starts_with('n')),
                "{raw}"
            );
        }
    }
    // validate-json refuses a batch with a non-object value, naming the record.
    let (code, _) = upload(&p, "validate-json", &module("validate_json"));
    assert_eq!(code, 201);
    bind(
        &p,
        "strict",
        serde_json::json!({"id": "only-json", "actions": [{"type": "wasm", "plugin": "validate-json"}]}),
    );
    let good = produce(&p, "strict", 5, &["--json"]);
    assert_eq!(good["delivered"], 5, "{good}");
    let bad = produce(
        &p,
        "strict",
        5,
        &["--no-create", "--raw-value", "not json", "--start", "5"],
    );
    assert_eq!(bad["delivered"], 0, "{bad}");
    // The client gets INVALID_RECORD; the message (logged, and in the produce response's
    // error_message, which librdkafka does not surface) names the record.
    assert!(
        bad["errors"].to_string().contains("INVALID_RECORD"),
        "{bad}"
    );
    let log = p.log();
    assert!(
        log.contains("record 0: value is not a JSON object"),
        "{log}"
    );
    for broker in [&a, &b] {
        assert_eq!(
            values(broker, "strict").len(),
            5,
            "{}: refused records were stored",
            broker.id
        );
    }
    // router-tag sets a header from a JSON field, on every cluster.
    assert_eq!(upload(&p, "router-tag", &module("router_tag")).0, 201);
    bind(
        &p,
        "routed",
        serde_json::json!({"id": "tag", "actions": [{"type": "wasm", "plugin": "router-tag", "config": {"field": "name", "header": "route"}}]}),
    );
    assert_eq!(produce(&p, "routed", 10, &["--json"])["delivered"], 10);
    for broker in [&a, &b] {
        let d = dump_values(broker, "routed");
        let headers = d["headers"].as_array().cloned().unwrap_or_default();
        assert_eq!(headers.len(), 10, "{}: {d}", broker.id);
        for (h, v) in headers
            .iter()
            .zip(d["values"].as_array().into_iter().flatten())
        {
            let j: Value = serde_json::from_str(v.as_str().unwrap_or("")).expect("json");
            assert_eq!(h["route"], j["name"], "{}: {d}", broker.id);
        }
    }
    // An on_auth plugin loads and says so (the proxy has no SASL listener yet to call it).
    let (code, info) = upload(&p, "auth-allowlist", &module("auth_allowlist"));
    assert_eq!(
        (code, &info["hooks"]),
        (201, &serde_json::json!(["auth"])),
        "{info}"
    );
    // Listing and deleting: a bound plugin is kept unless forced.
    let (_, list) = get(p.admin_port, "/api/v1/plugins").expect("list");
    assert!(
        list.contains("\"redact\"") && list.contains("\"validate-json\""),
        "{list}"
    );
    let (code, _) = send(p.admin_port, "DELETE", "/api/v1/plugins/redact", "").expect("delete");
    assert_eq!(code, 409, "a bound plugin must not be deleted silently");
    let (code, _) = send(
        p.admin_port,
        "DELETE",
        "/api/v1/plugins/redact?force=true",
        "",
    )
    .expect("delete");
    assert_eq!(code, 200);
    let (code, _) = get(p.admin_port, "/api/v1/plugins/redact").expect("get");
    assert_eq!(code, 404);
}

#[test]
fn bad_uploads_are_refused_with_the_reason() {
    let b = Broker::start("c1");
    let p = Proxy::with_yaml(&[&b], LIMITS);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        (
            "random",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "not a valid WebAssembly component",
        ),
        (
            "core-module",
            b"\0asm\x01\0\0\0".to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "empty-component",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "does not implement",
        ),
        ("fs-reader", module("fs_reader"), "wasi:filesystem"),
        ("net-client", module("net_client"), "wasi:sockets"),
    ];
    for (name, body, want) in cases {
        let (code, v) = upload(&p, name, &body);
        assert_eq!(code, 400, "{name}: {v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains(want) && e.contains(name)),
            "{name}: {v}"
        );
    }
    let (code, v) = send_bytes(
        p.admin_port,
        "PUT",
        "/api/v1/plugins/x",
        "application/json",
        b"{}",
    )
    .expect("put");
    assert_eq!(code, 415, "{v}");
    let (_, list) = get(p.admin_port, "/api/v1/plugins").expect("list");
    assert_eq!(list, "[]", "nothing was loaded");
}

#[test]
fn misbehaving_plugins_fail_only_their_own_batches() {
    let (a, b) = two();
    let p = Proxy::with_yaml(&[&a, &b], LIMITS);
    assert_eq!(upload(&p, "hostile", &module("hostile")).0, 201);
    assert_eq!(upload(&p, "redact", &module("redact")).0, 201);
    bind(
        &p,
        "good",
        serde_json::json!({"id": "mask", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}),
    );
    for mode in ["loop", "alloc", "panic", "recurse"] {
        bind(
            &p,
            &format!("bad-{mode}"),
            serde_json::json!({"id": mode, "actions": [{"type": "wasm", "plugin": "hostile", "config": {"mode": mode}, "on_error": "reject"}]}),
        );
        bind(
            &p,
            &format!("lenient-{mode}"),
            serde_json::json!({"id": mode, "actions": [{"type": "wasm", "plugin": "hostile", "config": {"mode": mode}, "on_error": "pass"}]}),
        );
    }
    for mode in ["loop", "alloc", "panic", "recurse"] {
        // on_error reject: the partition gets an error naming the plugin, nothing is stored.
        let v = produce(&p, &format!("bad-{mode}"), 3, &["--json"]);
        assert_eq!(v["delivered"], 0, "{mode}: {v}");
        assert!(
            v["errors"].to_string().contains("POLICY_VIOLATION"),
            "{mode}: {v}"
        );
        // on_error pass: the batch goes on unchanged.
        let v = produce(&p, &format!("lenient-{mode}"), 3, &["--json"]);
        assert_eq!(v["delivered"], 3, "{mode}: {v}\n{}", p.log());
        // The well-behaved plugin on another topic keeps working throughout.
        let v = produce(&p, "good", 2, &["--json"]);
        assert_eq!(v["delivered"], 2, "{mode}: {v}");
    }
    for broker in [&a, &b] {
        let vals = values(broker, "good");
        assert_eq!(vals.len(), 8, "{}: {vals:?}", broker.id);
        assert!(
            vals.iter().all(|v| v.contains("\"ssn\":\"***\"")),
            "{vals:?}"
        );
    }
    let (_, metrics) = get(p.metrics_port, "/metrics").expect("metrics");
    for outcome in ["timeout", "memory", "trap"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("kafkatwin_plugin_calls_total")
                    && l.contains(&format!("outcome=\"{outcome}\""))),
            "no {outcome} counted:\n{metrics}"
        );
    }
    let log = p.log();
    for want in [
        "interrupted after the CPU deadline",
        "exceeded the memory limit",
        "trapped",
    ] {
        assert!(
            log.contains("plugin hostile: ") && log.contains(want),
            "no {want:?} in:\n{log}"
        );
    }
}

#[test]
fn uploaded_plugins_and_their_bindings_survive_a_restart() {
    let b = Broker::start("c1");
    let mut p = Proxy::with_yaml(&[&b], LIMITS);
    let (code, first) = upload(&p, "redact", &module("redact"));
    assert_eq!(code, 201, "{first}");
    bind(
        &p,
        "kept",
        serde_json::json!({"id": "mask", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}),
    );
    assert!(
        p.terminate(std::time::Duration::from_secs(15)).is_some(),
        "proxy did not stop"
    );
    // A new instance reads plugins and rules back from the state log.
    let p = Proxy::with_yaml(&[&b], LIMITS);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (code, body) = get(p.admin_port, "/api/v1/plugins/redact").expect("get");
        if code == 200 {
            let v: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                (&v["sha256"], &v["version"]),
                (&first["sha256"], &first["version"]),
                "{v}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "plugin not restored:\n{}",
            p.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(produce(&p, "kept", 5, &["--json"])["delivered"], 5);
    let vals = values(&b, "kept");
    assert_eq!(vals.len(), 5, "{vals:?}");
    assert!(
        vals.iter().all(|v| v.contains("\"ssn\":\"***\"")),
        "{vals:?}"
    );
}

#[test]
fn a_new_version_swaps_in_under_load_without_losing_or_repeating_a_batch() {
    let (a, b) = two();
    let p = Proxy::with_yaml(&[&a, &b], LIMITS);
    let redact = module("redact");
    assert_eq!(upload(&p, "redact", &redact).0, 201);
    bind(
        &p,
        "swap",
        serde_json::json!({"id": "mask", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}),
    );
    let producer = kafkatwin_tests::produce_cmd(&p.bootstrap(), "swap", 2000)
        .args(["--json", "--pace-ms", "20", "--timeout-ms", "30000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("producer");
    // Re-upload while records flow: versions 2..=6.
    for want in 2..=6 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let (code, info) = upload(&p, "redact", &redact);
        assert_eq!(
            (code, &info["version"]),
            (201, &Value::from(want)),
            "{info}"
        );
    }
    let out = producer.wait_with_output().expect("producer ran");
    let report = last_json(&out.stdout);
    assert_eq!(
        report["delivered"],
        2000,
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for broker in [&a, &b] {
        let vals = values(broker, "swap");
        assert_eq!(vals.len(), 2000, "{}: records lost or repeated", broker.id);
        let mut ids: Vec<i64> = vals
            .iter()
            .map(|v| {
                let j: Value = serde_json::from_str(v).expect("json");
                assert_eq!(j["ssn"], "***", "{}: unmasked {v}", broker.id);
                j["i"].as_i64().unwrap_or(-1)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            2000,
            "{}: a record is missing or twice",
            broker.id
        );
    }
}

#[test]
fn auth_allowlist_lets_listed_users_log_in_and_refuses_the_others() {
    let b = Broker::start("c1");
    let p = Proxy::with_yaml(
        &[&b],
        "auth:\n  plugins:\n    - plugin: auth-allowlist\n      config: { users: \"alice, bob\" }\n",
    );
    let (code, info) = upload(&p, "auth-allowlist", &module("auth_allowlist"));
    assert_eq!(code, 201, "{info}");
    let v = produce(&p, "authed", 5, &["--sasl-user", "alice"]);
    assert_eq!(v["delivered"], 5, "alice is listed: {v}\n{}", p.log());
    let v = produce(
        &p,
        "authed",
        5,
        &[
            "--sasl-user",
            "mallory",
            "--no-create",
            "--timeout-ms",
            "5000",
        ],
    );
    assert_eq!(v["delivered"], 0, "mallory is not listed: {v}");
    let v = produce(&p, "authed", 3, &["--no-create", "--timeout-ms", "5000"]);
    assert_eq!(
        v["delivered"], 0,
        "a client that does not log in gets nothing done: {v}"
    );
    let log = p.log();
    assert!(
        log.contains("user mallory is not in the allowlist"),
        "{log}"
    );
    assert!(log.contains("before SASL authentication"), "{log}");
    assert_eq!(
        values(&b, "authed").len(),
        5,
        "only alice's records are stored"
    );
}
