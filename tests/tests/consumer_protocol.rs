//! The consumer group protocol (`group.protocol=consumer`) with Apache Kafka's Java client in
//! front of three Tansu clusters, which do not offer it: the proxy is the coordinator and
//! assigns the partitions itself. A group of two reads through a cluster hung and then
//! killed without a rebalance, with disjoint assignments covering every partition, no failed
//! commit and nothing read twice. The classic protocol does the same, for comparison. And
//! requests the proxy does not take are refused with Kafka's error codes and a message.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy, http, java_program, produce_ok};
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
fn a_consumer_protocol_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults("consumer");
}

#[test]
fn a_classic_java_group_reads_through_a_hung_then_killed_cluster_without_a_rebalance() {
    group_through_faults("classic");
}

/// Two Java consumers of `protocol` read 10,000 records while cluster a, which serves the
/// reads, is hung and then killed.
fn group_through_faults(protocol: &str) {
    let (mut a, b, c) = (Broker::start("a"), Broker::start("b"), Broker::start("c"));
    let p = Proxy::with_yaml(&[&a, &b, &c], MAJORITY);
    let v = produce_ok(&p, "events", 10_000, &["--partitions", "4"]);
    assert_eq!(v["delivered"], 10_000, "{v}\n{}", p.log());

    let mut reader = java_program("Group.java")
        .args(["--bootstrap", &p.bootstrap(), "--topic", "events"])
        .args([
            "--group",
            "modern",
            "--protocol",
            protocol,
            "--consumers",
            "2",
        ])
        .args(["--expect", "10000", "--progress-every", "1000"])
        .args(["--max-poll-records", "50", "--timeout", "150"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the Java group");
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

/// One ConsumerGroupHeartbeat (v1) for group `g`.
fn beat(conn: &mut Conn, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
    match conn
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            RequestKind::ConsumerGroupHeartbeat(req),
        )
        .expect("heartbeat answered")
    {
        ResponseKind::ConsumerGroupHeartbeat(r) => r,
        other => panic!("not a heartbeat answer: {other:?}"),
    }
}

fn joining(group: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![build::topic("orders")]))
        .with_topic_partitions(Some(vec![]))
}

#[test]
fn the_consumer_group_protocol_answers_as_kafka_does_and_names_what_it_refuses() {
    let (a, b) = (Broker::start("a"), Broker::start("b"));
    let p = Proxy::start(&[&a, &b]);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    conn.call(ApiKey::CreateTopics, 4, build::create_topic("orders", 3))
        .expect("topic created");
    let code = |e: ResponseError| e.code();

    // Clients retry while the coordinator loads the control state.
    let sticky = joining("shop").with_server_assignor(Some(StrBytes::from_static_str("sticky")));
    let mut r = beat(&mut conn, sticky.clone());
    for _ in 0..100 {
        if r.error_code != code(ResponseError::CoordinatorLoadInProgress) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        r = beat(&mut conn, sticky.clone());
    }
    assert_eq!(
        r.error_code,
        code(ResponseError::UnsupportedAssignor),
        "{r:?}"
    );
    assert!(
        r.error_message
            .as_ref()
            .is_some_and(|m| m.contains("\"sticky\"")),
        "{r:?}"
    );
    let r = beat(
        &mut conn,
        joining("shop").with_subscribed_topic_regex(Some(StrBytes::from_static_str("ord.*"))),
    );
    assert_eq!(r.error_code, code(ResponseError::InvalidRequest), "{r:?}");
    let r = beat(&mut conn, joining("shop").with_subscribed_topic_names(None));
    assert_eq!(r.error_code, code(ResponseError::InvalidRequest), "{r:?}");
    let r = beat(
        &mut conn,
        joining("shop")
            .with_member_id(StrBytes::from_static_str("nobody"))
            .with_member_epoch(4),
    );
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId), "{r:?}");

    // A member joins: the coordinator names it and assigns every partition, by the topic id
    // Metadata shows.
    let joined = beat(&mut conn, joining("shop"));
    assert_eq!(joined.error_code, 0, "{joined:?}");
    let member = joined.member_id.clone().expect("member id");
    assert!(joined.member_epoch > 0, "{joined:?}");
    let assigned = joined.assignment.clone().expect("assignment");
    let metadata = match conn
        .call(
            ApiKey::Metadata,
            12,
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(build::topic("orders"))),
            ]))),
        )
        .expect("metadata")
    {
        ResponseKind::Metadata(m) => m,
        other => panic!("{other:?}"),
    };
    let id = metadata.topics[0].topic_id;
    assert_eq!(assigned.topic_partitions.len(), 1, "{joined:?}");
    assert_eq!(assigned.topic_partitions[0].topic_id, id, "{joined:?}");
    assert_eq!(assigned.topic_partitions[0].partitions, vec![0, 1, 2]);

    // A classic member may not join the group; DescribeGroups does not describe it, and
    // ConsumerGroupDescribe does.
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("shop")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range")),
        ]);
    match conn
        .call(ApiKey::JoinGroup, 5, RequestKind::JoinGroup(join))
        .expect("join answered")
    {
        ResponseKind::JoinGroup(r) => assert_eq!(
            r.error_code,
            code(ResponseError::InconsistentGroupProtocol),
            "{r:?}"
        ),
        other => panic!("{other:?}"),
    }
    let described = match conn
        .call(
            ApiKey::ConsumerGroupDescribe,
            0,
            RequestKind::ConsumerGroupDescribe(
                ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![GroupId(StrBytes::from_static_str("shop"))]),
            ),
        )
        .expect("describe answered")
    {
        ResponseKind::ConsumerGroupDescribe(r) => r,
        other => panic!("{other:?}"),
    };
    let g = &described.groups[0];
    assert_eq!(g.error_code, 0, "{g:?}");
    assert_eq!(g.group_state.as_str(), "Stable", "{g:?}");
    assert_eq!(g.members.len(), 1, "{g:?}");
    assert_eq!(g.members[0].member_id, member, "{g:?}");

    // Leaving ends the membership: a heartbeat after it is from an unknown member.
    let left = beat(
        &mut conn,
        joining("shop")
            .with_member_id(member.clone())
            .with_member_epoch(-1),
    );
    assert_eq!((left.error_code, left.member_epoch), (0, -1), "{left:?}");
    let after = beat(
        &mut conn,
        joining("shop")
            .with_member_id(member)
            .with_member_epoch(joined.member_epoch),
    );
    assert_eq!(
        after.error_code,
        code(ResponseError::UnknownMemberId),
        "{after:?}"
    );
}
