//! Multi-cluster writes against three real Tansu clusters: fan-out under each ack policy,
//! clusters paused (SIGSTOP) or replaced while producing, and convergence checked by reading
//! every cluster directly with confluent-kafka.

use kafkatwin_tests::http::get;
use kafkatwin_tests::{
    Broker, Proxy, cluster_view, dump_direct, last_json, metric, producer_report, wait_down,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn script() -> Command {
    kafkatwin_tests::replicate_script()
}

/// Every producer's acknowledgements so far: (topic, file, idempotent), for the audit.
static ACKED: std::sync::Mutex<Vec<(String, PathBuf, bool)>> = std::sync::Mutex::new(Vec::new());

/// Starts `replicate.py produce` through the proxy, its acknowledgements kept for the audit.
fn start_produce(
    proxy: &Proxy,
    topic: &str,
    count: usize,
    partitions: usize,
    extra: &[&str],
) -> Child {
    let acked = kafkatwin_tests::audit::acked_file();
    ACKED.lock().unwrap_or_else(|p| p.into_inner()).push((
        topic.into(),
        acked.clone(),
        extra.contains(&"--idempotent"),
    ));
    kafkatwin_tests::produce_cmd(&proxy.bootstrap(), topic, count)
        .args(["--partitions", &partitions.to_string()])
        .args(extra)
        .arg("--offsets-file")
        .arg(&acked)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start producer")
}

/// Waits for a producer of `start_produce`; asserts it succeeded and returns its report.
fn finish_produce(child: Child, proxy: &Proxy) -> Value {
    producer_report(&child.wait_with_output().expect("producer ran"), proxy)
}

fn produce(proxy: &Proxy, topic: &str, count: usize, partitions: usize, extra: &[&str]) -> Value {
    finish_produce(start_produce(proxy, topic, count, partitions, extra), proxy)
}

/// Waits until every broker holds exactly `total` records of `topic`, the same ones in the
/// same order per partition, with no value twice, and the audit finds every acknowledged
/// record on each; panics with what differed.
fn assert_converged(
    brokers: &[&Broker],
    proxy: &Proxy,
    topic: &str,
    partitions: usize,
    total: u64,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let dumps: Vec<Value> = brokers
            .iter()
            .map(|b| dump_direct(b, topic, Some(partitions)))
            .collect();
        let same = dumps
            .iter()
            .all(|d| d["partitions"] == dumps[0]["partitions"]);
        let complete = dumps
            .iter()
            .all(|d| d["complete"] == true && d["total"] == total);
        let dups: u64 = dumps
            .iter()
            .flat_map(|d| d["partitions"].as_object().cloned().unwrap_or_default())
            .map(|(_, p)| p["duplicates"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(dups, 0, "duplicated records: {dumps:?}");
        if same && complete {
            let files: Vec<(PathBuf, bool)> = ACKED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(t, ..)| t == topic)
                .map(|(_, f, i)| (f.clone(), *i))
                .collect();
            let v = kafkatwin_tests::audit::audit_files(brokers, topic, partitions, &files);
            assert!(
                kafkatwin_tests::audit::audit_clean(&v),
                "acknowledged records missing or stored twice: {v}\nproxy log:\n{}",
                proxy.log()
            );
            return;
        }
        if Instant::now() > deadline {
            let summary: Vec<String> = brokers
                .iter()
                .zip(&dumps)
                .map(|(b, d)| format!("{}: total {} {}", b.id, d["total"], d["partitions"]))
                .collect();
            panic!(
                "clusters did not converge to {total} identical records:\n{}\nproxy log:\n{}",
                summary.join("\n"),
                proxy.log()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn assert_delivered(v: &Value, count: u64) {
    assert_eq!(v["delivered"], count, "not all delivered: {v}");
    assert_eq!(v["failed"], 0, "delivery failures: {v}");
}

#[test]
fn all_clusters_gives_every_cluster_the_same_records_in_the_same_order() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: ALL_CLUSTERS\n  timeout: 10s\n",
    );
    let v = produce(&p, "rep-all", 20_000, 6, &["--idempotent"]);
    assert_delivered(&v, 20_000);
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-all",
        6,
        20_000,
        Duration::from_secs(30),
    );
}

#[test]
fn majority_keeps_producing_with_a_paused_cluster_which_then_catches_up() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\ncircuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    assert_delivered(&produce(&p, "rep-maj", 500, 3, &[]), 500);
    c.pause();
    // Until its circuit opens, the paused cluster's writes just queue; after, it misses them.
    wait_down(&p, "c3");
    let v = produce(
        &p,
        "rep-maj",
        3000,
        3,
        &["--no-create", "--idempotent", "--start", "500"],
    );
    assert_delivered(&v, 3000);
    c.resume();
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-maj",
        3,
        3500,
        Duration::from_secs(60),
    );
    // The repairer reports it done: nothing behind, no lag.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster_view(&p, "c3")["behind_partitions"] != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    let view = cluster_view(&p, "c3");
    assert_eq!(view["behind_partitions"], 0, "{view}");
    assert!(
        metric(
            &p,
            "kafkatwin_replication_missed_writes_total{cluster=\"c3\"}"
        )
        .unwrap_or(0.0)
            > 0.0,
        "missed writes were not counted"
    );
    assert!(
        metric(
            &p,
            "kafkatwin_replication_repaired_records_total{cluster=\"c3\"}"
        )
        .unwrap_or(0.0)
            > 0.0,
        "repaired records were not counted"
    );
}

#[test]
fn any_keeps_producing_with_two_paused_clusters_which_then_catch_up() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: ANY\n  timeout: 10s\n",
    );
    assert_delivered(&produce(&p, "rep-any", 300, 2, &[]), 300);
    b.pause();
    c.pause();
    assert_delivered(
        &produce(&p, "rep-any", 2000, 2, &["--no-create", "--start", "300"]),
        2000,
    );
    b.resume();
    c.resume();
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-any",
        2,
        2300,
        Duration::from_secs(60),
    );
}

#[test]
fn a_proxy_stopped_while_a_cluster_is_hung_waits_for_its_writes_before_exiting() {
    // Under ANY a client is answered once one cluster has the write; the hung cluster's copies
    // are still on their way when the proxy is told to stop. It waits for their answers (up to
    // its drain timeout) instead of leaving them to the next start's repair.
    let (a, b, c) = Broker::three();
    let mut p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: ANY\n  timeout: 10s\n",
    );
    assert_delivered(&produce(&p, "rep-stop", 300, 2, &[]), 300);
    b.pause();
    assert_delivered(
        &produce(&p, "rep-stop", 2000, 2, &["--no-create", "--start", "300"]),
        2000,
    );
    let status = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            b.resume();
        });
        p.terminate(Duration::from_secs(30))
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "the proxy did not exit cleanly: {status:?}\n{}",
        p.log()
    );
    // Nothing writes after the proxy is gone: the clusters must already agree.
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-stop",
        2,
        2300,
        Duration::from_secs(10),
    );
    assert!(
        p.log().contains("still awaiting an answer"),
        "the proxy did not say it waited for the hung cluster's writes:\n{}",
        p.log()
    );
}

#[test]
fn all_clusters_with_a_paused_cluster_fails_retriably_then_succeeds_without_duplicates() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: ALL_CLUSTERS\n  timeout: 2s\ncircuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    assert_delivered(&produce(&p, "rep-all-pause", 200, 2, &[]), 200);
    c.pause();
    let producer = start_produce(
        &p,
        "rep-all-pause",
        2000,
        2,
        &[
            "--no-create",
            "--idempotent",
            "--pace-ms",
            "20",
            "--start",
            "200",
        ],
    );
    std::thread::sleep(Duration::from_secs(6));
    c.resume();
    let v = finish_produce(producer, &p);
    assert_delivered(&v, 2000);
    assert!(
        metric(&p, "kafkatwin_produce_requests_total{cluster=\"c1\",status=\"error\",topic=\"rep-all-pause\"}")
            .unwrap_or(0.0)
            > 0.0,
        "the producer never got an error while a cluster was paused under ALL_CLUSTERS: {}\n{}",
        get(p.metrics_port, "/metrics").map(|(_, t)| t).unwrap_or_default().lines().filter(|l| l.contains("produce_requests")).collect::<Vec<_>>().join("\n"),
        p.log()
    );
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-all-pause",
        2,
        2200,
        Duration::from_secs(60),
    );
}

#[test]
fn a_cluster_restarted_empty_is_backfilled() {
    let (a, b, mut c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n",
    );
    assert_delivered(&produce(&p, "rep-fill", 2000, 4, &[]), 2000);
    let port = c.port;
    c.kill();
    assert_delivered(
        &produce(&p, "rep-fill", 500, 4, &["--no-create", "--start", "2000"]),
        500,
    );
    let c = Broker::start_on("c3", port);
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-fill",
        4,
        2500,
        Duration::from_secs(60),
    );
}

#[test]
fn idempotent_producer_through_backend_stalls_writes_no_duplicates() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: ALL_CLUSTERS\n  timeout: 1500ms\ncircuit_breaker:\n  failure_threshold: 3\n  open_duration: 1s\n",
    );
    assert_delivered(&produce(&p, "rep-idem", 100, 3, &[]), 100);
    let producer = start_produce(
        &p,
        "rep-idem",
        3000,
        3,
        &[
            "--no-create",
            "--idempotent",
            "--pace-ms",
            "15",
            "--start",
            "100",
        ],
    );
    // Stall one cluster, then another, each for longer than the ack timeout.
    for broker in [&b, &c, &b] {
        std::thread::sleep(Duration::from_millis(700));
        broker.pause();
        std::thread::sleep(Duration::from_millis(2000));
        broker.resume();
    }
    assert_delivered(&finish_produce(producer, &p), 3000);
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-idem",
        3,
        3100,
        Duration::from_secs(60),
    );
}

#[test]
fn the_circuit_of_a_paused_cluster_opens_and_closes_while_writes_continue() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\n  timeout: 5s\ncircuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    assert_delivered(&produce(&p, "rep-cb", 100, 1, &[]), 100);
    let wait_status = |want: &str, gauge: f64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let view = cluster_view(&p, "c2");
            let g = metric(&p, "kafkatwin_cluster_health_status{cluster=\"c2\"}");
            if view["status"] == want && g == Some(gauge) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "c2 never {want}: {view} gauge {g:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    b.pause();
    wait_status("down", 0.0);
    let (code, _) = get(p.health_port, "/health/ready").expect("ready");
    assert_eq!(code, 200, "MAJORITY is still met with one cluster down");
    assert_delivered(
        &produce(&p, "rep-cb", 300, 1, &["--no-create", "--start", "100"]),
        300,
    );
    b.resume();
    wait_status("healthy", 2.0);
    assert_converged(&[&a, &b, &c], &p, "rep-cb", 1, 400, Duration::from_secs(60));
}

#[test]
fn readiness_fails_only_when_the_ack_policy_cannot_be_met() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\ncircuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    let ready = || {
        get(p.health_port, "/health/ready")
            .map(|(c, _)| c)
            .unwrap_or(0)
    };
    let wait = |want: u16| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ready() != want {
            assert!(Instant::now() < deadline, "readiness never {want}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait(200);
    c.pause();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(ready(), 200, "two of three clusters still meet MAJORITY");
    b.pause();
    wait(503);
    b.resume();
    c.resume();
    wait(200);
}

#[test]
fn a_restarted_proxy_finds_and_repairs_what_a_cluster_missed() {
    let (a, b, c) = Broker::three();
    let yaml = "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\ncircuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";
    let mut p = Proxy::with_yaml(&[&a, &b, &c], yaml);
    assert_delivered(&produce(&p, "rep-restart", 300, 2, &[]), 300);
    c.pause();
    wait_down(&p, "c3");
    assert_delivered(
        &produce(
            &p,
            "rep-restart",
            700,
            2,
            &["--no-create", "--start", "300"],
        ),
        700,
    );
    // The proxy that saw c3 miss the writes goes away before c3 is back.
    assert!(
        p.terminate(Duration::from_secs(15)).is_some(),
        "proxy did not stop"
    );
    c.resume();
    let p = Proxy::with_yaml(&[&a, &b, &c], yaml);
    assert_converged(
        &[&a, &b, &c],
        &p,
        "rep-restart",
        2,
        1000,
        Duration::from_secs(60),
    );
}

/// Runs an admin command of `replicate.py` against `bootstrap`; returns topic → partitions.
fn admin(bootstrap: &str, cmd: &str, topic: &str, partitions: usize) -> Value {
    let out = script()
        .args([cmd, "--bootstrap", bootstrap, "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("admin ran");
    assert!(
        out.status.success(),
        "{cmd} {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out.stdout)
}

fn wait_topics(brokers: &[&Broker], topic: &str, want: Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for b in brokers {
        loop {
            let topics = admin(&b.addr(), "topics", "", 1);
            if topics.get(topic).and_then(Value::as_u64) == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {topic} is {:?}, want {want:?}",
                b.id,
                topics.get(topic)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

#[test]
fn admin_changes_reach_every_cluster_and_partition_mismatches_are_shown() {
    let (a, b, c) = Broker::three();
    // Before the proxy: one topic with different partition counts on c1 and c2, none on c3.
    admin(&a.addr(), "create", "rep-mm", 3);
    admin(&b.addr(), "create", "rep-mm", 5);
    let p = Proxy::with_yaml(&[&a, &b, &c], "producer:\n  ack_policy: MAJORITY\n");
    // Created through the proxy: on every cluster.
    admin(&p.bootstrap(), "create", "rep-admin", 4);
    wait_topics(&[&a, &b, &c], "rep-admin", Some(4));
    // The comparison reports the mismatch and gives c3 the topic.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = cluster_view(&p, "c1");
        let shown = view["partition_mismatches"].as_array().is_some_and(|m| {
            m.iter()
                .any(|x| x.as_str().is_some_and(|s| s.contains("rep-mm")))
        });
        if shown {
            break;
        }
        assert!(Instant::now() < deadline, "mismatch never shown: {view}");
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_topics(&[&c], "rep-mm", Some(5));
    // Deleted through the proxy: gone everywhere.
    admin(&p.bootstrap(), "delete", "rep-admin", 1);
    wait_topics(&[&a, &b, &c], "rep-admin", None);
}
