//! The registry over in-memory keeping: ids, versions, compatibility, deletes and record
//! checks.

use kafkatwin_schema_registry::{
    Compatibility, Keeping, Reference, Registry, RegistryError, SchemaBody, SchemaType,
    VersionSpec, WireFormat,
};

const V1: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}"#;
/// V1 plus a field with a default: backward compatible.
const V2: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string","default":"EUR"}]}"#;
/// V1 plus a field without a default: not backward compatible.
const BAD: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"region","type":"string"}]}"#;

fn avro(s: &str) -> SchemaBody {
    SchemaBody {
        schema_type: SchemaType::Avro,
        schema: s.to_owned(),
        references: Vec::new(),
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt.block_on(f),
        Err(e) => panic!("runtime: {e}"),
    }
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn one_id_per_schema_across_subjects_and_layouts() {
    let r = Registry::new(Keeping::Memory);
    block(async {
        let a = ok(r.register("a-value", avro(V1), false).await);
        assert_eq!((a.id, a.version), (1, 1));
        // The same schema with other whitespace: same id, same version.
        let spaced = V1.replace(',', ", ");
        let again = ok(r.register("a-value", avro(&spaced), false).await);
        assert_eq!((again.id, again.version), (1, 1));
        // Another subject: same id, its own version 1.
        let b = ok(r.register("b-value", avro(V1), false).await);
        assert_eq!((b.id, b.version), (1, 1));
        let v2 = ok(r.register("a-value", avro(V2), false).await);
        assert_eq!((v2.id, v2.version), (2, 2));
    });
    assert_eq!(r.subjects(false), vec!["a-value", "b-value"]);
    assert_eq!(ok(r.versions("a-value", false)), vec![1, 2]);
    assert_eq!(ok(r.version("a-value", VersionSpec::Latest, false)).id, 2);
    assert_eq!(
        ok(r.schema_versions(1, false)),
        vec![("a-value".to_owned(), 1), ("b-value".to_owned(), 1)]
    );
}

#[test]
fn incompatible_schema_is_refused_naming_the_field() {
    let r = Registry::new(Keeping::Memory);
    block(async {
        ok(r.register("p", avro(V1), false).await);
        let e = r.register("p", avro(BAD), false).await.err();
        match e {
            Some(RegistryError::Incompatible { messages, .. }) => {
                assert!(
                    messages.iter().any(|m| m.contains("region")),
                    "{messages:?}"
                );
            }
            other => panic!("expected incompatible, got {other:?}"),
        }
        // NONE lets it through.
        ok(r.set_level(Some("p"), Compatibility::None).await);
        ok(r.register("p", avro(BAD), false).await);
    });
}

#[test]
fn invalid_schema_is_422() {
    let r = Registry::new(Keeping::Memory);
    let e = block(r.register("p", avro(r#"{"type":"record"}"#), false)).err();
    let e = e.unwrap_or(RegistryError::BadRequest(String::new()));
    assert_eq!((e.code(), e.status()), (42201, 422), "{e}");
}

#[test]
fn deletes_are_soft_then_permanent() {
    let r = Registry::new(Keeping::Memory);
    block(async {
        ok(r.register("s", avro(V1), false).await);
        let e = r.delete_subject("s", true).await.err().map(|e| e.code());
        assert_eq!(e, Some(40405));
        assert_eq!(ok(r.delete_subject("s", false).await), vec![1]);
        assert_eq!(r.subjects(false), Vec::<String>::new());
        assert_eq!(r.subjects(true), vec!["s"]);
        let e = r.delete_subject("s", false).await.err().map(|e| e.code());
        assert_eq!(e, Some(40404));
        assert_eq!(ok(r.delete_subject("s", true).await), vec![1]);
        assert!(r.subjects(true).is_empty());
        // The id stays.
        assert!(r.schema(1).is_ok());
    });
}

#[test]
fn avro_references_resolve() {
    let r = Registry::new(Keeping::Memory);
    let money = r#"{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}"#;
    let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"}]}"#;
    block(async {
        ok(r.register("money", avro(money), false).await);
        let mut body = avro(order);
        body.references = vec![Reference {
            name: "shop.Money".into(),
            subject: "money".into(),
            version: 1,
        }];
        let o = ok(r.register("orders-value", body, false).await);
        // total.cents = 3 (zigzag 6).
        let mut record = vec![0, 0, 0, 0, o.id as u8];
        record.push(6);
        assert_eq!(
            r.check_record("orders-value", WireFormat::Confluent, &record),
            Ok(o.id)
        );
    });
}

#[test]
fn records_are_checked() {
    let r = Registry::new(Keeping::Memory);
    let id = block(r.register("pay-value", avro(V1), false)).map(|x| x.id);
    let id = ok(id);
    // id "a" (len 1, zigzag 2), amount 1.5 (little-endian double).
    let mut good = vec![0, 0, 0, 0, id as u8, 2, b'a'];
    good.extend_from_slice(&1.5f64.to_le_bytes());
    assert_eq!(
        r.check_record("pay-value", WireFormat::Confluent, &good),
        Ok(id)
    );
    let no_magic = r.check_record("pay-value", WireFormat::Confluent, b"{}");
    assert_eq!(
        no_magic.err().map(|v| v.message),
        Some("no magic byte".into())
    );
    let unknown = r.check_record(
        "pay-value",
        WireFormat::Confluent,
        &[0, 0, 0, 0x27, 0x0f, 1],
    );
    assert_eq!(
        unknown.err().map(|v| v.message),
        Some("unknown schema id 9999".into())
    );
    let short = r.check_record("pay-value", WireFormat::Confluent, &good[..8]);
    assert!(short.is_err());
}

#[test]
fn plain_json_is_checked_against_the_latest_json_schema() {
    let r = Registry::new(Keeping::Memory);
    let body = SchemaBody {
        schema_type: SchemaType::Json,
        schema:
            r#"{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}"#
                .into(),
        references: Vec::new(),
    };
    let id = ok(block(r.register("j-value", body, false))).id;
    assert_eq!(
        r.check_record("j-value", WireFormat::Json, br#"{"amount":2}"#),
        Ok(id)
    );
    let bad = r
        .check_record("j-value", WireFormat::Json, br#"{"amount":"x"}"#)
        .err();
    let msg = bad.map(|v| v.message).unwrap_or_default();
    assert!(msg.starts_with("$.amount: \"x\" is not of type"), "{msg}");
}

#[test]
fn protobuf_imports_resolve_through_references() {
    let r = Registry::new(Keeping::Memory);
    let money = "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; }\n";
    let order = "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\n\
                 message Order { string id = 1; shop.Money total = 2; }\n";
    let proto = |s: &str| SchemaBody {
        schema_type: SchemaType::Protobuf,
        schema: s.to_owned(),
        references: Vec::new(),
    };
    block(async {
        ok(r.register("money.proto", proto(money), false).await);
        // Without the reference the import is missing: an invalid schema.
        let e = r.register("orders-value", proto(order), false).await.err();
        assert_eq!(e.map(|e| e.code()), Some(42201));
        let mut body = proto(order);
        body.references = vec![Reference {
            name: "money.proto".into(),
            subject: "money.proto".into(),
            version: 1,
        }];
        let o = ok(r.register("orders-value", body, false).await);
        // Order{id: "a", total: {cents: 5}}, message index [0].
        let mut record = vec![0, 0, 0, 0, o.id as u8, 0];
        record.extend_from_slice(&[0x0a, 0x01, b'a', 0x12, 0x02, 0x08, 0x05]);
        assert_eq!(
            r.check_record("orders-value", WireFormat::Confluent, &record),
            Ok(o.id)
        );
    });
}
