//! The rule engine on records: the documented example, each action and condition, nested paths
//! and arrays, and the edge cases (missing field, null, numbers, non-JSON values).

use kafkatwin_builtin_transforms::{
    CompiledRule, OnError, RecordData, Rule, RuleChain, Validated, validate,
};
use serde_json::{Value, json};

fn chain(rules: Value) -> RuleChain {
    let rules: Vec<Rule> = serde_json::from_value(rules).expect("rules parse");
    RuleChain::new(
        rules
            .into_iter()
            .map(|r| CompiledRule::compile(r).expect("rule compiles"))
            .collect(),
    )
}

fn record(value: &[u8]) -> RecordData {
    RecordData {
        key: Some(b"user-1".to_vec()),
        value: Some(value.to_vec()),
        headers: vec![("source".into(), Some(b"web".to_vec()))],
    }
}

fn value_of(r: &RecordData) -> Value {
    serde_json::from_slice(r.value.as_deref().expect("value")).expect("json")
}

fn header(r: &RecordData, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_ref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn documented_mask_pii() -> Value {
    json!([{ "id": "mask-pii", "name": "Mask PII Data", "enabled": true, "priority": 10,
      "conditions": [ { "type": "field_exists", "field": "ssn" } ],
      "actions": [ { "type": "mask_field", "field": "ssn" },
                   { "type": "set_header", "field": "pii-masked", "value": "true" } ] }])
}

#[test]
fn the_documented_mask_pii_example() {
    let c = chain(documented_mask_pii());
    let mut r = record(br#"{"ssn":"123-45-6789","name":"Ann"}"#);
    let out = c.apply(&mut r).expect("applies");
    assert!(out.changed);
    assert_eq!(value_of(&r), json!({"ssn": "***********", "name": "Ann"}));
    assert_eq!(header(&r, "pii-masked").as_deref(), Some("true"));
    // A record without ssn is left byte-identical.
    let original = br#"{ "name" : "Bob",  "age": 3 }"#;
    let mut r = record(original);
    let out = c.apply(&mut r).expect("applies");
    assert!(!out.changed);
    assert_eq!(r.value.as_deref(), Some(&original[..]));
    assert_eq!(r.headers.len(), 1);
}

#[test]
fn mask_modes_keep_last_and_salted_hash_that_still_joins() {
    let c = chain(json!([{ "id": "m", "actions": [
        { "type": "mask_field", "field": "card", "mode": "keep_last", "keep_last": 4 },
        { "type": "mask_field", "field": "email", "mode": "hash", "salt": "s" },
        { "type": "mask_field", "field": "n" },
        { "type": "mask_field", "field": "nothing" }
    ]}]));
    let mut a = record(br#"{"card":"4111111111111111","email":"a@b.c","n":12345,"nothing":null}"#);
    let mut b = record(br#"{"card":"1","email":"a@b.c"}"#);
    c.apply(&mut a).expect("a");
    c.apply(&mut b).expect("b");
    let (va, vb) = (value_of(&a), value_of(&b));
    assert_eq!(va["card"], "************1111");
    assert_eq!(vb["card"], "1", "shorter than keep_last stays visible");
    assert!(
        va["email"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:") && s.len() == 71)
    );
    assert_eq!(va["email"], vb["email"], "same input, same salt, same hash");
    assert_eq!(va["n"], "*****", "numbers are masked as text");
    assert_eq!(va["nothing"], Value::Null, "null stays null");
}

#[test]
fn set_remove_rename_and_case_on_nested_paths_and_arrays() {
    let c = chain(json!([{ "id": "all", "actions": [
        { "type": "set_field", "field": "meta.source.region", "value": "eu" },
        { "type": "remove_field", "field": "user.password" },
        { "type": "rename_field", "field": "user.fname", "to": "first_name" },
        { "type": "uppercase_field", "field": "$.items[*].sku" },
        { "type": "lowercase_field", "field": "user.email" },
        { "type": "mask_field", "field": "$.items[*].card", "mode": "keep_last", "keep_last": 2 },
        { "type": "remove_field", "field": "$.items[*].internal" }
    ]}]));
    let mut r = record(
        br#"{"user":{"fname":"Ann","password":"x","email":"ANN@X.IO"},
        "items":[{"sku":"ab1","card":"9876","internal":1},{"sku":"cd2","card":"5432"}]}"#,
    );
    c.apply(&mut r).expect("applies");
    assert_eq!(
        value_of(&r),
        json!({"user":{"first_name":"Ann","email":"ann@x.io"},
               "items":[{"sku":"AB1","card":"**76"},{"sku":"CD2","card":"**32"}],
               "meta":{"source":{"region":"eu"}}})
    );
}

#[test]
fn conditions_and_any_of() {
    let c = chain(json!([{ "id": "c",
        "conditions": [
            { "type": "field_equals", "field": "country", "value": "DE" },
            { "type": "field_matches", "field": "zip", "pattern": "^1[0-9]{4}$" },
            { "type": "header_exists", "header": "source" },
            { "type": "key_matches", "pattern": "^user-" },
            { "type": "any_of", "conditions": [
                { "type": "header_equals", "header": "source", "value": "mobile" },
                { "type": "field_exists", "field": "$.tags[?@ == 'vip']" } ] }
        ],
        "actions": [ { "type": "set_header", "field": "route", "value": "de-vip" } ] }]));
    let run = |v: &[u8]| {
        let mut r = record(v);
        c.apply(&mut r).expect("applies");
        header(&r, "route")
    };
    assert_eq!(
        run(br#"{"country":"DE","zip":12345,"tags":["vip"]}"#).as_deref(),
        Some("de-vip")
    );
    assert_eq!(
        run(br#"{"country":"DE","zip":12345,"tags":["new"]}"#),
        None,
        "any_of fails"
    );
    assert_eq!(
        run(br#"{"country":"FR","zip":12345,"tags":["vip"]}"#),
        None,
        "equals fails"
    );
    assert_eq!(
        run(br#"{"country":"DE","zip":"99999","tags":["vip"]}"#),
        None,
        "matches fails"
    );
    assert_eq!(
        run(br#"{"zip":12345,"tags":["vip"]}"#),
        None,
        "missing field"
    );
}

#[test]
fn non_json_values_are_skipped_or_rejected_per_rule() {
    let skip = chain(documented_mask_pii());
    let mut r = record(b"\x00\x01 not json");
    let out = skip.apply(&mut r).expect("skipped, not rejected");
    assert_eq!((out.applied, out.skipped, out.changed), (0, 1, false));
    assert_eq!(r.value.as_deref(), Some(&b"\x00\x01 not json"[..]));

    let reject = chain(json!([{ "id": "strict", "on_invalid": "reject",
        "actions": [ { "type": "remove_field", "field": "x" } ] }]));
    let err = reject.apply(&mut record(b"nope")).expect_err("rejected");
    assert_eq!(err.rule, "strict");
    assert!(err.reason.contains("not JSON"));
    // A header-only rule needs no JSON at all.
    let headers = chain(json!([{ "id": "h", "on_invalid": "reject",
        "actions": [ { "type": "set_header", "field": "seen", "value": "1" } ] }]));
    let mut r = record(b"binary");
    headers.apply(&mut r).expect("no value needed");
    assert_eq!(header(&r, "seen").as_deref(), Some("1"));
}

#[test]
fn priority_orders_rules_and_disabled_rules_do_not_run() {
    let c = chain(json!([
        { "id": "second", "priority": 20, "actions": [ { "type": "set_field", "field": "v", "value": 2 } ] },
        { "id": "off", "priority": 30, "enabled": false, "actions": [ { "type": "set_field", "field": "v", "value": 9 } ] },
        { "id": "first", "priority": 10, "actions": [ { "type": "set_field", "field": "v", "value": 1 } ] }
    ]));
    let mut r = record(br#"{}"#);
    let out = c.apply(&mut r).expect("applies");
    assert_eq!(value_of(&r), json!({"v": 2}));
    assert_eq!(out.applied, 2);
}

#[test]
fn bad_rules_name_the_rule_and_the_field() {
    let bad: Rule = serde_json::from_value(json!({ "id": "broken",
        "conditions": [ { "type": "field_matches", "field": "a", "pattern": "(" } ],
        "actions": [ { "type": "mask_field", "field": "a..b" },
                     { "type": "mask_field", "field": "c", "mode": "hash" },
                     { "type": "rename_field", "field": "d", "to": "x.y" } ] }))
    .expect("parses");
    let errors = CompiledRule::compile(bad).err().expect("invalid");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for want in [
        "rule \"broken\": conditions[0].pattern: invalid regex",
        "rule \"broken\": actions[0].field: invalid field path",
        "rule \"broken\": actions[1].salt: mode hash needs a salt",
        "rule \"broken\": actions[2].to: must be a plain key",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(want)),
            "missing {want:?} in {text:#?}"
        );
    }
    // Unknown action types and unknown keys are refused when parsing.
    assert!(
        serde_json::from_value::<Rule>(
            json!({"id":"x","actions":[{"type":"explode","field":"a"}]})
        )
        .is_err()
    );
    assert!(
        serde_json::from_value::<Rule>(
            json!({"id":"x","actions":[{"type":"remove_field","field":"a","oops":1}]})
        )
        .is_err()
    );
}

#[test]
fn a_wasm_action_is_a_rule_action_validated_with_the_rest() {
    let rule = |v: Value| serde_json::from_value::<Rule>(v).expect("parses");
    let good = rule(
        json!({"id": "r", "hook": "on_fetch", "actions": [{"type": "wasm",
        "plugin": "redact", "config": {"field": "ssn", "depth": 2}, "on_error": "pass"}]}),
    );
    match validate(good) {
        Ok(Validated::Plugin(p)) => {
            assert_eq!(p.plugin, "redact");
            assert_eq!(p.on_error, OnError::Pass);
            assert_eq!(p.hook.label(), "on_fetch");
            assert!(p.config.contains(&("field".into(), "ssn".into())));
            assert!(p.config.contains(&("depth".into(), "2".into())));
        }
        _ => panic!("a valid wasm rule is a plugin rule"),
    }
    let defaults = rule(json!({"id": "r", "actions": [{"type": "wasm", "plugin": "p"}]}));
    assert!(
        matches!(validate(defaults), Ok(Validated::Plugin(p)) if p.on_error == OnError::Reject)
    );
    let bad = rule(
        json!({"id": "", "conditions": [{"type": "field_exists", "field": "a"}],
        "actions": [{"type": "remove_field", "field": "a"}, {"type": "wasm", "plugin": " "}]}),
    );
    let text: Vec<String> = validate(bad)
        .err()
        .expect("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    for want in [
        "id: must not be empty",
        "actions: a wasm action must be the rule's only action",
        "conditions: a wasm rule takes no conditions",
        "actions[1].plugin: must name an uploaded plugin",
    ] {
        assert!(
            text.iter().any(|t| t.contains(want)),
            "missing {want:?} in {text:#?}"
        );
    }
    // SASL plugins are bound by auth.plugins, not by rules.
    let auth =
        rule(json!({"id": "r", "hook": "on_auth", "actions": [{"type": "wasm", "plugin": "p"}]}));
    let text: Vec<String> = validate(auth)
        .err()
        .expect("on_auth refused")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        text.iter()
            .any(|t| t.contains("hook: must be on_produce or on_fetch")),
        "{text:?}"
    );
    // Its keys are checked by the same parser as the built-in actions'.
    for bad in [
        json!({"id": "r", "actions": [{"type": "wasm"}]}),
        json!({"id": "r", "actions": [{"type": "wasm", "plugin": "p", "on_error": "ignore"}]}),
        json!({"id": "r", "actions": [{"type": "wasm", "plugin": "p", "oops": 1}]}),
        json!({"id": "r", "actions": [{"type": "wasm", "plugin": "p", "config": [1]}]}),
    ] {
        assert!(
            serde_json::from_value::<Rule>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_rule_chain_is_a_plugin_with_batch_verdicts() {
    use kafkatwin_plugin_sdk::{BatchContext, FetchHook, ProduceHook, RecordView, Verdict};
    let c = chain(documented_mask_pii());
    let ctx = BatchContext {
        topic: "people",
        partition: 0,
        client_id: Some("app"),
    };
    let plain = RecordView {
        offset_delta: 0,
        timestamp: 0,
        key: None,
        value: Some(br#"{"name":"Bob"}"#),
        headers: Vec::new(),
    };
    assert_eq!(
        c.on_produce(&ctx, std::slice::from_ref(&plain)),
        Verdict::Keep
    );
    let pii = RecordView {
        value: Some(br#"{"ssn":"1"}"#),
        ..plain.clone()
    };
    let Verdict::Rewrite(out) = c.on_fetch(&ctx, &[plain, pii]) else {
        panic!("rewrite expected")
    };
    assert_eq!(out.len(), 2, "every record of the batch, in order");
    assert_eq!(out[1].value.as_deref(), Some(&br#"{"ssn":"*"}"#[..]));
}

#[test]
fn a_validate_schema_action_is_checked_with_the_rest() {
    use kafkatwin_builtin_transforms::{SchemaFormat, SchemaPart, Validated, validate};
    let parse = |s: &str| serde_json::from_str::<kafkatwin_builtin_transforms::Rule>(s);
    let ok = parse(r#"{"id":"v","actions":[{"type":"validate_schema"}]}"#).expect("rule");
    match validate(ok) {
        Ok(Validated::Schema(r)) => {
            assert_eq!(
                (r.part, r.format),
                (SchemaPart::Value, SchemaFormat::Confluent)
            );
            assert_eq!(r.subject_for("orders"), "orders-value");
        }
        _ => panic!("a schema rule"),
    }
    let key =
        parse(r#"{"id":"k","actions":[{"type":"validate_schema","part":"key","format":"json"}]}"#)
            .expect("rule");
    match validate(key) {
        Ok(Validated::Schema(r)) => assert_eq!(r.subject_for("orders"), "orders-key"),
        _ => panic!("a schema rule"),
    }
    // Unknown keys are refused when the rule is read.
    assert!(parse(r#"{"id":"u","actions":[{"type":"validate_schema","subjekt":"x"}]}"#).is_err());
    let bad = parse(
        r#"{"id":"b","hook":"on_fetch","conditions":[{"type":"field_exists","field":"a"}],
            "actions":[{"type":"validate_schema","subject":" "},{"type":"remove_field","field":"a"}]}"#,
    )
    .expect("rule");
    let fields: Vec<String> = match validate(bad) {
        Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        Ok(_) => panic!("refused"),
    };
    for f in ["actions", "conditions", "hook", "actions[0].subject"] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
}
