//! `cargo bench -p kafkatwin-core --bench hooks`: the rule-chain cost per record on 1 KiB
//! JSON records, alone and with batch decode + re-encode (what a produce pays when a rule
//! binds its topic), and the same batches through the `redact` WASM plugin, plus the host's
//! cost per call (an empty batch into a plugin that keeps it) and the first call after an
//! upload; and `validate_schema` on 1 KiB Avro and JSON Schema records (per record, and per
//! batch with its decode). WASM figures need the plugin components built (`tests/run.sh` does; the
//! directory is `KAFKATWIN_WASM_DIR`, default `target/wasm32-wasip2/release`). Prints
//! figures; no assertions (timing goals live in benchmarks).
// A bench picks its own spans.
#![allow(clippy::disallowed_methods)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkatwin_builtin_transforms::{CompiledRule, RecordData, Rule, RuleChain};
use kafkatwin_core::hooks::transform_batches;
use std::time::Instant;

fn chain() -> RuleChain {
    let rule: Rule = serde_json::from_str(
        r#"{ "id": "mask-pii", "conditions": [ { "type": "field_exists", "field": "ssn" } ],
             "actions": [ { "type": "mask_field", "field": "ssn" },
                          { "type": "set_header", "field": "pii-masked", "value": "true" } ] }"#,
    )
    .expect("rule");
    RuleChain::new(vec![CompiledRule::compile(rule).expect("compiles")])
}

/// A ~1 KiB JSON record value.
fn value(i: usize) -> Vec<u8> {
    let filler = "x".repeat(900);
    format!(r#"{{"id":{i},"ssn":"123-45-6789","name":"Ann Example","note":"{filler}"}}"#)
        .into_bytes()
}

fn batch(n: usize, compression: Compression) -> Bytes {
    encode_batch(
        (0..n).map(|i| (Some(Bytes::from(format!("k{i}"))), Bytes::from(value(i)))),
        compression,
    )
}

/// One record batch of `records` (key, value).
fn encode_batch(
    records: impl Iterator<Item = (Option<Bytes>, Bytes)>,
    compression: Compression,
) -> Bytes {
    let records: Vec<Record> = records
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: 7,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_700_000_000_000,
            key,
            value: Some(value),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode");
    buf.freeze()
}

fn report(what: &str, records: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what:<48} {:>10.0} records/s  ({records} records in {secs:.2}s)",
        records as f64 / secs
    );
}

fn wasm(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("KAFKATWIN_WASM_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|e| {
                    e.ancestors()
                        .nth(3)
                        .map(|p| p.join("wasm32-wasip2/release"))
                })
                .unwrap_or_default()
        });
    std::fs::read(dir.join(format!("{name}.wasm"))).ok()
}

fn plugins() {
    use kafkatwin_builtin_transforms::OnError;
    use kafkatwin_core::hooks::wasm_step::{self, WasmBinding};
    use kafkatwin_plugins::wasm::{PluginHost, Sandbox};
    let (Some(redact), Some(hostile)) = (wasm("redact"), wasm("hostile")) else {
        println!("(WASM figures skipped: build the plugin components first, see the header)");
        return;
    };
    let host = PluginHost::new(Sandbox {
        cpu_deadline: std::time::Duration::from_millis(50),
        memory: 32 << 20,
        max_upload: 10 << 20,
    })
    .expect("host");
    let started = Instant::now();
    host.upload("redact", &redact).expect("upload redact");
    let uploaded = started.elapsed();
    let binding = WasmBinding {
        rule_id: "mask".into(),
        enabled: true,
        plugin: "redact".into(),
        config: vec![("fields".into(), "ssn".into())],
        on_error: OnError::Reject,
        hook: kafkatwin_builtin_transforms::Hook::Produce,
    };
    let ctx = kafkatwin_plugin_sdk::BatchContext {
        topic: "t",
        partition: 0,
        client_id: None,
    };
    let b = batch(500, Compression::None);
    let started = Instant::now();
    let out = wasm_step::run_bindings(&host, std::iter::once(&binding), &b, &ctx, |_, _| {})
        .expect("runs");
    assert!(out.is_some());
    println!(
        "redact: upload (validate + compile) {:.1} ms, first call (instantiate + init + 500 records) {:.1} ms",
        uploaded.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        let out = wasm_step::run_bindings(&host, std::iter::once(&binding), &b, &ctx, |_, _| {})
            .expect("runs");
        assert!(out.is_some());
    }
    report(
        "batch of 500, decode + redact plugin + encode",
        rounds * 500,
        started,
    );
    // Host overhead per call: an empty batch into a plugin that keeps it.
    host.upload("empty", &hostile).expect("upload hostile");
    let config = vec![("mode".to_owned(), "ok".to_owned())];
    let empty = kafkatwin_plugin_sdk::wire::encode(&[]);
    let calls = 20_000;
    let started = Instant::now();
    for _ in 0..calls {
        host.call(
            "empty",
            kafkatwin_plugins::wasm::Hook::Produce,
            &config,
            &ctx,
            empty.clone(),
        )
        .expect("call");
    }
    println!(
        "host overhead per call (empty batch, warm instance, no runtime): {:.2} us",
        started.elapsed().as_secs_f64() * 1e6 / calls as f64
    );
    // As in the proxy: from a multi-thread runtime's worker (block_in_place per call).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let per_call = rt.block_on(async {
        tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..calls {
                host.call(
                    "empty",
                    kafkatwin_plugins::wasm::Hook::Produce,
                    &config,
                    &ctx,
                    empty.clone(),
                )
                .expect("call");
            }
            started.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .await
        .expect("joined")
    });
    println!("host overhead per call (same, from a tokio worker): {per_call:.2} us");
}

/// A zigzag varint, as Avro writes lengths.
fn avro_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A ~1 KiB record in Confluent's wire format: magic byte, schema id, then `payload`.
fn framed(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// `validate_schema` on 1 KiB records: Avro and JSON Schema, per record and per batch.
fn schemas() {
    use kafkatwin_schema_registry::{Keeping, Registry, SchemaBody, SchemaType, WireFormat};
    let registry = Registry::new(Keeping::Memory);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let avro = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"long"},
        {"name":"name","type":"string"},{"name":"note","type":"string"},
        {"name":"amount","type":"double"}]}"#;
    let json = r#"{"type":"object","properties":{"id":{"type":"integer"},
        "name":{"type":"string"},"note":{"type":"string"},"amount":{"type":"number"}},
        "required":["id","name","amount"]}"#;
    let register = |subject: &str, t: SchemaType, text: &str| {
        let body = SchemaBody {
            schema_type: t,
            schema: text.to_owned(),
            references: Vec::new(),
        };
        rt.block_on(registry.register(subject, body, false))
            .expect("registers")
            .id
    };
    let avro_id = register("pay-avro-value", SchemaType::Avro, avro);
    let json_id = register("pay-json-value", SchemaType::Json, json);
    let filler = "x".repeat(950);
    let avro_values: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let mut p = Vec::new();
            avro_long(&mut p, i);
            avro_long(&mut p, 11);
            p.extend_from_slice(b"Ann Example");
            avro_long(&mut p, filler.len() as i64);
            p.extend_from_slice(filler.as_bytes());
            p.extend_from_slice(&9.5f64.to_le_bytes());
            framed(avro_id, &p)
        })
        .collect();
    let json_values: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let p = format!(r#"{{"id":{i},"name":"Ann Example","note":"{filler}","amount":9.5}}"#);
            framed(json_id, p.as_bytes())
        })
        .collect();
    for (what, subject, values) in [
        ("Avro", "pay-avro-value", &avro_values),
        ("JSON Schema", "pay-json-value", &json_values),
    ] {
        let n = 200_000;
        let started = Instant::now();
        for i in 0..n {
            let v = &values[i % values.len()];
            registry
                .check_record(subject, WireFormat::Confluent, v)
                .expect("valid");
        }
        report(
            &format!("validate_schema {what}, per record (1 KiB)"),
            n,
            started,
        );
        let rule: Rule = serde_json::from_str(
            r#"{"id":"v","actions":[{"type":"validate_schema","subject":"SUBJECT"}]}"#
                .replace("SUBJECT", subject)
                .as_str(),
        )
        .expect("rule");
        let rule = match kafkatwin_builtin_transforms::validate(rule) {
            Ok(kafkatwin_builtin_transforms::Validated::Schema(r)) => r,
            _ => panic!("a schema rule"),
        };
        let b = encode_batch(
            values[..500].iter().map(|v| (None, Bytes::from(v.clone()))),
            Compression::None,
        );
        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            kafkatwin_core::hooks::schema_step::validate_records(
                &registry,
                std::iter::once(&rule),
                "t",
                &b,
                |_, _, _| {},
            )
            .expect("valid batch");
        }
        report(
            &format!("validate_schema {what}, batch of 500 with decode"),
            rounds * 500,
            started,
        );
    }
}

fn main() {
    schemas();
    plugins();
    let chain = chain();
    // The chain alone, per record.
    let n = 200_000;
    let values: Vec<Vec<u8>> = (0..1000).map(value).collect();
    let started = Instant::now();
    for i in 0..n {
        let mut rec = RecordData {
            key: None,
            value: Some(values[i % values.len()].clone()),
            headers: Vec::new(),
        };
        let out = chain.apply(&mut rec).expect("applies");
        assert!(out.changed);
    }
    report("mask + set_header, per record (1 KiB JSON)", n, started);
    // Whole batches: decode, apply, re-encode.
    for (name, compression) in [("none", Compression::None), ("lz4", Compression::Lz4)] {
        let b = batch(500, compression);
        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            let out = transform_batches(std::iter::once(&chain), &b, None).expect("transforms");
            assert!(out.is_some());
        }
        report(
            &format!("batch of 500, decode + chain + encode ({name})"),
            rounds * 500,
            started,
        );
    }
}
