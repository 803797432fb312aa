//! The binary as an operator meets it: help, check-config, environment overrides, SIGTERM
//! draining, and the health, metrics and admin endpoints.

use kafka_protocol::messages::*;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy, ProxyOptions, cache_dir, http, kafkatwin_bin};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn help_explains_running_and_checking() {
    let out = Command::new(kafkatwin_bin())
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--config",
        "-c",
        "check-config",
        "SIGTERM",
        "KAFKATWIN_SERVER__PORT",
    ] {
        assert!(text.contains(want), "--help lacks {want}:\n{text}");
    }
}

#[test]
fn check_config_prints_every_problem_with_paths_and_lines() {
    let dir = std::env::temp_dir().join(format!("kt-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "server:\n  port: 70000\nclusters:\n  - id: a\n    bootstrap_servers: [\"nohost\"]\n  - id: a\n    bootstrap_servers: [\"h:1\"]\nproducer:\n  ack_policy: SOMETIMES\n",
    )
    .expect("write");
    let out = Command::new(kafkatwin_bin())
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("run check-config");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "server.port (line 2)",
        "clusters[0].bootstrap_servers[0]",
        "clusters[1].id (line 6): duplicate cluster id \"a\"",
        "producer.ack_policy (line 9)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let good = dir.join("good.yaml");
    std::fs::copy(
        kafkatwin_tests::repo_root().join("deploy/examples/reference.yaml"),
        &good,
    )
    .expect("copy the reference example");
    let out = Command::new(kafkatwin_bin())
        .arg("check-config")
        .arg(&good)
        .output()
        .expect("run check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A running proxy refuses a bad config the same way, before listening.
    let out = Command::new(kafkatwin_bin())
        .arg("-config")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate cluster id"));
}

#[test]
fn environment_overrides_the_listen_port() {
    let broker = Broker::start("c1");
    let port = kafkatwin_tests::free_port();
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            env: vec![("KAFKATWIN_SERVER__PORT".into(), port.to_string())],
            ..Default::default()
        },
    );
    assert_eq!(proxy.port, port);
    let mut c = Conn::connect(&format!("127.0.0.1:{port}")).expect("listening on the override");
    match c.call(
        ApiKey::Metadata,
        9,
        RequestKind::Metadata(MetadataRequest::default()),
    ) {
        // The proxy advertises itself at the overridden port too.
        Ok(ResponseKind::Metadata(m)) => assert_eq!(m.brokers[0].port, i32::from(port)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.call(ApiKey::CreateTopics, 7, build::create_topic("drain", 1))
        .expect("create");
    // A long-poll fetch on an empty partition: in flight for ~1.5 s.
    let (corr, frame) = c.encode(ApiKey::Fetch, 12, &build::fetch("drain", 0, 1500));
    c.write_raw(&frame).expect("send fetch");
    std::thread::sleep(Duration::from_millis(200));
    let pid = proxy.pid();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    });
    let resp = c
        .read_frame()
        .expect("the in-flight fetch is answered during the drain");
    let (got, body) = Conn::decode(ApiKey::Fetch, 12, resp);
    assert_eq!(got, corr);
    assert!(matches!(body, ResponseKind::Fetch(_)));
    let _ = waiter.join();
    let status = proxy
        .terminate(Duration::from_secs(10))
        .expect("exits after draining");
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = proxy.log();
    assert!(log.contains("draining"), "{log}");
    assert!(
        Conn::connect(&proxy.bootstrap()).is_err(),
        "no longer accepting"
    );
}

#[test]
fn health_metrics_and_admin_endpoints() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    assert_eq!(
        http::get(proxy.health_port, "/health/live")
            .expect("live")
            .0,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while http::get(proxy.health_port, "/health/ready")
        .map(|r| r.0)
        .unwrap_or(0)
        != 200
    {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Real traffic from librdkafka: 20 records produced and consumed through the proxy.
    let script = r#"
import sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
b = sys.argv[1]
admin = AdminClient({"bootstrap.servers": b})
admin.create_topics([NewTopic("metered", 1, 1)])["metered"].result(10)
p = Producer({"bootstrap.servers": b, "acks": "all"})
for i in range(20):
    p.produce("metered", key=b"k%d" % i, value=b"v%d" % i)
assert p.flush(15) == 0
c = Consumer({"bootstrap.servers": b, "group.id": "metered-g", "enable.auto.commit": False})
c.assign([TopicPartition("metered", 0, 0)])
got = []
while len(got) < 20:
    m = c.poll(10)
    assert m is not None and m.error() is None, m and m.error()
    got.append(m.value())
c.close()
assert got == [b"v%d" % i for i in range(20)], got
"#;
    let out = Command::new(cache_dir().join("venv/bin/python"))
        .args(["-c", script, &proxy.bootstrap()])
        .output()
        .expect("run python client");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (status, metrics) = http::get(proxy.metrics_port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for want in [
        r#"kafkatwin_produce_requests_total{cluster="c1",status="ok",topic="metered"}"#,
        r#"kafkatwin_produce_bytes_total{cluster="c1",topic="metered"}"#,
        r#"kafkatwin_fetch_requests_total{cluster="c1",status="ok",topic="metered"}"#,
        r#"kafkatwin_fetch_bytes_total{cluster="c1",topic="metered"}"#,
        r#"kafkatwin_cluster_connections_active{cluster="c1"}"#,
        r#"kafkatwin_cluster_health_status{cluster="c1"} 2"#,
        r#"kafkatwin_produce_latency_seconds_bucket{cluster="c1",topic="metered""#,
    ] {
        assert!(metrics.contains(want), "missing {want} in:\n{metrics}");
    }
    let (status, body) = http::get(proxy.admin_port, "/api/v1/clusters").expect("admin");
    assert_eq!(status, 200);
    let clusters: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(clusters[0]["id"], "c1");
    assert_eq!(clusters[0]["reachable"], true);
    let (status, _) = http::get(proxy.admin_port, "/api/v1/clusters/nope").expect("admin");
    assert_eq!(status, 404);
}

#[test]
fn readme_demo_runs_a_round_trip() {
    // The README's main command, with the binary under test and its ports moved to ones that
    // are free now and below the ephemeral range (where other tests' ports come from).
    let free = |p: u32| std::net::TcpListener::bind(("127.0.0.1", p as u16)).is_ok();
    let offset = (0..400)
        .map(|i| 1000 + (std::process::id() * 7 + i * 31) % 12000)
        .find(|off| {
            [9092, 8000, 9090, 8080, 19092, 19093, 19094]
                .iter()
                .all(|p| free(p + off))
        })
        .expect("a free set of demo ports");
    let out = Command::new("bash")
        .arg(kafkatwin_tests::repo_root().join("deploy/local/demo.sh"))
        .arg("--once")
        .env("KAFKATWIN_BIN", kafkatwin_bin())
        .env("KAFKATWIN_DEMO_PORT_OFFSET", offset.to_string())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "consumed offset 4: key-4 = hello kafkatwin #4",
        &format!(
            "Kafka endpoint (point any client here): 127.0.0.1:{}",
            9092 + offset
        ),
        &format!(
            "Dashboard:                              http://localhost:{}/",
            8000 + offset
        ),
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

#[test]
fn json_logs_at_the_configured_level() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            env: vec![
                ("KAFKATWIN_LOGGING__FORMAT".into(), "json".into()),
                ("KAFKATWIN_LOGGING__LEVEL".into(), "debug".into()),
            ],
            ..Default::default()
        },
    );
    // Something to log: a connection that sends garbage.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.write_raw(&[0, 0, 0, 3, 1, 2, 3]).expect("write");
    assert!(c.is_closed_by_peer());
    let log = proxy.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "debug level is on:\n{log}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("shorter than a request header"))),
        "{log}"
    );
}
