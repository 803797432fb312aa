//! Transactions through the proxy in front of three real Tansu clusters (and one), with confluent-kafka
//! (librdkafka) and the Java client: a consume-transform-produce round commits records and the
//! consumer's offsets, an aborted transaction leaves nothing on any cluster (each read directly with
//! `read_committed`), a second producer with the same transactional id fences the first,
//! a transaction left open past its timeout is aborted, a cluster hung during a commit is
//! caught up with exactly the committed records, and a proxy stopped dead right after a
//! commit decision finishes that commit when it starts again.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use kafkatwin_tests::wire::{Conn, build};
use kafkatwin_tests::{
    Broker, Proxy, ProxyOptions, create_topic, eventually, java_program, last_json, python_script,
};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;

fn txn(args: &[&str]) -> Output {
    python_script("transactions.py")
        .args(args)
        .output()
        .expect("transactions.py ran")
}

/// The script's JSON line; panics with its stderr and the proxy's log when it failed.
fn run(p: &Proxy, args: &[&str]) -> Value {
    let out = txn(args);
    assert!(
        out.status.success(),
        "transactions.py {args:?} failed:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    last_json(&out.stdout)
}

/// Every record of `topic`'s `partitions` at `bootstrap`, read with `read_committed`: values
/// per partition, in order.
fn read(p: &Proxy, bootstrap: &str, topic: &str, partitions: usize) -> Value {
    let n = partitions.to_string();
    let out = run(
        p,
        &[
            "read",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--partitions",
            &n,
        ],
    );
    assert_eq!(
        out["complete"], true,
        "{topic} at {bootstrap} not read to its end: {out}"
    );
    out["values"].clone()
}

/// `transactions.py eos` through `p` with topics, group and transactional id named from
/// `name` (`{name}-in`, `{name}-out`, `{name}-group`, `{name}-eos`).
fn eos(p: &Proxy, name: &str) -> Output {
    let (input, output) = (format!("{name}-in"), format!("{name}-out"));
    let (group, tid) = (format!("{name}-group"), format!("{name}-eos"));
    txn(&[
        "eos",
        "--bootstrap",
        &p.bootstrap(),
        "--input",
        &input,
        "--output",
        &output,
        "--group",
        &group,
        "--tid",
        &tid,
    ])
}

/// What `eos` commits: the first transaction's 100 records, then the 10 of the one after
/// the abort (of the aborted 50, nothing), per partition.
fn eos_committed() -> Value {
    joined(
        split((0..100).map(|i| format!("c-{i}"))),
        &split((0..10).map(|i| format!("d-{i}"))),
    )
}

/// Asserts that `group` committed `offset` on partition 0 of `topic` (through the proxy).
fn assert_committed(p: &Proxy, group: &str, topic: &str, offset: i64) {
    let args = [
        "committed",
        "--bootstrap",
        &p.bootstrap(),
        "--group",
        group,
        "--topic",
        topic,
        "--partitions",
        "1",
    ];
    let committed = run(p, &args);
    assert_eq!(
        committed["0"], offset,
        "{group}'s offsets on {topic} after the commit: {committed}"
    );
}

/// What each of two partitions holds after `values` were written round-robin over them.
fn split(values: impl IntoIterator<Item = String>) -> Value {
    let mut parts = [Vec::new(), Vec::new()];
    for (i, v) in values.into_iter().enumerate() {
        parts[i % 2].push(Value::String(v));
    }
    let [p0, p1] = parts;
    serde_json::json!({ "0": p0, "1": p1 })
}

#[test]
fn a_committed_transaction_reaches_every_cluster_and_an_aborted_one_none() {
    let (a, b, c) = Broker::three();
    let p = Proxy::start(&[&a, &b, &c]);
    create_topic(&p.bootstrap(), "tx-in", 1);
    create_topic(&p.bootstrap(), "tx-out", 2);
    let out = eos(&p, "tx");
    assert!(
        out.status.success(),
        "the consume-transform-produce round failed:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let out = last_json(&out.stdout);
    assert_eq!(out["committed"], 110, "{out}");
    // Exactly the committed records on every cluster read directly, and through the proxy.
    let first = eos_committed();
    for broker in [&a, &b, &c] {
        let held = read(&p, &broker.addr(), "tx-out", 2);
        assert_eq!(
            held,
            first,
            "cluster at {} holds other records than the committed ones",
            broker.addr()
        );
    }
    assert_eq!(read(&p, &p.bootstrap(), "tx-out", 2), first);
    // The consumer's offsets were committed with the transaction.
    assert_committed(&p, "tx-group", "tx-in", 40);
}

#[test]
fn in_front_of_one_cluster_a_commit_reaches_it_and_an_abort_leaves_nothing() {
    let a = Broker::start("c1");
    let p = Proxy::start(&[&a]);
    create_topic(&p.bootstrap(), "tx1-in", 1);
    create_topic(&p.bootstrap(), "tx1-out", 2);
    let out = eos(&p, "tx1");
    assert!(
        out.status.success(),
        "the consume-transform-produce round failed in front of one cluster:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    // The cluster read directly holds no aborted record, though it would show them to a
    // `read_committed` reader had they reached it.
    assert_eq!(read(&p, &a.addr(), "tx1-out", 2), eos_committed());
    assert_eq!(read(&p, &p.bootstrap(), "tx1-out", 2), eos_committed());
    // The offsets went to the cluster's own group coordinator, for the group's member.
    assert_committed(&p, "tx1-group", "tx1-in", 40);
}

/// `first` with `more`'s values appended, partition by partition.
fn joined(mut first: Value, more: &Value) -> Value {
    for part in ["0", "1"] {
        let more = more[part].as_array().cloned().unwrap_or_default();
        if let Some(list) = first[part].as_array_mut() {
            list.extend(more);
        }
    }
    first
}

#[test]
fn the_java_clients_consume_transform_produce_commits_on_every_cluster() {
    let (a, b, c) = Broker::three();
    let p = Proxy::start(&[&a, &b, &c]);
    create_topic(&p.bootstrap(), "txj-in", 1);
    create_topic(&p.bootstrap(), "txj-out", 2);
    let out = java_program("Transactions.java")
        .args([
            "--bootstrap",
            &p.bootstrap(),
            "--input",
            "txj-in",
            "--output",
            "txj-out",
        ])
        .args(["--group", "txj-group", "--tid", "txj-eos"])
        .output()
        .expect("Transactions.java ran");
    assert!(
        out.status.success(),
        "Transactions.java failed:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let expected = joined(
        split((0..100).map(|i| format!("j-{i}"))),
        &split((0..10).map(|i| format!("jd-{i}"))),
    );
    for broker in [&a, &b, &c] {
        assert_eq!(
            read(&p, &broker.addr(), "txj-out", 2),
            expected,
            "cluster at {}",
            broker.addr()
        );
    }
    assert_committed(&p, "txj-group", "txj-in", 40);
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let (a, b, c) = Broker::three();
    let p = Proxy::start(&[&a, &b, &c]);
    create_topic(&p.bootstrap(), "tx-fence", 2);
    let out = run(
        &p,
        &[
            "fence",
            "--bootstrap",
            &p.bootstrap(),
            "--topic",
            "tx-fence",
            "--tid",
            "tx-fenced",
        ],
    );
    let name = out["first_error"]["name"].as_str().unwrap_or_default();
    assert!(
        name.contains("FENCED"),
        "the first producer was not fenced: {out}\nproxy log:\n{}",
        p.log()
    );
    let expected = split(["f2-0".to_owned(), "f2-1".to_owned()]);
    for broker in [&a, &b, &c] {
        assert_eq!(read(&p, &broker.addr(), "tx-fence", 2), expected);
    }
}

#[test]
fn a_transaction_left_open_past_its_timeout_is_aborted() {
    let (a, b, c) = Broker::three();
    let p = Proxy::start(&[&a, &b, &c]);
    create_topic(&p.bootstrap(), "tx-timeout", 2);
    let out = run(
        &p,
        &[
            "timeout",
            "--bootstrap",
            &p.bootstrap(),
            "--topic",
            "tx-timeout",
            "--tid",
            "tx-slow",
            "--timeout-ms",
            "2000",
        ],
    );
    assert!(
        !out["commit_error"].is_null(),
        "a transaction open past its timeout was committed: {out}\nproxy log:\n{}",
        p.log()
    );
    let empty = split(Vec::new());
    for broker in [&a, &b, &c] {
        assert_eq!(read(&p, &broker.addr(), "tx-timeout", 2), empty);
    }
    assert!(
        p.log().contains("aborted after its timeout"),
        "no abort logged:\n{}",
        p.log()
    );
}

#[test]
fn a_cluster_hung_during_a_commit_catches_up_with_exactly_the_committed_records() {
    let (a, b, c) = Broker::three();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "producer:\n  ack_policy: MAJORITY\n  timeout: 10s\n\
         circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    create_topic(&p.bootstrap(), "txh-in", 1);
    create_topic(&p.bootstrap(), "txh-out", 2);
    // Connections accepted, nothing answered, for the whole transaction and its commit.
    c.pause();
    let out = eos(&p, "txh");
    c.resume();
    assert!(
        out.status.success(),
        "the commit did not go through with one cluster hung:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let expected = eos_committed();
    for broker in [&a, &b] {
        assert_eq!(read(&p, &broker.addr(), "txh-out", 2), expected);
    }
    // The hung cluster is repaired with the committed records, in order, and nothing else.
    assert_caught_up(&p, &c, "txh-out", &expected);
}

/// Asserts that `broker`, read directly, comes to hold exactly `expected` in `topic` (two
/// partitions) within a minute.
fn assert_caught_up(p: &Proxy, broker: &Broker, topic: &str, expected: &Value) {
    let mut last = Value::Null;
    let caught_up = eventually(Duration::from_secs(60), || {
        let out = txn(&[
            "read",
            "--bootstrap",
            &broker.addr(),
            "--topic",
            topic,
            "--partitions",
            "2",
        ]);
        last = last_json(&out.stdout);
        last["values"] == *expected
    });
    assert!(
        caught_up,
        "cluster {} holds {last} in {topic}, not the committed records\nproxy log:\n{}",
        broker.id,
        p.log()
    );
}

#[test]
fn a_cluster_killed_before_the_transactions_and_back_empty_gets_exactly_the_committed_records() {
    let (a, b, mut c) = Broker::three();
    let p = Proxy::start(&[&a, &b, &c]);
    create_topic(&p.bootstrap(), "txd-in", 1);
    create_topic(&p.bootstrap(), "txd-out", 2);
    // Connection refused from here on, until it comes back with nothing.
    let port = c.port;
    c.kill();
    let out = eos(&p, "txd");
    assert!(
        out.status.success(),
        "the transactions failed with one cluster down:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let expected = eos_committed();
    for broker in [&a, &b] {
        assert_eq!(read(&p, &broker.addr(), "txd-out", 2), expected);
    }
    let c = Broker::start_on("c3", port);
    assert_caught_up(&p, &c, "txd-out", &expected);
    assert_committed(&p, "txd-group", "txd-in", 40);
}

#[test]
fn a_cluster_hung_when_the_proxy_starts_does_not_hold_up_transactions() {
    let (a, b, c) = Broker::three();
    // Connections accepted, nothing answered, from before the proxy starts.
    c.pause();
    let p = Proxy::with_yaml(
        &[&a, &b, &c],
        "circuit_breaker:\n  failure_threshold: 2\n  open_duration: 1s\n",
    );
    create_topic(&p.bootstrap(), "txs-in", 1);
    create_topic(&p.bootstrap(), "txs-out", 2);
    let out = eos(&p, "txs");
    c.resume();
    assert!(
        out.status.success(),
        "the transactions failed with one cluster hung since the start:\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let expected = eos_committed();
    for broker in [&a, &b] {
        assert_eq!(read(&p, &broker.addr(), "txs-out", 2), expected);
    }
    assert_caught_up(&p, &c, "txs-out", &expected);
}

#[test]
fn a_proxy_stopped_right_after_the_commit_decision_finishes_the_commit_when_it_starts_again() {
    let (a, b, c) = Broker::three();
    let port = kafkatwin_tests::free_port();
    let on_port = |crash: bool| {
        let mut env = vec![("KAFKATWIN_SERVER__PORT".to_owned(), port.to_string())];
        if crash {
            env.push((
                "KAFKATWIN_CRASH_AT".to_owned(),
                "transaction-decided".to_owned(),
            ));
        }
        Proxy::start_with(
            &[&a, &b, &c],
            ProxyOptions {
                env,
                ..Default::default()
            },
        )
    };
    let mut first = on_port(true);
    create_topic(&first.bootstrap(), "txk-in", 1);
    create_topic(&first.bootstrap(), "txk-out", 2);
    let names = [
        "--bootstrap",
        &first.bootstrap(),
        "--input",
        "txk-in",
        "--output",
        "txk-out",
        "--group",
        "txk-group",
        "--tid",
        "txk-eos",
    ];
    // The client commits; the proxy stores the decision and stops dead before any write.
    let mut client = python_script("transactions.py")
        .arg("commit")
        .args(names)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("transactions.py started");
    let stopped = eventually(Duration::from_secs(60), || !first.is_running());
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        stopped && first.log().contains("transaction-decided: stopping here"),
        "the proxy did not stop at the commit decision:\n{}",
        first.log()
    );
    let empty = split(Vec::new());
    for broker in [&a, &b, &c] {
        assert_eq!(
            read(&first, &broker.addr(), "txk-out", 2),
            empty,
            "cluster at {} was written before the decision was acted on",
            broker.addr()
        );
    }
    // Started again, with the client gone: the proxy finishes the commit on its own.
    let second = on_port(false);
    let committed = split((0..100).map(|i| format!("c-{i}")));
    for broker in [&a, &b, &c] {
        let mut last = Value::Null;
        let written = eventually(Duration::from_secs(60), || {
            let out = txn(&[
                "read",
                "--bootstrap",
                &broker.addr(),
                "--topic",
                "txk-out",
                "--partitions",
                "2",
            ]);
            last = last_json(&out.stdout);
            last["values"] == committed
        });
        assert!(
            written,
            "cluster at {} holds {last} after the restart\nproxy log:\n{}",
            broker.addr(),
            second.log()
        );
    }
    assert!(
        second.log().contains("pending commit written"),
        "the restarted proxy did not report the recovered commit:\n{}",
        second.log()
    );
    assert_committed(&second, "txk-group", "txk-in", 40);
    // The transactional id goes on: a new producer with it commits after the recovered one.
    run(
        &second,
        &[
            "more",
            "--bootstrap",
            &second.bootstrap(),
            "--output",
            "txk-out",
            "--tid",
            "txk-eos",
        ],
    );
    let expected = joined(committed, &split((0..10).map(|i| format!("d-{i}"))));
    for broker in [&a, &b, &c] {
        assert_eq!(read(&second, &broker.addr(), "txk-out", 2), expected);
    }
}

/// A transactional request the proxy refuses: the error code of its answer.
fn txn_error(conn: &mut Conn, api: ApiKey, version: i16, body: RequestKind) -> i16 {
    match conn.call(api, version, body).expect("answered") {
        ResponseKind::InitProducerId(r) => r.error_code,
        ResponseKind::AddPartitionsToTxn(r) => r
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| &t.results_by_partition)
            .map(|p| p.partition_error_code)
            .find(|&c| c != 0)
            .unwrap_or(0),
        ResponseKind::TxnOffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.error_code)
            .find(|&c| c != 0)
            .unwrap_or(0),
        ResponseKind::EndTxn(r) => r.error_code,
        ResponseKind::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .map(|p| p.error_code)
            .find(|&c| c != 0)
            .unwrap_or(0),
        other => panic!("unexpected answer {other:?}"),
    }
}

#[test]
fn bad_transactional_requests_get_the_error_a_broker_gives_and_the_transaction_goes_on() {
    use kafka_protocol::messages::*;
    let a = Broker::start("c1");
    let p = Proxy::start(&[&a]);
    create_topic(&p.bootstrap(), "txw", 1);
    let mut conn = Conn::connect(&p.bootstrap()).expect("connect");
    let tid = || TransactionalId(StrBytes::from_static_str("txw-id"));
    let init = |timeout_ms: i32| {
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(tid()))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
    };
    let code = |e: ResponseError| e.code();
    // A timeout of 0, and one past the 15 minutes a broker allows.
    for bad in [0, 900_001] {
        assert_eq!(
            txn_error(&mut conn, ApiKey::InitProducerId, 1, init(bad)),
            code(ResponseError::InvalidTransactionTimeout),
            "transaction.timeout.ms {bad}"
        );
    }
    let ResponseKind::InitProducerId(r) = conn
        .call(ApiKey::InitProducerId, 1, init(10_000))
        .expect("answered")
    else {
        panic!("not an InitProducerId answer");
    };
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    let add = |id: TransactionalId, epoch: i16| {
        RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(id)
                .with_v3_and_below_producer_id(pid)
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(build::topic("txw"))
                        .with_partitions(vec![0]),
                ]),
        )
    };
    let unknown = TransactionalId(StrBytes::from_static_str("never-initialized"));
    assert_eq!(
        txn_error(
            &mut conn,
            ApiKey::AddPartitionsToTxn,
            3,
            add(unknown, epoch)
        ),
        code(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        txn_error(
            &mut conn,
            ApiKey::AddPartitionsToTxn,
            3,
            add(tid(), epoch - 1)
        ),
        code(ResponseError::ProducerFenced),
        "an older epoch"
    );
    let end = |commit: bool| {
        RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(tid())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_committed(commit),
        )
    };
    assert_eq!(
        txn_error(&mut conn, ApiKey::EndTxn, 3, end(true)),
        code(ResponseError::InvalidTxnState),
        "a commit with no transaction open"
    );
    assert_eq!(
        txn_error(&mut conn, ApiKey::AddPartitionsToTxn, 3, add(tid(), epoch)),
        0
    );
    let offsets = RequestKind::TxnOffsetCommit(
        TxnOffsetCommitRequest::default()
            .with_transactional_id(tid())
            .with_group_id(GroupId(StrBytes::from_static_str("txw-group")))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(build::topic("txw"))
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(5),
                    ]),
            ]),
    );
    assert_eq!(
        txn_error(&mut conn, ApiKey::TxnOffsetCommit, 3, offsets),
        code(ResponseError::InvalidTxnState),
        "offsets for a group AddOffsetsToTxn did not add"
    );
    let produce = |batch| {
        let RequestKind::Produce(r) = build::produce("txw", batch) else {
            unreachable!("build::produce builds a Produce");
        };
        RequestKind::Produce(r.with_transactional_id(Some(tid())))
    };
    let records = |tag: &str| vec![("k".to_owned(), tag.to_owned())];
    let plain = build::idempotent_batch(&records("plain"), pid.0, epoch, 0);
    assert_eq!(
        txn_error(&mut conn, ApiKey::Produce, 9, produce(plain)),
        code(ResponseError::InvalidRecord),
        "a batch that is not transactional"
    );
    // The transaction goes on and commits its one record.
    let held = build::transactional_batch(&records("committed"), pid.0, epoch, 0);
    assert_eq!(txn_error(&mut conn, ApiKey::Produce, 9, produce(held)), 0);
    assert_eq!(txn_error(&mut conn, ApiKey::EndTxn, 3, end(true)), 0);
    assert_eq!(
        txn_error(&mut conn, ApiKey::EndTxn, 3, end(true)),
        0,
        "a retry of the commit gets its answer again"
    );
    assert_eq!(
        read(&p, &a.addr(), "txw", 1),
        serde_json::json!({ "0": ["committed"] })
    );
}
