//! Bad input against the running binary: each case gets the right error or has that one
//! connection closed with one log line saying why, and every other client keeps working.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafkatwin_tests::wire::{Conn, build, correlation_of};
use kafkatwin_tests::{Broker, Proxy, ProxyOptions};
use std::time::{Duration, Instant};

fn api_versions_ok(proxy: &Proxy) {
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    match c
        .call(
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        )
        .expect("ApiVersions answered")
    {
        ResponseKind::ApiVersions(r) => {
            assert_eq!(r.error_code, 0);
            assert!(
                r.api_keys
                    .iter()
                    .any(|k| k.api_key == ApiKey::Produce as i16)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn metadata(c: &mut Conn, topics: Option<Vec<&str>>) -> MetadataResponse {
    let req = MetadataRequest::default().with_topics(topics.map(|ts| {
        ts.into_iter()
            .map(|t| {
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.to_owned()))))
            })
            .collect()
    }));
    match c
        .call(ApiKey::Metadata, 9, RequestKind::Metadata(req))
        .expect("Metadata answered")
    {
        ResponseKind::Metadata(m) => m,
        other => panic!("unexpected {other:?}"),
    }
}

/// Waits for a log line containing `needle`.
fn log_has(proxy: &Proxy, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if proxy.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn assert_alive_and_no_panic(proxy: &mut Proxy) {
    assert!(proxy.is_running(), "proxy died:\n{}", proxy.log());
    api_versions_ok(proxy);
    assert!(
        !proxy.log().contains("panicked"),
        "panic in log:\n{}",
        proxy.log()
    );
}

fn small_frames() -> ProxyOptions {
    ProxyOptions {
        server_yaml: "  max_request_bytes: 65536\n".into(),
        ..Default::default()
    }
}

#[test]
fn oversized_frame_closes_only_that_connection() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start_with(&[&broker], small_frames());
    let mut other = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut bad = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut frame = (1_000_000i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&[0u8; 1024]);
    bad.write_raw(&frame).expect("write");
    assert!(
        bad.is_closed_by_peer(),
        "oversized frame must close the connection"
    );
    assert!(
        log_has(&proxy, "over the limit of 65536 bytes"),
        "{}",
        proxy.log()
    );
    // A connection opened before keeps working.
    assert_eq!(metadata(&mut other, None).brokers.len(), 1);
    assert_alive_and_no_panic(&mut proxy);
}

#[test]
fn garbage_and_unknown_api_keys_close_with_a_reason() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    // A frame whose "header" is an API key no Kafka version has.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.write_raw(&[
        0, 0, 0, 12, 0x7f, 0x00, 0, 1, 0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef,
    ])
    .expect("write");
    assert!(c.is_closed_by_peer());
    assert!(log_has(&proxy, "unknown API key 32512"), "{}", proxy.log());
    // Shorter than a header.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    c.write_raw(&[0, 0, 0, 3, 1, 2, 3]).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "shorter than a request header"),
        "{}",
        proxy.log()
    );
    // A known API with a body that is noise.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut frame = vec![0, 0, 0, 40, 0, 3, 0, 9, 0, 0, 0, 7, 0, 2, b'x', b'y', 0];
    frame.extend((0..27).map(|i| (i * 37 + 11) as u8));
    c.write_raw(&frame).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "malformed Metadata v9 request"),
        "{}",
        proxy.log()
    );
    assert_alive_and_no_panic(&mut proxy);
}

#[test]
fn truncated_frame_and_mid_request_disconnects_are_survived() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    {
        let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
        c.write_raw(&[0, 0, 0, 100, 0, 3, 0, 9, 0, 0])
            .expect("write");
    } // dropped: the frame never completes
    assert!(log_has(&proxy, "after 6 of 100 bytes"), "{}", proxy.log());
    {
        // A long-poll fetch, then the client vanishes before the answer.
        let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
        metadata(&mut c, Some(vec!["vanishing"]));
        let (_, frame) = c.encode(ApiKey::Fetch, 12, &build::fetch("vanishing", 0, 2000));
        c.write_raw(&frame).expect("write");
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_alive_and_no_panic(&mut proxy);
}

#[test]
fn versions_the_proxy_does_not_speak() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    // ApiVersions newer than known: the protocol's v0 error answer, listing what is supported.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let (corr, frame) = c.encode(
        ApiKey::ApiVersions,
        0,
        &RequestKind::ApiVersions(Default::default()),
    );
    let mut frame = frame.to_vec();
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    c.write_raw(&frame).expect("write");
    let resp = c.read_frame().expect("answered");
    let (got, body) = Conn::decode(ApiKey::ApiVersions, 0, resp);
    assert_eq!(got, corr);
    match body {
        ResponseKind::ApiVersions(r) => {
            assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION");
            assert!(!r.api_keys.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    // Metadata v99 cannot even be decoded: that connection is closed with a reason.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let (_, frame) = c.encode(
        ApiKey::Metadata,
        1,
        &RequestKind::Metadata(Default::default()),
    );
    let mut frame = frame.to_vec();
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    c.write_raw(&frame).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "Metadata v99 is not a version"),
        "{}",
        proxy.log()
    );
    // A known API the proxy does not serve (DescribeAcls): closed, with a reason.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let (_, frame) = c.encode(
        ApiKey::DescribeAcls,
        1,
        &RequestKind::DescribeAcls(DescribeAclsRequest::default()),
    );
    c.write_raw(&frame).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "DescribeAcls v1 is not supported"),
        "{}",
        proxy.log()
    );
    assert_alive_and_no_panic(&mut proxy);
}

#[test]
fn hostile_counts_do_not_allocate_or_crash() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start(&[&broker]);
    // Produce v9 (flexible): header, then a compact topic array claiming 2^32-2 topics in a
    // 30-byte frame. Decoding must fail cleanly, not try to allocate for them.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut body = vec![0u8, 0, 0, 9, 0, 0, 0, 42, 0, 1, b'x', 0]; // key, ver, corr, client id, tags
    body.extend_from_slice(&[0]); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    body.extend_from_slice(&1000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // topic count varint
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.write_raw(&frame).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "malformed Produce v9 request"),
        "{}",
        proxy.log()
    );
    // Same with a classic (non-flexible) array: Metadata v1 claiming i32::MAX topics.
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut body = vec![0u8, 3, 0, 1, 0, 0, 0, 43, 0, 1, b'x'];
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.write_raw(&frame).expect("write");
    assert!(c.is_closed_by_peer());
    assert!(
        log_has(&proxy, "malformed Metadata v1 request"),
        "{}",
        proxy.log()
    );
    assert_alive_and_no_panic(&mut proxy);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start("c1");
    let proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    let mut expected = Vec::new();
    let mut all = Vec::new();
    for i in 0..12 {
        let (corr, frame) = if i % 2 == 0 {
            c.encode(
                ApiKey::Metadata,
                9,
                &RequestKind::Metadata(MetadataRequest::default()),
            )
        } else {
            c.encode(
                ApiKey::ApiVersions,
                3,
                &RequestKind::ApiVersions(Default::default()),
            )
        };
        expected.push(corr);
        all.extend_from_slice(&frame);
    }
    c.write_raw(&all).expect("write all at once");
    let got: Vec<i32> = (0..12)
        .map(|_| correlation_of(&c.read_frame().expect("response")))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn backend_that_disappears_gets_errors_not_hangs_and_recovery() {
    let mut broker = Broker::start("c1");
    let port = broker.port;
    let mut proxy = Proxy::start(&[&broker]);
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    assert!(metadata(&mut c, None).error_code == 0);
    wait_ready(&proxy, 200);
    broker.kill();
    // Answered (with the proxy still presented as the broker), not hung or closed.
    let m = metadata(&mut c, Some(vec!["t"]));
    assert_eq!(m.brokers.len(), 1);
    assert_ne!(
        m.topics[0].error_code, 0,
        "topic lookup must fail while the backend is gone"
    );
    wait_ready(&proxy, 503);
    let _broker = Broker::start_on("c1", port);
    wait_ready(&proxy, 200);
    let m = metadata(&mut c, None);
    assert_eq!(m.error_code, 0);
    assert!(
        log_has(&proxy, "cluster c1"),
        "the log names the cluster:\n{}",
        proxy.log()
    );
    assert_alive_and_no_panic(&mut proxy);
}

fn wait_ready(proxy: &Proxy, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (0, String::new());
    while Instant::now() < deadline {
        if let Ok(r) = kafkatwin_tests::http::get(proxy.health_port, "/health/ready") {
            if r.0 == want {
                return;
            }
            last = r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("/health/ready never answered {want}; last {last:?}");
}

#[test]
fn a_client_stalling_inside_a_frame_is_closed_after_the_idle_limit() {
    let broker = Broker::start("c1");
    let mut proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: "  connections_max_idle: 1s\n".into(),
            ..Default::default()
        },
    );
    let mut c = Conn::connect(&proxy.bootstrap()).expect("connect");
    // Announce a 1 MB frame, send 10 bytes of it, then nothing.
    c.write_raw(&[0, 0x0f, 0x42, 0x40, 0, 3, 0, 9, 0, 0, 0, 1, 0, 0])
        .expect("write");
    assert!(
        c.is_closed_by_peer(),
        "a stalled frame must not hold the connection forever"
    );
    assert!(
        log_has(&proxy, "server.connections_max_idle"),
        "{}",
        proxy.log()
    );
    assert_alive_and_no_panic(&mut proxy);
}
