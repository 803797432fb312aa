//! Multi-cluster reads against three real Tansu clusters in two datacenters (a and b in dc1,
//! c in dc2): a consumer group reading while its read cluster is paused and then killed,
//! logical offsets against the producer's, seek by timestamp whichever cluster serves it, and
//! each strategy's write and read sets with a datacenter down.

use kafkatwin_tests::http::get;
use kafkatwin_tests::{
    Broker, Proxy, eventually, last_json, metric, produce_cmd, produce_ok, python_script, wait_down,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

fn three() -> (Broker, Broker, Broker) {
    (Broker::start("a"), Broker::start("b"), Broker::start("c"))
}

/// The two-datacenter layout with `strategy`, proxy local to `local`.
fn layout(strategy: &str, local: &str, ack: &str) -> String {
    format!(
        "producer:\n  ack_policy: {ack}\n  timeout: 5s\n\
         circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n\
         multi_dc:\n  enabled: true\n  strategy: {strategy}\n  local_dc: {local}\n  prefer_local_reads: true\n  \
         datacenters:\n    - {{ id: dc1, region: us-east, priority: 1, cluster_ids: [a, b] }}\n    \
         - {{ id: dc2, region: eu-west, priority: 2, cluster_ids: [c] }}\n"
    )
}

/// Produces `count` records over `partitions` partitions through the proxy; asserts every
/// one was delivered and returns the report.
fn produce(proxy: &Proxy, topic: &str, count: usize, partitions: usize, extra: &[&str]) -> Value {
    let partitions = partitions.to_string();
    let args = [["--partitions", partitions.as_str()].as_slice(), extra].concat();
    let v = produce_ok(proxy, topic, count, &args);
    assert!(
        v["failed"] == 0 && v["delivered"] == count,
        "producer: {v}\nproxy log:\n{}",
        proxy.log()
    );
    v
}

fn metric_lines(proxy: &Proxy, prefix: &str) -> Vec<String> {
    let (_, text) = get(proxy.metrics_port, "/metrics").expect("metrics");
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_group_of_three_reads_everything_once_while_its_read_cluster_is_paused_then_killed() {
    let (mut a, b, c) = three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        &layout("active-active", "dc1", "ALL_CLUSTERS"),
    );
    let dir = std::env::temp_dir().join(format!("kt-reads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let offsets = dir.join("produced.json");
    const N: usize = 50_000;
    produce(
        &p,
        "orders",
        N,
        6,
        &[
            "--value-bytes",
            "50",
            "--offsets-file",
            offsets.to_str().expect("path"),
        ],
    );
    let mut consumer = python_script("groups.py")
        .args([
            "consume",
            "--bootstrap",
            &p.bootstrap(),
            "--topic",
            "orders",
        ])
        .args(["--group", "billing", "--consumers", "3"])
        .args(["--expect", &N.to_string(), "--timeout", "240"])
        .args(["--producer-offsets", offsets.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consumers");
    let stdout = consumer.stdout.take().expect("stdout");
    let mut result = Value::Null;
    let mut events = Vec::new();
    let rebalances = || {
        metric(
            &p,
            "kafkatwin_consumer_group_rebalance_total{group=\"billing\"}",
        )
    };
    let mut rebalances_before = None;
    let mut members_before = None;
    let mut rebalances_late = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "progress 20000" {
            rebalances_before = rebalances();
            members_before = metric(&p, "kafkatwin_consumer_group_members{group=\"billing\"}");
            a.pause();
            events.push((std::time::SystemTime::now(), "paused a"));
        } else if line == "progress 49000" {
            // Before the consumers stop (their leaving starts new generations).
            rebalances_late = rebalances();
        } else if line == "progress 35000" {
            a.kill();
            events.push((std::time::SystemTime::now(), "killed a"));
        } else if line.starts_with('{') {
            result = serde_json::from_str(&line).unwrap_or(Value::Null);
        }
    }
    let status = consumer.wait().expect("consumers ran");
    let mut err = String::new();
    if let Some(mut e) = consumer.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let context = format!(
        "result: {result}\nconsumer stderr:\n{err}\nproxy log:\n{}",
        p.log()
    );
    assert!(status.success(), "{context}");
    assert_eq!(
        events.len(),
        2,
        "the read cluster was paused and killed: {context}"
    );
    assert_eq!(result["distinct"], N, "{context}");
    assert_eq!(result["lost"], 0, "{context}");
    assert_eq!(result["duplicates"], 0, "{context}");
    // Logical offsets: every record was seen at the offset its producer was told.
    assert_eq!(result["compared"], N, "{context}");
    assert_eq!(result["offset_mismatches"], 0, "{context}");
    // The proxy coordinates the group: losing a cluster is invisible to it. No rebalance, no
    // revoked partitions, no failed commit, nothing delivered twice; what it committed last
    // is the end of every partition.
    let paused_at = events[0]
        .0
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let revoked_after: Vec<f64> = result["revocations"]
        .as_array()
        .expect("revocations")
        .iter()
        .filter_map(Value::as_f64)
        .filter(|t| *t >= paused_at)
        .collect();
    assert!(
        revoked_after.is_empty(),
        "partitions revoked after the fault: {context}"
    );
    assert_eq!(result["commit_failures"], 0, "{context}");
    assert_eq!(result["redelivered"], 0, "{context}");
    assert!(rebalances_before.is_some(), "the group formed: {context}");
    assert_eq!(
        rebalances_late, rebalances_before,
        "no rebalance after the fault: {context}"
    );
    let committed: i64 = result["committed"]
        .as_object()
        .expect("committed offsets")
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(committed, N as i64, "{context}");
    // The surviving clusters hold every acknowledged record (read directly, until idle).
    let audit =
        kafkatwin_tests::audit::audit_files(&[&b, &c], "orders", 6, &[(offsets.clone(), false)]);
    assert!(
        kafkatwin_tests::audit::audit_clean(&audit),
        "acknowledged records missing: {audit}"
    );
    assert_eq!(members_before, Some(3.0), "three members when a was paused");
    // Lag per cluster is sampled every 5 s; once the last commits are in, it is 0 on b.
    let on_b = || -> Vec<String> {
        metric_lines(&p, "kafkatwin_consumer_lag{")
            .into_iter()
            .filter(|l| l.contains("group=\"billing\"") && l.contains("cluster=\"b\""))
            .collect()
    };
    eventually(Duration::from_secs(15), || {
        let lines = on_b();
        lines.len() == 6 && lines.iter().all(|l| l.ends_with(" 0"))
    });
    let lag_b = on_b();
    assert_eq!(lag_b.len(), 6, "lag for six partitions on b: {lag_b:?}");
    assert!(lag_b.iter().all(|l| l.ends_with(" 0")), "{lag_b:?}");
    let at: Vec<String> = events
        .iter()
        .map(|(t, what)| {
            let s = t
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            format!("{what} at {s:.3}")
        })
        .collect();
    eprintln!(
        "failover figures: {}; longest pauses between consumed batches (ms) {}, ended at {}; commit failures {}, redelivered after a failed commit {}",
        at.join(", "),
        result["longest_pauses_ms"],
        result["longest_pauses_ended_at"],
        result["commit_failures"],
        result["redelivered"]
    );
    drop(b);
    drop(c);
}

#[test]
fn a_reader_goes_on_without_gap_or_repeat_when_its_read_cluster_is_paused() {
    let (a, b, c) = three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        &layout("active-active", "dc1", "ALL_CLUSTERS"),
    );
    produce(&p, "stream", 6000, 3, &["--value-bytes", "200"]);
    let mut reader = python_script("groups.py")
        .args(["read", "--bootstrap", &p.bootstrap(), "--topic", "stream"])
        .args(["--expect", "6000", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reader");
    let stdout = reader.stdout.take().expect("stdout");
    let mut result = Value::Null;
    let mut paused = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "progress 2000" {
            a.pause();
            paused = true;
        } else if line.starts_with('{') {
            result = serde_json::from_str(&line).unwrap_or(Value::Null);
        }
    }
    let _ = reader.wait();
    a.resume();
    let context = format!("{result}\nproxy log:\n{}", p.log());
    assert!(paused, "{context}");
    assert_eq!(result["count"], 6000, "{context}");
    assert_eq!(result["gaps"], 0, "{context}");
    assert_eq!(result["repeats"], 0, "{context}");
    assert!(p.log().contains("reads move off cluster a"), "{context}");
    // Back and caught up (it missed nothing), a serves reads again once probes pass.
    std::thread::sleep(Duration::from_secs(7));
    let before = fetches_from(&p, "a", "stream");
    let again = python_script("groups.py")
        .args(["read", "--bootstrap", &p.bootstrap(), "--topic", "stream"])
        .args(["--expect", "6000", "--timeout", "60"])
        .output()
        .expect("reader ran");
    assert_eq!(last_json(&again.stdout)["count"], 6000);
    assert!(
        fetches_from(&p, "a", "stream") > before,
        "reads moved back to a: {:?}",
        metric_lines(&p, "kafkatwin_fetch_requests_total{")
    );
}

fn group_op(bootstrap: &str, action: &str, group: &str, offset: i64) -> Value {
    let out = python_script("groups.py")
        .args([
            "group",
            "--action",
            action,
            "--bootstrap",
            bootstrap,
            "--group",
            group,
        ])
        .args([
            "--topic",
            "ledger",
            "--partition",
            "0",
            "--offset",
            &offset.to_string(),
        ])
        .output()
        .expect("group op ran");
    let v = last_json(&out.stdout);
    assert!(
        out.status.success() && v.is_object(),
        "{action}: {v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

#[test]
fn commits_are_mirrored_to_every_cluster_and_groups_are_listed_described_and_deleted_everywhere() {
    let (a, b, c) = three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        &layout("active-active", "dc1", "ALL_CLUSTERS"),
    );
    produce(&p, "ledger", 100, 1, &[]);
    group_op(&p.bootstrap(), "commit", "auditors", 42);
    assert_eq!(
        group_op(&p.bootstrap(), "committed", "auditors", 0)["offset"],
        42
    );
    // Each cluster's own coordinator gets the commit (mirrored within about a second), so a
    // consumer pointed straight at any of them resumes from it.
    for broker in [&a, &b, &c] {
        let on = || group_op(&broker.addr(), "committed", "auditors", 0);
        eventually(Duration::from_secs(10), || on()["offset"] == 42);
        let v = on();
        assert_eq!(v["offset"], 42, "cluster {}: {v}", broker.id);
    }
    let listed = group_op(&p.bootstrap(), "list", "auditors", 0);
    assert!(
        listed["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == "auditors")),
        "{listed}"
    );
    let described = group_op(&p.bootstrap(), "describe", "auditors", 0);
    assert_eq!(described["group"], "auditors", "{described}");
    // The admin API shows the group: its commit, and that every cluster's own coordinator
    // holds it.
    let view = |path: &str| -> Value {
        kafkatwin_tests::http::get(p.admin_port, path)
            .ok()
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or(Value::Null)
    };
    let g = view("/api/v1/groups/auditors");
    assert_eq!(g["state"], "Empty", "{g}");
    assert_eq!(g["offsets"][0]["topic"], "ledger", "{g}");
    assert_eq!(g["offsets"][0]["committed"], 42, "{g}");
    assert!(
        ["a", "b", "c"].iter().all(|c| g["mirrored"][c] == true),
        "{g}"
    );
    let all = view("/api/v1/groups");
    assert!(
        all.as_array()
            .is_some_and(|l| l.iter().any(|x| x["group"] == "auditors")),
        "{all}"
    );
    group_op(&p.bootstrap(), "delete", "auditors", 0);
    let (status, _) =
        kafkatwin_tests::http::get(p.admin_port, "/api/v1/groups/auditors").expect("admin API");
    assert_eq!(status, 404, "a deleted group is gone from the admin API");
    for broker in [&a, &b, &c] {
        let v = group_op(&broker.addr(), "committed", "auditors", 0);
        assert!(
            v["offset"].as_i64().is_some_and(|o| o < 0),
            "cluster {} still has the deleted group's commit: {v}",
            broker.id
        );
    }
}

#[test]
fn a_group_reading_from_a_failing_cluster_that_does_not_coordinate_it_is_not_rebalanced() {
    let (a, b, c) = three();
    // Local to dc2: reads come from c; the group is coordinated on a (authority order).
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        &layout("active-active", "dc2", "ALL_CLUSTERS"),
    );
    produce(&p, "events", 10_000, 2, &["--value-bytes", "100"]);
    let mut consumer = python_script("groups.py")
        .args([
            "consume",
            "--bootstrap",
            &p.bootstrap(),
            "--topic",
            "events",
        ])
        .args(["--group", "steady", "--consumers", "1", "--expect", "10000"])
        .args(["--timeout", "120", "--progress-every", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consumer");
    let stdout = consumer.stdout.take().expect("stdout");
    let mut result = Value::Null;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "progress 4000" {
            c.pause();
        } else if line.starts_with('{') {
            result = serde_json::from_str(&line).unwrap_or(Value::Null);
        }
    }
    let _ = consumer.wait();
    c.resume();
    let context = format!("{result}\nproxy log:\n{}", p.log());
    assert_eq!(result["distinct"], 10_000, "{context}");
    assert_eq!(result["duplicates"], 0, "{context}");
    assert_eq!(result["assignments"], 1, "no rebalance: {context}");
    assert_eq!(result["commit_failures"], 0, "{context}");
    assert!(p.log().contains("reads move off cluster c"), "{context}");
    assert!(!p.log().contains("is now coordinated on"), "{context}");
}

fn seek(bootstrap: &str, ts: i64) -> Value {
    let out = python_script("groups.py")
        .args(["seek-ts", "--bootstrap", bootstrap, "--topic", "events"])
        .args(["--partition", "0", "--timestamp", &ts.to_string()])
        .output()
        .expect("seek ran");
    last_json(&out.stdout)
}

#[test]
fn seek_to_a_timestamp_lands_on_the_same_record_whichever_cluster_serves_it() {
    let (a, b, c) = three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        &layout("active-active", "dc1", "ALL_CLUSTERS"),
    );
    // Tansu finds timestamps by the time batches were stored (testbed NOTES), so the
    // timestamp sought falls in a pause between two rounds of writes.
    produce(&p, "events", 500, 1, &["--value-bytes", "10"]);
    std::thread::sleep(Duration::from_millis(1500));
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    std::thread::sleep(Duration::from_millis(1500));
    produce(
        &p,
        "events",
        500,
        1,
        &["--start", "500", "--no-create", "--value-bytes", "10"],
    );
    let through_a = seek(&p.bootstrap(), ts);
    assert_eq!(through_a["offset"], 500, "{through_a}\n{}", p.log());
    assert!(
        through_a["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("v500-")),
        "{through_a}"
    );
    for broker in [&a, &b, &c] {
        let direct = seek(&broker.addr(), ts);
        assert_eq!(
            direct["offset"], through_a["offset"],
            "cluster {}",
            broker.id
        );
    }
    // a stops answering: the lookup and the read move to b, and land on the same record.
    let elsewhere = |p: &Proxy| fetches_from(p, "b", "events") + fetches_from(p, "c", "events");
    let before = elsewhere(&p);
    a.pause();
    let through_b = seek(&p.bootstrap(), ts);
    a.resume();
    assert_eq!(through_b["offset"], through_a["offset"], "{}", p.log());
    assert_eq!(through_b["value"], through_a["value"]);
    // Served by another cluster: found stalled by this read ("reads move off cluster a"),
    // or already passed over by the health probes, whichever came first.
    assert!(
        elsewhere(&p) > before,
        "the second seek was not served by another cluster: {}",
        p.log()
    );
}

/// Waits until the admin API's view at `path` contains `needle`.
fn wait_view(p: &Proxy, path: &str, needle: &str, within: Duration) {
    let seen = eventually(within, || {
        get(p.admin_port, path).is_ok_and(|(status, body)| status == 200 && body.contains(needle))
    });
    assert!(seen, "{path} never showed {needle}\n{}", p.log());
}

/// Waits until cluster `id` is behind on no partition.
fn wait_in_sync(p: &Proxy, id: &str) {
    let path = format!("/api/v1/clusters/{id}");
    wait_view(p, &path, "\"behind_partitions\":0", Duration::from_secs(30));
}

/// Fetch requests for `topic` the proxy served from `cluster` so far.
fn fetches_from(p: &Proxy, cluster: &str, topic: &str) -> f64 {
    metric_lines(p, "kafkatwin_fetch_requests_total{")
        .iter()
        .filter(|l| {
            l.contains(&format!("cluster=\"{cluster}\""))
                && l.contains(&format!("topic=\"{topic}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn each_strategy_writes_and_reads_where_it_should_with_a_datacenter_down() {
    let (a, b, c) = three();
    // (strategy, local dc, datacenter paused, produce succeeds under ALL_CLUSTERS, reads from)
    let table: &[(&str, &str, &str, bool, &str)] = &[
        // Every cluster is in the sync set: a paused datacenter fails ALL_CLUSTERS.
        ("active-active", "dc2", "dc2", false, "a"),
        // The primary datacenter (dc1) is the sync set; dc2 is written in the background.
        ("active-passive", "dc2", "dc2", true, "a"),
        // The primary is down: dc2 is promoted and serves writes and reads.
        ("active-passive", "dc1", "dc1", true, "c"),
        // The local region (eu-west: c) is sync; with it down, the next region takes over.
        ("regional-active", "dc2", "dc2", true, "a"),
        ("regional-active", "dc2", "none", true, "c"),
        // The local datacenter is preferred while it is up.
        ("preferred", "dc2", "none", true, "c"),
        ("preferred", "dc2", "dc2", true, "a"),
    ];
    for (round, (strategy, local, down, writes_ok, reads_from)) in table.iter().enumerate() {
        let case = format!("{strategy}, local {local}, {down} down");
        let p = Proxy::with_yaml(&[&a, &b, &c], &layout(strategy, local, "ALL_CLUSTERS"));
        let topic_ok = produce(&p, "t", 10, 1, &["--start", &(round * 100).to_string()]);
        assert_eq!(topic_ok["delivered"], 10, "{case}");
        // Clusters that missed the last round's writes catch up first: a datacenter that
        // lacks acknowledged records is never promoted over one that has them.
        for id in ["a", "b", "c"] {
            wait_in_sync(&p, id);
        }
        let paused: Vec<&Broker> = match *down {
            "dc1" => vec![&a, &b],
            "dc2" => vec![&c],
            _ => vec![],
        };
        for x in &paused {
            x.pause();
        }
        for x in &paused {
            wait_down(&p, &x.id);
        }
        let out = produce_cmd(&p.bootstrap(), "t", 5)
            .args(["--no-create", "--start", &(round * 100 + 50).to_string()])
            .args(["--timeout-ms", "8000"])
            .output()
            .expect("producer ran");
        let v = last_json(&out.stdout);
        if *writes_ok {
            assert_eq!(v["delivered"], 5, "{case}: {v}\n{}", p.log());
        } else {
            assert_eq!(v["delivered"], 0, "{case}: {v}");
        }
        let before = fetches_from(&p, reads_from, "t");
        let read = python_script("groups.py")
            .args(["seek-ts", "--bootstrap", &p.bootstrap(), "--topic", "t"])
            .args(["--partition", "0", "--timestamp", "0"])
            .output()
            .expect("read ran");
        let r = last_json(&read.stdout);
        for x in &paused {
            x.resume();
        }
        assert_eq!(r["offset"], 0, "{case}: {r}\n{}", p.log());
        assert!(
            fetches_from(&p, reads_from, "t") > before,
            "{case}: read from {reads_from}\n{:?}",
            metric_lines(&p, "kafkatwin_fetch_requests_total{")
        );
        drop(p);
        // Let resumed clusters be seen healthy before the next proxy starts.
        std::thread::sleep(Duration::from_millis(500));
    }
}
