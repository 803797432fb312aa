//! Semantic checks that the types alone cannot express. All problems are collected.

use crate::error::Problem;
use crate::model::{AckPolicy, Config};
use std::collections::HashMap;
use std::net::IpAddr;

/// Every semantic problem of an otherwise well-typed config.
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    check_host("server.listen_address", &c.server.listen_address, &mut p);
    if let Some(h) = &c.server.advertised_host {
        check_host("server.advertised_host", h, &mut p);
    }
    if c.server.max_request_bytes < 1024 {
        p.push(Problem::new(
            "server.max_request_bytes",
            "must be at least 1024 bytes",
        ));
    }
    if c.server.node_id < 0 {
        p.push(Problem::new(
            "server.node_id",
            "must be 0 or more (a negative id means \"no leader\" to clients)",
        ));
    }
    if c.server.max_inflight_request_bytes < c.server.max_request_bytes {
        p.push(Problem::new(
            "server.max_inflight_request_bytes",
            format!(
                "must be at least server.max_request_bytes ({}), or a largest request could never be read",
                c.server.max_request_bytes
            ),
        ));
    }
    check_backend(c, &mut p);
    check_clusters(c, &mut p);
    check_ack_policy(c, &mut p);
    check_ports(c, &mut p);
    check_multi_dc(c, &mut p);
    check_scale_out(c, &mut p);
    check_admin_tokens(c, &mut p);
    for (i, a) in c.auth.acls.iter().enumerate() {
        if a.pattern == crate::model::AclPattern::Regex
            && let Err(e) = regex::Regex::new(&format!("^(?:{})$", a.name))
        {
            p.push(Problem::new(
                format!("auth.acls[{i}].name"),
                format!("not a regular expression: {e}"),
            ));
        }
    }
    for (i, u) in c.auth.users.iter().enumerate() {
        let salted = u.scram_sha_256.is_some() || u.scram_sha_512.is_some();
        if u.password.is_some() == salted {
            p.push(Problem::new(
                format!("auth.users[{i}]"),
                format!(
                    "user {}: give either `password` or salted credentials (`scram_sha_256`, \
                     `scram_sha_512`), not both or neither",
                    u.username
                ),
            ));
        }
        for (key, cred) in [
            ("scram_sha_256", &u.scram_sha_256),
            ("scram_sha_512", &u.scram_sha_512),
        ] {
            if cred
                .as_ref()
                .is_some_and(|c| !(4096..=16384).contains(&c.iterations))
            {
                p.push(Problem::new(
                    format!("auth.users[{i}].{key}.iterations"),
                    "must be between 4096 and 16384 (Kafka's bounds)",
                ));
            }
        }
    }
    for (i, t) in c.transformations.iter().enumerate() {
        if t.topic.is_some() == t.pattern.is_some() {
            p.push(Problem::new(
                format!("transformations[{i}]"),
                "give exactly one of `topic` or `pattern`",
            ));
        }
        for (j, rule) in t.rules.iter().enumerate() {
            if let Err(errors) = kafkatwin_builtin_transforms::validate(rule.clone()) {
                let at = format!("transformations[{i}].rules[{j}]");
                p.extend(errors.into_iter().map(|e| {
                    let path = if e.field.is_empty() {
                        at.clone()
                    } else {
                        format!("{at}.{}", e.field)
                    };
                    Problem::new(path, e.to_string())
                }));
            }
        }
    }
    p
}

fn check_backend(c: &Config, p: &mut Vec<Problem>) {
    let b = &c.backend;
    for (path, d) in [
        ("backend.connect_timeout", b.connect_timeout),
        ("backend.request_timeout", b.request_timeout),
        ("backend.metadata_max_age", b.metadata_max_age),
        ("producer.timeout", c.producer.timeout),
        ("server.drain_timeout", c.server.drain_timeout),
        ("server.connections_max_idle", c.server.connections_max_idle),
        ("consumer.read_probe_timeout", c.consumer.read_probe_timeout),
        (
            "consumer.group_request_timeout",
            c.consumer.group_request_timeout,
        ),
        (
            "circuit_breaker.open_duration",
            c.circuit_breaker.open_duration,
        ),
    ] {
        if d.get().is_zero() {
            p.push(Problem::new(path, "must be longer than 0s"));
        }
    }
    for (i, a) in c.auth.plugins.iter().enumerate() {
        if a.plugin.trim().is_empty() {
            p.push(Problem::new(
                format!("auth.plugins[{i}].plugin"),
                "must name an uploaded on_auth plugin",
            ));
        }
    }
    let pl = &c.plugins;
    if pl.cpu_deadline.get().is_zero() {
        p.push(Problem::new("plugins.cpu_deadline", "must be more than 0"));
    }
    if pl.memory_limit < (1 << 16) {
        p.push(Problem::new(
            "plugins.memory_limit",
            format!(
                "must be at least one WASM page (65536 bytes), got {}",
                pl.memory_limit
            ),
        ));
    }
    if pl.max_upload == 0 {
        p.push(Problem::new("plugins.max_upload", "must be more than 0"));
    }
    let cb = &c.circuit_breaker;
    if !(cb.failure_ratio > 0.0 && cb.failure_ratio <= 1.0) {
        p.push(Problem::new(
            "circuit_breaker.failure_ratio",
            format!("must be above 0 and at most 1, got {}", cb.failure_ratio),
        ));
    }
    if cb.window == 0 || cb.window > 64 {
        p.push(Problem::new(
            "circuit_breaker.window",
            format!("must be between 1 and 64 outcomes, got {}", cb.window),
        ));
    }
    if c.circuit_breaker.failure_threshold == 0 {
        p.push(Problem::new(
            "circuit_breaker.failure_threshold",
            "must be at least 1",
        ));
    }
    if b.retries > 100 {
        p.push(Problem::new(
            "backend.retries",
            format!("{} is more than 100", b.retries),
        ));
    }
    if b.max_response_bytes < 1024 * 1024 {
        p.push(Problem::new(
            "backend.max_response_bytes",
            "must be at least 1 MiB (1048576): fetch responses carry whole record batches",
        ));
    }
}

fn check_clusters(c: &Config, p: &mut Vec<Problem>) {
    if c.clusters.is_empty() {
        p.push(Problem::new(
            "clusters",
            "at least one backend cluster is required",
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, cl) in c.clusters.iter().enumerate() {
        let base = format!("clusters[{i}]");
        if cl.id.trim().is_empty() {
            p.push(Problem::new(format!("{base}.id"), "must not be empty"));
        } else if let Some(first) = seen.insert(&cl.id, i) {
            p.push(Problem::new(
                format!("{base}.id"),
                format!(
                    "duplicate cluster id {:?} (already used by clusters[{first}])",
                    cl.id
                ),
            ));
        }
        if cl.bootstrap_servers.is_empty() {
            p.push(Problem::new(
                format!("{base}.bootstrap_servers"),
                format!("cluster {:?} needs at least one host:port", cl.id),
            ));
        }
        for (j, addr) in cl.bootstrap_servers.iter().enumerate() {
            if let Err(e) = parse_host_port(addr) {
                p.push(Problem::new(
                    format!("{base}.bootstrap_servers[{j}]"),
                    format!("cluster {:?}: {e}", cl.id),
                ));
            }
        }
    }
}

fn check_ack_policy(c: &Config, p: &mut Vec<Problem>) {
    let n = c.clusters.len() as u32;
    match (c.producer.ack_policy, c.producer.quorum) {
        (AckPolicy::Quorum, None) => p.push(Problem::new(
            "producer.quorum",
            "ack_policy QUORUM needs `quorum: N` (how many clusters must ack)",
        )),
        (AckPolicy::Quorum, Some(q)) if q == 0 || q > n => p.push(Problem::new(
            "producer.quorum",
            format!("must be between 1 and the number of clusters ({n}), got {q}"),
        )),
        (AckPolicy::Quorum, Some(_)) => {}
        (other, Some(_)) => p.push(Problem::new(
            "producer.quorum",
            format!("is only used with ack_policy QUORUM, not {other:?}"),
        )),
        _ => {}
    }
}

fn check_admin_tokens(c: &Config, p: &mut Vec<Problem>) {
    let a = &c.admin_api;
    if let Some(t) = &a.auth_token
        && let Err(e) = t.resolve()
    {
        p.push(Problem::new("admin_api.auth_token", e));
    }
    let mut names = HashMap::new();
    for (i, t) in a.tokens.iter().enumerate() {
        if t.name.is_empty() {
            p.push(Problem::new(
                format!("admin_api.tokens[{i}].name"),
                "must not be empty",
            ));
        }
        if let Some(j) = names.insert(t.name.as_str(), i) {
            p.push(Problem::new(
                format!("admin_api.tokens[{i}].name"),
                format!("{:?} is also the name of admin_api.tokens[{j}]", t.name),
            ));
        }
        if let Err(e) = t.token.resolve() {
            p.push(Problem::new(format!("admin_api.tokens[{i}].token"), e));
        }
    }
}

/// Warnings (not errors) about a valid config: an exposed admin API without a token, and
/// keys that are accepted (documented) but change nothing, each with why.
pub fn warnings(c: &Config) -> Vec<String> {
    let mut out: Vec<String> = admin_exposure_warning(c).into_iter().collect();
    let ignored = |key: &str, why: &str| format!("{key} is set but has no effect: {why}");
    if c.backend.metadata_max_age != crate::model::BackendConfig::default().metadata_max_age {
        out.push(ignored(
            "backend.metadata_max_age",
            "cached backend metadata is refreshed when a broker answers NOT_LEADER or an \
             unknown topic and on every reconnect, not on a timer",
        ));
    }
    if c.consumer.max_poll_records != crate::model::ConsumerConfig::default().max_poll_records {
        out.push(ignored(
            "consumer.max_poll_records",
            "records per poll are the client's setting (max.poll.records); the proxy passes \
             fetches through whole and does not split them",
        ));
    }
    if c.consumer.offset_storage != crate::model::OffsetStorageConfig::default() {
        out.push(ignored(
            "consumer.offset_storage",
            "committed offsets always live in the backend clusters' group coordinators, \
             mirrored to the other clusters",
        ));
    }
    out
}

/// The admin API listens beyond loopback without a token, so changes are refused to all but
/// loopback clients. `None` when that is not the case.
fn admin_exposure_warning(c: &Config) -> Option<String> {
    let a = &c.admin_api;
    let loopback = a
        .listen_address
        .parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(a.listen_address == "localhost");
    (a.enabled && !loopback && !a.has_tokens()).then(|| {
        format!(
            "the admin API listens on {}:{} without a token: changes (POST, PUT, DELETE) are \
             refused to every client but loopback ones; set admin_api.auth_token or \
             admin_api.tokens to allow them from elsewhere",
            a.listen_address, a.port
        )
    })
}

fn check_ports(c: &Config, p: &mut Vec<Problem>) {
    let mut listeners = vec![("server.port", c.server.port)];
    if c.admin_api.enabled {
        listeners.push(("admin_api.port", c.admin_api.port));
    }
    if c.monitoring.metrics.enabled {
        listeners.push(("monitoring.metrics.port", c.monitoring.metrics.port));
    }
    if c.monitoring.health.enabled {
        listeners.push(("monitoring.health.port", c.monitoring.health.port));
    }
    if c.schema_registry.enabled {
        listeners.push(("schema_registry.port", c.schema_registry.port));
        // Its routes start at `/`, so it shares its port with nothing.
        for (path, port) in &listeners[1..listeners.len() - 1] {
            if *port == c.schema_registry.port {
                p.push(Problem::new(
                    "schema_registry.port",
                    format!("port {port} is already {path}: the schema registry needs its own"),
                ));
            }
        }
        check_host(
            "schema_registry.listen_address",
            &c.schema_registry.listen_address,
            p,
        );
    }
    for (path, port) in &listeners {
        if *port == 0 {
            p.push(Problem::new(*path, "port 0 is not allowed: name a port"));
        }
    }
    // HTTP endpoints may share a port (one listener serves them) if they also share the
    // address; the Kafka port is never shared.
    let http = [
        (
            "admin_api",
            c.admin_api.enabled,
            &c.admin_api.listen_address,
            c.admin_api.port,
        ),
        (
            "monitoring.metrics",
            c.monitoring.metrics.enabled,
            &c.monitoring.metrics.listen_address,
            c.monitoring.metrics.port,
        ),
        (
            "monitoring.health",
            c.monitoring.health.enabled,
            &c.monitoring.health.listen_address,
            c.monitoring.health.port,
        ),
    ];
    for (path, port) in &listeners[1..] {
        if *port == c.server.port {
            p.push(Problem::new(
                *path,
                format!("port {port} is already the Kafka listener's (server.port)"),
            ));
        }
    }
    for (i, (a, a_on, a_addr, a_port)) in http.iter().enumerate() {
        for (b, b_on, b_addr, b_port) in &http[i + 1..] {
            if *a_on && *b_on && a_port == b_port && a_addr != b_addr {
                p.push(Problem::new(
                    format!("{b}.listen_address"),
                    format!(
                        "{b} and {a} share port {a_port} but not the address ({b_addr:?} vs {a_addr:?}): one listener serves both, so give them the same address"
                    ),
                ));
            }
        }
    }
    check_host("admin_api.listen_address", &c.admin_api.listen_address, p);
    check_host(
        "monitoring.metrics.listen_address",
        &c.monitoring.metrics.listen_address,
        p,
    );
    check_host(
        "monitoring.health.listen_address",
        &c.monitoring.health.listen_address,
        p,
    );
}

fn check_scale_out(c: &Config, p: &mut Vec<Problem>) {
    let so = &c.server.scale_out;
    if so.enabled && so.session_timeout.get() < std::time::Duration::from_secs(1) {
        p.push(Problem::new(
            "server.scale_out.session_timeout",
            "must be at least 1s (brokers refuse shorter group sessions)",
        ));
    }
    if so.enabled && so.group.is_empty() {
        p.push(Problem::new("server.scale_out.group", "must not be empty"));
    }
}

fn check_multi_dc(c: &Config, p: &mut Vec<Problem>) {
    let dc = &c.multi_dc;
    if !dc.enabled {
        return;
    }
    if dc.datacenters.is_empty() {
        p.push(Problem::new(
            "multi_dc.datacenters",
            "multi_dc is enabled but no datacenters are listed",
        ));
    }
    let known: HashMap<&str, ()> = c.clusters.iter().map(|c| (c.id.as_str(), ())).collect();
    let mut dc_ids: HashMap<&str, usize> = HashMap::new();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (i, d) in dc.datacenters.iter().enumerate() {
        let base = format!("multi_dc.datacenters[{i}]");
        if let Some(first) = dc_ids.insert(&d.id, i) {
            p.push(Problem::new(
                format!("{base}.id"),
                format!(
                    "duplicate datacenter id {:?} (already datacenters[{first}])",
                    d.id
                ),
            ));
        }
        for (j, cid) in d.cluster_ids.iter().enumerate() {
            let path = format!("{base}.cluster_ids[{j}]");
            if !known.contains_key(cid.as_str()) {
                p.push(Problem::new(
                    path.clone(),
                    format!("unknown cluster id {cid:?} (not in `clusters`)"),
                ));
            }
            if let Some(other) = owner.insert(cid, &d.id)
                && other != d.id
            {
                p.push(Problem::new(
                    path,
                    format!("cluster {cid:?} is already in datacenter {other:?}"),
                ));
            }
        }
    }
    for (i, cl) in c.clusters.iter().enumerate() {
        if !dc.datacenters.is_empty() && !owner.contains_key(cl.id.as_str()) {
            p.push(Problem::new(
                format!("clusters[{i}].id"),
                format!(
                    "cluster {:?} is in no datacenter (list it in one of multi_dc.datacenters[].cluster_ids)",
                    cl.id
                ),
            ));
        }
    }
    match &dc.local_dc {
        None => p.push(Problem::new(
            "multi_dc.local_dc",
            "multi_dc is enabled: name the datacenter this proxy runs in",
        )),
        Some(l) if !dc_ids.contains_key(l.as_str()) => p.push(Problem::new(
            "multi_dc.local_dc",
            format!("unknown datacenter {l:?} (not in multi_dc.datacenters)"),
        )),
        Some(_) => {}
    }
}

fn check_host(path: &str, host: &str, p: &mut Vec<Problem>) {
    if let Err(e) = valid_host(host) {
        p.push(Problem::new(path, e));
    }
}

fn valid_host(host: &str) -> Result<(), String> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    // A trailing dot (fully qualified) is fine; `_` appears in container host names.
    let name = host.strip_suffix('.').unwrap_or(host);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not an IP address or host name"))
    }
}

/// Splits `host:port` (or `[v6]:port`), checking both parts.
pub fn parse_host_port(addr: &str) -> Result<(String, u16), String> {
    let bad = || format!("{addr:?} is not host:port (e.g. \"kafka1:9092\")");
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        addr.rsplit_once(':').ok_or_else(bad)?
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{addr:?}: port {port:?} is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(format!("{addr:?}: port 0 is not a valid broker port"));
    }
    valid_host(host).map_err(|e| format!("{addr:?}: {e}"))?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_change_nothing_are_reported_only_when_set() {
        let mut c = Config::default();
        assert!(warnings(&c).iter().all(|w| !w.contains("no effect")));
        c.consumer.max_poll_records = 10;
        c.consumer.offset_storage.kind = crate::model::OffsetStorageKind::Kafka;
        let w = warnings(&c).join("\n");
        assert!(
            w.contains("consumer.max_poll_records is set but has no effect"),
            "{w}"
        );
        assert!(
            w.contains("consumer.offset_storage is set but has no effect"),
            "{w}"
        );
        assert!(!w.contains("metadata_max_age"), "{w}");
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("kafka1.example.com:9092"),
            Ok(("kafka1.example.com".into(), 9092))
        );
        assert_eq!(parse_host_port("[::1]:19092"), Ok(("::1".into(), 19092)));
        assert!(parse_host_port("kafka1").is_err());
        assert!(parse_host_port("kafka1:0").is_err());
        assert!(parse_host_port("kafka1:99999").is_err());
        assert!(parse_host_port("bad host:9092").is_err());
        assert!(parse_host_port(":9092").is_err());
        assert!(parse_host_port("kafka_1:9092").is_ok());
        assert!(parse_host_port("kafka1.example.com.:9092").is_ok());
    }
}
