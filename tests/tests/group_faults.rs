//! Consumer groups of real clients (the Java client with both group protocols, kafka-python,
//! kafkajs) in front of three Tansu clusters: a group of two reads through the cluster that
//! serves its reads hung and then killed, without a rebalance, with disjoint assignments
//! covering every partition, no failed commit and nothing read twice after its commit.

use kafkatwin_tests::{Broker, GroupReader, Proxy, http, produce_ok};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// A majority of clusters acknowledges each write (and each commit).
const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 5s\n";

#[test]
fn a_java_consumer_protocol_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults(GroupReader::Java("consumer"));
}

#[test]
fn a_java_classic_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults(GroupReader::Java("classic"));
}

#[test]
fn a_kafka_python_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults(GroupReader::KafkaPython);
}

#[test]
fn a_kafkajs_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults(GroupReader::KafkaJs);
}

/// A group of two consumers reads 10,000 records while cluster a, which serves the reads,
/// is hung and then killed.
fn group_through_faults(reader: GroupReader) {
    let protocol = reader.protocol();
    let (mut a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let v = produce_ok(&p, "events", 10_000, &["--partitions", "4"]);
    assert_eq!(v["delivered"], 10_000, "{v}\n{}", p.log());

    let mut reader = reader
        .command()
        .args(["--bootstrap", &p.bootstrap(), "--topic", "events"])
        .args(["--group", "modern", "--consumers", "2"])
        .args(["--expect", "10000", "--progress-every", "1000"])
        .args(["--timeout", "150"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the group reader");
    let stdout = reader.stdout.take().expect("stdout");
    let mut report = Value::Null;
    let mut faulted = false;
    let mut after_fault = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "progress 3000" {
            eprintln!("cluster a hung at {}", now_ms());
            a.pause();
            faulted = true;
        } else if line == "progress 6000" {
            eprintln!("cluster a killed at {}", now_ms());
            a.resume();
            a.kill();
        } else if faulted && (line.starts_with("revoked") || line.starts_with("lost")) {
            after_fault.push(line);
        } else if line.starts_with('{') {
            report = serde_json::from_str(&line).unwrap_or(Value::Null);
        }
    }
    let _ = reader.wait();
    // The longest pause between committed batches, for the record (not asserted: timing).
    eprintln!("{protocol} protocol group through the faults: {report}");
    let context = format!("{report}\nproxy log:\n{}", p.log());
    assert!(faulted, "the group never read 3000 records: {context}");
    assert_eq!(report["distinct"], 10_000, "{context}");
    assert_eq!(report["duplicates"], 0, "{context}");
    assert_eq!(report["commit_failures"], 0, "{context}");
    assert!(
        after_fault.is_empty(),
        "partitions were revoked or lost after the fault: {after_fault:?}\n{context}"
    );
    let mut covered = BTreeSet::new();
    let mut held = 0;
    for parts in report["final_assignments"]
        .as_object()
        .expect("final assignments")
        .values()
    {
        for part in parts.as_array().expect("partition list") {
            covered.insert(part.as_i64().expect("partition"));
            held += 1;
        }
    }
    assert_eq!(
        covered,
        (0..4).collect::<BTreeSet<i64>>(),
        "every partition is assigned: {context}"
    );
    assert_eq!(held, 4, "no partition is held by two members: {context}");
    let modern = p.log().contains("consumer group \"modern\": epoch");
    assert_eq!(
        modern,
        protocol == "consumer",
        "the group did not use the {protocol} protocol: {context}"
    );

    // The admin API shows the group, its type and its commits (2500 records a partition).
    let (status, body) = http::get(p.admin_port, "/api/v1/groups/modern").expect("admin API");
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(view["protocol_type"], "consumer", "{view}");
    let committed: Vec<i64> = view["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .filter_map(|o| o["committed"].as_i64())
        .collect();
    assert_eq!(committed, vec![2500; 4], "{view}");
}
