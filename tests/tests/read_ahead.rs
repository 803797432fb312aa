//! A consumer that is behind is answered from the proxy's read-ahead; a seek discards it.
//! Either way every fetch returns exactly the records at the offset it asked for.

use bytes::BytesMut;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkatwin_tests::wire::Conn;
use kafkatwin_tests::{Broker, Proxy};

const BATCHES: i64 = 160;
const PER_BATCH: i64 = 50;

fn batch(first: i64) -> bytes::Bytes {
    let records: Vec<Record> = (0..PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(format!("k{}", first + i).into()),
            value: Some(format!("{:0>1000}", first + i).into()),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode batch");
    buf.freeze()
}

/// Fetches from `offset` (up to 1 MiB; Tansu ignores smaller partition limits); returns the
/// (offset, key) pairs.
fn fetch(c: &mut Conn, topic: &TopicName, offset: i64) -> Vec<(i64, String)> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic.clone())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(64 * 1024),
                ]),
        ]);
    let ResponseKind::Fetch(r) = c
        .call(ApiKey::Fetch, 12, RequestKind::Fetch(req))
        .expect("fetch")
    else {
        panic!("not a fetch response")
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let mut records = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    // Whole batches only: a response may end in a truncated one.
    while let Ok(set) = RecordBatchDecoder::decode(&mut records) {
        for rec in set.records {
            let key = String::from_utf8_lossy(&rec.key.unwrap_or_default()).into_owned();
            out.push((rec.offset, key));
        }
    }
    out
}

#[test]
fn sequential_reads_and_seeks_return_the_records_asked_for() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let topic = TopicName(StrBytes::from_static_str("behind"));
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
    for b in 0..BATCHES {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch(b * PER_BATCH))),
                    ]),
            ]);
        c.call(ApiKey::Produce, 9, RequestKind::Produce(req))
            .expect("produce");
    }
    let total = BATCHES * PER_BATCH;
    let check = |got: &[(i64, String)], from: i64| {
        assert!(!got.is_empty(), "no records at offset {from}");
        for (i, (off, key)) in got.iter().enumerate() {
            assert_eq!(*off, from + i as i64);
            assert_eq!(key, &format!("k{off}"));
        }
    };
    // Read half the log sequentially (each answer is full: read-ahead kicks in).
    let mut next = 0;
    while next < total / 2 {
        let got = fetch(&mut c, &topic, next);
        check(&got, next);
        next = got.last().map_or(next, |(o, _)| o + 1);
    }
    // Seek back: the pending read-ahead is for `next`, not for 0, and must not be used.
    let got = fetch(&mut c, &topic, 0);
    check(&got, 0);
    // Jump forward past the read-ahead, then read to the end.
    let mut next = total - 3 * PER_BATCH;
    while next < total {
        let got = fetch(&mut c, &topic, next);
        check(&got, next);
        next = got.last().map_or(next, |(o, _)| o + 1);
    }
    assert_eq!(next, total);
    let (_, metrics) = kafkatwin_tests::http::get(proxy.metrics_port, "/metrics").expect("metrics");
    let count = |outcome: &str| -> f64 {
        let prefix = format!("kafkatwin_fetch_read_ahead_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    assert!(count("used") >= 2.0, "read-ahead was not used:\n{metrics}");
    assert!(
        count("discarded") >= 1.0,
        "the seek did not discard:\n{metrics}"
    );
}
