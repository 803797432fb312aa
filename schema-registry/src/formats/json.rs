//! JSON Schema: drafts 4 to 2020-12 through `jsonschema` (offline: references resolve only to
//! registered schemas), and a structural compatibility check.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// The base URI `jsonschema` resolves a relative `$ref` against when a schema has no `$id`.
const DEFAULT_BASE: &str = "json-schema:///";

/// A compiled JSON Schema.
pub struct JsonSchema {
    value: Value,
    validator: jsonschema::Validator,
}

/// Serves referenced schemas by the name they are referenced with.
struct References(HashMap<String, Value>);

impl jsonschema::Retrieve for References {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let s = uri.as_str();
        let name = s.strip_prefix(DEFAULT_BASE).unwrap_or(s);
        self.0
            .get(s)
            .or_else(|| self.0.get(name))
            .cloned()
            .ok_or_else(|| format!("{s} is not among the schema's references").into())
    }
}

impl JsonSchema {
    /// Parses and compiles `text`; `references` are (name, text) of the referenced schemas.
    pub fn parse(text: &str, references: &[(&str, &str)]) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let mut refs = HashMap::new();
        for (name, text) in references {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("reference {name} is not JSON: {e}"))?;
            if let Some(id) = v.get("$id").and_then(Value::as_str) {
                refs.insert(id.to_owned(), v.clone());
            }
            refs.insert((*name).to_owned(), v);
        }
        let validator = jsonschema::options()
            .with_retriever(References(refs))
            .build(&value)
            .map_err(|e| e.to_string())?;
        Ok(Self { value, validator })
    }

    /// The schema's JSON, compact, keys sorted: equal for schemas that differ only in layout.
    pub fn canonical(&self) -> String {
        self.value.to_string()
    }

    /// Checks one value; the error names the first violation and where
    /// (`$.amount: "x" is not of type "number"`).
    pub fn check_value(&self, value: &Value) -> Result<(), String> {
        match self.validator.validate(value) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!(
                "{}: {e}",
                json_path(&e.instance_path().to_string())
            )),
        }
    }

    /// Parses `payload` as JSON and checks it.
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
        self.check_value(&value)
    }

    /// Why data valid under `writer` may be invalid under `self`, if it may: one message per
    /// problem.
    pub fn cannot_read(&self, writer: &JsonSchema) -> Vec<String> {
        let mut out = Vec::new();
        compare(&writer.value, &self.value, "$", &mut out);
        out
    }
}

/// `/a/0/b` (a JSON pointer) as `$.a[0].b`.
fn json_path(pointer: &str) -> String {
    let mut out = String::from("$");
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<u64>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            out.push('.');
            out.push_str(&seg);
        }
    }
    out
}

/// The JSON types a schema admits (`None`: any).
fn types(s: &Value) -> Option<Vec<String>> {
    match s.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

fn admits(reader: &[String], t: &str) -> bool {
    reader
        .iter()
        .any(|r| r == t || (r == "number" && t == "integer"))
}

fn object(s: &Value) -> Option<&Map<String, Value>> {
    s.as_object()
}

/// Whether the schema allows properties it does not list.
fn open(s: &Value) -> bool {
    !matches!(s.get("additionalProperties"), Some(Value::Bool(false)))
        && s.get("unevaluatedProperties") != Some(&Value::Bool(false))
}

fn number(s: &Value, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

/// Adds to `out` what valid `writer` data `reader` may refuse, at `path`.
fn compare(writer: &Value, reader: &Value, path: &str, out: &mut Vec<String>) {
    let (Some(w), Some(r)) = (object(writer), object(reader)) else {
        if reader == &Value::Bool(false) && writer != &Value::Bool(false) {
            out.push(format!("{path}: the new schema accepts nothing"));
        }
        return;
    };
    if let Some(rt) = types(reader) {
        match types(writer) {
            None => out.push(format!(
                "{path}: type narrowed from any to {}",
                rt.join("|")
            )),
            Some(wt) => {
                for t in wt.iter().filter(|t| !admits(&rt, t)) {
                    out.push(format!(
                        "{path}: type changed from {} to {}",
                        t,
                        rt.join("|")
                    ));
                }
            }
        }
    }
    if let Some(re) = r.get("enum").and_then(Value::as_array) {
        match w.get("enum").and_then(Value::as_array) {
            Some(we) => {
                for v in we.iter().filter(|v| !re.contains(v)) {
                    out.push(format!("{path}: enum value {v} removed"));
                }
            }
            None => out.push(format!("{path}: enum added")),
        }
    }
    for (key, narrower) in [
        ("maxLength", false),
        ("minLength", true),
        ("maximum", false),
        ("minimum", true),
        ("maxItems", false),
        ("minItems", true),
    ] {
        if let Some(rv) = number(reader, key) {
            let narrowed = match number(writer, key) {
                None => true,
                Some(wv) => (narrower && rv > wv) || (!narrower && rv < wv),
            };
            if narrowed {
                out.push(format!("{path}: {key} narrowed to {rv}"));
            }
        }
    }
    if let Some(rp) = r.get("pattern")
        && w.get("pattern") != Some(rp)
    {
        out.push(format!("{path}: pattern changed to {rp}"));
    }
    compare_properties(w, r, writer, reader, path, out);
    if let (Some(wi), Some(ri)) = (w.get("items"), r.get("items")) {
        compare(wi, ri, &format!("{path}[*]"), out);
    }
}

fn compare_properties(
    w: &Map<String, Value>,
    r: &Map<String, Value>,
    writer: &Value,
    reader: &Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let empty = Map::new();
    let wp = w
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let rp = r
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required = |m: &Map<String, Value>| -> Vec<String> {
        m.get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (wr, rr) = (required(w), required(r));
    for name in rr.iter().filter(|n| !wr.contains(n)) {
        out.push(format!("{path}.{name}: required property added"));
    }
    for (name, rs) in rp {
        let at = format!("{path}.{name}");
        match wp.get(name) {
            Some(ws) => compare(ws, rs, &at, out),
            None if open(writer) => out.push(format!(
                "{at}: property added to an open content model (data may already hold it with \
                 another type)"
            )),
            None => {}
        }
    }
    if !open(reader) {
        if open(writer) {
            out.push(format!("{path}: additional properties no longer allowed"));
        }
        for name in wp.keys().filter(|n| !rp.contains_key(*n)) {
            out.push(format!(
                "{path}.{name}: property removed from a closed content model"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> JsonSchema {
        match JsonSchema::parse(s, &[]) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn violation_names_path_and_type() {
        let s = parse(r#"{"type":"object","properties":{"amount":{"type":"number"}}}"#);
        let e = s.check(br#"{"amount":"x"}"#).err().unwrap_or_default();
        assert!(e.starts_with("$.amount: "), "{e}");
        assert!(e.contains("is not of type"), "{e}");
        assert!(s.check(br#"{"amount":3}"#).is_ok());
    }

    #[test]
    fn required_property_added_breaks_backward() {
        let old = parse(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#);
        let new =
            parse(r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#);
        let m = new.cannot_read(&old);
        assert_eq!(m, vec!["$.a: required property added".to_owned()]);
        assert!(old.cannot_read(&new).is_empty());
    }

    #[test]
    fn type_change_is_named() {
        let old = parse(r#"{"properties":{"n":{"type":"integer"}}}"#);
        let wider = parse(r#"{"properties":{"n":{"type":"number"}}}"#);
        assert!(wider.cannot_read(&old).is_empty());
        let m = old.cannot_read(&wider);
        assert_eq!(
            m,
            vec!["$.n: type changed from number to integer".to_owned()]
        );
    }

    #[test]
    fn references_resolve_by_name() {
        let s = JsonSchema::parse(
            r#"{"properties":{"c":{"$ref":"customer.json"}}}"#,
            &[("customer.json", r#"{"type":"object","required":["id"]}"#)],
        );
        let s = match s {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert!(s.check(br#"{"c":{"id":1}}"#).is_ok());
        assert!(s.check(br#"{"c":{}}"#).is_err());
    }
}
