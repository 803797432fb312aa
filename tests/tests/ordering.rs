//! Routing order: produce requests pipelined on one connection reach the backend in the
//! order sent, and one client's long poll never holds up another client.

use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchDecoder;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy};

const BATCHES: usize = 60;

fn one_record(i: usize) -> bytes::Bytes {
    build::batch(&[(format!("k{i}"), format!("batch-{i:03}"))])
}

#[test]
fn pipelined_produce_batches_keep_their_order() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.call(ApiKey::CreateTopics, 7, build::create_topic("ordered", 1))
        .expect("create");
    // Every batch written in one go, as a client pipelines them.
    let mut all = Vec::new();
    for i in 0..BATCHES {
        let (_, frame) = c.encode(
            ApiKey::Produce,
            9,
            &build::produce("ordered", one_record(i)),
        );
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
    let mut values = Vec::new();
    let mut next = 0i64;
    while values.len() < BATCHES {
        let ResponseKind::Fetch(r) = c
            .call(ApiKey::Fetch, 12, build::fetch("ordered", next, 500))
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
    let mut a = Conn::connect(&proxy.bootstrap()).expect("connect a");
    let mut b = Conn::connect(&proxy.bootstrap()).expect("connect b");
    a.call(ApiKey::CreateTopics, 7, build::create_topic("quiet", 1))
        .expect("create");
    // Client A long-polls an empty partition: the broker holds it for max_wait_ms.
    let (_, frame) = a.encode(ApiKey::Fetch, 12, &build::fetch("quiet", 0, 5000));
    a.write_raw(&frame).expect("send fetch");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Client B's produce to the same broker is answered while A's fetch is still held.
    let ResponseKind::Produce(r) = b
        .call(ApiKey::Produce, 9, build::produce("quiet", one_record(0)))
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

#[test]
fn a_tight_request_budget_still_serves_every_pipelined_request() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start_with(
        &[&broker],
        kafkatwin_tests::ProxyOptions {
            server_yaml: "  max_request_bytes: 65536\n  max_inflight_request_bytes: 65536\n".into(),
            ..Default::default()
        },
    );
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.call(ApiKey::CreateTopics, 7, build::create_topic("budget", 1))
        .expect("create");
    // Ten ~40 KB produces at once: only one fits the budget at a time.
    let big = build::batch(&[("k".to_string(), "x".repeat(40_000))]);
    let mut all = Vec::new();
    for _ in 0..10 {
        let (_, frame) = c.encode(ApiKey::Produce, 9, &build::produce("budget", big.clone()));
        all.extend_from_slice(&frame);
    }
    c.write_raw(&all).expect("write");
    for i in 0..10 {
        let (_, body) = Conn::decode(ApiKey::Produce, 9, c.read_frame().expect("answer"));
        let ResponseKind::Produce(r) = body else {
            panic!("not a produce response")
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        assert_eq!(r.responses[0].partition_responses[0].base_offset, i);
    }
}
