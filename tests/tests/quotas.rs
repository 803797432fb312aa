//! Client quotas through the proxy with real clients: a limited producer and consumer are
//! held near their rates while unlimited clients beside them are not, librdkafka reports the
//! throttle, a change through the admin API reaches connections already open, API quotas
//! survive a restart and reach every instance, and bad bodies are refused naming the field.

use kafkatwin_tests::{
    Broker, Proxy, create_topic, http, last_json, metric, python_script, repo_root,
};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KIB: f64 = 1024.0;

/// `quota_client.py` started in the background.
fn client(mode: &str, proxy: &Proxy, topic: &str, client_id: &str, seconds: u32) -> Child {
    client_with(mode, proxy, topic, client_id, seconds, &[])
}

fn client_with(
    mode: &str,
    proxy: &Proxy,
    topic: &str,
    client_id: &str,
    seconds: u32,
    extra: &[&str],
) -> Child {
    python_script("quota_client.py")
        .args([mode, "--bootstrap", &proxy.bootstrap(), "--topic", topic])
        .args(extra)
        .args(["--client-id", client_id, "--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quota client")
}

/// The client's report; panics with its output and the proxy's log if it failed.
fn report(child: Child, proxy: &Proxy) -> Value {
    let out = child.wait_with_output().expect("quota client ran");
    let v = last_json(&out.stdout);
    assert!(
        out.status.success() && v.is_object() && v["error_count"] == 0,
        "quota client failed: {}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    v
}

fn bytes(v: &Value) -> f64 {
    v["bytes"].as_f64().unwrap_or(0.0)
}

/// Most bytes a client limited to `rate` per second may get through in `seconds`: the
/// quota's window (11 samples of 1 s) lets a first burst of up to ten seconds' worth
/// through, as Kafka's does, and the request that takes a client over is still served; some
/// slack for the requests in flight (librdkafka: 5, of at most 64 KiB in these runs).
fn allowance(rate: f64, seconds: f64) -> f64 {
    rate * (10.0 + seconds) * 1.1 + 6.0 * 64.0 * KIB
}

fn quota_yaml(clients: &str) -> String {
    format!("quotas:\n  clients:\n{clients}")
}

#[test]
fn a_limited_producer_is_throttled_while_an_unlimited_one_beside_it_is_not() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        &quota_yaml("    limited: { produce_byte_rate: 131072 }\n"),
    );
    create_topic(&proxy.bootstrap(), "q-limited", 1);
    create_topic(&proxy.bootstrap(), "q-free", 1);
    let seconds = 8;
    let limited = client("produce", &proxy, "q-limited", "limited", seconds);
    let free = client("produce", &proxy, "q-free", "free", seconds);
    let (limited, free) = (report(limited, &proxy), report(free, &proxy));
    let cap = allowance(128.0 * KIB, f64::from(seconds));
    assert!(
        bytes(&limited) <= cap,
        "the limited producer got {} bytes through, over the {cap} its quota allows: {limited}",
        bytes(&limited)
    );
    assert!(
        bytes(&free) > cap && bytes(&free) > 2.0 * bytes(&limited),
        "the unlimited producer was slowed too ({} bytes): {free}",
        bytes(&free)
    );
    // The throttle reaches librdkafka in the answers' throttle_time_ms.
    assert!(
        limited["throttle_max_ms"].as_u64().unwrap_or(0) > 0,
        "librdkafka saw no throttle: {limited}"
    );
    assert_eq!(free["throttle_max_ms"], 0, "{free}");
    let throttled = metric(
        &proxy,
        "kafkatwin_quota_throttle_seconds_total{entity=\"client-id=limited\",kind=\"produce\"}",
    );
    assert!(throttled.is_some_and(|s| s > 0.0), "{throttled:?}");
    let counted = metric(
        &proxy,
        "kafkatwin_quota_bytes_total{entity=\"client-id=limited\",kind=\"produce\"}",
    );
    assert!(counted.is_some_and(|b| b >= bytes(&limited)), "{counted:?}");
    // The admin API shows the current rate of the client id.
    let (status, body) = http::get(proxy.admin_port, "/api/v1/quotas/limited").expect("get");
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(view["origin"], "config", "{view}");
    assert!(
        view["current"]["produce_byte_rate"].as_f64().is_some(),
        "{view}"
    );
}

/// `quota_produce.js` (kafkajs) started in the background.
fn kafkajs_producer(proxy: &Proxy, topic: &str, client_id: &str, seconds: u32) -> Child {
    Command::new("node")
        .arg(repo_root().join("tests/clients/node/quota_produce.js"))
        .args(["--bootstrap", &proxy.bootstrap(), "--topic", topic])
        .args(["--client-id", client_id, "--seconds", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kafkajs producer")
}

#[test]
fn a_limited_kafkajs_producer_is_held_to_its_quota_too() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        &quota_yaml("    limited-js: { produce_byte_rate: 131072 }\n"),
    );
    create_topic(&proxy.bootstrap(), "q-js", 1);
    let seconds = 8;
    let limited = kafkajs_producer(&proxy, "q-js", "limited-js", seconds);
    let free = kafkajs_producer(&proxy, "q-js", "free-js", seconds);
    let (limited, free) = (report(limited, &proxy), report(free, &proxy));
    let cap = allowance(128.0 * KIB, f64::from(seconds));
    assert!(
        bytes(&limited) > 0.0 && bytes(&limited) <= cap,
        "the limited kafkajs producer got {} bytes through (cap {cap}): {limited}",
        bytes(&limited)
    );
    assert!(
        bytes(&free) > 2.0 * bytes(&limited),
        "the unlimited kafkajs producer was slowed too: {free} beside {limited}"
    );
    let throttled = metric(
        &proxy,
        "kafkatwin_quota_throttle_seconds_total{entity=\"client-id=limited-js\",kind=\"produce\"}",
    );
    assert!(throttled.is_some_and(|s| s > 0.0), "{throttled:?}");
}

#[test]
fn a_limited_consumer_is_throttled_while_an_unlimited_one_beside_it_is_not() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        &quota_yaml("    slow-reader: { fetch_byte_rate: 262144 }\n"),
    );
    create_topic(&proxy.bootstrap(), "q-read", 1);
    // 12 MiB to read, more than the limited consumer may take in the time.
    let fill = client_with(
        "produce",
        &proxy,
        "q-read",
        "filler",
        20,
        &["--max-bytes", &(12 << 20).to_string()],
    );
    let filled = bytes(&report(fill, &proxy));
    let seconds = 6;
    let limited = client("consume", &proxy, "q-read", "slow-reader", seconds);
    let free = client("consume", &proxy, "q-read", "fast-reader", seconds);
    let (limited, free) = (report(limited, &proxy), report(free, &proxy));
    let cap = allowance(256.0 * KIB, f64::from(seconds));
    assert!(
        filled > 2.0 * cap,
        "the topic holds too little ({filled} bytes) to tell the consumers apart"
    );
    assert!(
        bytes(&limited) <= cap,
        "the limited consumer read {} bytes, over the {cap} its quota allows: {limited}",
        bytes(&limited)
    );
    assert!(
        bytes(&free) >= filled * 0.9,
        "the unlimited consumer did not read the topic ({} of {filled} bytes): {free}",
        bytes(&free)
    );
    assert!(
        bytes(&limited) > 0.0,
        "the limited consumer read nothing at all: {limited}"
    );
    assert!(
        limited["throttle_max_ms"].as_u64().unwrap_or(0) > 0,
        "librdkafka saw no throttle: {limited}"
    );
    let throttled = metric(
        &proxy,
        "kafkatwin_quota_throttle_seconds_total{entity=\"client-id=slow-reader\",kind=\"fetch\"}",
    );
    assert!(throttled.is_some_and(|s| s > 0.0), "{throttled:?}");
}

/// Bytes acknowledged in `per_second[from..to]`.
fn window(v: &Value, from: usize, to: usize) -> f64 {
    v["per_second"].as_array().map_or(0.0, |a| {
        a[from.min(a.len())..to.min(a.len())]
            .iter()
            .filter_map(Value::as_f64)
            .sum()
    })
}

#[test]
fn a_quota_set_through_the_api_applies_to_open_connections_and_survives_a_restart() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    create_topic(&proxy.bootstrap(), "q-live", 1);
    let running = client("produce", &proxy, "q-live", "changing", 9);
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = http::send(
        proxy.admin_port,
        "PUT",
        "/api/v1/quotas/changing",
        r#"{"produce_byte_rate": 65536}"#,
    )
    .expect("put");
    assert_eq!(status, 201, "{body}");
    let v = report(running, &proxy);
    // Unlimited for its first 3 s, then held: its first seconds' burst filled the window, so
    // the quota stops it at once.
    let before = window(&v, 0, 3);
    let after = window(&v, 5, 9);
    assert!(before > 0.0, "{v}");
    assert!(
        after < before * 0.1,
        "the quota did not reach the open connection: {before} bytes in the first 3 s, {after} in the last 4: {v}"
    );
    // A restart reads it back from the control log.
    proxy.terminate(Duration::from_secs(10));
    let proxy = Proxy::start(&[&broker]);
    let listed = kafkatwin_tests::eventually(Duration::from_secs(20), || {
        http::get(proxy.admin_port, "/api/v1/quotas/changing")
            .is_ok_and(|(s, b)| s == 200 && b.contains("\"origin\":\"api\""))
    });
    assert!(
        listed,
        "the API quota was lost in the restart:\n{}",
        proxy.log()
    );
    let limited = client("produce", &proxy, "q-live", "changing", 5);
    let v = report(limited, &proxy);
    let cap = allowance(64.0 * KIB, 5.0);
    assert!(
        bytes(&v) <= cap && v["throttle_max_ms"].as_u64().unwrap_or(0) > 0,
        "the quota read back after the restart is not enforced (cap {cap}): {v}"
    );
}

#[test]
fn quota_bodies_are_checked_and_entries_listed_with_their_origin() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        "quotas:\n  defaults:\n    client: { request_rate: 5000 }\n  clients:\n    from-file: { fetch_byte_rate: 1048576 }\n",
    );
    let port = proxy.admin_port;
    for (body, field) in [
        (r#"{"produce_byte_rate": -1}"#, "produce_byte_rate"),
        (r#"{"fetch_byte_rate": "lots"}"#, "fetch_byte_rate"),
        (r#"{"request_rate": 0}"#, "request_rate"),
        (r#"{"produce_byte_rate": 10, "burst": 5}"#, "burst"),
    ] {
        let (status, resp) = http::send(port, "PUT", "/api/v1/quotas/app", body).expect("put");
        assert_eq!(status, 400, "{body}: {resp}");
        let v: Value = serde_json::from_str(&resp).expect("json error");
        assert_eq!(v["field"], field, "{body}: {resp}");
    }
    let (status, resp) = http::send(port, "PUT", "/api/v1/quotas/app", "{}").expect("put");
    assert_eq!(status, 400, "{resp}");
    let (status, resp) = http::send(port, "DELETE", "/api/v1/quotas/nobody", "").expect("delete");
    assert_eq!(status, 404, "{resp}");

    let body =
        r#"{"produce_byte_rate": 10485760, "fetch_byte_rate": 52428800, "request_rate": 1000}"#;
    let (status, resp) = http::send(port, "PUT", "/api/v1/quotas/client-1", body).expect("put");
    assert_eq!(status, 201, "{resp}");
    let version = serde_json::from_str::<Value>(&resp).expect("json")["version"].clone();
    assert!(version.is_i64(), "{resp}");
    // A change based on an older version is refused.
    let (status, resp) = http::send_with_headers(
        port,
        "PUT",
        "/api/v1/quotas/client-1",
        r#"{"request_rate": 10}"#,
        "If-Match: \"-5\"\r\n",
    )
    .expect("put");
    assert_eq!(status, 412, "{resp}");
    let (status, resp) = http::get(port, "/api/v1/quotas").expect("list");
    assert_eq!(status, 200);
    let list: Vec<Value> = serde_json::from_str(&resp).expect("json");
    let find = |entity: &str| list.iter().find(|e| e["entity"] == entity).cloned();
    assert_eq!(
        find("client-id=client-1").map(|e| e["origin"].clone()),
        Some("api".into()),
        "{resp}"
    );
    assert_eq!(
        find("client-id=client-1").map(|e| e["fetch_byte_rate"].clone()),
        Some(52428800.into()),
        "{resp}"
    );
    assert_eq!(
        find("client-id=from-file").map(|e| e["origin"].clone()),
        Some("config".into()),
        "{resp}"
    );
    assert_eq!(
        find("client-id=<default>").map(|e| e["request_rate"].clone()),
        Some(5000.into()),
        "{resp}"
    );
    // A client id without an entry of its own shows the default that applies to it.
    let (status, resp) = http::get(port, "/api/v1/quotas/someone").expect("get");
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("\"origin\":\"default\""), "{resp}");
    let (status, _) = http::send(port, "DELETE", "/api/v1/quotas/client-1", "").expect("delete");
    assert_eq!(status, 204);
    let (status, _) = http::send(port, "DELETE", "/api/v1/quotas/client-1", "").expect("delete");
    assert_eq!(status, 404);
    // The changes are in the audit trail.
    let (_, audit) = http::get(port, "/api/v1/audit").expect("audit");
    assert!(
        audit.contains("PUT /api/v1/quotas/client-1")
            && audit.contains("DELETE /api/v1/quotas/client-1"),
        "{audit}"
    );
}

#[test]
fn a_quota_set_on_one_instance_is_enforced_by_every_instance_each_metering_its_own_connections() {
    let (c1, c2) = (Broker::start("c1"), Broker::start("c2"));
    let yaml = "producer:\n  ack_policy: ALL_CLUSTERS\n";
    let one = Proxy::scale_out_instance(&[&c1, &c2], 1, yaml, Vec::new());
    let two = Proxy::scale_out_instance(&[&c1, &c2], 2, yaml, Vec::new());
    for p in [&one, &two] {
        kafkatwin_tests::wait_log(
            p,
            "instance membership: 2 instance(s)",
            Duration::from_secs(30),
        );
    }
    create_topic(&one.bootstrap(), "q-two", 4);
    let (status, resp) = http::send(
        one.admin_port,
        "PUT",
        "/api/v1/quotas/shared",
        r#"{"produce_byte_rate": 65536}"#,
    )
    .expect("put");
    assert_eq!(status, 201, "{resp}");
    let seen = kafkatwin_tests::eventually(Duration::from_secs(20), || {
        http::get(two.admin_port, "/api/v1/quotas/shared")
            .is_ok_and(|(s, b)| s == 200 && b.contains("\"origin\":\"api\""))
    });
    assert!(seen, "instance 2 never applied the quota:\n{}", two.log());
    // A producer bootstrapped on instance two writes to the partitions of both instances.
    let seconds = 6;
    let v = report(client("produce", &two, "q-two", "shared", seconds), &two);
    // Each instance meters the connections it serves, as each Kafka broker does: the client
    // gets at most its quota from each of the two.
    let cap = 2.0 * allowance(64.0 * KIB, f64::from(seconds));
    assert!(
        bytes(&v) <= cap && v["throttle_max_ms"].as_u64().unwrap_or(0) > 0,
        "the quota was not enforced (cap {cap} for two instances): {v}"
    );
    for p in [&one, &two] {
        let throttled = metric(
            p,
            "kafkatwin_quota_throttle_seconds_total{entity=\"client-id=shared\",kind=\"produce\"}",
        );
        assert!(
            throttled.is_some_and(|s| s > 0.0),
            "an instance did not throttle the client on its own connections: {throttled:?}"
        );
    }
}

#[test]
fn a_users_quota_applies_to_the_clients_logged_in_as_that_user() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        "auth:\n  plugins:\n    - plugin: auth-allowlist\n      config: { users: \"alice, bob\" }\n\
         quotas:\n  users:\n    alice: { produce_byte_rate: 131072 }\n",
    );
    let (code, info) = http::send_bytes(
        proxy.admin_port,
        "PUT",
        "/api/v1/plugins/auth-allowlist",
        "application/wasm",
        &kafkatwin_tests::wasm_module("auth_allowlist"),
    )
    .expect("upload");
    assert_eq!(code, 201, "{info}");
    for topic in ["q-alice", "q-bob"] {
        // Created by a first record, as a logged-in client.
        let out = kafkatwin_tests::produce_cmd(&proxy.bootstrap(), topic, 1)
            .args(["--partitions", "1", "--sasl-user", "alice"])
            .output()
            .expect("create ran");
        kafkatwin_tests::producer_report(&out, &proxy);
    }
    let seconds = 6;
    let as_user = |user: &str, topic: &str| {
        // Both use the same client id: only the user tells them apart.
        client_with(
            "produce",
            &proxy,
            topic,
            "same-app",
            seconds,
            &["--sasl-user", user],
        )
    };
    let (alice, bob) = (as_user("alice", "q-alice"), as_user("bob", "q-bob"));
    let (alice, bob) = (report(alice, &proxy), report(bob, &proxy));
    let cap = allowance(128.0 * KIB, f64::from(seconds));
    assert!(
        bytes(&alice) > 0.0 && bytes(&alice) <= cap,
        "alice's quota was not applied (cap {cap}): {alice}"
    );
    assert!(
        bytes(&bob) > cap && bytes(&bob) > 2.0 * bytes(&alice),
        "bob has no quota but was slowed: {bob} beside {alice}"
    );
    let throttled = metric(
        &proxy,
        "kafkatwin_quota_throttle_seconds_total{entity=\"user=alice\",kind=\"produce\"}",
    );
    assert!(throttled.is_some_and(|s| s > 0.0), "{throttled:?}");
}
