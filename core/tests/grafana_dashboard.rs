//! The Grafana dashboard (`deploy/grafana/kafkatwin.json`) queries only what the proxy exports,
//! so it cannot drift from the code into empty panels:
//!
//! - every query (`expr`) of every panel, panels nested in rows included, names at least one
//!   `kafkatwin_` series, and every metric it names is a series the proxy exports (a histogram
//!   only through its `_bucket`, `_sum` and `_count` series, which is all Prometheus stores);
//! - every other identifier in a query is a PromQL function or keyword, or a label: a label
//!   matcher names a label of its own metric, a grouping (`by`, `on`, …) a label some metric has;
//! - the template variables' queries name exported metrics too;
//! - each core family (produce, fetch, cluster health and connections, consumer groups) has a
//!   panel.
//!
//! Family names come from the registered collectors (`Metrics::family_names`); their types and
//! labels from the metrics reference (`docs/metrics.md`), which `reference_metrics.rs` keeps
//! equal to the code.

use kafkatwin_core::base::metrics::Metrics;
use prometheus::core::Collector;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const DASHBOARD: &str = "../deploy/grafana/kafkatwin.json";

/// The families the dashboard must always show.
const REQUIRED: [&str; 11] = [
    "kafkatwin_produce_requests_total",
    "kafkatwin_produce_latency_seconds",
    "kafkatwin_produce_bytes_total",
    "kafkatwin_fetch_requests_total",
    "kafkatwin_fetch_latency_seconds",
    "kafkatwin_fetch_bytes_total",
    "kafkatwin_cluster_health_status",
    "kafkatwin_cluster_connections_active",
    "kafkatwin_consumer_group_members",
    "kafkatwin_consumer_group_rebalance_total",
    "kafkatwin_consumer_lag",
];

/// Labels every scraped series carries besides its own: the target's, added by Prometheus.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// PromQL functions, aggregations and keywords (lowercase; `inf` and `nan` in any case).
const PROMQL_WORDS: &[&str] = &[
    // Aggregations.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    // Functions.
    "abs",
    "absent",
    "absent_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "info",
    "irate",
    "label_join",
    "label_replace",
    "ln",
    "log2",
    "log10",
    "minute",
    "month",
    "predict_linear",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sort_by_label",
    "sort_by_label_desc",
    "sqrt",
    "time",
    "timestamp",
    "vector",
    "year",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "mad_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cos",
    "cosh",
    "sin",
    "sinh",
    "tan",
    "tanh",
    "deg",
    "rad",
    "pi",
    "start",
    "end",
    // Operators and modifiers.
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// Keywords whose parenthesised list holds label names, not expressions.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the proxy exports, as Prometheus stores it.
struct Exported {
    /// Series name → the family it belongs to.
    series: BTreeMap<String, String>,
    /// Family → its labels (without the target's).
    labels: BTreeMap<String, BTreeSet<String>>,
}

impl Exported {
    fn load() -> Self {
        let metrics = Metrics::new().expect("metrics register");
        let families = metrics.family_names();
        assert!(!families.is_empty(), "Metrics::family_names is empty");
        // The compiler vouches for these being histograms; the reference must agree, so that
        // a histogram added later and not listed here fails this assertion rather than hides.
        let histograms: BTreeSet<String> = [
            &metrics.produce_latency,
            &metrics.fetch_latency,
            &metrics.hook_latency,
            &metrics.plugin_latency,
        ]
        .iter()
        .flat_map(|h| h.desc())
        .map(|d| d.fq_name.clone())
        .collect();
        let reference = reference();
        let documented_histograms: BTreeSet<String> = reference
            .iter()
            .filter(|(_, (kind, _))| kind == "histogram")
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(
            histograms, documented_histograms,
            "the histograms this test knows differ from those docs/metrics.md lists"
        );
        let mut series = BTreeMap::new();
        let mut labels = BTreeMap::new();
        for family in families {
            // A family missing from the reference gets no labels here (reference_metrics.rs
            // reports the gap): matchers on it then fail, names alone pass.
            let mut own = reference
                .get(&family)
                .map(|(_, labels)| labels.clone())
                .unwrap_or_default();
            if histograms.contains(&family) {
                for suffix in HISTOGRAM_SUFFIXES {
                    series.insert(format!("{family}{suffix}"), family.clone());
                }
                own.insert("le".to_owned());
            } else {
                series.insert(family.clone(), family.clone());
            }
            labels.insert(family, own);
        }
        Self { series, labels }
    }

    fn any_label(&self, label: &str) -> bool {
        TARGET_LABELS.contains(&label) || self.labels.values().any(|l| l.contains(label))
    }

    fn has_label(&self, family: &str, label: &str) -> bool {
        TARGET_LABELS.contains(&label) || self.labels.get(family).is_some_and(|l| l.contains(label))
    }
}

/// The metrics reference's table: name → (type, labels).
fn reference() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for line in read("../docs/metrics.md").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| name | type | labels | meaning |` splits into 6 cells, the outer two empty.
        if cells.len() < 5 || !cells[1].starts_with("`kafkatwin_") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        out.insert(name, (cells[2].to_owned(), labels));
    }
    assert!(!out.is_empty(), "no metrics found in docs/metrics.md");
    out
}

/// One query's metric names (as written) and what is wrong with it.
#[derive(Default)]
struct Checked {
    metrics: Vec<String>,
    problems: Vec<String>,
}

#[derive(Clone, PartialEq)]
enum Scope {
    /// An expression: identifiers are metrics, functions or keywords.
    Expr,
    /// A grouping list: identifiers are labels of any metric.
    Grouping,
    /// A selector's matchers: identifiers are labels of that metric (`None`: no metric named).
    Matchers(Option<String>),
}

/// Removes Grafana's variables (`$__rate_interval`, `$var`, `${var:fmt}`, `[[var]]`): they
/// stand for durations, label values or label names, never for metric names.
fn strip_variables(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${") {
            rest = after.find('}').map_or("", |e| &after[e + 1..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("[[") {
            rest = after.find("]]").map_or("", |e| &after[e + 2..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix('$') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = &after[end..];
            out.push(' ');
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Reads a PromQL expression: which metrics it names, and every identifier that is neither an
/// exported series, nor a PromQL word, nor a label where labels go.
fn check_expr(expr: &str, exported: &Exported) -> Checked {
    let text = strip_variables(expr);
    let chars: Vec<char> = text.chars().collect();
    let mut checked = Checked::default();
    let mut scopes = vec![Scope::Expr];
    // The last metric named, for the matchers that may follow it.
    let mut last_metric: Option<String> = None;
    let mut grouping_next = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let scope = scopes.last().cloned().unwrap_or(Scope::Expr);
        if c == '"' || c == '\'' || c == '`' {
            // A string: label values and regexes, which may say anything.
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' && c != '`' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '[' {
            // A range or subquery: durations only.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number or a duration (`0.99`, `1e3`, `5m`).
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
            match &scope {
                Scope::Matchers(metric) => {
                    let known = match metric {
                        Some(family) => exported.has_label(family, &word),
                        None => exported.any_label(&word),
                    };
                    if !known {
                        checked.problems.push(match metric {
                            Some(family) => format!("`{word}` is not a label of {family}"),
                            None => format!("`{word}` is not a label of any exported metric"),
                        });
                    }
                }
                Scope::Grouping => {
                    if !exported.any_label(&word) {
                        checked
                            .problems
                            .push(format!("`{word}` is not a label of any exported metric"));
                    }
                }
                Scope::Expr => {
                    let lower = word.to_ascii_lowercase();
                    let promql =
                        PROMQL_WORDS.contains(&word.as_str()) || lower == "inf" || lower == "nan";
                    if GROUPING.contains(&word.as_str()) {
                        grouping_next = true;
                    } else if !promql && next == Some('(') {
                        checked
                            .problems
                            .push(format!("`{word}` is not a PromQL function"));
                    } else if !promql {
                        match exported.series.get(&word) {
                            Some(family) => last_metric = Some(family.clone()),
                            None => {
                                let hint =
                                    if exported.series.contains_key(&format!("{word}_bucket")) {
                                        " (a histogram: query its _bucket, _sum or _count)"
                                    } else {
                                        ""
                                    };
                                checked.problems.push(format!(
                                    "`{word}` is not a metric series the proxy exports{hint}"
                                ));
                                last_metric = None;
                            }
                        }
                        checked.metrics.push(word);
                        // Matchers belong to the metric only if they follow it directly.
                        if next != Some('{') {
                            last_metric = None;
                        }
                        continue;
                    }
                }
            }
            last_metric = None;
        } else {
            match c {
                '{' => scopes.push(Scope::Matchers(last_metric.take())),
                '(' => {
                    scopes.push(if grouping_next {
                        Scope::Grouping
                    } else {
                        Scope::Expr
                    });
                    grouping_next = false;
                }
                '}' | ')' => {
                    if scopes.len() > 1 {
                        scopes.pop();
                    } else {
                        checked.problems.push(format!("unbalanced `{c}`"));
                    }
                }
                _ => {}
            }
            if !c.is_whitespace() && c != '{' {
                last_metric = None;
            }
            i += 1;
        }
    }
    if scopes.len() > 1 {
        checked.problems.push("unbalanced brackets".to_owned());
    }
    if !checked.metrics.iter().any(|m| m.starts_with("kafkatwin_")) {
        checked
            .problems
            .push("names no kafkatwin_ metric".to_owned());
    }
    checked
}

/// Every panel, those nested in rows (collapsed rows keep theirs in `panels`) included.
fn panels(list: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in list.as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panels(&panel["panels"]));
    }
    out
}

/// Each panel's title with the metric series its queries name, and every problem found, as
/// `panel "title": problem (in: expr)`.
fn check_dashboard(
    dashboard: &Value,
    exported: &Exported,
) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut used = Vec::new();
    let mut problems = Vec::new();
    let all = panels(&dashboard["panels"]);
    assert!(!all.is_empty(), "the dashboard has no panels");
    for panel in all {
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
        let targets = panel["targets"].as_array();
        if panel["type"] != "row" && targets.is_none_or(Vec::is_empty) {
            problems.push(format!("panel {title:?}: has no queries"));
        }
        let mut metrics = Vec::new();
        for target in targets.into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                problems.push(format!("panel {title:?}: a query has no `expr`"));
                continue;
            };
            let checked = check_expr(expr, exported);
            for problem in checked.problems {
                problems.push(format!("panel {title:?}: {problem} (in: {expr})"));
            }
            metrics.extend(checked.metrics);
        }
        used.push((title, metrics));
    }
    (used, problems)
}

/// The template variables' queries (`label_values(metric, label)`) name exported metrics.
fn check_templating(dashboard: &Value, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap_or("(unnamed)");
        // Grafana 10 stores the query as an object; older dashboards as a string.
        let query = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .unwrap_or("");
        let names: Vec<&str> = query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("kafkatwin_"))
            .collect();
        if names.is_empty() {
            problems.push(format!(
                "variable {name:?}: names no kafkatwin_ metric (in: {query})"
            ));
        }
        for metric in names {
            if !exported.series.contains_key(metric) {
                problems.push(format!(
                    "variable {name:?}: `{metric}` is not a metric series the proxy exports"
                ));
            }
        }
    }
    problems
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

#[test]
fn every_dashboard_query_names_only_exported_metrics() {
    let exported = Exported::load();
    let dashboard = dashboard();
    let (_, mut problems) = check_dashboard(&dashboard, &exported);
    problems.extend(check_templating(&dashboard, &exported));
    assert!(
        problems.is_empty(),
        "{DASHBOARD} queries what the proxy does not export:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_core_family_has_a_panel() {
    let exported = Exported::load();
    let (used, _) = check_dashboard(&dashboard(), &exported);
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|family| {
            !used.iter().any(|(_, metrics)| {
                metrics.iter().any(|m| {
                    exported
                        .series
                        .get(m)
                        .is_some_and(|f| f.as_str() == *family)
                })
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{DASHBOARD} has no panel for: {}",
        missing.join(", ")
    );
}

/// The checker itself: each kind of mistake is caught, and a sound query passes.
#[test]
fn the_checker_catches_what_the_proxy_does_not_export() {
    let exported = Exported::load();
    let sound = [
        r#"histogram_quantile(0.99, sum by (le, cluster) (rate(kafkatwin_produce_latency_seconds_bucket{cluster=~"$cluster"}[$__rate_interval])))"#,
        r#"count(max by (cluster, topic, partition) (kafkatwin_partition_divergent) == 1) or vector(0)"#,
        r#"kafkatwin_partition_divergent_offset and on (cluster, topic, partition) kafkatwin_partition_divergent{job="x"} == 1"#,
    ];
    for expr in sound {
        let checked = check_expr(expr, &exported);
        assert!(
            checked.problems.is_empty(),
            "{expr}: {:?}",
            checked.problems
        );
    }
    let wrong = [
        (
            "rate(kafkatwin_produce_request_total[5m])",
            "kafkatwin_produce_request_total",
        ),
        (
            "kafkatwin_produce_latency_seconds",
            "kafkatwin_produce_latency_seconds",
        ),
        (
            "rate(kafkatwin_requests_total_bucket[5m])",
            "kafkatwin_requests_total_bucket",
        ),
        ("up + kafkatwin_consumer_lag", "`up`"),
        ("sum by (clsuter) (kafkatwin_consumer_lag)", "clsuter"),
        (
            r#"kafkatwin_requests_total{cluster="a"}"#,
            "not a label of kafkatwin_requests_total",
        ),
        ("rated(kafkatwin_requests_total[1m])", "rated"),
        ("vector(1)", "names no kafkatwin_ metric"),
    ];
    for (expr, expected) in wrong {
        let checked = check_expr(expr, &exported);
        assert!(
            checked.problems.iter().any(|p| p.contains(expected)),
            "{expr}: expected a problem naming {expected}, got {:?}",
            checked.problems
        );
    }
    // A bad name in a panel nested in a collapsed row is reported with the panel's title.
    let nested: Value = serde_json::json!({"panels": [{"type": "row", "title": "Row", "panels": [
        {"type": "timeseries", "title": "Inner", "targets": [{"expr": "kafkatwin_nope"}]}
    ]}]});
    let (_, problems) = check_dashboard(&nested, &exported);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"Inner\"") && p.contains("kafkatwin_nope")),
        "{problems:?}"
    );
}
