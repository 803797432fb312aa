//! `docs/transformations.md`'s reference tables against the rule model: every action and
//! condition is listed, with exactly its parameters, which of them are required, and their
//! defaults.

use kafkatwin_builtin_transforms::{Action, Condition, Rule};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// One parameter as the page writes it.
#[derive(Debug)]
enum Param {
    Required(String),
    Default(String, Value),
    Optional(String),
}

impl Param {
    fn name(&self) -> &str {
        match self {
            Param::Required(n) | Param::Default(n, _) | Param::Optional(n) => n,
        }
    }

    fn parse(text: &str) -> Param {
        let text = text.trim();
        if let Some(name) = text.strip_suffix(" (optional)") {
            return Param::Optional(name.trim_matches('`').to_owned());
        }
        match text.split_once(" = ") {
            Some((name, default)) => {
                let default = default.trim_matches('`');
                let value = serde_json::from_str(default)
                    .unwrap_or_else(|e| panic!("default {default:?} of {name} is not JSON: {e}"));
                Param::Default(name.trim_matches('`').to_owned(), value)
            }
            None => Param::Required(text.trim_matches('`').to_owned()),
        }
    }
}

/// The rows of the table under `heading`: name and parameters.
fn table(heading: &str) -> Vec<(String, Vec<Param>)> {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/transformations.md"),
    )
    .expect("read docs/transformations.md");
    let section = page
        .split(&format!("### {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    section
        .lines()
        .take_while(|l| !l.starts_with("###"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---") && !l.starts_with("|---"))
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_owned();
            let params = cells[1].split(", ").map(Param::parse).collect();
            (name, params)
        })
        .collect()
}

/// A value the model accepts for a required parameter.
fn sample(name: &str) -> Value {
    match name {
        "conditions" => json!([]),
        "actions" => json!([{ "type": "remove_field", "field": "a" }]),
        "pattern" => json!(".*"),
        _ => json!("x"),
    }
}

/// The names serde lists as expected when given an unknown `type`.
fn variants<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
    let err = serde_json::from_value::<T>(json!({ "type": "no_such_type" }))
        .expect_err("an unknown type is refused")
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no variant list in {err:?}"));
    list.split(", ")
        .map(|v| {
            v.trim_matches(|c: char| c == '`' || c.is_whitespace())
                .to_owned()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// Checks one row: the minimal object parses, shows the documented defaults, leaves the
/// optional parameters out, needs each required one, and has no undocumented key.
fn check_row<T: DeserializeOwned + Serialize>(tag: Option<&str>, params: &[Param]) {
    let mut minimal = Map::new();
    if let Some(t) = tag {
        minimal.insert("type".into(), json!(t));
    }
    for p in params {
        if let Param::Required(n) = p {
            minimal.insert(n.clone(), sample(n));
        }
    }
    let what = tag.unwrap_or("rule");
    let parsed: T = serde_json::from_value(Value::Object(minimal.clone()))
        .unwrap_or_else(|e| panic!("{what} with its required parameters only: {e}"));
    let shown = serde_json::to_value(&parsed).expect("serialize");
    let shown = shown.as_object().expect("an object");
    for p in params {
        match p {
            Param::Required(n) => {
                let mut without = minimal.clone();
                without.remove(n);
                assert!(
                    serde_json::from_value::<T>(Value::Object(without)).is_err(),
                    "{what}: `{n}` is documented as required but may be left out"
                );
            }
            Param::Default(n, d) => {
                // Empty lists and maps are left out when written back.
                let got = shown.get(n).cloned().unwrap_or_else(|| match d {
                    Value::Array(_) => json!([]),
                    Value::Object(_) => json!({}),
                    _ => Value::Null,
                });
                assert_eq!(&got, d, "{what}: the default of `{n}`");
            }
            Param::Optional(n) => {
                assert!(shown.get(n).is_none(), "{what}: `{n}` is set by default");
            }
        }
    }
    for key in shown.keys().filter(|k| *k != "type") {
        assert!(
            params.iter().any(|p| p.name() == key),
            "{what}: `{key}` is not documented"
        );
    }
}

/// The table under `heading` lists exactly the variants of `T`, each row checked.
fn check_variants<T: DeserializeOwned + Serialize + std::fmt::Debug>(heading: &str) {
    let rows = table(heading);
    let mut documented: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
    let mut actual = variants::<T>();
    documented.sort();
    actual.sort();
    assert_eq!(
        documented, actual,
        "{heading}: documented (left) and the model's (right)"
    );
    for (name, params) in &rows {
        check_row::<T>(Some(name), params);
    }
}

#[test]
fn every_action_is_documented_with_its_parameters_and_defaults() {
    check_variants::<Action>("Actions");
}

#[test]
fn every_condition_is_documented_with_its_parameters() {
    check_variants::<Condition>("Conditions");
}

#[test]
fn the_rule_keys_are_documented_with_their_defaults() {
    let rows = table("Rule keys");
    assert_eq!(rows.len(), 1, "one row for the rule");
    check_row::<Rule>(None, &rows[0].1);
}
