//! Rule chains from YAML applied on produce through the proxy, checked on the records stored
//! in the backend (read directly from the broker, not through the proxy), for every codec.

use kafkatwin_tests::{Broker, Proxy, cache_dir};
use std::process::Command;

const RULES: &str = r#"
transformations:
  - pattern: "people-.*"
    rules:
      - { id: "mask-pii", name: "Mask PII Data", enabled: true, priority: 10,
          conditions: [ { type: "field_exists", field: "ssn" } ],
          actions: [ { type: "mask_field", field: "ssn" },
                     { type: "set_header", field: "pii-masked", value: "true" } ] }
  - topic: "strict"
    rules:
      - { id: "json-only", on_invalid: "reject",
          actions: [ { type: "remove_field", field: "secret" } ] }
"#;

/// Produces through the proxy with librdkafka, then reads the topic straight from the
/// broker; prints one JSON line per stored record (or the delivery errors).
const CLIENT: &str = r#"
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
proxy, broker, topic, codec = sys.argv[1:5]
admin = AdminClient({"bootstrap.servers": proxy})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
p = Producer({"bootstrap.servers": proxy, "compression.type": codec, "linger.ms": 50,
              "enable.idempotence": True})
errors = []
cb = lambda err, msg: errors.append(str(err)) if err else None
p.produce(topic, key=b"k1", value=b'{"ssn": "123-45-6789", "name": "Ann"}', headers=[("h", b"1")], on_delivery=cb)
p.produce(topic, key=b"k2", value=b'{ "name" :  "Bob" }', on_delivery=cb)
p.produce(topic, key=b"k3", value=b"not json at all", on_delivery=cb)
p.flush(15)
c = Consumer({"bootstrap.servers": broker, "group.id": "check-" + topic, "enable.auto.commit": False})
c.assign([TopicPartition(topic, 0, 0)])
out = []
for _ in range(40):
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        out.append({"key": m.key().decode(), "value": m.value().decode(errors="replace"),
                    "headers": [[k, v.decode()] for k, v in (m.headers() or [])]})
    if len(out) >= 3 or (errors and len(out) >= 3 - len(errors)):
        break
c.close()
print(json.dumps({"errors": errors, "stored": out}))
"#;

/// Runs a Python client script with the test venv; returns the JSON on its last line.
fn python(proxy: &Proxy, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(cache_dir().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python client");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("client report")
}

fn run(proxy: &Proxy, broker: &Broker, topic: &str, codec: &str) -> serde_json::Value {
    python(
        proxy,
        CLIENT,
        &[&proxy.bootstrap(), &broker.addr(), topic, codec],
    )
}

fn start() -> (Broker, Proxy) {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(&[&broker], RULES);
    (broker, proxy)
}

#[test]
fn mask_pii_is_stored_masked_for_every_codec_and_other_records_stay_byte_identical() {
    let (broker, proxy) = start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let report = run(&proxy, &broker, &format!("people-{codec}"), codec);
        assert_eq!(report["errors"], serde_json::json!([]), "{codec}: {report}");
        let stored = report["stored"].as_array().expect("records");
        assert_eq!(stored.len(), 3, "{codec}: {report}");
        let masked: serde_json::Value =
            serde_json::from_str(stored[0]["value"].as_str().expect("value")).expect("json");
        assert_eq!(masked["ssn"], "***********", "{codec}: {report}");
        assert_eq!(masked["name"], "Ann");
        assert_eq!(
            stored[0]["headers"],
            serde_json::json!([["h", "1"], ["pii-masked", "true"]]),
            "{codec}"
        );
        // No ssn: untouched, byte for byte, and no header added.
        assert_eq!(stored[1]["value"], "{ \"name\" :  \"Bob\" }", "{codec}");
        assert_eq!(stored[1]["headers"], serde_json::json!([]), "{codec}");
        assert_eq!(
            stored[2]["value"], "not json at all",
            "{codec}: skipped, not rejected"
        );
    }
    // The runtime counts each rule's outcomes: one masked and two skipped records per codec.
    let (_, metrics) = kafkatwin_tests::http::get(proxy.metrics_port, "/metrics").expect("metrics");
    for want in [
        r#"kafkatwin_rule_records_total{hook="on_produce",outcome="applied",rule="mask-pii"} 5"#,
        r#"kafkatwin_rule_records_total{hook="on_produce",outcome="skipped",rule="mask-pii"} 10"#,
        r#"kafkatwin_hook_latency_seconds_count{hook="on_produce"}"#,
        r#"kafkatwin_rule_seconds_total{hook="on_produce",rule="mask-pii"}"#,
    ] {
        assert!(metrics.contains(want), "missing {want} in:\n{metrics}");
    }
}

#[test]
fn a_rejecting_rule_fails_that_partition_with_invalid_record() {
    let (broker, proxy) = start();
    let report = run(&proxy, &broker, "strict", "none");
    let errors = report["errors"].as_array().expect("errors");
    assert!(
        !errors.is_empty(),
        "non-JSON values must be refused: {report}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.as_str().is_some_and(|s| s.contains("INVALID_RECORD"))),
        "{report}"
    );
    assert!(
        proxy
            .log()
            .contains("rule \"json-only\" rejected the record"),
        "{}",
        proxy.log()
    );
}

#[test]
fn bad_rules_in_yaml_are_config_errors_naming_the_rule_and_field() {
    let dir = std::env::temp_dir().join(format!("kt-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad-rules.yaml");
    std::fs::write(
        &file,
        "clusters: [{id: c1, bootstrap_servers: [\"h:1\"]}]\ntransformations:\n  - topic: t\n    rules:\n      - { id: broken, actions: [ { type: mask_field, field: \"a..b\" } ] }\n      - { id: odd, actions: [ { type: explode } ] }\n",
    )
    .expect("write");
    let out = Command::new(kafkatwin_tests::kafkatwin_bin())
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run check-config");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("transformations[0].rules[0].actions[0].field"),
        "{err}"
    );
    assert!(err.contains("rule \"broken\""), "{err}");
    assert!(err.contains("transformations[0].rules[1]"), "{err}");
}

const FETCH_RULES: &str = r#"
transformations:
  - topic: "cards"
    rules:
      - { id: "mask-card-on-read", hook: "on_fetch",
          actions: [ { type: "mask_field", field: "card", mode: "keep_last", keep_last: 4 } ] }
      - { id: "hide-name-for-analytics", hook: "on_fetch", clients: ["analytics"],
          actions: [ { type: "remove_field", field: "name" } ] }
"#;

const READERS: &str = r#"
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
proxy, broker = sys.argv[1:3]
admin = AdminClient({"bootstrap.servers": proxy})
admin.create_topics([NewTopic("cards", 1, 1)])["cards"].result(10)
p = Producer({"bootstrap.servers": proxy})
p.produce("cards", value=b'{"card": "4111111111111111", "name": "Ann"}')
assert p.flush(15) == 0
def read(bootstrap, client_id):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "r-" + client_id,
                  "client.id": client_id, "enable.auto.commit": False})
    c.assign([TopicPartition("cards", 0, 0)])
    for _ in range(40):
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            c.close()
            return json.loads(m.value())
    c.close()
    return None
print(json.dumps({"stored": read(broker, "direct"), "ops": read(proxy, "ops"),
                  "analytics": read(proxy, "analytics")}))
"#;

#[test]
fn on_fetch_rules_change_what_readers_see_not_what_is_stored() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(&[&broker], FETCH_RULES);
    let r = python(&proxy, READERS, &[&proxy.bootstrap(), &broker.addr()]);
    assert_eq!(
        r["stored"],
        serde_json::json!({"card": "4111111111111111", "name": "Ann"})
    );
    assert_eq!(
        r["ops"],
        serde_json::json!({"card": "************1111", "name": "Ann"})
    );
    assert_eq!(
        r["analytics"],
        serde_json::json!({"card": "************1111"})
    );
}

const BRIEF_RULE: &str = r#"{ "id": "mask-pii", "name": "Mask PII Data", "enabled": true, "priority": 10,
  "conditions": [ { "type": "field_exists", "field": "ssn" } ],
  "actions": [ { "type": "mask_field", "field": "ssn" },
               { "type": "set_header", "field": "pii-masked", "value": "true" } ] }"#;

#[test]
fn rules_posted_through_the_admin_api_apply_live_and_can_be_removed() {
    use kafkatwin_tests::http::{get, send};
    let (broker, proxy) = start();
    let port = proxy.admin_port;
    // The documented example, posted as the docs show, to a topic no YAML rule covers.
    let (s, body) =
        send(port, "POST", "/api/v1/transformations/api-only", BRIEF_RULE).expect("post");
    assert_eq!(s, 201, "{body}");
    // Same id again: conflict. A bad rule: 400 naming the field.
    let (s, _) = send(port, "POST", "/api/v1/transformations/api-only", BRIEF_RULE).expect("post");
    assert_eq!(s, 409);
    let bad = r#"{"id":"b","actions":[{"type":"mask_field","field":"a..b"}]}"#;
    let (s, body) = send(port, "POST", "/api/v1/transformations/api-only", bad).expect("post");
    assert_eq!(s, 400);
    assert!(body.contains("\"field\":\"actions[0].field\""), "{body}");
    // It applies to records produced from now on.
    let report = run(&proxy, &broker, "api-only", "none");
    let masked: serde_json::Value =
        serde_json::from_str(report["stored"][0]["value"].as_str().expect("value")).expect("json");
    assert_eq!(masked["ssn"], "***********", "{report}");
    assert_eq!(
        report["stored"][0]["headers"][1],
        serde_json::json!(["pii-masked", "true"])
    );
    // A topic covered by the YAML pattern lists both, with their origins.
    let tag = r#"{"id":"tag","actions":[{"type":"set_header","field":"t","value":"1"}]}"#;
    let (s, _) = send(port, "POST", "/api/v1/transformations/people-api", tag).expect("post");
    assert_eq!(s, 201);
    let (s, body) = get(port, "/api/v1/transformations/people-api").expect("list");
    assert_eq!(s, 200);
    let listed: serde_json::Value = serde_json::from_str(&body).expect("json");
    let origins: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["origin"].as_str())
        .collect();
    assert_eq!(origins, vec!["config", "api"], "{body}");
    // Config rules are not the API's to change.
    let (s, _) = send(
        port,
        "DELETE",
        "/api/v1/transformations/people-api/mask-pii",
        "",
    )
    .expect("delete");
    assert_eq!(s, 409);
    // Replace it with one that only sets a header, then delete it.
    let header_only =
        r#"{"id":"mask-pii","actions":[{"type":"set_header","field":"seen","value":"1"}]}"#;
    let (s, _) = send(
        port,
        "PUT",
        "/api/v1/transformations/api-only/mask-pii",
        header_only,
    )
    .expect("put");
    assert_eq!(s, 200);
    let (s, _) = send(
        port,
        "DELETE",
        "/api/v1/transformations/api-only/mask-pii",
        "",
    )
    .expect("delete");
    assert_eq!(s, 204);
    let (s, _) = send(
        port,
        "DELETE",
        "/api/v1/transformations/api-only/mask-pii",
        "",
    )
    .expect("delete");
    assert_eq!(s, 404);
    let (s, _) = get(port, "/api/v1/transformations/api-only").expect("list");
    assert_eq!(s, 404, "no rules left for the topic");
}

/// Polls `GET path` on `port` until it answers 200 (the state log is followed every ~0.5 s).
fn wait_listed(port: u16, path: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Ok((200, body)) = kafkatwin_tests::http::get(port, path) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never listed on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn api_rules_survive_a_restart_and_reach_other_instances() {
    use kafkatwin_tests::http::send;
    let broker = Broker::start("c1");
    let mut a = Proxy::start(&[&broker]);
    let b = Proxy::start(&[&broker]);
    let (s, body) = send(
        a.admin_port,
        "POST",
        "/api/v1/transformations/shared",
        BRIEF_RULE,
    )
    .expect("post");
    assert_eq!(s, 201, "{body}");
    // The other instance applies it from the state log, without a restart.
    let listed = wait_listed(b.admin_port, "/api/v1/transformations/shared");
    assert!(listed.contains("mask-pii"), "{listed}");
    let report = run(&b, &broker, "shared", "none");
    let masked: serde_json::Value =
        serde_json::from_str(report["stored"][0]["value"].as_str().expect("value")).expect("json");
    assert_eq!(masked["ssn"], "***********", "instance b masks: {report}");
    // A restarted instance reads it back.
    a.terminate(std::time::Duration::from_secs(10));
    let c = Proxy::start(&[&broker]);
    let listed = wait_listed(c.admin_port, "/api/v1/transformations/shared");
    assert!(listed.contains("\"origin\":\"api\""), "{listed}");
}

#[test]
fn a_refused_partition_leaves_the_other_partitions_of_the_request_alone() {
    use kafka_protocol::messages::*;
    use kafkatwin_tests::wire::{Conn, build};
    let (_broker, proxy) = start();
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    for t in ["strict", "free"] {
        c.call(ApiKey::CreateTopics, 7, build::create_topic(t, 1))
            .expect("create");
    }
    let batch = build::batch(&[("k".into(), "not json".into())]);
    let part = |b: &bytes::Bytes| {
        vec![
            produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(b.clone())),
        ]
    };
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(build::topic("strict"))
                .with_partition_data(part(&batch)),
            produce_request::TopicProduceData::default()
                .with_name(build::topic("free"))
                .with_partition_data(part(&batch)),
        ]);
    let ResponseKind::Produce(r) = c
        .call(ApiKey::Produce, 9, RequestKind::Produce(req))
        .expect("produce")
    else {
        panic!("not a produce response")
    };
    let find = |name: &str| {
        r.responses
            .iter()
            .find(|t| t.name.as_str() == name)
            .and_then(|t| t.partition_responses.first())
            .cloned()
            .unwrap_or_else(|| panic!("no answer for {name}: {r:?}"))
    };
    let strict = find("strict");
    assert_eq!(strict.error_code, 87, "INVALID_RECORD: {r:?}");
    let msg = strict
        .error_message
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("json-only") && msg.contains("not JSON"),
        "{msg}"
    );
    let free = find("free");
    assert_eq!((free.error_code, free.base_offset), (0, 0), "{r:?}");
}
