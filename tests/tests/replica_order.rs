//! Replicas stay identical under load: rounds of full-rate writes under every ack policy, a
//! fresh proxy for each round (so every round starts with no backend connection open), one
//! cluster paused for a moment in some rounds. Afterwards every cluster is read record by
//! record: each holds the same records in the same order, every acknowledged one exactly once.

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafkatwin_tests::audit::{self, ProducerKind};
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{
    Broker, Proxy, ProxyOptions, cluster_view, compare, create_topic, dump_direct, eventually,
    stored_values,
};
use std::time::Duration;

const RECORDS: usize = 30_000;
const PARTITIONS: usize = 2;

/// Waits until the proxy shows every cluster caught up and none divergent.
fn wait_caught_up(proxy: &Proxy, ids: &[&str]) {
    let caught_up = eventually(Duration::from_secs(90), || {
        ids.iter().all(|id| {
            let v = cluster_view(proxy, id);
            v["behind_partitions"] == 0 && v["lag_records"] == 0
        })
    });
    let views: Vec<_> = ids.iter().map(|id| cluster_view(proxy, id)).collect();
    assert!(
        caught_up,
        "the clusters did not catch up: {views:?}\n{}",
        proxy.log()
    );
    for v in &views {
        assert_eq!(
            v["divergent_partitions"],
            serde_json::json!([]),
            "a cluster is divergent: {v}\n{}",
            proxy.log()
        );
    }
}

#[test]
fn replicas_hold_the_same_records_in_the_same_order_after_full_rate_rounds_under_every_policy() {
    let (a, b, c) = Broker::three();
    let brokers = [&a, &b, &c];
    let ids = ["c1", "c2", "c3"];
    // (ack policy, pause c2 while writing)
    let rounds = [
        ("ALL_CLUSTERS", false),
        ("MAJORITY", false),
        ("ANY", false),
        ("MAJORITY", true),
        ("ANY", true),
    ];
    let mut written = Vec::new();
    for (k, &(policy, pause)) in rounds.iter().enumerate() {
        let mut proxy = Proxy::with_yaml(
            &brokers,
            &format!("producer:\n  ack_policy: {policy}\n  timeout: 10s\n"),
        );
        let topic = format!("load-{k}-{}", policy.to_lowercase());
        create_topic(&proxy.bootstrap(), &topic, PARTITIONS);
        // A new producer each round; idempotent and plain in turn.
        let kind = if k % 2 == 0 {
            ProducerKind::ConfluentIdempotent
        } else {
            ProducerKind::ConfluentPlain
        };
        let run = audit::start(
            kind,
            &proxy.bootstrap(),
            &topic,
            (0, RECORDS, PARTITIONS),
            0,
        );
        if pause {
            std::thread::sleep(Duration::from_millis(700));
            b.pause();
            std::thread::sleep(Duration::from_secs(1));
            b.resume();
        }
        let produced = run.wait();
        assert_eq!(
            produced.report["failed"],
            0,
            "round {k} ({policy}): the producer got errors: {}\n{}",
            produced.report,
            proxy.log()
        );
        wait_caught_up(&proxy, &ids);
        let log = proxy.log();
        assert!(
            !log.contains("out of order"),
            "round {k} ({policy}): a cluster took writes out of order:\n{log}"
        );
        proxy.terminate(Duration::from_secs(15));
        written.push((topic, produced));
    }
    for (topic, produced) in &written {
        let dumps: Vec<_> = brokers
            .iter()
            .map(|b| dump_direct(b, topic, Some(PARTITIONS)))
            .collect();
        for (b, d) in brokers.iter().zip(&dumps) {
            assert_eq!(
                d["complete"], true,
                "{topic} on {} not read to its end",
                b.id
            );
            assert_eq!(
                d["partitions"], dumps[0]["partitions"],
                "{topic}: {} holds other records or another order than {}: {} vs {}",
                b.id, brokers[0].id, d["partitions"], dumps[0]["partitions"]
            );
        }
        let v = audit::audit(&brokers, topic, PARTITIONS, &[produced]);
        assert!(
            audit::audit_clean(&v),
            "{topic}: acknowledged records missing or stored twice: {v}"
        );
    }
}

/// A fresh proxy has no connection to any broker yet: the first writes, arriving together,
/// must still reach each cluster over one connection, or a broker applies them in no fixed
/// order and the clusters' logs differ from the start.
#[test]
fn the_first_writes_pipelined_to_a_fresh_proxy_land_in_one_order_on_every_cluster() {
    const BATCHES: usize = 80;
    let (a, b, c) = Broker::three();
    let brokers = [&a, &b, &c];
    for round in 0..3 {
        let proxy = Proxy::with_yaml(&brokers, "producer:\n  ack_policy: ALL_CLUSTERS\n");
        let topic = format!("first-writes-{round}");
        // Writes wait for the startup comparison (which opens no writer connection).
        let compared = eventually(Duration::from_secs(20), || {
            ["c1", "c2", "c3"]
                .iter()
                .all(|id| cluster_view(&proxy, id)["compared"] == true)
        });
        assert!(
            compared,
            "the clusters were never compared:\n{}",
            proxy.log()
        );
        let mut conn = Conn::connect(&proxy.bootstrap()).expect("connect");
        conn.call(ApiKey::CreateTopics, 7, build::create_topic(&topic, 1))
            .expect("create");
        // Every batch written in one go, as a client pipelines them.
        let mut all = Vec::new();
        for i in 0..BATCHES {
            let records = build::batch(&[(format!("k{i}"), format!("batch-{i:03}"))]);
            let (_, frame) = conn.encode(ApiKey::Produce, 9, &build::produce(&topic, records));
            all.extend_from_slice(&frame);
        }
        conn.write_raw(&all).expect("write");
        for _ in 0..BATCHES {
            let frame = conn.read_frame().expect("produce answer");
            let (_, body) = Conn::decode(ApiKey::Produce, 9, frame);
            let ResponseKind::Produce(r) = body else {
                panic!("not a produce response")
            };
            let p = &r.responses[0].partition_responses[0];
            assert_eq!(p.error_code, 0, "{r:?}\n{}", proxy.log());
        }
        let want: Vec<String> = (0..BATCHES).map(|i| format!("batch-{i:03}")).collect();
        for broker in brokers {
            assert_eq!(
                stored_values(broker, &topic),
                want,
                "round {round}: {} holds the first writes in another order",
                broker.id
            );
        }
    }
}

/// Writes records `start..start + count` of `topic` straight to `broker`, 20 to a batch with
/// fixed timestamps, so that the same call on two clusters stores the same batches.
fn write_straight(broker: &Broker, topic: &str, start: usize, count: usize) {
    let out = kafkatwin_tests::produce_cmd(&broker.addr(), topic, count)
        .args(["--no-create", "--start", &start.to_string()])
        .args(["--batch", "20", "--ts-base", "1700000000000"])
        .output()
        .expect("producer ran");
    let v = kafkatwin_tests::last_json(&out.stdout);
    assert!(
        out.status.success() && v["delivered"] == count,
        "writing to {} failed: {v}\n{}",
        broker.id,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One cluster's log differs from the others' in the middle only: the same first and last
/// batches, the same end. The digests find it and report its offset, in the cluster's view,
/// in a metric and in `kafkatwin compare`.
#[test]
fn a_difference_planted_in_the_middle_of_one_log_is_reported_with_its_offset() {
    let (a, b, c) = Broker::three();
    let topic = "planted";
    for broker in [&a, &b, &c] {
        create_topic(&broker.addr(), topic, 1);
        write_straight(broker, topic, 0, 100);
    }
    // Offset 100: one record, another on c2 than on c1 and c3 (the same length).
    write_straight(&a, topic, 5000, 1);
    write_straight(&b, topic, 6000, 1);
    write_straight(&c, topic, 5000, 1);
    for broker in [&a, &b, &c] {
        write_straight(broker, topic, 200, 100);
    }
    let proxy = Proxy::with_yaml(&[&a, &b, &c], "producer:\n  ack_policy: MAJORITY\n");
    let found = eventually(Duration::from_secs(60), || {
        cluster_view(&proxy, "c2")["divergent_partitions"]
            == serde_json::json!([{"topic": topic, "partition": 0, "first_differing_offset": 100}])
    });
    assert!(
        found,
        "the difference at offset 100 on c2 was not reported: {}\n{}",
        cluster_view(&proxy, "c2"),
        proxy.log()
    );
    assert!(
        proxy.log().contains("in the middle of planted-0"),
        "found, but not by reading the logs side by side:\n{}",
        proxy.log()
    );
    for id in ["c1", "c3"] {
        assert_eq!(
            cluster_view(&proxy, id)["divergent_partitions"],
            serde_json::json!([]),
            "{id} holds what most clusters hold"
        );
    }
    assert_eq!(
        kafkatwin_tests::metric(
            &proxy,
            "kafkatwin_partition_divergent_offset{cluster=\"c2\",partition=\"0\",topic=\"planted\"}"
        ),
        Some(100.0)
    );
    let (code, text) = compare(&proxy.config_path);
    assert_eq!(code, Some(1), "compare exits 1 on a difference:\n{text}");
    assert!(
        text.contains("planted-0: c2 diverges from c1 at offset 100"),
        "{text}"
    );
}

/// One stored batch's producer identity: (producer id, epoch, first sequence, records).
type Numbered = (i64, i16, i32, i32);

/// Every batch of partition 0 of `topic` on `broker`, read straight from it to its end.
fn numbered_batches(broker: &Broker, topic: &str) -> Vec<Numbered> {
    use kafka_protocol::records::RecordBatchDecoder;
    let mut conn = Conn::connect(&broker.addr()).expect("connect");
    let mut out = Vec::new();
    let mut next = 0i64;
    loop {
        let ResponseKind::Fetch(f) = conn
            .call(ApiKey::Fetch, 12, build::fetch(topic, next, 100))
            .expect("fetch")
        else {
            panic!("not a fetch response")
        };
        let p = &f.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch from {}: {p:?}", broker.id);
        let records = p.records.clone().unwrap_or_default();
        let mut at = 0usize;
        let mut got = 0;
        while records.len() >= at + 12 {
            let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().expect("4 bytes"));
            let end = at + 12 + usize::try_from(len).expect("length");
            if end > records.len() {
                break;
            }
            let mut one = records.slice(at..end);
            let info = RecordBatchDecoder::decode_batch_info(&mut one).expect("batch header");
            for h in info {
                next = h.min_offset + i64::from(h.record_count);
                out.push((
                    h.producer_id,
                    h.producer_epoch,
                    h.base_sequence,
                    h.record_count,
                ));
                got += 1;
            }
            at = end;
        }
        if got == 0 && next >= p.high_watermark {
            return out;
        }
    }
}

/// Every batch the proxy writes or copies carries its own producer id on that cluster, with
/// sequences in the order it queued them. A broker that checks sequences then refuses any
/// batch queued behind one that did not land: a write can never land past a gap for the
/// repair to fill after it. After a cluster missed writes, what follows goes under a new
/// identity, from sequence 0.
#[test]
fn every_write_is_numbered_so_that_none_can_land_past_a_missing_one() {
    let (a, b, c) = Broker::three();
    let brokers = [&a, &b, &c];
    let ids = ["c1", "c2", "c3"];
    // c2's writes time out within a second while it hangs.
    let proxy = Proxy::start_with(
        &brokers,
        ProxyOptions {
            extra_yaml: "producer:\n  ack_policy: ANY\n  timeout: 2s\n".into(),
            request_timeout: "500ms".into(),
            ..Default::default()
        },
    );
    let topic = "numbered";
    let compared = eventually(Duration::from_secs(20), || {
        ids.iter()
            .all(|id| cluster_view(&proxy, id)["compared"] == true)
    });
    assert!(compared, "never compared:\n{}", proxy.log());
    let mut conn = Conn::connect(&proxy.bootstrap()).expect("connect");
    conn.call(ApiKey::CreateTopics, 7, build::create_topic(topic, 1))
        .expect("create");
    let mut write = |i: usize| {
        let records = build::batch(&[(format!("k{i}"), format!("record-{i:04}"))]);
        let RequestKind::Produce(req) = build::produce(topic, records) else {
            unreachable!("a produce request")
        };
        // Given up on within 600 ms on the hung cluster.
        let req = RequestKind::Produce(req.with_timeout_ms(100));
        let ResponseKind::Produce(r) = conn.call(ApiKey::Produce, 9, req).expect("produce") else {
            panic!("not a produce response")
        };
        let code = r.responses[0].partition_responses[0].error_code;
        assert_eq!(code, 0, "record {i}: {r:?}\n{}", proxy.log());
    };
    (0..50).for_each(&mut write);
    b.pause();
    let started = std::time::Instant::now();
    let mut i = 50;
    while started.elapsed() < Duration::from_secs(2) {
        write(i);
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    b.resume();
    (i..i + 50).for_each(&mut write);
    let written = i + 50;
    wait_caught_up(&proxy, &ids);
    let want: Vec<String> = (0..written).map(|i| format!("record-{i:04}")).collect();
    let mut stores = Vec::new();
    for broker in brokers {
        assert_eq!(
            stored_values(broker, topic),
            want,
            "{} holds other records or another order\n{}",
            broker.id,
            proxy.log()
        );
        let batches = numbered_batches(broker, topic);
        // Runs of one identity, each numbered from 0 without a gap.
        let mut identities = Vec::new();
        let mut expect = None;
        for (n, &(pid, epoch, seq, count)) in batches.iter().enumerate() {
            assert!(pid >= 0, "{}: batch {n} carries no producer id", broker.id);
            match expect {
                Some((p, e, s)) if (p, e) == (pid, epoch) => assert_eq!(
                    seq, s,
                    "{}: batch {n} of producer {pid} skips from sequence {s}",
                    broker.id
                ),
                _ => {
                    assert_eq!(seq, 0, "{}: producer {pid} starts past 0", broker.id);
                    identities.push((pid, epoch));
                }
            }
            expect = Some((pid, epoch, seq + count));
        }
        stores.push((broker, batches.last().copied(), identities));
    }
    let (_, _, c2_identities) = &stores[1];
    assert!(
        c2_identities.len() >= 2,
        "c2 missed writes but took what followed under the same identity: {c2_identities:?}\n{}",
        proxy.log()
    );
    // The broker refuses a batch numbered past one it does not hold.
    let (broker, last, _) = &stores[0];
    let (pid, epoch, seq, count) = last.expect("a batch");
    let gap = build::idempotent_batch(
        &[("k".into(), "past a gap".into())],
        pid,
        epoch,
        seq + count + 1,
    );
    let mut direct = Conn::connect(&broker.addr()).expect("connect");
    let ResponseKind::Produce(r) = direct
        .call(ApiKey::Produce, 9, build::produce(topic, gap))
        .expect("produce")
    else {
        panic!("not a produce response")
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER expected: {r:?}"
    );
    assert_eq!(
        stored_values(broker, topic),
        want,
        "the refused batch landed"
    );
}
