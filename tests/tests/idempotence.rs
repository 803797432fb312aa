//! Acknowledgements that hold: after a failover, a restart or a change of instance, every
//! record a producer was told was written is on every cluster the ack policy covered, and
//! records of idempotent producers are there exactly once. Three real Tansu clusters; new
//! producers of four client configurations (confluent-kafka idempotent and plain, the Java
//! client's defaults, kafkajs idempotent) after each fault; every cluster read until idle.

use kafkatwin_tests::audit::{Produced, ProducerKind, audit, audit_clean, produce};
use kafkatwin_tests::http::get;
use kafkatwin_tests::{Broker, Proxy, ProxyOptions, eventually, replicate_script};
use serde_json::Value;
use std::time::Duration;

fn three() -> (Broker, Broker, Broker) {
    (
        Broker::start("c1"),
        Broker::start("c2"),
        Broker::start("c3"),
    )
}

const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n\
                        circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";

fn proxy(b: &[&Broker], yaml: &str) -> Proxy {
    Proxy::start_with(
        b,
        ProxyOptions {
            extra_yaml: yaml.into(),
            ..Default::default()
        },
    )
}

fn create(p: &Proxy, topic: &str, partitions: usize) {
    let out = replicate_script()
        .args(["create", "--bootstrap", &p.bootstrap(), "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .output()
        .expect("create ran");
    assert!(
        out.status.success(),
        "create {topic}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
}

fn status(p: &Proxy, id: &str) -> Value {
    get(p.admin_port, &format!("/api/v1/clusters/{id}"))
        .ok()
        .and_then(|(_, body)| serde_json::from_str(&body).ok())
        .unwrap_or(Value::Null)
}

fn wait_down(p: &Proxy, id: &str) {
    let down = eventually(Duration::from_secs(20), || {
        status(p, id)["status"] == "down"
    });
    assert!(down, "{id} never reported down:\n{}", p.log());
}

/// Each kind of producer in turn, `per` records each from `*next` on.
fn every_client(
    p: &Proxy,
    topic: &str,
    next: &mut usize,
    per: usize,
    partitions: usize,
) -> Vec<Produced> {
    ProducerKind::ALL
        .iter()
        .map(|&kind| {
            let r = produce(kind, &p.bootstrap(), topic, *next, per, partitions);
            *next += per;
            r
        })
        .collect()
}

/// Every acknowledged record on every cluster of `brokers`, once for idempotent producers;
/// the clusters may still be converging, so the audit is repeated for a while.
fn assert_audit(brokers: &[&Broker], p: &Proxy, topic: &str, partitions: usize, runs: &[Produced]) {
    let refs: Vec<&Produced> = runs.iter().collect();
    let mut last = Value::Null;
    let clean = eventually(Duration::from_secs(60), || {
        last = audit(brokers, topic, partitions, &refs);
        audit_clean(&last)
    });
    let reports: Vec<String> = runs
        .iter()
        .map(|r| format!("{:?}: {}", r.kind, r.report))
        .collect();
    assert!(
        clean,
        "acknowledged records missing or stored twice: {last}\nproducers:\n{}\nproxy log:\n{}",
        reports.join("\n"),
        p.log()
    );
}

#[test]
fn the_first_cluster_killed_between_two_producers_loses_no_acknowledged_record() {
    let (mut a, b, c) = three();
    let p = proxy(&[&a, &b, &c], MAJORITY);
    create(&p, "idem-kill", 1);
    let mut next = 0;
    let mut runs = vec![produce(
        ProducerKind::ConfluentIdempotent,
        &p.bootstrap(),
        "idem-kill",
        0,
        500,
        1,
    )];
    next += 500;
    a.kill();
    wait_down(&p, "c1");
    runs.extend(every_client(&p, "idem-kill", &mut next, 500, 1));
    for r in &runs {
        assert!(
            r.delivered() > 0,
            "{:?} delivered nothing: {}",
            r.kind,
            r.report
        );
    }
    assert_audit(&[&b, &c], &p, "idem-kill", 1, &runs);
}
