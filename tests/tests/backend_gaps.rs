//! APIs the backend lacks or mishandles (Tansu: no CreatePartitions, no OffsetForLeaderEpoch,
//! drops the connection on DeleteRecords): the client gets that API's own error response, in
//! bounded time, and its connection stays usable.

use kafka_protocol::messages::*;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy};
use std::time::{Duration, Instant};

use build::topic;

fn create_topic(c: &mut Conn, name: &str, partitions: i32) {
    match c
        .call(
            ApiKey::CreateTopics,
            7,
            build::create_topic(name, partitions),
        )
        .expect("CreateTopics")
    {
        ResponseKind::CreateTopics(r) => assert_eq!(r.topics[0].error_code, 0, "{r:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

fn usable(c: &mut Conn) {
    match c
        .call(
            ApiKey::Metadata,
            9,
            RequestKind::Metadata(MetadataRequest::default()),
        )
        .expect("connection still usable")
    {
        ResponseKind::Metadata(m) => assert_eq!(m.brokers.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn create_partitions_gets_a_clear_per_topic_error() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    create_topic(&mut c, "grow-me", 1);
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("grow-me"))
                .with_count(3),
        ]);
    match c
        .call(
            ApiKey::CreatePartitions,
            3,
            RequestKind::CreatePartitions(req),
        )
        .expect("answered")
    {
        ResponseKind::CreatePartitions(r) => {
            let t = &r.results[0];
            assert_eq!(t.name, topic("grow-me"));
            assert_eq!(t.error_code, 35, "UNSUPPORTED_VERSION");
            let msg = t
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            assert!(
                msg.contains("cluster c1 does not support CreatePartitions"),
                "{msg}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    usable(&mut c);
}

#[test]
fn offset_for_leader_epoch_gets_per_partition_errors() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    create_topic(&mut c, "epochs", 2);
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(topic("epochs"))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(p)
                                .with_current_leader_epoch(-1)
                                .with_leader_epoch(0)
                        })
                        .collect(),
                ),
        ]);
    match c
        .call(
            ApiKey::OffsetForLeaderEpoch,
            4,
            RequestKind::OffsetForLeaderEpoch(req),
        )
        .expect("answered")
    {
        ResponseKind::OffsetForLeaderEpoch(r) => {
            let parts = &r.topics[0].partitions;
            assert_eq!(parts.len(), 2);
            assert!(parts.iter().all(|p| p.error_code == 35), "{r:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    usable(&mut c);
}

#[test]
fn delete_records_that_kills_backend_connections_gets_an_error_in_bounded_time() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    create_topic(&mut c, "trim-me", 1);
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("trim-me"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(0),
                ]),
        ]);
    let started = Instant::now();
    match c
        .call(ApiKey::DeleteRecords, 2, RequestKind::DeleteRecords(req))
        .expect("answered, not closed")
    {
        ResponseKind::DeleteRecords(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!(p.partition_index, 0);
            // Tansu answers nothing and drops the connection; Apache Kafka would answer 0.
            assert_ne!(p.error_code, 0, "{r:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    usable(&mut c);
}
