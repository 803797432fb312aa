//! The control plane survives the loss of any one cluster: admin changes are stored while the
//! first cluster is dead, a restart during that outage brings every rule, plugin and binding
//! back before the first record is served, a proxy started with one cluster hung answers
//! writes at once and stores each record once, and KafkaTwin's own topics are internal.
//! Three real Tansu clusters; every cluster read directly.

use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, MetadataRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafkatwin_tests::audit::{ProducerKind, audit, audit_clean, produce as produce_acked};
use kafkatwin_tests::http::{get, get_header, send, send_bytes, send_reading_header};
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy, eventually, last_json, replicate_script};
use serde_json::Value;
use std::time::Duration;

const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n\
                        circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";

fn post_rule(p: &Proxy, topic: &str, rule: &Value) -> (u16, String) {
    send(
        p.admin_port,
        "POST",
        &format!("/api/v1/transformations/{topic}"),
        &rule.to_string(),
    )
    .expect("admin api")
}

/// JSON records with an `ssn` through the proxy; how many were delivered.
fn produce_json(p: &Proxy, topic: &str, start: usize, count: usize) -> Value {
    let out = kafkatwin_tests::produce_cmd(&p.bootstrap(), topic, count)
        .args(["--json", "--start", &start.to_string()])
        .output()
        .expect("producer ran");
    last_json(&out.stdout)
}

#[test]
fn changes_are_stored_with_the_first_cluster_dead_and_a_restart_then_forgets_nothing() {
    let (mut a, b, c) = Broker::three();
    let mut p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let (code, body) = send_bytes(
        p.admin_port,
        "PUT",
        "/api/v1/plugins/redact",
        "application/wasm",
        &kafkatwin_tests::wasm_module("redact"),
    )
    .expect("admin api");
    assert_eq!(code, 201, "{body}");
    let (code, body) = post_rule(
        &p,
        "customers",
        &serde_json::json!({"id": "mask-pii", "conditions": [{"type": "field_exists", "field": "ssn"}],
            "actions": [{"type": "mask_field", "field": "ssn"}]}),
    );
    assert_eq!(code, 201, "{body}");
    // The first cluster dies: changes are still stored, on the two others.
    a.kill();
    let (code, body) = post_rule(
        &p,
        "redacted",
        &serde_json::json!({"id": "wasm-redact", "actions": [{"type": "wasm", "plugin": "redact", "config": {"fields": "ssn"}}]}),
    );
    assert_eq!(code, 201, "a change with c1 dead: {body}\n{}", p.log());
    // A restart while c1 is still dead brings back every rule, the plugin and its binding.
    assert!(
        p.terminate(Duration::from_secs(20)).is_some(),
        "proxy did not stop"
    );
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let ready = eventually(Duration::from_secs(30), || {
        get(p.health_port, "/health/ready").is_ok_and(|(s, _)| s == 200)
    });
    assert!(ready, "never ready:\n{}", p.log());
    for topic in ["customers", "redacted"] {
        let (code, body) =
            get(p.admin_port, &format!("/api/v1/transformations/{topic}")).expect("admin api");
        assert_eq!(code, 200, "rules of {topic} forgotten: {body}\n{}", p.log());
    }
    let (code, body) = get(p.admin_port, "/api/v1/plugins/redact").expect("admin api");
    assert_eq!(code, 200, "plugin forgotten: {body}");
    // Transformed from the first record on.
    for topic in ["customers", "redacted"] {
        let v = produce_json(&p, topic, 0, 20);
        assert_eq!(v["delivered"], 20, "{v}\n{}", p.log());
        let stored = kafkatwin_tests::stored_values(&b, topic);
        assert_eq!(stored.len(), 20, "{stored:?}");
        assert!(
            stored.iter().all(|v| !v.contains("-45-6789")),
            "{topic}: a record was stored unmasked: {stored:?}"
        );
    }
    // The dead cluster comes back empty: it gets the control state back too.
    let port = a.port;
    drop(a);
    let a = Broker::start_on("c1", port);
    let restored = eventually(Duration::from_secs(60), || {
        p.log().contains("control log: cluster c1 lacks")
    });
    assert!(restored, "c1 never sent the control state:\n{}", p.log());
    let _ = a;
}

#[test]
fn a_proxy_started_with_a_hung_cluster_writes_at_once_and_stores_each_record_once() {
    let (a, b, c) = Broker::three();
    c.pause();
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let created = eventually(Duration::from_secs(30), || {
        replicate_script()
            .args([
                "create",
                "--bootstrap",
                &p.bootstrap(),
                "--topic",
                "hung",
                "--partitions",
                "1",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(created, "topic not created:\n{}", p.log());
    // Default confluent-kafka settings (not idempotent): an answer later than its timeouts
    // would be retried and stored twice.
    let started = std::time::Instant::now();
    let run = produce_acked(
        ProducerKind::ConfluentPlain,
        &p.bootstrap(),
        "hung",
        0,
        1000,
        1,
    );
    let took = started.elapsed();
    assert_eq!(run.delivered(), 1000, "{}\n{}", run.report, p.log());
    eprintln!("1000 records acknowledged in {took:?} with c3 hung from the start");
    c.resume();
    let mut last = Value::Null;
    let clean = eventually(Duration::from_secs(60), || {
        last = audit(&[&a, &b, &c], "hung", 1, &[&run]);
        audit_clean(&last)
            && last["clusters"]
                .as_object()
                .is_some_and(|cs| cs.values().all(|c| c["duplicated_plain"] == 0))
    });
    assert!(
        clean,
        "records missing or stored twice: {last}\n{}",
        p.log()
    );
}

#[test]
fn kafkatwins_own_topics_are_internal_and_cannot_be_written_or_deleted() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let ready = eventually(Duration::from_secs(30), || {
        get(p.health_port, "/health/ready").is_ok_and(|(s, _)| s == 200)
    });
    assert!(ready, "never ready:\n{}", p.log());
    // A change creates the state topic.
    let (code, body) = post_rule(
        &p,
        "t",
        &serde_json::json!({"id": "x", "actions": [{"type": "set_header", "field": "h", "value": "v"}]}),
    );
    assert_eq!(code, 201, "{body}");
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    let state = TopicName(StrBytes::from_static_str("__kafkatwin_state"));
    let md = conn
        .call(
            ApiKey::Metadata,
            9,
            RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
        )
        .expect("metadata");
    let ResponseKind::Metadata(md) = md else {
        panic!("metadata answered {md:?}")
    };
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref() == Some(&state))
        .expect("the state topic is listed");
    assert!(t.is_internal, "{t:?}");
    let resp = conn
        .call(
            ApiKey::Produce,
            9,
            build::produce(
                "__kafkatwin_state",
                build::batch(&[("k".into(), "v".into())]),
            ),
        )
        .expect("produce");
    let ResponseKind::Produce(r) = resp else {
        panic!("produce answered {resp:?}")
    };
    let part = &r.responses[0].partition_responses[0];
    assert_eq!(part.error_code, 29, "TOPIC_AUTHORIZATION_FAILED: {part:?}");
    assert!(
        part.error_message
            .as_ref()
            .is_some_and(|m| m.contains("KafkaTwin's own")),
        "{part:?}"
    );
    let resp = conn
        .call(
            ApiKey::DeleteTopics,
            4,
            RequestKind::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topic_names(vec![state.clone()]),
            ),
        )
        .expect("delete");
    let ResponseKind::DeleteTopics(r) = resp else {
        panic!("delete answered {resp:?}")
    };
    assert_eq!(r.responses[0].error_code, 29, "{r:?}");
}

#[test]
fn two_admins_changing_the_same_rules_at_once_cannot_lose_a_change() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let rule = |id: &str| serde_json::json!({"id": id, "actions": [{"type": "set_header", "field": id, "value": "v"}]});
    let (code, body) = post_rule(&p, "cas", &rule("first"));
    assert_eq!(code, 201, "{body}");
    let path = "/api/v1/transformations/cas";
    let v1 = get_header(p.admin_port, path, "etag")
        .expect("admin api")
        .expect("the rules carry an ETag");
    // Two admins read version v1 and each add a rule based on it, at the same moment.
    let port = p.admin_port;
    let changes: Vec<_> = ["second", "third"]
        .into_iter()
        .map(|id| {
            let (body, tag) = (rule(id).to_string(), v1.clone());
            std::thread::spawn(move || {
                send_reading_header(
                    port,
                    "POST",
                    path,
                    &body,
                    &format!("If-Match: {tag}\r\n"),
                    "etag",
                )
                .expect("admin api")
            })
        })
        .collect();
    let mut answers: Vec<(u16, Option<String>, String)> = changes
        .into_iter()
        .map(|t| t.join().expect("admin thread"))
        .collect();
    answers.sort_by_key(|(code, ..)| *code);
    assert_eq!(answers[0].0, 201, "one change is stored: {answers:?}");
    assert_eq!(
        answers[1].0, 412,
        "the other is refused as stale: {answers:?}"
    );
    assert!(
        answers[1].2.contains("changed since version"),
        "{answers:?}"
    );
    let v2 = answers[0]
        .1
        .clone()
        .expect("the stored change carries its version");
    assert_ne!(v2, v1);
    // The refused admin reads again and retries on the new version: nothing is lost.
    let lost = if answers[0].2.contains("second") {
        "third"
    } else {
        "second"
    };
    let (code, _, body) = send_reading_header(
        port,
        "POST",
        path,
        &rule(lost).to_string(),
        &format!("If-Match: {v2}\r\n"),
        "etag",
    )
    .expect("admin api");
    assert_eq!(code, 201, "{body}");
    let (_, listed) = get(port, path).expect("admin api");
    for id in ["first", "second", "third"] {
        assert!(
            listed.contains(&format!("\"{id}\"")),
            "rule {id} lost: {listed}"
        );
    }
    // A stale version is refused for deletes too; a malformed one is a 400 naming the header.
    let (code, _, body) = send_reading_header(
        port,
        "DELETE",
        &format!("{path}/first"),
        "",
        &format!("If-Match: {v1}\r\n"),
        "etag",
    )
    .expect("admin api");
    assert_eq!(code, 412, "{body}");
    let (code, _, body) = send_reading_header(
        port,
        "DELETE",
        &format!("{path}/first"),
        "",
        "If-Match: yesterday\r\n",
        "etag",
    )
    .expect("admin api");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("If-Match"), "{body}");
    // Without If-Match the last writer wins, as before.
    let (code, body) = send(port, "DELETE", &format!("{path}/first"), "").expect("admin api");
    assert_eq!(code, 204, "{body}");
}
