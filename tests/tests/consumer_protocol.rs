//! The consumer group protocol (`group.protocol=consumer`) on the wire, in front of two Tansu
//! clusters, which do not offer it: the proxy is the coordinator, assigns the partitions
//! itself by the topic ids Metadata shows, answers as Kafka does where the protocols meet, and
//! refuses what it does not take with Kafka's error codes and a message. OffsetDelete removes
//! the commits of topics no member subscribes to and keeps the others
//! (`GROUP_SUBSCRIBED_TO_TOPIC`). (Real clients of the protocol are in `group_faults.rs` and
//! `clients.rs`.)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy};

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

/// OffsetDelete for `group`'s commit of `orders`-`partition`: the group code and the
/// partition's.
fn offset_delete(conn: &mut Conn, group: &str, partition: i32) -> (i16, i16) {
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(build::topic("orders"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(partition),
                ]),
        ]);
    match conn
        .call(ApiKey::OffsetDelete, 0, RequestKind::OffsetDelete(req))
        .expect("offset delete answered")
    {
        ResponseKind::OffsetDelete(r) => (
            r.error_code,
            r.topics
                .first()
                .and_then(|t| t.partitions.first())
                .map_or(-1, |p| p.error_code),
        ),
        other => panic!("{other:?}"),
    }
}

/// `group`'s committed offset of `orders`-`partition` (-1: none).
fn committed(conn: &mut Conn, group: &str, partition: i32) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(build::topic("orders"))
                .with_partition_indexes(vec![partition]),
        ]));
    match conn
        .call(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(req))
        .expect("offset fetch answered")
    {
        ResponseKind::OffsetFetch(r) => r.topics[0].partitions[0].committed_offset,
        other => panic!("{other:?}"),
    }
}

#[test]
fn offset_delete_removes_commits_of_topics_no_member_subscribes_to() {
    let (a, b) = (Broker::start("a"), Broker::start("b"));
    let p = Proxy::start(&[&a, &b]);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    conn.call(ApiKey::CreateTopics, 4, build::create_topic("orders", 3))
        .expect("topic created");
    // A standalone commit (no members), as admin tools make, once the coordinator is loaded.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("audit")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(build::topic("orders"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(42),
                ]),
        ]);
    let committed_ok = (0..100).any(|_| {
        let code = match conn
            .call(
                ApiKey::OffsetCommit,
                8,
                RequestKind::OffsetCommit(commit.clone()),
            )
            .expect("commit answered")
        {
            ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
            other => panic!("{other:?}"),
        };
        if code != 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        code == 0
    });
    assert!(
        committed_ok,
        "the standalone commit was taken:\n{}",
        p.log()
    );
    assert_eq!(committed(&mut conn, "audit", 1), 42);
    assert_eq!(offset_delete(&mut conn, "audit", 1), (0, 0));
    assert_eq!(committed(&mut conn, "audit", 1), -1, "the commit is gone");
    assert_eq!(
        offset_delete(&mut conn, "nobody", 1).0,
        ResponseError::GroupIdNotFound.code()
    );

    // A group whose member subscribes to the topic keeps its commits.
    let joined = beat(&mut conn, joining("shop"));
    assert_eq!(joined.error_code, 0, "{joined:?}");
    let member = joined.member_id.clone().expect("member id");
    let commit = commit
        .with_group_id(GroupId(StrBytes::from_static_str("shop")))
        .with_member_id(member)
        .with_generation_id_or_member_epoch(joined.member_epoch);
    match conn
        .call(ApiKey::OffsetCommit, 9, RequestKind::OffsetCommit(commit))
        .expect("commit answered")
    {
        ResponseKind::OffsetCommit(r) => assert_eq!(r.topics[0].partitions[0].error_code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        offset_delete(&mut conn, "shop", 1),
        (0, ResponseError::GroupSubscribedToTopic.code())
    );
    assert_eq!(committed(&mut conn, "shop", 1), 42);
}
