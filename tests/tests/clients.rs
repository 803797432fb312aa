//! Four real client libraries, unmodified, use the proxy as if it were a Kafka cluster: each
//! creates a topic, produces keyed records with headers, consumes them by assignment and in a
//! subscribe() group with commits, reads committed offsets back, lists offsets (earliest,
//! latest, by timestamp), describes and lists groups, and deletes the topic. Every scenario
//! checks content (keys, values, headers, per-partition order, offsets), not only counts.
//! Each runs against one cluster (group requests pass through to its coordinator) and
//! against three (the proxy coordinates the groups itself); the Java client also with the
//! consumer group protocol (`group.protocol=consumer`).

use kafkatwin_tests::{Broker, Client, Proxy};

fn run(client: Client, name: &str, clusters: usize) {
    run_with(client, name, clusters, &[]);
}

fn run_with(client: Client, name: &str, clusters: usize, extra: &[&str]) {
    let brokers: Vec<Broker> = (1..=clusters)
        .map(|i| Broker::start(&format!("c{i}")))
        .collect();
    let proxy = Proxy::start(&brokers.iter().collect::<Vec<_>>());
    let run = client.run_scenario_with(
        &proxy.bootstrap(),
        &format!("topic-{name}"),
        &format!("group-{name}"),
        extra,
    );
    assert!(
        run.status.success(),
        "{client:?} scenario failed ({}):\n--- stderr ---\n{}\n--- proxy log ---\n{}",
        run.status,
        run.stderr,
        proxy.log()
    );
    let report = run.report().expect("scenario prints a JSON report");
    for key in ["produced", "consumed_assign", "consumed_group"] {
        assert_eq!(report[key], 300, "{client:?} {key}: {report}");
    }
    let steps: Vec<&str> = report["steps_ok"]
        .as_array()
        .expect("steps_ok list")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(steps.len(), 8, "{client:?} ran every step: {report}");
    for p in ["0", "1", "2"] {
        assert_eq!(
            report["committed"][p], 100,
            "{client:?} committed offset of {p}: {report}"
        );
        assert_eq!(
            report["latest"][p], 100,
            "{client:?} latest offset of {p}: {report}"
        );
        assert_eq!(
            report["by_timestamp"][p], 50,
            "{client:?} offset by timestamp of {p}: {report}"
        );
    }
    if extra.contains(&"consumer") {
        assert!(
            proxy
                .log()
                .contains(&format!("consumer group \"group-{name}\": epoch")),
            "{client:?}: the group did not use the consumer group protocol:\n{}",
            proxy.log()
        );
    }
    let closed: Vec<String> = proxy
        .warnings()
        .into_iter()
        .filter(|l| l.contains("closing client connection"))
        .collect();
    assert!(
        closed.is_empty(),
        "{client:?}: the proxy closed client connections:\n{}",
        closed.join("\n")
    );
}

#[test]
fn java_client_full_scenario() {
    run(Client::Java, "java", 1);
}

#[test]
fn librdkafka_confluent_full_scenario() {
    run(Client::Confluent, "confluent", 1);
}

#[test]
fn kafka_python_full_scenario() {
    run(Client::KafkaPython, "kafka-python", 1);
}

#[test]
fn kafkajs_full_scenario() {
    run(Client::KafkaJs, "kafkajs", 1);
}

#[test]
fn java_client_full_scenario_on_three_clusters() {
    run(Client::Java, "java", 3);
}

#[test]
fn java_client_full_scenario_with_the_consumer_group_protocol_on_three_clusters() {
    run_with(
        Client::Java,
        "java-consumer-protocol",
        3,
        &["--group-protocol", "consumer"],
    );
}

#[test]
fn librdkafka_confluent_full_scenario_on_three_clusters() {
    run(Client::Confluent, "confluent", 3);
}

#[test]
fn kafka_python_full_scenario_on_three_clusters() {
    run(Client::KafkaPython, "kafka-python", 3);
}

#[test]
fn kafkajs_full_scenario_on_three_clusters() {
    run(Client::KafkaJs, "kafkajs", 3);
}
