//! Loading: YAML text, then environment overrides, then typed sections, then semantic checks.
//! Every step collects problems instead of stopping at the first, so one run of
//! `kafkatwin check-config` shows everything that is wrong.

use crate::error::{ConfigError, Problem};
use crate::model::Config;
use crate::validate::validate;
use crate::yaml::{self, LineIndex};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// Prefix of environment variables that override config keys (`KAFKATWIN_SERVER__PORT`).
pub const ENV_PREFIX: &str = "KAFKATWIN_";

/// Reads and validates a config file, applying overrides from the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        problems: vec![Problem::new("", format!("cannot read the file: {e}"))],
    })?;
    load_str(&text, std::env::vars()).map_err(|mut e| {
        e.source_name = path.display().to_string();
        e
    })
}

/// Parses and validates config text, applying the given `KAFKATWIN_*` overrides.
pub fn load_str(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError {
        source_name: "<config>".into(),
        problems,
    };
    let (mut value, lines) = yaml::parse(text).map_err(|e| {
        fail(vec![Problem {
            path: String::new(),
            line: e.line,
            message: format!("invalid YAML: {}", e.message),
        }])
    })?;
    let mut problems = apply_env(&mut value, env);
    let built = build(value, &lines, &mut problems);
    if let Some((config, failed)) = &built {
        // Semantic checks still run when some sections failed to type-check, so all problems
        // show at once; checks about a failed section would only repeat its type error.
        let about_failed = |p: &Problem| {
            failed
                .iter()
                .any(|f| p.path == *f || p.path.starts_with(&format!("{f}.")))
        };
        for mut p in validate(config) {
            if !about_failed(&p) {
                p.line = p.line.or_else(|| lines.line_of(&p.path));
                problems.push(p);
            }
        }
    }
    match built {
        Some((c, _)) if problems.is_empty() => Ok(c),
        _ => Err(fail(problems)),
    }
}

/// Applies `KAFKATWIN_A__B__C=value` overrides onto the tree (`a.b.c`). Only variables with a
/// `__` are overrides, so plain `KAFKATWIN_SOMETHING` variables of other tools are left alone.
/// Numeric segments index lists (`KAFKATWIN_CLUSTERS__0__PRIORITY`).
fn apply_env(root: &mut Value, env: impl IntoIterator<Item = (String, String)>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let segments: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if let Err(msg) = set_path(root, &segments, &raw) {
            problems.push(Problem::new(
                segments.join("."),
                format!("environment variable {name}: {msg}"),
            ));
        }
    }
    problems
}

fn set_path(root: &mut Value, segments: &[String], raw: &str) -> Result<(), String> {
    let mut node = root;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            return Err("empty key segment (check for `___`)".into());
        }
        let last = i + 1 == segments.len();
        node = match node {
            Value::Array(items) => {
                let idx: usize = seg
                    .parse()
                    .map_err(|_| format!("`{seg}` must be a list index here"))?;
                let len = items.len();
                items
                    .get_mut(idx)
                    .ok_or_else(|| format!("index {idx} is out of range (the list has {len})"))?
            }
            Value::Null => {
                *node = Value::Object(Default::default());
                descend(node, seg, last)?
            }
            Value::Object(_) => descend(node, seg, last)?,
            _ => return Err(format!("`{seg}` is below a value that is not a section")),
        };
    }
    *node = env_value(node, raw);
    Ok(())
}

fn descend<'a>(node: &'a mut Value, seg: &str, last: bool) -> Result<&'a mut Value, String> {
    let Value::Object(map) = node else {
        return Err("not a section".into());
    };
    Ok(map.entry(seg.to_owned()).or_insert(if last {
        Value::Null
    } else {
        Value::Object(Default::default())
    }))
}

/// An override's value, read as a YAML scalar or flow list (`19092`, `true`, `[a, b]`), except
/// where the key already holds a string: then it stays text (`KAFKATWIN_SERVER__CLUSTER_ID=123`).
fn env_value(existing: &Value, raw: &str) -> Value {
    if existing.is_string() {
        return Value::String(raw.to_owned());
    }
    match yaml::parse(raw) {
        Ok((v, _)) if !raw.trim().is_empty() => v,
        _ => Value::String(raw.to_owned()),
    }
}

/// Deserializes each section on its own so a bad section does not hide problems in the others.
/// Returns the config with defaults standing in for sections that failed, and those sections'
/// paths.
fn build(
    value: Value,
    lines: &LineIndex,
    problems: &mut Vec<Problem>,
) -> Option<(Config, Vec<String>)> {
    let Value::Object(mut root) = value else {
        problems.push(Problem::new(
            "",
            "the config must be a mapping of sections (server, clusters, ...)",
        ));
        return None;
    };
    let mut failed = Vec::new();
    let mut config = Config::default();
    macro_rules! section {
        ($name:ident) => {
            if let Some(v) = root.remove(stringify!($name)) {
                match typed(v, stringify!($name), lines, problems) {
                    Some(s) => config.$name = s,
                    None => failed.push(stringify!($name).to_owned()),
                }
            }
        };
    }
    section!(server);
    section!(producer);
    section!(consumer);
    section!(backend);
    section!(admin_api);
    section!(monitoring);
    section!(multi_dc);
    section!(logging);
    if let Some(v) = root.remove("transformations") {
        config.transformations = transformations(v, lines, problems, &mut failed);
    }
    section!(circuit_breaker);
    section!(plugins);
    section!(auth);
    section!(quotas);
    section!(schema_registry);
    match root.remove("clusters") {
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let path = format!("clusters[{i}]");
                let id = item
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                match typed(item, &path, lines, problems) {
                    Some(c) => config.clusters.push(c),
                    None => {
                        // A stand-in keeps later indexes and duplicate-id checks right.
                        config.clusters.push(crate::model::ClusterConfig {
                            id,
                            bootstrap_servers: Vec::new(),
                            priority: u32::MAX,
                            weight: 0,
                            tls: None,
                            sasl: None,
                        });
                        failed.push(path);
                    }
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => {
            problems.push(at(lines, "clusters", "must be a list of clusters"));
            failed.push("clusters".to_owned());
        }
    }
    for key in root.keys() {
        problems.push(at(
            lines,
            key,
            "unknown section (expected one of server, clusters, producer, consumer, backend, \
             admin_api, monitoring, multi_dc, logging, transformations, circuit_breaker, plugins, auth, quotas, schema_registry)",
        ));
    }
    Some((config, failed))
}

/// The `transformations` entries, each rule typed on its own, so that every broken rule is
/// reported (and the others still checked), not only the first.
fn transformations(
    value: Value,
    lines: &LineIndex,
    problems: &mut Vec<Problem>,
    failed: &mut Vec<String>,
) -> Vec<crate::model::TopicRules> {
    let Value::Array(entries) = value else {
        if !value.is_null() {
            problems.push(at(
                lines,
                "transformations",
                "must be a list of topic entries",
            ));
            failed.push("transformations".to_owned());
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, mut entry) in entries.into_iter().enumerate() {
        let path = format!("transformations[{i}]");
        let rules = match entry.as_object_mut().and_then(|o| o.remove("rules")) {
            Some(Value::Array(rules)) => rules,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                problems.push(at(
                    lines,
                    &format!("{path}.rules"),
                    "must be a list of rules",
                ));
                failed.push(format!("{path}.rules"));
                Vec::new()
            }
        };
        let Some(mut typed_entry) =
            typed::<crate::model::TopicRules>(entry, &path, lines, problems)
        else {
            failed.push(path);
            continue;
        };
        for (j, rule) in rules.into_iter().enumerate() {
            let rule_at = format!("{path}.rules[{j}]");
            match typed(rule, &rule_at, lines, problems) {
                Some(r) => typed_entry.rules.push(r),
                None => failed.push(rule_at),
            }
        }
        out.push(typed_entry);
    }
    out
}

fn at(lines: &LineIndex, path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_owned(),
        line: lines.line_of(path),
        message: message.into(),
    }
}

/// Deserializes one section, reporting every unknown key and the first type error with paths.
fn typed<T: DeserializeOwned>(
    value: Value,
    prefix: &str,
    lines: &LineIndex,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let de = serde_path_to_error::Deserializer::new(&value, &mut track);
        serde_ignored::deserialize(de, |p| unknown.push(render_ignored(&p)))
    };
    for u in unknown {
        let path = join(prefix, &u);
        problems.push(at(lines, &path, "unknown key"));
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = join(prefix, &render_tracked(&track.path()));
            let msg = e.to_string();
            problems.push(at(lines, &path, msg));
            None
        }
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => rest.trim_start_matches('.').to_owned(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{}", rest.trim_start_matches('.')),
    }
}

fn render_tracked(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Enum { variant } => {
                out.push('.');
                out.push_str(variant);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn render_ignored(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_ignored(parent)),
        Path::Map { parent, key } => format!("{}.{key}", render_ignored(parent)),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render_ignored(parent),
    }
}
