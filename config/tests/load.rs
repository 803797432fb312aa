//! Loading the documented examples, overrides, and error reporting.

use kafkatwin_config::{AckPolicy, DcStrategy, load_str};

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

const REFERENCE: &str = include_str!("../../deploy/examples/reference.yaml");

#[test]
fn the_reference_example_loads_with_its_values() {
    let c = load_str(REFERENCE, no_env()).expect("the reference example is valid");
    assert_eq!(c.server.port, 9092);
    assert_eq!(c.clusters[0].id, "cluster-1");
    assert_eq!(
        c.clusters[0].bootstrap_servers,
        vec!["kafka1.example.com:9092"]
    );
    assert_eq!(c.producer.ack_policy, AckPolicy::Majority);
    assert_eq!(c.producer.timeout.get().as_secs(), 30);
    assert_eq!(c.admin_api.port, 8000);
    assert_eq!(c.monitoring.metrics.port, 9090);
    assert_eq!(c.monitoring.health.port, 8080);
    // defaults for what the example leaves out
    assert_eq!(c.server.max_request_bytes, 100 * 1024 * 1024);
    assert_eq!(c.server.effective_advertised_host(), "localhost");
}

#[test]
fn multi_dc_example_loads() {
    let text = format!(
        "{REFERENCE}\
multi_dc:
  enabled: true
  strategy: \"active-active\"
  local_dc: \"dc1\"
  prefer_local_reads: true
  datacenters:
    - {{ id: \"dc1\", name: \"US East\", region: \"us-east-1\", priority: 1, cluster_ids: [\"cluster-1\"] }}
"
    );
    let c = load_str(&text, no_env()).expect("valid");
    assert!(c.multi_dc.enabled);
    assert_eq!(c.multi_dc.strategy, DcStrategy::ActiveActive);
    assert_eq!(c.multi_dc.datacenters[0].region, "us-east-1");
}

#[test]
fn disabled_endpoints_need_no_port() {
    let c = load_str(
        "clusters: [{id: a, bootstrap_servers: [\"h:1\"]}]\nmonitoring:\n  metrics: { enabled: false }\n  health: { port: 18080 }\nadmin_api: { enabled: false }\n",
        no_env(),
    )
    .expect("valid");
    assert!(!c.monitoring.metrics.enabled);
    assert_eq!(c.monitoring.metrics.port, 9090);
    assert_eq!(c.monitoring.health.port, 18080);
    assert!(c.monitoring.health.enabled);
}

#[test]
fn env_overrides_any_key() {
    let env = vec![
        ("KAFKATWIN_SERVER__PORT".to_string(), "19092".to_string()),
        (
            "KAFKATWIN_CLUSTERS__0__PRIORITY".to_string(),
            "7".to_string(),
        ),
        (
            "KAFKATWIN_PRODUCER__ACK_POLICY".to_string(),
            "ANY".to_string(),
        ),
        (
            "KAFKATWIN_SERVER__ADVERTISED_HOST".to_string(),
            "proxy.local".to_string(),
        ),
        (
            "KAFKATWIN_CACHE".to_string(),
            "/not/an/override".to_string(),
        ),
    ];
    let c = load_str(REFERENCE, env).expect("valid after overrides");
    assert_eq!(c.server.port, 19092);
    assert_eq!(c.clusters[0].priority, 7);
    assert_eq!(c.producer.ack_policy, AckPolicy::Any);
    assert_eq!(c.server.effective_advertised_host(), "proxy.local");
}

#[test]
fn bad_env_override_names_the_variable() {
    let env = vec![(
        "KAFKATWIN_CLUSTERS__5__PRIORITY".to_string(),
        "1".to_string(),
    )];
    let e = load_str(REFERENCE, env).expect_err("index out of range");
    let text = e.to_string();
    assert!(text.contains("KAFKATWIN_CLUSTERS__5__PRIORITY"), "{text}");
}

#[test]
fn every_problem_is_reported_at_once_with_paths_and_lines() {
    let text = "\
server:
  port: \"not-a-port\"
  colour: blue
clusters:
  - id: a
    bootstrap_servers: [\"h1:9092\"]
  - id: a
    bootstrap_servers: [\"no-port\", \"h2:70000\"]
  - id: b
    bootstrap_servers: []
    priorty: 2
producer:
  timeout: 30
mystery: 1
";
    let e = load_str(text, no_env()).expect_err("many problems");
    let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "server.port",
        "server.colour",
        "clusters[1].id",
        "clusters[1].bootstrap_servers[0]",
        "clusters[1].bootstrap_servers[1]",
        "clusters[2].bootstrap_servers",
        "clusters[2].priorty",
        "producer.timeout",
        "mystery",
    ] {
        assert!(paths.contains(&want), "missing {want} in {e}");
    }
    let line_of = |path: &str| {
        e.problems
            .iter()
            .find(|p| p.path == path)
            .and_then(|p| p.line)
    };
    assert_eq!(line_of("server.port"), Some(2), "{e}");
    assert_eq!(line_of("server.colour"), Some(3), "{e}");
    assert_eq!(line_of("clusters[2].priorty"), Some(11), "{e}");
    assert_eq!(line_of("mystery"), Some(14), "{e}");
}

#[test]
fn empty_cluster_list_and_bad_quorum_are_errors() {
    let e = load_str(
        "clusters: []\nproducer: { ack_policy: QUORUM, quorum: 3 }\n",
        no_env(),
    )
    .expect_err("invalid");
    let text = e.to_string();
    assert!(
        text.contains("at least one backend cluster is required"),
        "{text}"
    );
    assert!(text.contains("producer.quorum"), "{text}");
}

#[test]
fn unknown_ack_policy_and_syntax_errors_are_reported() {
    let e = load_str(
        "clusters: [{id: a, bootstrap_servers: [\"h:1\"]}]\nproducer: { ack_policy: SOME }\n",
        no_env(),
    )
    .expect_err("bad enum");
    assert!(e.to_string().contains("producer.ack_policy"), "{e}");
    let e = load_str("server: [\n", no_env()).expect_err("bad yaml");
    assert!(e.to_string().contains("invalid YAML"), "{e}");
}

#[test]
fn multi_dc_errors_name_clusters_and_dcs() {
    let text = format!(
        "{REFERENCE}\
multi_dc:
  enabled: true
  local_dc: dc9
  datacenters:
    - {{ id: dc1, cluster_ids: [cluster-1, ghost] }}
    - {{ id: dc2, cluster_ids: [cluster-1] }}
"
    );
    let e = load_str(&text, no_env()).expect_err("invalid multi_dc");
    let alone = "clusters:\n  - { id: a, bootstrap_servers: [\"h:1\"] }\n  - { id: b, bootstrap_servers: [\"h:2\"] }\n\
                 multi_dc:\n  enabled: true\n  local_dc: dc1\n  datacenters:\n    - { id: dc1, cluster_ids: [a] }\n";
    let lonely = load_str(alone, no_env()).expect_err("a cluster in no datacenter");
    assert!(
        lonely
            .to_string()
            .contains("cluster \"b\" is in no datacenter"),
        "{lonely}"
    );
    let missing = load_str(
        "clusters: [{ id: a, bootstrap_servers: [\"h:1\"] }]\nmulti_dc: { enabled: true, datacenters: [{ id: dc1, cluster_ids: [a] }] }\n",
        no_env(),
    )
    .expect_err("no local_dc");
    assert!(
        missing.to_string().contains("multi_dc.local_dc"),
        "{missing}"
    );
    let s = e.to_string();
    assert!(s.contains("unknown cluster id \"ghost\""), "{s}");
    assert!(s.contains("already in datacenter \"dc1\""), "{s}");
    assert!(s.contains("unknown datacenter \"dc9\""), "{s}");
}

#[test]
fn bounds_on_ids_timeouts_and_shared_ports() {
    let e = load_str(
        "server: { node_id: -1 }\nclusters: [{id: a, bootstrap_servers: [\"kafka_1:9092\"]}]\n\
         backend: { request_timeout: 0s, max_response_bytes: 10 }\n\
         admin_api: { listen_address: 127.0.0.1, port: 9100 }\n\
         monitoring: { metrics: { listen_address: 0.0.0.0, port: 9100 } }\n",
        no_env(),
    )
    .expect_err("invalid");
    let s = e.to_string();
    assert!(s.contains("server.node_id"), "{s}");
    assert!(s.contains("backend.request_timeout"), "{s}");
    assert!(s.contains("backend.max_response_bytes"), "{s}");
    assert!(s.contains("monitoring.metrics.listen_address"), "{s}");
    assert!(
        !s.contains("kafka_1"),
        "container host names are valid: {s}"
    );
}

#[test]
fn schema_registry_needs_a_port_of_its_own() {
    let base = "clusters: [{id: a, bootstrap_servers: [\"h:1\"]}]\n";
    let c = load_str(
        &format!("{base}schema_registry: {{ enabled: true }}\n"),
        no_env(),
    )
    .expect("valid");
    assert!(c.schema_registry.enabled);
    assert_eq!(c.schema_registry.port, 8081);
    let e = load_str(
        &format!("{base}schema_registry: {{ enabled: true, port: 8000 }}\n"),
        no_env(),
    )
    .expect_err("the admin API's port");
    let text = e.to_string();
    assert!(
        text.contains("schema_registry.port") && text.contains("admin_api.port"),
        "{text}"
    );
    let e = load_str(
        &format!("{base}schema_registry: {{ enabled: yes please }}\n"),
        no_env(),
    )
    .expect_err("not a bool");
    assert!(e.to_string().contains("schema_registry.enabled"), "{e}");
}
