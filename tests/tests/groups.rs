//! Consumer groups coordinated by the proxy in front of three Tansu clusters, with two
//! scale-out instances and real consumers (confluent-kafka, the Java client with both group
//! protocols, kafka-python, kafkajs): one group stays one group through the loss of a
//! cluster, its return empty and an instance restart; commits survive every instance
//! restarting and reach each cluster's own coordinator. And Metadata keeps every
//! partition while a cluster is lost, hung or back empty.

use kafkatwin_tests::{
    Broker, GroupReader, Proxy, eventually, last_json, produce_ok, python_script, wait_log,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// A majority of clusters acknowledges each write; a cluster's circuit opens after two
/// failures.
const MAJORITY: &str = "producer:\n  ack_policy: MAJORITY\n  timeout: 5s\n\
                        circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n";

/// Produces records `start..start + count` over 4 partitions through `p`; asserts every one
/// was delivered.
fn produce(p: &Proxy, topic: &str, start: usize, count: usize) {
    let start = start.to_string();
    let v = produce_ok(p, topic, count, &["--start", &start, "--partitions", "4"]);
    assert_eq!(v["delivered"], count, "{v}\n{}", p.log());
    assert_eq!(v["failed"], 0, "{v}");
}

/// The committed offset of `group` on `partition` of `topic`, asked through `bootstrap`.
fn committed(bootstrap: &str, group: &str, topic: &str, partition: i32) -> Value {
    let out = python_script("groups.py")
        .args(["group", "--action", "committed", "--bootstrap", bootstrap])
        .args(["--group", group, "--topic", topic])
        .args(["--partition", &partition.to_string()])
        .output()
        .expect("committed ran");
    last_json(&out.stdout)["offset"].clone()
}

/// What a group went through: its reader's report, the instances and clusters after the
/// faults, and the logs for failure messages.
struct Outcome {
    result: Value,
    one: Proxy,
    two: Proxy,
    a: Broker,
    b: Broker,
    c: Broker,
    context: String,
}

/// Two consumers of one group (`reader`, given the readers' shared arguments), one
/// bootstrapped at each of two instances, read 2000 records; the first cluster is lost and
/// comes back empty, instance one restarts, and 2000 more records follow. Asserts each record
/// was read once and the final assignments are disjoint and cover every partition.
fn through_failover_and_restart(mut reader: std::process::Command) -> Outcome {
    let (mut a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let mut one = Proxy::scale_out_instance(&[&a, &b, &c], 1, MAJORITY, vec![]);
    let two = Proxy::scale_out_instance(&[&a, &b, &c], 2, MAJORITY, vec![]);
    for p in [&one, &two] {
        wait_log(
            p,
            "instance membership: 2 instance(s)",
            Duration::from_secs(30),
        );
        // Until then group requests are answered COORDINATOR_LOAD_IN_PROGRESS.
        wait_log(p, "instance membership in effect", Duration::from_secs(30));
    }
    kafkatwin_tests::create_topic(&two.bootstrap(), "orders", 4);
    // Two consumers of one group, one bootstrapped at each instance.
    let mut consumer = reader
        .args(["--per-consumer-bootstrap", "--bootstrap"])
        .arg(format!("{},{}", one.bootstrap(), two.bootstrap()))
        .args([
            "--topic",
            "orders",
            "--group",
            "billing",
            "--consumers",
            "2",
        ])
        .args([
            "--expect",
            "4000",
            "--timeout",
            "240",
            "--progress-every",
            "500",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consumers");
    let stdout = consumer.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_line = |want: &str| -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(l) if l == want || l.starts_with('{') => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    produce(&two, "orders", 0, 2000);
    assert_eq!(
        wait_line("progress 2000").as_deref(),
        Some("progress 2000"),
        "the group read the first records:\n{}",
        two.log()
    );

    // Either instance's admin API shows the one group: two members holding all four
    // partitions between them, and its coordinating instance.
    for (name, p) in [("one", &one), ("two", &two)] {
        let view = || -> Value {
            kafkatwin_tests::http::get(p.admin_port, "/api/v1/groups/billing")
                .ok()
                .and_then(|(_, body)| serde_json::from_str(&body).ok())
                .unwrap_or(Value::Null)
        };
        let stable = eventually(Duration::from_secs(10), || view()["state"] == "Stable");
        let g = view();
        assert!(
            stable,
            "group billing stable on instance {name}: {g}\ninstance one:\n{}\ninstance two:\n{}",
            one.log(),
            two.log()
        );
        let members = g["members"].as_array().cloned().unwrap_or_default();
        assert_eq!(members.len(), 2, "{g}");
        let held: usize = members
            .iter()
            .map(|m| m["assignment"]["orders"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(held, 4, "{g}");
        assert!(
            members.iter().all(|m| m["client_host"] == "/127.0.0.1"),
            "{g}"
        );
        assert!(g["coordinator"].is_i64(), "{g}");
    }

    // The first cluster (first in authority order) is lost, then comes back empty; then
    // instance one restarts.
    let port = a.port;
    a.kill();
    std::thread::sleep(Duration::from_secs(3));
    let a = Broker::start_on("a", port);
    // Restarted as a broker would be: same node id, same address.
    let one_port = one.port;
    one.terminate(Duration::from_secs(20));
    let env = vec![("KAFKATWIN_SERVER__PORT".into(), one_port.to_string())];
    let one = Proxy::scale_out_instance(&[&a, &b, &c], 1, MAJORITY, env);
    for p in [&one, &two] {
        wait_log(
            p,
            "instance membership: 2 instance(s)",
            Duration::from_secs(30),
        );
    }
    // Once the new division is in effect (one instance session timeout), the records go on.
    wait_log(
        &one,
        "instance membership in effect",
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_secs(5));
    produce(&two, "orders", 2000, 2000);
    let result = loop {
        match wait_line("") {
            Some(l) if l.starts_with('{') => break serde_json::from_str(&l).unwrap_or(Value::Null),
            Some(_) => {}
            None => break Value::Null,
        }
    };
    let _ = consumer.wait();
    let mut err = String::new();
    if let Some(mut e) = consumer.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let context = format!(
        "result: {result}\nconsumer stderr:\n{err}\ninstance one:\n{}\ninstance two:\n{}",
        one.log(),
        two.log()
    );
    // Each new record delivered once: one group, not two of the same name.
    assert_eq!(result["distinct"], 4000, "{context}");
    assert_eq!(result["duplicates"], 0, "{context}");
    let held: Vec<Vec<i64>> = result["final_assignments"]
        .as_object()
        .expect("final assignments")
        .values()
        .map(|v| {
            v.as_array()
                .expect("partitions")
                .iter()
                .filter_map(Value::as_i64)
                .collect()
        })
        .collect();
    let mut all: Vec<i64> = held.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        vec![0, 1, 2, 3],
        "disjoint assignments covering every partition: {context}"
    );
    Outcome {
        result,
        one,
        two,
        a,
        b,
        c,
        context,
    }
}

#[test]
fn one_group_stays_one_group_through_a_cluster_failover_and_an_instance_restart() {
    let mut reader = python_script("groups.py");
    reader.arg("consume");
    let Outcome {
        result,
        one,
        two,
        a,
        b,
        c,
        context,
    } = through_failover_and_restart(reader);
    let committed_now: Vec<i64> = (0..4)
        .map(|p| result["committed"][p.to_string()].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(committed_now.iter().sum::<i64>(), 4000, "{context}");
    eprintln!(
        "group through the faults: assignments {}, revocations {}, commit failures {}, \
         redelivered after a failed commit {}, longest pauses (ms) {}",
        result["assignments"],
        result["revocations"],
        result["commit_failures"],
        result["redelivered"],
        result["longest_pauses_ms"]
    );

    // Every instance restarts: the commits are control state, not any instance's memory.
    drop(one);
    drop(two);
    let three = Proxy::scale_out_instance(&[&a, &b, &c], 3, MAJORITY, vec![]);
    wait_log(
        &three,
        "instance membership: 1 instance(s)",
        Duration::from_secs(30),
    );
    for (p, want) in committed_now.iter().enumerate() {
        let got = committed(&three.bootstrap(), "billing", "orders", p as i32);
        assert_eq!(
            got,
            *want,
            "partition {p} after every instance restarted:\n{}",
            three.log()
        );
    }
    // A consumer pointed straight at a surviving cluster (the proxies gone) resumes there:
    // its own coordinator holds the group's commits (b never lost a record, so its offsets
    // are the logical ones).
    let mirrored = eventually(Duration::from_secs(10), || {
        kafkatwin_tests::http::get(three.admin_port, "/api/v1/groups/billing")
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .is_some_and(|g| g["mirrored"]["b"] == true)
    });
    assert!(
        mirrored,
        "the commits reached cluster b's coordinator:\n{}",
        three.log()
    );
    drop(three);
    for (p, want) in committed_now.iter().enumerate() {
        let got = committed(&b.addr(), "billing", "orders", p as i32);
        assert_eq!(got, *want, "partition {p} on cluster b");
    }
}

// The same group through the same faults with the other client libraries (the commits
// after every instance restarts are checked by the run above).

#[test]
fn a_java_classic_group_stays_one_group_through_a_cluster_failover_and_an_instance_restart() {
    through_failover_and_restart(GroupReader::Java("classic").command());
}

#[test]
fn a_java_consumer_protocol_group_stays_one_group_through_a_failover_and_an_instance_restart() {
    let o = through_failover_and_restart(GroupReader::Java("consumer").command());
    assert!(
        o.two.log().contains("consumer group \"billing\"")
            || o.one.log().contains("consumer group \"billing\""),
        "the group used the consumer group protocol: {}",
        o.context
    );
}

#[test]
fn a_kafka_python_group_stays_one_group_through_a_cluster_failover_and_an_instance_restart() {
    through_failover_and_restart(GroupReader::KafkaPython.command());
}

#[test]
fn a_kafkajs_group_stays_one_group_through_a_cluster_failover_and_an_instance_restart() {
    let o = through_failover_and_restart(GroupReader::KafkaJs.command());
    // A consumer that gave up retrying (kafkajs restarts it) is counted, not hidden.
    eprintln!(
        "kafkajs group through the faults: consumer crashes {}, errors {}",
        o.result["crashes"], o.result["errors"]
    );
}

#[test]
fn metadata_keeps_every_partition_while_the_first_cluster_is_hung_lost_or_back_empty() {
    let (mut a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    kafkatwin_tests::create_topic(&p.bootstrap(), "events", 4);
    let check = |when: &str| {
        let out = python_script("groups.py")
            .args([
                "leaders",
                "--bootstrap",
                &p.bootstrap(),
                "--topic",
                "events",
            ])
            .output()
            .expect("leaders ran");
        let v = last_json(&out.stdout);
        let leaders = v["leaders"].as_object().cloned().unwrap_or_default();
        assert_eq!(
            leaders.len(),
            4,
            "{when}: {v}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            p.log()
        );
        assert!(
            leaders.values().all(|l| l.as_i64().is_some_and(|n| n >= 0)),
            "{when}: {v}"
        );
    };
    check("every cluster up");
    a.pause();
    check("the first cluster hung");
    a.resume();
    let port = a.port;
    a.kill();
    check("the first cluster lost");
    let _a = Broker::start_on("a", port);
    check("the first cluster back empty");
}
