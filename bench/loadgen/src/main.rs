//! `kafkatwin-load produce|consume`: one phase of an end-to-end bench trial, driven by
//! `bench/e2e.py --client rust`. The bench passes the librdkafka settings (`--set k=v`), so
//! both load clients run with the same configuration; this one prints what it measured as one
//! JSON line on stdout.

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::json;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the command line asked for.
struct Args {
    mode: String,
    topic: String,
    records: u64,
    payloads: Option<String>,
    idle_timeout: Duration,
    flush_timeout: Duration,
    settings: Vec<(String, String)>,
    /// Producers, each with its own connections and thread, sharing the records.
    clients: u64,
    /// Partitions the producers write, producer `i` to partition `i % partitions`.
    partitions: i32,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: kafkatwin-load produce|consume --topic T --records N [--payloads FILE] [--idle-timeout S] [--flush-timeout S] [--clients N] [--partitions P] [--set key=value]...")?;
    if mode != "produce" && mode != "consume" {
        return Err(format!("unknown mode {mode:?}: produce or consume"));
    }
    let mut args = Args {
        mode,
        topic: String::new(),
        records: 0,
        payloads: None,
        idle_timeout: Duration::from_secs(15),
        flush_timeout: Duration::from_secs(120),
        settings: Vec::new(),
        clients: 1,
        partitions: 1,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = |v: &str| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| format!("{flag} {v:?}: {e}"))
        };
        match flag.as_str() {
            "--topic" => args.topic = value,
            "--records" => {
                args.records = value
                    .parse()
                    .map_err(|e| format!("--records {value:?}: {e}"))?
            }
            "--payloads" => args.payloads = Some(value),
            "--clients" => {
                args.clients = value
                    .parse::<u64>()
                    .map_err(|e| format!("--clients {value:?}: {e}"))?
                    .max(1)
            }
            "--partitions" => {
                args.partitions = value
                    .parse::<i32>()
                    .map_err(|e| format!("--partitions {value:?}: {e}"))?
                    .max(1)
            }
            "--idle-timeout" => args.idle_timeout = secs(&value)?,
            "--flush-timeout" => args.flush_timeout = secs(&value)?,
            "--set" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--set {value:?}: expected key=value"))?;
                args.settings.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if args.topic.is_empty() {
        return Err("--topic is required".into());
    }
    Ok(args)
}

/// Payloads from a file of records, each a 4-byte big-endian length and its bytes.
fn read_payloads(path: &str) -> Result<Vec<Vec<u8>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("payloads {path}: {e}"))?;
    let mut out = Vec::new();
    let mut rest = data.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("payloads {path}: truncated length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(format!("payloads {path}: record {} truncated", out.len()));
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    if out.is_empty() {
        return Err(format!("payloads {path}: no records"));
    }
    Ok(out)
}

fn config(settings: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in settings {
        c.set(k, v);
    }
    c
}

/// Counts failed deliveries (the bench asks librdkafka to report errors only).
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn produce(args: &Args) -> Result<serde_json::Value, String> {
    let payloads = read_payloads(args.payloads.as_deref().ok_or("produce needs --payloads")?)?;
    let started = Instant::now();
    // Client `c` sends its share of the records to partition `c % partitions`.
    let outcomes: Vec<Result<Produced, String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.clients)
            .map(|c| {
                let share =
                    args.records / args.clients + u64::from(c < args.records % args.clients);
                let partition = i32::try_from(c).unwrap_or(0) % args.partitions;
                let payloads = &payloads;
                s.spawn(move || produce_share(args, payloads, share, partition))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a producer thread panicked".into()))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let mut total = Produced::default();
    for o in outcomes {
        let o = o?;
        total.remaining += o.remaining;
        total.failed += o.failed;
        total.first_error = total.first_error.or(o.first_error);
    }
    Ok(json!({
        "secs": secs,
        "remaining": total.remaining,
        "failed": total.failed,
        "first_error": total.first_error,
    }))
}

/// What one producer left: records still in flight, failed deliveries, the first error.
#[derive(Default)]
struct Produced {
    remaining: i32,
    failed: u64,
    first_error: Option<String>,
}

/// One producer sending `records` records to `partition` and waiting for them.
fn produce_share(
    args: &Args,
    payloads: &[Vec<u8>],
    records: u64,
    partition: i32,
) -> Result<Produced, String> {
    let producer: BaseProducer<Deliveries> = config(&args.settings)
        .create_with_context(Deliveries::default())
        .map_err(|e| format!("producer: {e}"))?;
    for i in 0..records {
        let value = &payloads[(i % payloads.len() as u64) as usize];
        let mut record = BaseRecord::<(), [u8]>::to(&args.topic)
            .payload(value.as_slice())
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("send record {i}: {e}")),
            }
        }
        if i & 0x3FFF == 0x3FFF {
            producer.poll(Duration::ZERO);
        }
    }
    let deadline = Instant::now() + args.flush_timeout;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        let _ = producer.flush(Duration::from_secs(1));
    }
    let ctx = producer.context();
    Ok(Produced {
        remaining: producer.in_flight_count(),
        failed: ctx.failed.load(Ordering::Relaxed),
        first_error: ctx.first.lock().ok().and_then(|f| f.clone()),
    })
}

fn consume(args: &Args) -> Result<serde_json::Value, String> {
    let consumer: BaseConsumer = config(&args.settings)
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    // The topic is fresh: offset 0 is its beginning, without an offset lookup first.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&args.topic, 0, Offset::Offset(0))
        .map_err(|e| format!("assign {}: {e}", args.topic))?;
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assign {}: {e}", args.topic))?;
    let started = Instant::now();
    let (mut got, mut last_offset) = (0u64, -1i64);
    let (mut first_at, mut last_at) = (None, None);
    let mut errors: Vec<String> = Vec::new();
    let mut progress = Instant::now();
    while got < args.records {
        match consumer.poll(Duration::from_millis(500)) {
            None => {
                if progress.elapsed() > args.idle_timeout {
                    break;
                }
            }
            Some(Ok(m)) => {
                got += 1;
                last_offset = m.offset();
                let now = Instant::now();
                first_at.get_or_insert(now);
                last_at = Some(now);
                progress = now;
            }
            Some(Err(e)) if errors.len() < 5 => errors.push(e.to_string()),
            Some(Err(_)) => {}
        }
    }
    let secs = last_at.map_or(0.0, |t| (t - started).as_secs_f64());
    let first_ms = first_at.map(|t| (t - started).as_secs_f64() * 1e3);
    // librdkafka's cached watermarks (what the last Fetch said) are not exposed by the crate,
    // and Tansu's ListOffsets under-counts (see bench/e2e.py): the bench checks the count
    // and the last offset instead.
    let (low, high): (Option<i64>, Option<i64>) = (None, None);
    Ok(json!({
        "secs": secs,
        "first_ms": first_ms,
        "records": got,
        "last_offset": last_offset,
        "low": low,
        "high": high,
        "errors": errors,
    }))
}

fn main() {
    let result = parse_args().and_then(|args| match args.mode.as_str() {
        "produce" => produce(&args),
        _ => consume(&args),
    });
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("kafkatwin-load: {e}");
            std::process::exit(2);
        }
    }
}
