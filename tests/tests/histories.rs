//! Clusters that already hold data when the proxy is put in front of them: a log is extended
//! only if it is a prefix of the others', a cluster with another history is reported, left
//! untouched and excluded (writes go on under MAJORITY, reads fail over only to clusters with
//! the same history) until an admin reseeds it, and `kafkatwin compare` shows all of it
//! beforehand. Three real Tansu clusters, topics written straight to the brokers, one record
//! per batch and several per batch; every cluster read directly.

use kafkatwin_tests::http::get;
use kafkatwin_tests::{
    Broker, Proxy, cluster_view, compare, dump_direct, eventually, last_json, produce_cmd,
    replicate_script,
};
use serde_json::Value;
use std::time::Duration;

/// One timestamp base for every direct write, so the same records are the same bytes.
const TS: &str = "1700000000000";

/// Writes records `start..start + count` of `topic` straight to `broker`, `batch` per batch.
fn write_direct(broker: &Broker, topic: &str, start: usize, count: usize, batch: usize) {
    let out = produce_cmd(&broker.addr(), topic, count)
        .args(["--start", &start.to_string(), "--batch", &batch.to_string()])
        .args(["--ts-base", TS])
        .output()
        .expect("producer ran");
    let v = last_json(&out.stdout);
    assert_eq!(
        v["delivered"],
        count,
        "writing {topic} to {}: {v}\n{}",
        broker.id,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Partition 0's (count, digest) on a broker.
fn content(broker: &Broker, topic: &str) -> (Value, Value) {
    let d = dump_direct(broker, topic, None);
    let p = &d["partitions"]["0"];
    (p["count"].clone(), p["digest"].clone())
}

fn post(p: &Proxy, path: &str, body: &str) -> (u16, String) {
    kafkatwin_tests::http::send(p.admin_port, "POST", path, body).expect("admin api")
}

#[test]
fn histories_are_compared_before_any_cluster_is_extended_and_divergence_is_kept_apart() {
    let (a, b, c) = (
        Broker::start("c1"),
        Broker::start("c2"),
        Broker::start("c3"),
    );
    // same: identical everywhere (10 per batch). prefix: c3 holds the first 60 of 100.
    // empty: c3 lacks the topic. diverge: c3 holds 50 other records (1 per batch).
    // diverge-late: c3 agrees on the first 30 records, then differs (10 per batch).
    for broker in [&a, &b, &c] {
        write_direct(broker, "same", 0, 100, 10);
    }
    for broker in [&a, &b] {
        write_direct(broker, "prefix", 0, 100, 10);
        write_direct(broker, "empty", 0, 100, 10);
        write_direct(broker, "diverge", 0, 100, 1);
        write_direct(broker, "diverge-late", 0, 100, 10);
    }
    write_direct(&c, "prefix", 0, 60, 10);
    write_direct(&c, "diverge", 1000, 50, 1);
    write_direct(&c, "diverge-late", 0, 30, 10);
    write_direct(&c, "diverge-late", 500, 20, 10);
    let c_diverge = content(&c, "diverge");

    // Seen before the proxy starts: compare changes nothing and fails on divergence.
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n",
    );
    let (code, out) = compare(&p.config_path);
    assert_eq!(code, Some(1), "compare exits 1 on divergence:\n{out}");
    for line in [
        "same-0: agree (100 records on c1, c2, c3)",
        "prefix-0: c3 is a prefix of c1 (60 of 100 records, 40 behind)",
        "empty-0: c3 is a prefix of c1 (0 of 100 records, 100 behind)",
        "diverge-0: c3 diverges from c1 at offset 0",
        "diverge-late-0: c3 diverges from c1 at offset 30",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    // The proxy: prefix and empty are caught up, divergence is reported and left alone.
    for topic in ["prefix", "empty", "same"] {
        let caught_up = eventually(Duration::from_secs(60), || {
            content(&c, topic) == content(&a, topic)
        });
        assert!(
            caught_up,
            "{topic} on c3 never matched c1: {:?} vs {:?}\n{}",
            content(&c, topic),
            content(&a, topic),
            p.log()
        );
    }
    let reported = eventually(Duration::from_secs(30), || {
        cluster_view(&p, "c3")["divergent_partitions"]
            .as_array()
            .is_some_and(|d| d.len() == 2)
    });
    let view = cluster_view(&p, "c3");
    assert!(reported, "divergence not reported: {view}\n{}", p.log());
    let divergent = view["divergent_partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        divergent.contains(&serde_json::json!({"topic": "diverge", "partition": 0, "first_differing_offset": 0}))
            && divergent.contains(&serde_json::json!({"topic": "diverge-late", "partition": 0, "first_differing_offset": 30})),
        "{view}"
    );
    assert_eq!(
        cluster_view(&p, "c1")["divergent_partitions"],
        serde_json::json!([])
    );
    let (_, metrics) = get(p.metrics_port, "/metrics").expect("metrics");
    assert!(
        metrics.contains(
            "kafkatwin_partition_divergent{cluster=\"c3\",partition=\"0\",topic=\"diverge\"} 1"
        ),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("divergent"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        p.log()
            .contains("cluster c3 holds another history of diverge-0"),
        "{}",
        p.log()
    );

    // Writes go on under MAJORITY without c3, which keeps its own records untouched.
    let out = produce_cmd(&p.bootstrap(), "diverge", 100)
        .args(["--no-create", "--start", "2000"])
        .output()
        .expect("producer ran");
    assert_eq!(last_json(&out.stdout)["delivered"], 100, "{}", p.log());
    let both = eventually(Duration::from_secs(30), || {
        dump_direct(&a, "diverge", None)["total"] == 200
            && dump_direct(&b, "diverge", None)["total"] == 200
    });
    assert!(both, "c1 and c2 did not get the writes");
    assert_eq!(content(&c, "diverge"), c_diverge, "c3 was changed");

    // Reads fail over only to a cluster with the same history: with c1 hung, c2 serves.
    a.pause();
    let through_proxy = || {
        let out = replicate_script()
            .args([
                "dump",
                "--bootstrap",
                &p.bootstrap(),
                "--topic",
                "diverge",
                "--values",
            ])
            .output()
            .expect("dump ran");
        last_json(&out.stdout)
    };
    let read = through_proxy();
    a.resume();
    assert_eq!(read["total"], 200, "{read}");
    let values = read["values"].as_array().cloned().unwrap_or_default();
    assert!(
        values.iter().all(|v| {
            let index = v.as_str().unwrap_or("").split('-').next().unwrap_or("");
            !(1000..1050).any(|i| index == format!("v{i}"))
        }),
        "c3's records were served: {read}"
    );

    // Resolved explicitly: a reseed needs the topic named, then copies c1's history back.
    let (status, body) = post(&p, "/api/v1/clusters/c3/topics/diverge/reseed", "{}");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("confirm"), "{body}");
    assert_eq!(
        content(&c, "diverge"),
        c_diverge,
        "nothing deleted without confirmation"
    );
    let (status, body) = post(
        &p,
        "/api/v1/clusters/c3/topics/diverge/reseed",
        r#"{"confirm": "diverge"}"#,
    );
    assert_eq!(status, 200, "{body}\n{}", p.log());
    let reseeded = eventually(Duration::from_secs(60), || {
        content(&c, "diverge") == content(&a, "diverge")
    });
    assert!(
        reseeded,
        "c3 not copied back: {:?}\n{}",
        content(&c, "diverge"),
        p.log()
    );
    assert!(
        p.log().contains("reseeding topic diverge on cluster c3"),
        "{}",
        p.log()
    );
    let left = cluster_view(&p, "c3")["divergent_partitions"].clone();
    assert_eq!(
        left,
        serde_json::json!([{"topic": "diverge-late", "partition": 0, "first_differing_offset": 30}])
    );
    let (_, out) = compare(&p.config_path);
    assert!(
        out.contains("diverge-0: agree (200 records on c1, c2, c3)"),
        "{out}"
    );
    assert!(
        out.contains("diverge-late-0: c3 diverges from c1 at offset 30"),
        "{out}"
    );
}
