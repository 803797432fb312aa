//! Limits a proxy open to the network needs, against the real binary: Kafka connections over
//! `server.max_connections_per_ip` are closed while the others are served; HTTP connections
//! that send half a request head are closed after the head timeout while the API keeps
//! answering; names that reach the admin API are checked (a rule's topic must be a Kafka
//! topic name), each refusal a JSON 400.

use kafkatwin_tests::{Broker, Proxy, ProxyOptions, http};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// ApiVersions v0 with correlation id 7.
const API_VERSIONS: &[u8] = &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0, 0];

/// Whether the connection answers ApiVersions (false: closed).
fn answers(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    if c.write_all(API_VERSIONS).is_err() {
        return false;
    }
    let mut len = [0u8; 4];
    if c.read_exact(&mut len).is_err() {
        return false;
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    c.read_exact(&mut body).is_ok() && body.get(..4) == Some(&[0, 0, 0, 7][..])
}

#[test]
fn kafka_connections_over_the_per_ip_cap_are_closed_and_the_others_served() {
    let broker = Broker::start("a");
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: "  max_connections_per_ip: 3\n".into(),
            ..Default::default()
        },
    );
    // The start-up check's own connection may not have been let go yet: three served
    // connections once it has.
    let mut open: Vec<TcpStream> = Vec::new();
    let three = kafkatwin_tests::eventually(Duration::from_secs(10), || {
        open = (0..3)
            .filter_map(|_| TcpStream::connect(proxy.bootstrap()).ok())
            .collect();
        open.len() == 3 && open.iter_mut().all(answers)
    });
    assert!(
        three,
        "three connections within the cap were not served:\n{}",
        proxy.log()
    );
    let mut over = TcpStream::connect(proxy.bootstrap()).expect("connect");
    assert!(
        !answers(&mut over),
        "a fourth connection from one address was served"
    );
    assert!(
        proxy.log().contains("server.max_connections_per_ip"),
        "{}",
        proxy.log()
    );
    for c in &mut open {
        assert!(
            answers(c),
            "the connections within the cap stopped being served"
        );
    }
    drop(open);
    let freed = kafkatwin_tests::eventually(Duration::from_secs(5), || {
        TcpStream::connect(proxy.bootstrap()).is_ok_and(|mut c| answers(&mut c))
    });
    assert!(freed, "closed connections did not free their places");
}

#[test]
fn half_sent_http_requests_are_closed_and_the_api_keeps_answering() {
    let broker = Broker::start("a");
    let proxy = Proxy::start(&[&broker]);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", proxy.admin_port)).expect("connect");
            c.write_all(b"GET /api/v1/clu")
                .expect("half a request line");
            c
        })
        .collect();
    let (status, _) = http::get(proxy.admin_port, "/api/v1/clusters").expect("the API answers");
    assert_eq!(status, 200);
    for c in &mut stalled {
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        // Closed by the proxy (0 bytes, or hyper's 408 then close).
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(30),
        "half-sent requests were held for {waited:?}"
    );
}

#[test]
fn names_reaching_the_admin_api_are_checked() {
    let broker = Broker::start("a");
    let proxy = Proxy::start(&[&broker]);
    let rule = r#"{"id": "r", "actions": [{"type": "set_header", "field": "h", "value": "v"}]}"#;
    let long = "t".repeat(5000);
    for topic in ["..%2F..%2Fetc", "a%20b", long.as_str()] {
        let (status, body) = http::send(
            proxy.admin_port,
            "POST",
            &format!("/api/v1/transformations/{topic}"),
            rule,
        )
        .expect("answered");
        assert_eq!(status, 400, "{topic}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(v["field"], "topic", "{body}");
    }
    let long_id = format!(r#"{{"id": "{}", "actions": []}}"#, "i".repeat(300));
    let (status, body) = http::send(
        proxy.admin_port,
        "POST",
        "/api/v1/transformations/orders",
        &long_id,
    )
    .expect("answered");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"field\":\"id\""), "{body}");
    let (status, _) = http::send(
        proxy.admin_port,
        "POST",
        "/api/v1/transformations/orders",
        rule,
    )
    .expect("answered");
    assert_eq!(status, 201, "a valid topic name is taken");
}

/// The API keys an ApiVersions v0 answer lists.
fn advertised(proxy: &Proxy) -> Vec<i16> {
    let mut c = TcpStream::connect(proxy.bootstrap()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(API_VERSIONS).expect("write");
    let mut len = [0u8; 4];
    c.read_exact(&mut len).expect("length");
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    c.read_exact(&mut body).expect("body");
    // correlation id (4), error code (2), array length (4), then (key, min, max) i16 each.
    let n = i32::from_be_bytes([body[6], body[7], body[8], body[9]]).max(0) as usize;
    (0..n)
        .filter_map(|i| body.get(10 + i * 6..12 + i * 6))
        .map(|k| i16::from_be_bytes([k[0], k[1]]))
        .collect()
}

#[test]
fn sasl_is_advertised_only_when_a_login_is_required() {
    const SASL_HANDSHAKE: i16 = 17;
    const SASL_AUTHENTICATE: i16 = 36;
    let broker = Broker::start("a");
    let open = Proxy::start(&[&broker]);
    let keys = advertised(&open);
    assert!(
        keys.contains(&0) && keys.contains(&1),
        "produce and fetch: {keys:?}"
    );
    assert!(
        !keys.contains(&SASL_HANDSHAKE) && !keys.contains(&SASL_AUTHENTICATE),
        "SASL advertised with no auth configured: {keys:?}"
    );
    let secured = Proxy::with_yaml(
        &[&broker],
        "auth:\n  users:\n    - { username: u, password: p }\n",
    );
    let keys = advertised(&secured);
    assert!(
        keys.contains(&SASL_HANDSHAKE) && keys.contains(&SASL_AUTHENTICATE),
        "SASL not advertised with auth.users: {keys:?}"
    );
}
