//! YAML text → a JSON value tree plus the line of every key path, so that errors found later
//! (type errors, semantic checks) can still name the line they are about.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;

/// Line numbers (1-based) of every key path in the document, e.g. `clusters[1].priority`.
#[derive(Debug, Default, Clone)]
pub struct LineIndex(HashMap<String, u64>);

impl LineIndex {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<u64> {
        let mut p = path;
        loop {
            if let Some(l) = self.0.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// A YAML node as parsed, with the location of each child.
enum Tree {
    Scalar(Value),
    Seq(Vec<Spanned<Tree>>),
    Map(Vec<(String, Spanned<Tree>)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Scalar(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Tree::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            entries.push((key.0, map.next_value::<Spanned<Tree>>()?));
        }
        Ok(Tree::Map(entries))
    }
}

/// A mapping key of any scalar type, as text (`1: x` has key `"1"`).
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML syntax error, with its line when the parser knows it.
#[derive(Debug)]
pub struct SyntaxError {
    /// 1-based line, if known.
    pub line: Option<u64>,
    /// The parser's message.
    pub message: String,
}

/// Parses YAML text into a value tree and the line index of its key paths.
pub fn parse(text: &str) -> Result<(Value, LineIndex), SyntaxError> {
    if text.trim().is_empty() {
        return Ok((Value::Object(Map::new()), LineIndex::default()));
    }
    let root: Spanned<Tree> = serde_saphyr::from_str(text).map_err(|e| SyntaxError {
        line: e.location().map(|l| l.line()).filter(|l| *l > 0),
        message: e.to_string(),
    })?;
    let mut index = LineIndex::default();
    let value = flatten(root.value, "", &mut index);
    Ok((value, index))
}

fn flatten(tree: Tree, path: &str, index: &mut LineIndex) -> Value {
    match tree {
        Tree::Scalar(v) => v,
        Tree::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = format!("{path}[{i}]");
                    index.0.insert(p.clone(), item.referenced.line());
                    flatten(item.value, &p, index)
                })
                .collect(),
        ),
        Tree::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                index.0.insert(p.clone(), v.referenced.line());
                map.insert(k, flatten(v.value, &p, index));
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_lines_of_nested_keys() {
        let text = "server:\n  port: 9092\nclusters:\n  - id: a\n    priority: 2\n";
        let (v, idx) = parse(text).expect("valid yaml");
        assert_eq!(v["server"]["port"], 9092);
        assert_eq!(idx.line_of("server.port"), Some(2));
        assert_eq!(idx.line_of("clusters[0].priority"), Some(5));
        assert_eq!(idx.line_of("clusters[0].priority.nope"), Some(5));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("server:\n  port: [1,\n").expect_err("unterminated list");
        assert!(err.line.is_some(), "{err:?}");
    }
}
