//! The schema registry with real clients: confluent-kafka's Avro, JSON Schema and Protobuf
//! serializers register their schemas at the proxy's registry and produce through the
//! proxy; every cluster holds the records, which read back with the matching deserializers;
//! records that do not match their schema are refused with `INVALID_RECORD` while valid ones
//! beside them pass; incompatible and invalid schemas are refused with 409 and 422; the
//! registry's state survives a restart, is served by another instance, and two instances
//! registering different schemas at once get different ids.

use kafkatwin_tests::{Broker, Proxy, create_topic, free_port, http, last_json, python_script};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The registry section and one `validate_schema` rule per topic of the script.
fn config(port: u16, prefix: &str) -> String {
    let rule = |topic: &str, format: &str| {
        format!(
            "  - topic: {prefix}-{topic}\n    rules:\n      - id: check-{topic}\n        \
             actions: [{{ type: validate_schema, format: {format} }}]\n"
        )
    };
    format!(
        "schema_registry:\n  enabled: true\n  listen_address: \"127.0.0.1\"\n  port: {port}\n\
         transformations:\n{}{}{}{}",
        rule("avro", "confluent"),
        rule("json", "confluent"),
        rule("proto", "confluent"),
        rule("plain", "json"),
    )
}

fn ids(prefix: &str, n: usize) -> Value {
    let mut v: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    v.sort();
    json!(v)
}

#[test]
fn serializers_round_trip_through_every_cluster_and_bad_records_are_refused() {
    let (b1, b2) = (Broker::start("c1"), Broker::start("c2"));
    let port = free_port();
    let proxy = Proxy::with_yaml(&[&b1, &b2], &config(port, "sr"));
    for t in ["sr-avro", "sr-json", "sr-proto", "sr-plain"] {
        create_topic(&proxy.bootstrap(), t, 2);
    }
    let n = 20;
    let out = python_script("schema_registry.py")
        .args(["--bootstrap", &proxy.bootstrap()])
        .args(["--registry", &format!("http://127.0.0.1:{port}")])
        .args(["--cluster", &b1.addr(), "--cluster", &b2.addr()])
        .args([
            "--records",
            &n.to_string(),
            "--prefix",
            "sr",
            "--partitions",
            "2",
        ])
        .output()
        .expect("run schema_registry.py");
    let r = last_json(&out.stdout);
    assert!(
        out.status.success() && r.is_object(),
        "schema_registry.py failed:\n{}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    let ctx = format!("report: {r}\nproxy log:\n{}", proxy.log());
    for (topic, p) in [
        ("sr-avro", "a"),
        ("sr-json", "j"),
        ("sr-proto", "p"),
        ("sr-plain", "q"),
    ] {
        let produced = &r["produced"][topic];
        assert_eq!(produced["errors"], json!([]), "{topic}: {ctx}");
        assert_eq!(produced["acked"], ids(p, n), "{topic}: {ctx}");
        for cluster in [b1.addr(), b2.addr()] {
            // Exactly the acknowledged records, each decoded by its deserializer: nothing
            // refused got through, nothing is doubled.
            assert_eq!(
                r["clusters"][&cluster][topic],
                ids(p, n),
                "{topic} on {cluster}: {ctx}"
            );
        }
    }
    // The client is told INVALID_RECORD; librdkafka does not pass on the partition's error
    // message, so what it says is read where the proxy logs the answer it sent.
    let log = proxy.log();
    for (case, says) in [
        (
            "no_magic_byte",
            "record 0: subject sr-avro-value: no magic byte",
        ),
        (
            "unknown_id",
            "record 0: subject sr-avro-value, schema id 9999: unknown schema id 9999",
        ),
        (
            "does_not_match",
            "record 0: subject sr-avro-value, schema id 1: not a datum of this Avro schema",
        ),
        (
            "plain_json_mismatch",
            "record 0: subject sr-plain-value, schema id 2: $.amount: \"x\" is not of type",
        ),
    ] {
        assert_eq!(
            r["refused"][case]["code"], "INVALID_RECORD",
            "{case}: {ctx}"
        );
        assert!(log.contains(says), "{case}: {says:?} not in the log\n{ctx}");
    }
    assert_eq!(r["register"]["incompatible"]["status"], 409, "{ctx}");
    assert_eq!(r["register"]["invalid"]["status"], 422, "{ctx}");
    assert_eq!(r["register"]["invalid"]["code"], 42201, "{ctx}");
    let metrics = http::get(proxy.metrics_port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kafkatwin_schema_validations_total")
                && l.contains("outcome=\"invalid\"")),
        "{metrics}"
    );
}

const SCHEMA_A: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}"#;
const SCHEMA_B: &str = r#"{"type":"record","name":"B","fields":[{"name":"b","type":"long"}]}"#;

fn register(port: u16, subject: &str, schema: &str) -> (u16, Value) {
    let body = json!({ "schema": schema }).to_string();
    let (s, b) = http::send(
        port,
        "POST",
        &format!("/subjects/{subject}/versions"),
        &body,
    )
    .expect("registry answers");
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

fn read(port: u16, path: &str) -> (u16, Value) {
    let (s, b) = http::get(port, path).expect("registry answers");
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

/// Reads `path` until it answers 200: another instance's change reaches this one through
/// the control log, within moments.
fn read_eventually(port: u16, path: &str, proxy: &Proxy) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = read(port, path);
        if s == 200 {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {s} {v}
{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn registry_state_survives_restart_reaches_other_instances_and_ids_never_collide() {
    let (b1, b2, b3) = Broker::three();
    let brokers = [&b1, &b2, &b3];
    let (p1, p2) = (free_port(), free_port());
    let mut one = Proxy::with_yaml(&brokers, &config(p1, "x"));
    let two = Proxy::with_yaml(&brokers, &config(p2, "x"));
    // Two instances register different schemas at the same moment, several times over.
    let mut first: Option<(Value, Value)> = None;
    for round in 0..3 {
        let (sa, sb) = (format!("race-a{round}"), format!("race-b{round}"));
        let a = std::thread::spawn(move || register(p1, &sa, SCHEMA_A));
        let b = std::thread::spawn(move || register(p2, &sb, SCHEMA_B));
        let ((s1, v1), (s2, v2)) = (a.join().expect("a"), b.join().expect("b"));
        assert_eq!(
            (s1, s2),
            (200, 200),
            "{v1} {v2}\n{}\n{}",
            one.log(),
            two.log()
        );
        assert_ne!(v1["id"], v2["id"], "two schemas, one id: {v1} {v2}");
        match &first {
            None => first = Some((v1["id"].clone(), v2["id"].clone())),
            // The same schemas under new subjects: the ids they already hold.
            Some((ia, ib)) => assert_eq!((&v1["id"], &v2["id"]), (ia, ib), "round {round}"),
        }
    }
    let (_, a) = register(p1, "race-a0", SCHEMA_A);
    let (_, b) = register(p2, "race-b0", SCHEMA_B);
    // Each instance serves what the other registered.
    let v = read_eventually(p1, &format!("/schemas/ids/{}", b["id"]), &one);
    assert_eq!(v["schema"].as_str(), Some(SCHEMA_B), "{v}");
    let v = read_eventually(p2, &format!("/schemas/ids/{}", a["id"]), &two);
    assert_eq!(v["schema"].as_str(), Some(SCHEMA_A), "{v}");
    // A new instance, started after the first stopped, serves every id and subject.
    one.terminate(Duration::from_secs(10));
    let p3 = free_port();
    let three = Proxy::with_yaml(&brokers, &config(p3, "x"));
    let v = read_eventually(p3, &format!("/schemas/ids/{}", a["id"]), &three);
    assert_eq!(v["schema"].as_str(), Some(SCHEMA_A), "{v}");
    let (s, v) = read(p3, "/subjects");
    assert_eq!(s, 200);
    for subject in ["race-a0", "race-b0", "race-a2", "race-b2"] {
        assert!(
            v.as_array().is_some_and(|l| l.contains(&json!(subject))),
            "{v}"
        );
    }
    let (_, v) = read(p3, "/subjects/race-b0/versions/latest");
    assert_eq!(v["id"], b["id"], "{v}");
}
