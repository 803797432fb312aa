//! Acknowledgements that hold: after a failover, a restart or a change of instance, every
//! record a producer was told was written is on every cluster the ack policy covered, and
//! records of idempotent producers are there exactly once. Three real Tansu clusters; new
//! producers of four client configurations (confluent-kafka idempotent and plain, the Java
//! client's defaults, kafkajs idempotent) after each fault; every cluster read until idle.

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, RequestKind, ResponseKind};
use kafkatwin_tests::audit::{Produced, ProducerKind, audit, audit_clean, produce, start};
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{
    Broker, Proxy, ProxyOptions, cluster_view, dump_direct, eventually, replicate_script, wait_down,
};
use serde_json::Value;
use std::time::Duration;

const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n\
                        circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";

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
    let (mut a, b, c) = Broker::three();
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
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

#[test]
fn the_first_cluster_killed_and_back_empty_mid_stream_loses_nothing() {
    let (mut a, b, c) = Broker::three();
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    create(&p, "idem-back", 2);
    // An idempotent producer still sending while c1 dies and comes back empty.
    let running = start(
        ProducerKind::ConfluentIdempotent,
        &p.bootstrap(),
        "idem-back",
        (0, 6000, 2),
        100,
    );
    std::thread::sleep(Duration::from_secs(2));
    let port = a.port;
    a.kill();
    std::thread::sleep(Duration::from_secs(3));
    let a = Broker::start_on("c1", port);
    let mut runs = vec![running.wait()];
    let mut next = 6000;
    runs.extend(every_client(&p, "idem-back", &mut next, 500, 2));
    assert_audit(&[&a, &b, &c], &p, "idem-back", 2, &runs);
}

#[test]
fn the_proxy_restarted_between_two_producers_issues_new_ids() {
    let (a, b, c) = Broker::three();
    let mut p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    create(&p, "idem-restart", 1);
    let mut next = 0;
    let mut runs = every_client(&p, "idem-restart", &mut next, 500, 1);
    assert!(
        p.terminate(Duration::from_secs(20)).is_some(),
        "proxy did not stop"
    );
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    runs.extend(every_client(&p, "idem-restart", &mut next, 500, 1));
    assert_audit(&[&a, &b, &c], &p, "idem-restart", 1, &runs);
    // Each restart claims a block of ids above every block claimed before.
    let claims = p.log().matches("producer ids ").count();
    assert!(claims >= 1, "no producer id block claimed:\n{}", p.log());
}

/// Two datacenters, active-passive: dc1 (c1, c2) takes the writes, dc2 (c3) follows.
const ACTIVE_PASSIVE: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n\
     circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n\
     multi_dc:\n  enabled: true\n  strategy: active-passive\n  local_dc: dc1\n  \
     datacenters:\n    - { id: dc1, region: us-east, priority: 1, cluster_ids: [c1, c2] }\n    \
     - { id: dc2, region: eu-west, priority: 2, cluster_ids: [c3] }\n";

#[test]
fn active_passive_loses_nothing_when_the_primary_datacenter_fails_and_returns() {
    let (mut a, mut b, c) = Broker::three();
    let p = Proxy::with_yaml(&[&a, &b, &c], ACTIVE_PASSIVE);
    create(&p, "idem-dc", 1);
    let mut next = 0;
    let mut runs = every_client(&p, "idem-dc", &mut next, 500, 1);
    // The primary datacenter is lost: dc2 is promoted.
    let (pa, pb) = (a.port, b.port);
    a.kill();
    b.kill();
    wait_down(&p, "c1");
    wait_down(&p, "c2");
    runs.extend(every_client(&p, "idem-dc", &mut next, 500, 1));
    // It comes back empty and is backfilled; writes go to it again.
    let a = Broker::start_on("c1", pa);
    let b = Broker::start_on("c2", pb);
    let up = eventually(Duration::from_secs(30), || {
        cluster_view(&p, "c1")["status"] == "healthy"
            && cluster_view(&p, "c2")["status"] == "healthy"
    });
    assert!(up, "dc1 never healthy again:\n{}", p.log());
    runs.extend(every_client(&p, "idem-dc", &mut next, 500, 1));
    assert_audit(&[&a, &b, &c], &p, "idem-dc", 1, &runs);
}

#[test]
fn an_instance_killed_mid_stream_loses_and_duplicates_nothing() {
    let (a, b, c) = Broker::three();
    let mut one = Proxy::scale_out_instance(&[&a, &b, &c], 1, MAJORITY, vec![]);
    let two = Proxy::scale_out_instance(&[&a, &b, &c], 2, MAJORITY, vec![]);
    for p in [&one, &two] {
        let joined = eventually(Duration::from_secs(30), || {
            p.log().contains("instance membership: 2 instance(s)")
        });
        assert!(joined, "instance never saw both:\n{}", p.log());
    }
    create(&two, "idem-inst", 6);
    let both = format!("{},{}", one.bootstrap(), two.bootstrap());
    // Idempotent producers bootstrapped at both instances, still sending when one dies.
    let running = start(
        ProducerKind::ConfluentIdempotent,
        &both,
        "idem-inst",
        (0, 20_000, 6),
        30,
    );
    std::thread::sleep(Duration::from_secs(3));
    one.kill();
    let killed = std::time::Instant::now();
    let mut runs = vec![running.wait()];
    eprintln!(
        "producer finished {:?} after the kill: {}",
        killed.elapsed(),
        runs[0].report
    );
    let mut next = 20_000;
    runs.extend(every_client(&two, "idem-inst", &mut next, 500, 6));
    assert_audit(&[&a, &b, &c], &two, "idem-inst", 6, &runs);
}

/// Sends one idempotent batch of `n` records (keys `{tag}-{i}`) to partition 0; returns the
/// answer's (error code, base offset).
fn send(p: &Proxy, pid: i64, sequence: i32, tag: &str, n: usize) -> (i16, i64) {
    let records: Vec<(String, String)> = (0..n)
        .map(|i| (format!("{tag}-{i}"), format!("v-{tag}-{i}")))
        .collect();
    let batch = build::idempotent_batch(&records, pid, 0, sequence);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    match conn.call(ApiKey::Produce, 9, build::produce("idem-wire", batch)) {
        Ok(ResponseKind::Produce(r)) => {
            let part = &r.responses[0].partition_responses[0];
            (part.error_code, part.base_offset)
        }
        other => panic!("produce answered {other:?}"),
    }
}

#[test]
fn a_restarted_proxy_answers_a_retry_of_a_written_batch_from_the_log_and_refuses_gaps() {
    let (a, b, c) = Broker::three();
    let mut p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    create(&p, "idem-wire", 1);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    let pid = match conn.call(
        ApiKey::InitProducerId,
        1,
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        ),
    ) {
        Ok(ResponseKind::InitProducerId(r)) => {
            assert_eq!(r.error_code, 0, "{r:?}");
            r.producer_id.0
        }
        other => panic!("InitProducerId answered {other:?}"),
    };
    // Refused before anything is written until the clusters are compared: retry as a
    // client would.
    let first = eventually(Duration::from_secs(20), || {
        send(&p, pid, 0, "a", 5) != (19, -1)
    });
    assert!(first, "never writable:\n{}", p.log());
    assert_eq!(
        send(&p, pid, 0, "a", 5),
        (0, 0),
        "a retry of the first batch"
    );
    assert_eq!(send(&p, pid, 5, "b", 5), (0, 5));
    // A retry of the last batch is answered from memory, and a gap is refused.
    assert_eq!(send(&p, pid, 5, "b", 5), (0, 5));
    let (code, _) = send(&p, pid, 20, "gap", 1);
    assert_eq!(code, 45, "a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER");
    // The answer to the last batch was lost with the proxy; the client retries it at the
    // next one, which never saw this producer.
    assert!(
        p.terminate(Duration::from_secs(20)).is_some(),
        "proxy did not stop"
    );
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let retried = eventually(Duration::from_secs(20), || {
        send(&p, pid, 5, "b", 5) == (0, 5)
    });
    assert!(
        retried,
        "the retried batch was not answered from the log:\n{}",
        p.log()
    );
    assert!(
        p.log().contains("answered from there, not written again"),
        "{}",
        p.log()
    );
    assert_eq!(send(&p, pid, 10, "c", 5), (0, 10));
    for broker in [&a, &b, &c] {
        let total = || dump_direct(broker, "idem-wire", None)["total"].clone();
        let done = eventually(Duration::from_secs(30), || total() == 15);
        assert!(
            done,
            "cluster {} holds {} records, not 15",
            broker.id,
            total()
        );
    }
}

#[test]
fn a_partition_whose_only_in_sync_cluster_dies_takes_writes_again_from_the_longest_other() {
    let (mut a, b, c) = Broker::three();
    // Writes to a hung cluster fail after 3 s (not the default 30 s), so a hung cluster misses
    // them within the test.
    let p = Proxy::start_with(
        &[&a, &b, &c],
        ProxyOptions {
            extra_yaml: MAJORITY.into(),
            env: vec![("KAFKATWIN_BACKEND__REQUEST_TIMEOUT".into(), "3s".into())],
            ..Default::default()
        },
    );
    create(&p, "idem-orphan", 1);
    let mut next = 0;
    let mut runs = vec![produce(
        ProducerKind::ConfluentIdempotent,
        &p.bootstrap(),
        "idem-orphan",
        0,
        200,
        1,
    )];
    next += 200;
    // c2 and c3 hang through a write: they miss it and are behind; only c1 is in sync. The
    // write is not acknowledged (one of three clusters took it).
    b.pause();
    c.pause();
    let batch = build::batch(&[("orphan".into(), "never-acked".into())]);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    match conn.call(ApiKey::Produce, 9, build::produce("idem-orphan", batch)) {
        Ok(ResponseKind::Produce(r)) => {
            let code = r.responses[0].partition_responses[0].error_code;
            assert_ne!(code, 0, "acknowledged with two of three clusters hung");
        }
        other => panic!("produce answered {other:?}"),
    }
    // Their writes fail once the backend request timeout has passed on top of the produce's.
    std::thread::sleep(Duration::from_secs(5));
    // Then c1, the only in-sync cluster, dies and the others come back.
    a.kill();
    b.resume();
    c.resume();
    wait_down(&p, "c1");
    // Every acknowledged write is on c2 or c3 (MAJORITY, one cluster away): new producers
    // are served again, not refused for want of an in-sync cluster.
    runs.extend(every_client(&p, "idem-orphan", &mut next, 300, 1));
    for r in &runs {
        assert!(
            r.delivered() > 0,
            "{:?} delivered nothing: {}\n{}",
            r.kind,
            r.report,
            p.log()
        );
    }
    assert_audit(&[&b, &c], &p, "idem-orphan", 1, &runs);
}
