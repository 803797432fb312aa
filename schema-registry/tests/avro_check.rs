//! The allocation-free Avro record check agrees with apache-avro's own encoder on every kind
//! of schema node, and refuses hostile or short data naming the field.

use apache_avro::Schema;
use apache_avro::types::Value;
use kafkatwin_schema_registry::formats::avro::AvroSchema;

const SCHEMA: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":"string"},
  {"name":"n","type":"int"},
  {"name":"big","type":"long"},
  {"name":"ok","type":"boolean"},
  {"name":"f","type":"float"},
  {"name":"d","type":"double"},
  {"name":"raw","type":"bytes"},
  {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"attrs","type":{"type":"map","values":"long"}},
  {"name":"maybe","type":["null","string"]},
  {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
  {"name":"next","type":["null","Order"]},
  {"name":"day","type":{"type":"int","logicalType":"date"}}
]}"#;

fn order(id: &str, next: Option<Value>) -> Value {
    Value::Record(vec![
        ("id".into(), Value::String(id.into())),
        ("n".into(), Value::Int(-7)),
        ("big".into(), Value::Long(1 << 40)),
        ("ok".into(), Value::Boolean(true)),
        ("f".into(), Value::Float(1.5)),
        ("d".into(), Value::Double(2.5)),
        ("raw".into(), Value::Bytes(vec![1, 2, 3])),
        ("color".into(), Value::Enum(1, "GREEN".into())),
        (
            "tags".into(),
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
        ),
        (
            "attrs".into(),
            Value::Map([("x".to_owned(), Value::Long(3))].into_iter().collect()),
        ),
        (
            "maybe".into(),
            Value::Union(1, Box::new(Value::String("s".into()))),
        ),
        ("hash".into(), Value::Fixed(4, vec![9, 9, 9, 9])),
        (
            "next".into(),
            match next {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(v) => Value::Union(1, Box::new(v)),
            },
        ),
        ("day".into(), Value::Date(19000)),
    ])
}

fn encoded(v: Value) -> Vec<u8> {
    let schema = Schema::parse_str(SCHEMA).expect("schema");
    #[allow(deprecated)]
    apache_avro::to_avro_datum(&schema, v).expect("encodes")
}

#[test]
fn what_apache_avro_writes_passes_and_cut_data_is_named() {
    let s = AvroSchema::parse(SCHEMA, &[]).expect("parses");
    let whole = encoded(order("o1", Some(order("o2", None))));
    assert_eq!(s.check(&whole), Ok(()));
    // Every shorter prefix fails, and so does a byte too many.
    for cut in 0..whole.len() {
        assert!(s.check(&whole[..cut]).is_err(), "prefix of {cut} bytes");
    }
    let mut more = whole.clone();
    more.push(0);
    let e = s.check(&more).err().unwrap_or_default();
    assert!(e.contains("1 byte(s) left"), "{e}");
    // The id is cut: the error says where.
    let e = s.check(&whole[..2]).err().unwrap_or_default();
    assert!(e.contains("$.id: a string needs"), "{e}");
}

#[test]
fn hostile_lengths_and_indexes_are_refused_without_allocating() {
    let s = AvroSchema::parse(r#"{"type":"array","items":"null"}"#, &[]).expect("parses");
    // A block of 2^62 nulls: refused by the item bound, not looped over.
    let mut b = vec![];
    let mut z = (1u64 << 62) << 1;
    while z >= 0x80 {
        b.push((z as u8) | 0x80);
        z >>= 7;
    }
    b.push(z as u8);
    let e = s.check(&b).err().unwrap_or_default();
    assert!(e.contains("items"), "{e}");
    let s = AvroSchema::parse(r#""string""#, &[]).expect("parses");
    // A string claiming 2^40 bytes in a 6-byte payload.
    let e = s
        .check(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
        .err()
        .unwrap_or_default();
    assert!(e.contains("needs"), "{e}");
    let s = AvroSchema::parse(r#"["null","int"]"#, &[]).expect("parses");
    let e = s.check(&[4]).err().unwrap_or_default();
    assert!(e.contains("union branch 2"), "{e}");
}
