//! Produce requests pipelined on one connection reach the backend in the order sent: the
//! proxy handles requests concurrently but must never let a later batch overtake an earlier
//! one for the same partition.

use bytes::BytesMut;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkatwin_tests::wire::Conn;
use kafkatwin_tests::{Broker, Proxy};

const BATCHES: usize = 60;

fn batch(i: usize) -> bytes::Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(format!("k{i}").into()),
        value: Some(format!("batch-{i:03}").into()),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

#[test]
fn pipelined_produce_batches_keep_their_order() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let topic = TopicName(StrBytes::from_static_str("ordered"));
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic.clone())
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    c.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(create))
        .expect("create");
    // Every batch written in one go, as a client pipelines them.
    let mut all = Vec::new();
    for i in 0..BATCHES {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch(i))),
                    ]),
            ]);
        let (_, frame) = c.encode(ApiKey::Produce, 9, &RequestKind::Produce(req));
        all.extend_from_slice(&frame);
    }
    c.write_raw(&all).expect("write");
    let mut offsets = Vec::new();
    for _ in 0..BATCHES {
        let (_, body) = Conn::decode(ApiKey::Produce, 9, c.read_frame().expect("produce answer"));
        let ResponseKind::Produce(r) = body else {
            panic!("not a produce response")
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "{r:?}");
        offsets.push(p.base_offset);
    }
    // Answers come back in request order, and so must the offsets the batches got.
    let expected: Vec<i64> = (0..BATCHES as i64).collect();
    assert_eq!(offsets, expected, "batches were written out of order");
    // And the log holds them in that order.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic)
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let mut values = Vec::new();
    let mut next = 0i64;
    while values.len() < BATCHES {
        let mut req = fetch.clone();
        req.topics[0].partitions[0].fetch_offset = next;
        let ResponseKind::Fetch(r) = c
            .call(ApiKey::Fetch, 12, RequestKind::Fetch(req))
            .expect("fetch")
        else {
            panic!("not a fetch response")
        };
        let mut records = r.responses[0].partitions[0]
            .records
            .clone()
            .unwrap_or_default();
        let sets = RecordBatchDecoder::decode_all(&mut records).expect("decode batches");
        let before = values.len();
        for set in sets {
            for rec in set.records {
                values.push(String::from_utf8_lossy(&rec.value.unwrap_or_default()).into_owned());
                next = rec.offset + 1;
            }
        }
        assert!(
            values.len() > before,
            "fetch made no progress at offset {next}"
        );
    }
    let want: Vec<String> = (0..BATCHES).map(|i| format!("batch-{i:03}")).collect();
    assert_eq!(values, want);
}

#[test]
fn one_clients_long_poll_does_not_hold_up_another_client() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let topic = TopicName(StrBytes::from_static_str("quiet"));
    let mut a = Conn::connect(&proxy.bootstrap()).expect("connect a");
    let mut b = Conn::connect(&proxy.bootstrap()).expect("connect b");
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic.clone())
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    a.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(create))
        .expect("create");
    // Client A long-polls an empty partition: the broker holds it for max_wait_ms.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(5000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic.clone())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let (_, frame) = a.encode(ApiKey::Fetch, 12, &RequestKind::Fetch(fetch));
    a.write_raw(&frame).expect("send fetch");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Client B's produce to the same broker is answered while A's fetch is still held.
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic)
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(0))),
                ]),
        ]);
    let ResponseKind::Produce(r) = b
        .call(ApiKey::Produce, 9, RequestKind::Produce(req))
        .expect("produce")
    else {
        panic!("not a produce response")
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    // A's fetch now sees B's record (min_bytes reached) and completes.
    let (_, body) = Conn::decode(ApiKey::Fetch, 12, a.read_frame().expect("fetch answer"));
    let ResponseKind::Fetch(f) = body else {
        panic!("not a fetch response")
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    // Had B's produce queued behind A's fetch, the fetch would have timed out empty first.
    assert!(
        p.records.as_ref().is_some_and(|r| !r.is_empty()),
        "A's fetch completed without B's record: B was held up behind it"
    );
}
