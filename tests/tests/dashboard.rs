//! The web dashboard in a real browser: two Tansu clusters behind the real binary with the
//! admin API (admin and read tokens) and the dashboard on, driven by
//! `tests/clients/python/dashboard.py` (Playwright and Debian's Chromium). The script opens
//! every page, makes a rule, a quota, a schema and uploads a plugin through the pages, checks
//! the rule's effect on records produced through the proxy, and asks this test to pause and
//! resume a cluster (SIGSTOP / SIGCONT of its broker) to see its row turn red and back without
//! a reload. Screenshots of every page are kept in a folder under the temporary directory.

use kafkatwin_tests::{Broker, Proxy, ProxyOptions, cache_dir, repo_root, wasm_module};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "dash-adm-9f3c1";
const READ_TOKEN: &str = "dash-read-41b7e";
/// The script bounds itself (7 minutes); this is the last resort.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(480);

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} not found: the dashboard test drives Chromium; run tests/setup.sh (it installs it)",
        path.display()
    );
    path
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn every_page_shows_live_data_and_changes_made_in_it_take_effect() {
    let chromium = chromium();
    let dir = std::env::temp_dir().join(format!("kafkatwin-test-dashboard-{}", std::process::id()));
    let shots = dir.join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    // The plugin the page uploads: the redact example, built by tests/run.sh.
    let wasm = dir.join("redact.wasm");
    std::fs::write(&wasm, wasm_module("redact")).expect("write plugin module");
    println!("dashboard screenshots: {}", shots.display());

    let (c1, c2) = (Broker::start("c1"), Broker::start("c2"));
    let brokers = [&c1, &c2];
    let proxy = Proxy::start_with(
        &brokers,
        ProxyOptions {
            admin_yaml: format!(
                "  web_ui: true\n  tokens:\n    - {{ name: ops, token: \"{ADMIN_TOKEN}\", role: admin }}\n    \
                 - {{ name: viewer, token: \"{READ_TOKEN}\", role: read }}\n"
            ),
            // A paused cluster is taken out (and back) within seconds.
            extra_yaml: "circuit_breaker: { failure_threshold: 2, open_duration: 2s }\n".into(),
            ..Default::default()
        },
    );

    let started = Instant::now();
    let mut child = Command::new(cache_dir().join("venv/bin/python"))
        .arg(repo_root().join("tests/clients/python/dashboard.py"))
        .arg(format!("http://127.0.0.1:{}", proxy.admin_port))
        .arg(proxy.bootstrap())
        .arg("dash-orders")
        .arg(&shots)
        .arg("--wasm")
        .arg(&wasm)
        .args(["--pause-cluster", "c2", "--clusters", "2"])
        .args(["--token", ADMIN_TOKEN, "--read-token", READ_TOKEN])
        .arg("--chromium")
        .arg(&chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dashboard.py");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    // Follow the script, pausing and resuming the cluster it names when it asks.
    let mut out = Vec::new();
    let mut paused = false;
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                c2.resume();
                panic!(
                    "dashboard.py still running after {SCRIPT_DEADLINE:?}:\n{}",
                    out.join("\n")
                );
            }
        };
        println!("dashboard.py: {line}");
        let answer = if let Some(id) = line.strip_prefix("READY-TO-PAUSE ") {
            let b = brokers
                .iter()
                .find(|b| b.id == id.trim())
                .expect("a known cluster");
            b.pause();
            paused = true;
            Some("PAUSED")
        } else if let Some(id) = line.strip_prefix("READY-TO-RESUME ") {
            let b = brokers
                .iter()
                .find(|b| b.id == id.trim())
                .expect("a known cluster");
            b.resume();
            paused = false;
            Some("RESUMED")
        } else {
            None
        };
        if let Some(a) = answer {
            // The script may have failed meanwhile; its exit status tells.
            let _ = writeln!(stdin, "{a}").and_then(|()| stdin.flush());
        }
        out.push(line);
    }
    if paused {
        c2.resume();
    }
    let status = child.wait().expect("dashboard.py exit");
    let err = err_reader.join().unwrap_or_default();
    let took = started.elapsed();
    assert!(
        status.success(),
        "dashboard.py failed ({status}) after {took:.0?}:\n{}\n--- stdout\n{}\n--- screenshots in {}\n--- proxy log (tail)\n{}",
        err.trim(),
        tail(&out.join("\n"), 40),
        shots.display(),
        tail(&proxy.log(), 60)
    );
    let report: serde_json::Value = out
        .iter()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from dashboard.py:\n{}", out.join("\n")));
    assert!(
        report["chart_points"].as_u64().is_some_and(|n| n >= 2),
        "{report}"
    );
    for page in [
        "overview",
        "clusters",
        "topics",
        "topic",
        "groups",
        "group",
        "instances",
        "rules",
        "plugins",
        "schemas",
        "quotas",
        "read-only",
        "overview-cluster-down",
    ] {
        let shot = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0),
            "no screenshot {}",
            shot.display()
        );
    }
    println!(
        "dashboard test took {took:.1?}; screenshots in {}",
        shots.display()
    );
}
