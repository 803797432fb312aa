//! Producers of several client libraries that report which records they were told were
//! written, and the audit that checks every cluster holds each of those exactly once.

use crate::{Broker, cache_dir, last_json, python_script, repo_root, scratch_dir};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A client library and its producer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerKind {
    /// confluent-kafka with `enable.idempotence=true`.
    ConfluentIdempotent,
    /// confluent-kafka with its defaults plus `acks=all` (not idempotent).
    ConfluentPlain,
    /// Apache Kafka's Java client with its defaults (idempotent, acks=all).
    Java,
    /// kafkajs with `idempotent: true`.
    KafkaJs,
}

impl ProducerKind {
    /// Every kind, in the order the tests run them.
    pub const ALL: [ProducerKind; 4] = [
        ProducerKind::ConfluentIdempotent,
        ProducerKind::ConfluentPlain,
        ProducerKind::Java,
        ProducerKind::KafkaJs,
    ];

    /// Whether the client promises no duplicates on its own retries.
    pub fn idempotent(self) -> bool {
        self != ProducerKind::ConfluentPlain
    }
}

/// One producer's run: what it printed and the file of records it was told were written.
pub struct Produced {
    /// Which client.
    pub kind: ProducerKind,
    /// Its JSON report (`delivered`, `failed`, `errors`).
    pub report: Value,
    /// `{index: [partition, offset]}` of the acknowledged records.
    pub acked: PathBuf,
}

impl Produced {
    /// How many records the producer was told were written.
    pub fn delivered(&self) -> u64 {
        self.report["delivered"].as_u64().unwrap_or(0)
    }
}

/// A producer still running.
pub struct Running {
    kind: ProducerKind,
    child: Child,
    acked: PathBuf,
}

impl Running {
    /// Waits for it to finish; panics when it failed.
    pub fn wait(self) -> Produced {
        let kind = self.kind;
        let out = self.child.wait_with_output().expect("producer ran");
        let report = last_json(&out.stdout);
        assert!(
            out.status.success() && report.is_object() && self.acked.exists(),
            "{kind:?} producer failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Produced {
            kind,
            report,
            acked: self.acked,
        }
    }
}

/// Starts a new producer of `kind` sending records `start..start + count` (value `v{i}-…`)
/// to `topic` through `bootstrap`, `i % partitions` each; `pace_ms` pauses it after every
/// 100 records (confluent-kafka only), so that it is still sending while a fault happens.
pub fn start(
    kind: ProducerKind,
    bootstrap: &str,
    topic: &str,
    (start, count, partitions): (usize, usize, usize),
    pace_ms: u64,
) -> Running {
    let acked = acked_file();
    let clients = repo_root().join("tests/clients");
    let (s, n, p) = (start.to_string(), count.to_string(), partitions.to_string());
    let mut cmd = match kind {
        ProducerKind::ConfluentIdempotent | ProducerKind::ConfluentPlain => {
            let mut c = python_script("replicate.py");
            c.args(["produce", "--no-create", "--timeout-ms", "60000"])
                .args(["--pace-ms", &pace_ms.to_string()]);
            if kind == ProducerKind::ConfluentIdempotent {
                c.arg("--idempotent");
            }
            c.arg("--offsets-file").arg(&acked);
            c
        }
        ProducerKind::Java => {
            let mut c = Command::new("java");
            c.arg("-cp")
                .arg(format!("{}/*", cache_dir().join("jars").display()))
                .arg(clients.join("java/Produce.java"))
                .arg("--acked")
                .arg(&acked);
            c
        }
        ProducerKind::KafkaJs => {
            let mut c = Command::new("node");
            c.arg(clients.join("node/produce.js"))
                .arg("--acked")
                .arg(&acked);
            c
        }
    };
    cmd.args(["--bootstrap", bootstrap, "--topic", topic])
        .args(["--start", &s, "--count", &n, "--partitions", &p])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Running {
        kind,
        child: cmd.spawn().expect("start producer"),
        acked,
    }
}

/// A new producer of `kind` sends records `start..start + count` to `topic` through
/// `bootstrap` (see [`start`]) and exits.
pub fn produce(
    kind: ProducerKind,
    bootstrap: &str,
    topic: &str,
    start_at: usize,
    count: usize,
    partitions: usize,
) -> Produced {
    start(kind, bootstrap, topic, (start_at, count, partitions), 0).wait()
}

/// Reads `topic` on each broker directly until idle and compares with what `runs` were told
/// was written. The JSON has per cluster address: `records`, `missing`, `duplicated` (records
/// of idempotent producers stored twice), `duplicated_plain` (the others'), `unacked`.
pub fn audit(brokers: &[&Broker], topic: &str, partitions: usize, runs: &[&Produced]) -> Value {
    let files: Vec<(PathBuf, bool)> = runs
        .iter()
        .map(|r| (r.acked.clone(), r.kind.idempotent()))
        .collect();
    audit_files(brokers, topic, partitions, &files)
}

/// [`audit`] over acknowledgement files (`{index: [partition, offset]}`, as `replicate.py
/// --offsets-file` writes them), each with whether its producer was idempotent.
pub fn audit_files(
    brokers: &[&Broker],
    topic: &str,
    partitions: usize,
    files: &[(PathBuf, bool)],
) -> Value {
    let addrs: Vec<String> = brokers.iter().map(|b| b.addr()).collect();
    let mut cmd = python_script("audit.py");
    cmd.args(["--bootstrap", &addrs.join(","), "--topic", topic])
        .args(["--partitions", &partitions.to_string()]);
    for (file, idempotent) in files {
        cmd.arg(if *idempotent {
            "--acked"
        } else {
            "--acked-plain"
        })
        .arg(file);
    }
    let out = cmd.output().expect("audit ran");
    let v = last_json(&out.stdout);
    assert!(
        out.status.success() && v.is_object(),
        "audit failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// A fresh file path for a producer's acknowledgements.
pub fn acked_file() -> PathBuf {
    scratch_dir("acked").join("acked.json")
}

/// Whether an audit found every acknowledged record on every cluster it read, and those of
/// idempotent producers exactly once.
pub fn audit_clean(v: &Value) -> bool {
    v["clusters"].as_object().is_some_and(|cs| {
        cs.values()
            .all(|c| c["missing"] == 0 && c["duplicated"] == 0)
    })
}
