//! Field paths, compiled once: dotted (`user.address.zip`) or JSON path (`$.items[*].card`,
//! RFC 9535 via jsonpath-rust).

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use jsonpath_rust::query::queryable::Queryable;
use serde_json::{Map, Value};

/// A compiled field path.
#[derive(Debug, Clone)]
pub enum FieldPath {
    /// `a.b.c`: object keys from the root.
    Dotted(Vec<String>),
    /// A JSON path starting with `$`, which may select many places.
    Json(Box<JpQuery>, String),
}

impl FieldPath {
    /// Compiles `text`; the error says what is wrong with it.
    pub fn compile(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the field path is empty".into());
        }
        if text.starts_with('$') {
            return parse_json_path(text)
                .map(|q| Self::Json(Box::new(q), text.to_owned()))
                .map_err(|e| format!("invalid JSON path {text:?}: {e}"));
        }
        let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!("invalid field path {text:?}: empty segment"));
        }
        Ok(Self::Dotted(parts))
    }

    /// The values the path selects.
    pub fn get<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        match self {
            Self::Dotted(parts) => {
                let mut v = root;
                for p in parts {
                    match v.get(p) {
                        Some(next) => v = next,
                        None => return Vec::new(),
                    }
                }
                vec![v]
            }
            Self::Json(q, _) => js_path_process(q, root)
                .map(|refs| refs.into_iter().map(|r| r.val).collect())
                .unwrap_or_default(),
        }
    }

    /// Applies `f` to every value the path selects; returns how many there were.
    pub fn for_each_mut(&self, root: &mut Value, mut f: impl FnMut(&mut Value)) -> usize {
        match self {
            Self::Dotted(parts) => {
                let mut v = &mut *root;
                for p in parts {
                    match v.get_mut(p) {
                        Some(next) => v = next,
                        None => return 0,
                    }
                }
                f(v);
                1
            }
            Self::Json(q, _) => {
                let paths: Vec<String> = js_path_process(q, &*root)
                    .map(|refs| refs.into_iter().map(|r| r.path).collect())
                    .unwrap_or_default();
                let mut n = 0;
                for p in paths {
                    if let Some(v) = root.reference_mut(p) {
                        f(v);
                        n += 1;
                    }
                }
                n
            }
        }
    }

    /// The object holding the last segment and the key, for inserts, removals and renames.
    /// JSON paths address existing values only, so they yield their parents where found.
    pub fn parents_mut<'a>(
        &self,
        root: &'a mut Value,
        create: bool,
    ) -> Option<(&'a mut Map<String, Value>, String)> {
        let Self::Dotted(parts) = self else {
            return None;
        };
        let (last, init) = parts.split_last()?;
        let mut v = root;
        for p in init {
            let obj = v.as_object_mut()?;
            if create && !obj.contains_key(p) {
                obj.insert(p.clone(), Value::Object(Map::new()));
            }
            v = obj.get_mut(p)?;
        }
        Some((v.as_object_mut()?, last.clone()))
    }

    /// The path as written.
    pub fn text(&self) -> String {
        match self {
            Self::Dotted(p) => p.join("."),
            Self::Json(_, t) => t.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_and_json_paths_select_and_mutate() {
        let mut v =
            json!({"user": {"ssn": "1"}, "items": [{"card": "a"}, {"card": "b"}, {"x": 1}]});
        let p = FieldPath::compile("user.ssn").expect("dotted");
        assert_eq!(p.get(&v), vec![&json!("1")]);
        let cards = FieldPath::compile("$.items[*].card").expect("json path");
        assert_eq!(cards.get(&v).len(), 2);
        let n = cards.for_each_mut(&mut v, |c| *c = json!("X"));
        assert_eq!(n, 2);
        assert_eq!(v["items"][1]["card"], "X");
        assert!(FieldPath::compile("a..b").is_err());
        assert!(FieldPath::compile("$[").is_err());
        assert!(FieldPath::compile("").is_err());
        assert!(
            FieldPath::compile("nope.deeper")
                .expect("ok")
                .get(&v)
                .is_empty()
        );
    }
}
