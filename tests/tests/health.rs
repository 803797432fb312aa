//! Health monitoring and the circuit breaker against a real broker that hangs (SIGSTOP) and
//! comes back (SIGCONT).

use kafkatwin_tests::http::get;
use kafkatwin_tests::{Broker, Proxy};
use std::time::{Duration, Instant};

fn health(proxy: &Proxy) -> serde_json::Value {
    let (_, body) = get(proxy.admin_port, "/api/v1/clusters/c1/health").expect("health");
    serde_json::from_str(&body).expect("json")
}

fn wait_for(proxy: &Proxy, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = health(proxy);
        if h["status"] == status {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "never {status}; last {h}\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_hung_cluster_opens_the_circuit_and_closes_it_when_back() {
    let broker = Broker::start("c1");
    let proxy = Proxy::with_yaml(
        &[&broker],
        "circuit_breaker: { failure_threshold: 2, open_duration: 2s }\n",
    );
    let h = wait_for(&proxy, "healthy");
    assert!(h["latency_ms"].as_f64().is_some(), "{h}");
    broker.pause();
    let h = wait_for(&proxy, "down");
    assert!(
        h["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cluster c1")),
        "the error names the cluster: {h}"
    );
    assert_eq!(
        get(proxy.health_port, "/health/ready").expect("ready").0,
        503
    );
    let (_, metrics) = get(proxy.metrics_port, "/metrics").expect("metrics");
    assert!(
        metrics.contains(r#"kafkatwin_cluster_health_status{cluster="c1"} 0"#),
        "{metrics}"
    );
    broker.resume();
    wait_for(&proxy, "healthy");
    assert_eq!(
        get(proxy.health_port, "/health/ready").expect("ready").0,
        200
    );
}
