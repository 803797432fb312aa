//! Two kafkatwin instances on the same three Tansu clusters divide partition leadership
//! through a Kafka consumer group: a producer on one and a consumer on the
//! other see the same offsets, the survivor takes the partitions of a stopped instance over,
//! and a split brain (instances that disagree on which cluster is up) is reported. Producers
//! through two instances see no error while a third joins, one freezes and one is killed.

use kafkatwin_tests::http::get;
use kafkatwin_tests::{
    Broker, Proxy, dump_direct, eventually, last_json, produce_ok, python_script, wait_log,
};
use serde_json::Value;
use std::time::Duration;

/// Every cluster acknowledges each write; a cluster's circuit opens after two failures.
const ALL_CLUSTERS: &str = "producer:\n  ack_policy: ALL_CLUSTERS\n  timeout: 5s\n\
                            circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";

fn leaders(p: &Proxy, topic: &str) -> Value {
    let out = python_script("groups.py")
        .args(["leaders", "--bootstrap", &p.bootstrap(), "--topic", topic])
        .output()
        .expect("leaders ran");
    last_json(&out.stdout)["leaders"].clone()
}

/// Produces records `start..start + count` over 6 partitions through `p`, their offsets
/// written to `offsets`; asserts every one was delivered.
fn produce(p: &Proxy, topic: &str, start: usize, count: usize, offsets: &std::path::Path) {
    let start = start.to_string();
    let offsets = offsets.to_str().expect("path");
    let args = [
        "--start",
        &start,
        "--partitions",
        "6",
        "--offsets-file",
        offsets,
    ];
    let v = produce_ok(p, topic, count, &args);
    assert_eq!(v["delivered"], count, "{v}\n{}", p.log());
}

fn consume(p: &Proxy, topic: &str, group: &str, expect: usize, offsets: &std::path::Path) -> Value {
    let out = python_script("groups.py")
        .args(["consume", "--bootstrap", &p.bootstrap(), "--topic", topic])
        .args([
            "--group",
            group,
            "--consumers",
            "1",
            "--expect",
            &expect.to_string(),
        ])
        .args([
            "--timeout",
            "120",
            "--producer-offsets",
            offsets.to_str().expect("path"),
        ])
        .output()
        .expect("consumer ran");
    let v = last_json(&out.stdout);
    assert_eq!(
        v["distinct"],
        expect,
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["duplicates"], 0, "{v}");
    v
}

#[test]
fn two_instances_divide_partitions_agree_on_offsets_and_take_over_from_each_other() {
    let (a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let mut one = Proxy::scale_out_instance(&[&a, &b, &c], 1, ALL_CLUSTERS, vec![]);
    let two = Proxy::scale_out_instance(&[&a, &b, &c], 2, ALL_CLUSTERS, vec![]);
    for p in [&one, &two] {
        wait_log(
            p,
            "instance membership: 2 instance(s)",
            Duration::from_secs(30),
        );
    }
    let dir = std::env::temp_dir().join(format!("kt-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let first = dir.join("first.json");
    // A producer that knows only instance two; it follows the metadata to instance one for
    // the partitions one owns.
    produce(&two, "orders", 0, 3000, &first);
    let (l1, l2) = (leaders(&one, "orders"), leaders(&two, "orders"));
    assert_eq!(l1, l2, "both instances name the same leaders");
    let owners: std::collections::BTreeSet<i64> = l1
        .as_object()
        .expect("leaders")
        .values()
        .filter_map(Value::as_i64)
        .collect();
    assert_eq!(owners, [1, 2].into(), "partitions are divided: {l1}");
    // A consumer on instance one sees every record at the offset instance two's producer got.
    let v = consume(&one, "orders", "readers", 3000, &first);
    assert_eq!(v["offset_mismatches"], 0, "{v}");
    assert_eq!(v["compared"], 3000, "{v}");
    // Both instances serve the same group: what it committed through one, the other reports.
    let committed = |p: &Proxy| {
        let out = python_script("groups.py")
            .args([
                "group",
                "--action",
                "committed",
                "--bootstrap",
                &p.bootstrap(),
            ])
            .args([
                "--group",
                "readers",
                "--topic",
                "orders",
                "--partition",
                "0",
            ])
            .output()
            .expect("committed ran");
        last_json(&out.stdout)["offset"].clone()
    };
    assert_eq!(committed(&two), v["committed"]["0"], "{v}");
    assert_eq!(committed(&one), committed(&two));

    // Instance one stops: two takes every partition over and keeps writing.
    one.terminate(Duration::from_secs(20));
    wait_log(
        &two,
        "instance membership: 1 instance(s)",
        Duration::from_secs(30),
    );
    let l = leaders(&two, "orders");
    assert!(
        l.as_object().expect("leaders").values().all(|n| n == 2),
        "instance two leads everything: {l}"
    );
    let second = dir.join("second.json");
    produce(&two, "orders", 3000, 1000, &second);
    let v = consume(&two, "orders", "late-readers", 4000, &second);
    assert_eq!(v["offset_mismatches"], 0, "{v}");
    // Every cluster holds the 4000 records once: the two writers never wrote a batch twice.
    for broker in [&a, &b, &c] {
        let dump_of = || dump_direct(broker, "orders", Some(6));
        eventually(Duration::from_secs(30), || dump_of()["total"] == 4000);
        let dump = dump_of();
        assert_eq!(dump["total"], 4000, "cluster {}: {dump}", broker.id);
        let dups: i64 = dump["partitions"]
            .as_object()
            .expect("partitions")
            .values()
            .filter_map(|p| p["duplicates"].as_i64())
            .sum();
        assert_eq!(dups, 0, "cluster {}: {dump}", broker.id);
    }
    let audit = kafkatwin_tests::audit::audit_files(
        &[&a, &b, &c],
        "orders",
        6,
        &[(first, false), (second, false)],
    );
    assert!(
        kafkatwin_tests::audit::audit_clean(&audit),
        "acknowledged records missing: {audit}"
    );
}

#[test]
fn instances_that_disagree_on_which_cluster_is_up_report_a_split_brain() {
    let (a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let one = Proxy::scale_out_instance(&[&a, &b, &c], 1, ALL_CLUSTERS, vec![]);
    // Instance two cannot reach cluster a (a wrong address stands in for a network
    // partition): it hosts its group on b, while one's group is on a.
    let two = Proxy::scale_out_instance(
        &[&a, &b, &c],
        2,
        ALL_CLUSTERS,
        vec![(
            "KAFKATWIN_CLUSTERS__0__BOOTSTRAP_SERVERS".into(),
            format!("[\"127.0.0.1:{}\"]", kafkatwin_tests::free_port()),
        )],
    );
    wait_log(
        &one,
        "instance membership: 1 instance(s)",
        Duration::from_secs(30),
    );
    wait_log(
        &two,
        "instance membership: 1 instance(s)",
        Duration::from_secs(30),
    );
    wait_log(
        &one,
        "split brain: another instance group is live on cluster b",
        Duration::from_secs(30),
    );
    let (_, text) = get(one.metrics_port, "/metrics").expect("metrics");
    assert!(
        text.lines()
            .any(|l| l == "kafkatwin_instance_split_brain 1"),
        "{}",
        text.lines()
            .filter(|l| l.contains("split"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(two);
}

/// A majority of clusters acknowledges each write.
const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 5s\n";

/// Partitions of `topic` that `p`'s Metadata lacks or names no leader for; `None` when `p`
/// did not answer.
fn leaderless(p: &Proxy, topic: &str, partitions: usize) -> Option<Vec<usize>> {
    let l = leaders(p, topic);
    let l = l.as_object()?;
    Some(
        (0..partitions)
            .filter(|i| {
                l.get(&i.to_string())
                    .and_then(Value::as_i64)
                    .is_none_or(|n| n < 0)
            })
            .collect(),
    )
}

#[test]
fn producers_through_two_instances_see_no_error_while_a_third_joins_one_freezes_and_one_dies() {
    let (a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let one = Proxy::scale_out_instance(&[&a, &b, &c], 1, MAJORITY, vec![]);
    let two = Proxy::scale_out_instance(&[&a, &b, &c], 2, MAJORITY, vec![]);
    for p in [&one, &two] {
        wait_log(
            p,
            "instance membership: 2 instance(s)",
            Duration::from_secs(30),
        );
    }
    kafkatwin_tests::create_topic(&two.bootstrap(), "steady", 6);
    let dir = std::env::temp_dir().join(format!("kt-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    // One producer per instance, each knowing only its instance, writing for about 45 s;
    // each partition explicitly, so a partition missing from Metadata is an error at once.
    let files = [dir.join("through-one.json"), dir.join("through-two.json")];
    let producers: Vec<_> = [&one, &two]
        .iter()
        .zip(&files)
        .enumerate()
        .map(|(n, (p, file))| {
            kafkatwin_tests::replicate_script()
                .args([
                    "produce",
                    "--bootstrap",
                    &p.bootstrap(),
                    "--topic",
                    "steady",
                ])
                .args(["--partitions", "6", "--count", "9000", "--no-create"])
                .args(["--start", &(n * 9000).to_string(), "--pace-ms", "500"])
                .args(["--idempotent", "--offsets-file"])
                .arg(file)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start producer")
        })
        .collect();

    std::thread::sleep(Duration::from_secs(4));
    let mut three = Proxy::scale_out_instance(&[&a, &b, &c], 3, MAJORITY, vec![]);
    for p in [&two, &three] {
        wait_log(
            p,
            "instance membership: 3 instance(s)",
            Duration::from_secs(30),
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    // Instance one freezes well past its session timeout (4 s): the others divide its
    // partitions and keep every partition led in their Metadata all the while.
    one.freeze();
    let mut gaps = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < until {
        for p in [&two, &three] {
            match leaderless(p, "steady", 6) {
                Some(l) if l.is_empty() => {}
                other => gaps.push(format!("instance at {}: {other:?}", p.bootstrap())),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    one.thaw();
    // Then, once all three are back in one division, instance three is killed (SIGKILL: it
    // never leaves the group): one and two take its partitions, and never show one unled.
    for p in [&one, &two] {
        let back = eventually(Duration::from_secs(40), || {
            p.log()
                .lines()
                .rev()
                .find(|l| l.contains("instance membership: "))
                .is_some_and(|l| l.contains("instance membership: 3 instance(s)"))
        });
        assert!(back, "three instances again:\n{}", p.log());
    }
    three.kill();
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        for p in [&one, &two] {
            match leaderless(p, "steady", 6) {
                Some(l) if l.is_empty() => {}
                other => gaps.push(format!("instance at {}: {other:?}", p.bootstrap())),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    for (producer, file) in producers.into_iter().zip(&files) {
        let out = producer.wait_with_output().expect("producer ran");
        let v = last_json(&out.stdout);
        assert_eq!(
            (v["delivered"].as_i64(), v["failed"].as_i64()),
            (Some(9000), Some(0)),
            "producer writing {file:?}: {v}\n{}\ninstance two:\n{}",
            String::from_utf8_lossy(&out.stderr),
            two.log()
        );
    }
    assert!(
        gaps.is_empty(),
        "Metadata lost partitions or leaders during the fault: {gaps:?}"
    );
    let audit = kafkatwin_tests::audit::audit_files(
        &[&a, &b, &c],
        "steady",
        6,
        &[(files[0].clone(), true), (files[1].clone(), true)],
    );
    assert!(
        kafkatwin_tests::audit::audit_clean(&audit),
        "acknowledged records missing: {audit}"
    );
}
