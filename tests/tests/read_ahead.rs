//! A consumer that is behind is answered from the proxy's read-ahead; a seek discards it.
//! Either way every fetch returns exactly the records at the offset it asked for.

use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchDecoder;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{Broker, Proxy, http};

const BATCHES: i64 = 160;
const PER_BATCH: i64 = 50;

/// Fetches from `offset` (up to 1 MiB; Tansu ignores smaller partition limits); returns the
/// (offset, key) pairs of the whole batches received.
fn fetch(c: &mut Conn, offset: i64) -> Vec<(i64, String)> {
    let ResponseKind::Fetch(r) = c
        .call(ApiKey::Fetch, 12, build::fetch("behind", offset, 500))
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

fn check(got: &[(i64, String)], from: i64) {
    assert!(!got.is_empty(), "no records at offset {from}");
    for (i, (off, key)) in got.iter().enumerate() {
        assert_eq!(*off, from + i as i64);
        assert_eq!(key, &format!("k{off}"));
    }
}

/// Reads from `from` up to `to`, checking every record; returns where it stopped.
fn read_through(c: &mut Conn, from: i64, to: i64) -> i64 {
    let mut next = from;
    while next < to {
        let got = fetch(c, next);
        check(&got, next);
        next = got.last().map_or(next, |(o, _)| o + 1);
    }
    next
}

#[test]
fn sequential_reads_and_seeks_return_the_records_asked_for() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.call(ApiKey::CreateTopics, 7, build::create_topic("behind", 1))
        .expect("create");
    for b in 0..BATCHES {
        let records: Vec<(String, String)> = (b * PER_BATCH..(b + 1) * PER_BATCH)
            .map(|o| (format!("k{o}"), format!("{o:0>1000}")))
            .collect();
        c.call(
            ApiKey::Produce,
            9,
            build::produce("behind", build::batch(&records)),
        )
        .expect("produce");
    }
    let total = BATCHES * PER_BATCH;
    // Read half the log sequentially (each answer is full: read-ahead kicks in).
    read_through(&mut c, 0, total / 2);
    // Seek back: the pending read-ahead is for a later offset and must not be used.
    check(&fetch(&mut c, 0), 0);
    // Jump forward past the read-ahead, then read to the end.
    assert_eq!(read_through(&mut c, total - 3 * PER_BATCH, total), total);
    let (_, metrics) = http::get(proxy.metrics_port, "/metrics").expect("metrics");
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
