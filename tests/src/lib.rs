//! The KafkaTwin test bed: starts real Tansu brokers (one single-broker cluster each, memory
//! storage, free loopback ports) and the real `kafkatwin` binary with a generated config,
//! runs real client libraries against it, and stops everything by PID when dropped.
//!
//! Installs come from `tests/setup.sh` (venv with Tansu, confluent-kafka and kafka-python;
//! the Java client jars; kafkajs). The binary comes from `cargo build -p kafkatwin-core`
//! (`tests/run.sh` does both) or from `$KAFKATWIN_BIN`.

pub mod audit;
pub mod http;
pub mod wire;

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where `tests/setup.sh` installs clients and the broker.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("KAFKATWIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/kafkatwin")
        })
}

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `kafkatwin` binary under test.
pub fn kafkatwin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KAFKATWIN_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-binary> → target/<profile>/kafkatwin
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("kafkatwin");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p kafkatwin-core --bin kafkatwin` \
         (tests/run.sh does) or set KAFKATWIN_BIN",
        bin.display()
    );
    bin
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct loopback ports nothing listens on right now. They come from below the
/// kernel's ephemeral range (32768 and up), where outgoing connections take their local
/// ports, and each is handed out once per test process.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use std::sync::atomic::AtomicU16;
    const LOW: u16 = 10_000;
    const SPAN: u16 = 22_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread test processes over the range.
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % u32::from(SPAN)) as u16 + 1,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut ports = [0u16; N];
    for p in ports.iter_mut() {
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let candidate = LOW + n % SPAN;
            if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
                *p = candidate;
                break;
            }
        }
    }
    ports
}

pub(crate) fn scratch_dir(prefix: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kafkatwin-test-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// A single-broker Tansu cluster with in-memory storage.
pub struct Broker {
    /// Cluster id.
    pub id: String,
    /// Listening port.
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker on a free port.
    pub fn start(id: &str) -> Self {
        // A port can be taken between choosing and binding it: try a fresh one then.
        for _ in 0..2 {
            if let Some(b) = Self::try_start_on(id, free_port()) {
                return b;
            }
        }
        Self::start_on(id, free_port())
    }

    /// A cluster something else serves on `port` (another kafkatwin in front of a broker, say):
    /// nothing to start or stop.
    pub fn external(id: &str, port: u16) -> Self {
        Self {
            id: id.into(),
            port,
            child: None,
            log: PathBuf::new(),
        }
    }

    /// Three brokers, clusters `c1`, `c2` and `c3`.
    pub fn three() -> (Self, Self, Self) {
        (Self::start("c1"), Self::start("c2"), Self::start("c3"))
    }

    /// Starts a broker on `port` (used to bring a killed cluster back on the same address).
    pub fn start_on(id: &str, port: u16) -> Self {
        Self::try_start_on(id, port)
            .unwrap_or_else(|| panic!("tansu {id} did not listen on {port}"))
    }

    fn try_start_on(id: &str, port: u16) -> Option<Self> {
        let tansu = cache_dir().join("bin/tansu");
        assert!(
            tansu.exists(),
            "{} not found: run tests/setup.sh first",
            tansu.display()
        );
        let dir = scratch_dir(&format!("tansu-{id}"));
        let log = dir.join("tansu.log");
        let url = format!("tcp://127.0.0.1:{port}");
        let out = fs::File::create(&log).expect("broker log");
        let child = Command::new(&tansu)
            .args(["broker", "--cluster-id", id, "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &format!("memory://{id}/")])
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start tansu");
        let mut b = Self {
            id: id.into(),
            port,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(b);
            }
            if let Some(c) = &mut b.child
                && matches!(c.try_wait(), Ok(Some(_)))
            {
                return None; // exited: most likely the port was taken
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        if let Some(c) = &self.child {
            signal(c.id(), "-STOP");
        }
    }

    /// Thaws a paused broker (SIGCONT).
    pub fn resume(&self) {
        if let Some(c) = &self.child {
            signal(c.id(), "-CONT");
        }
    }

    /// Kills the broker (its in-memory data is gone).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `kafkatwin` process.
pub struct Proxy {
    /// Kafka listener port.
    pub port: u16,
    /// Health endpoint port.
    pub health_port: u16,
    /// Metrics endpoint port.
    pub metrics_port: u16,
    /// Admin API port.
    pub admin_port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// The config file it runs with.
    pub config_path: PathBuf,
}

/// Options for starting a proxy.
#[derive(Default)]
pub struct ProxyOptions {
    /// YAML appended to the generated config (extra sections).
    pub extra_yaml: String,
    /// Extra `server:` keys, indented by the caller as `  key: value` lines.
    pub server_yaml: String,
    /// Environment variables for the process.
    pub env: Vec<(String, String)>,
    /// Extra `admin_api:` keys, indented by the caller as `  key: value` lines.
    pub admin_yaml: String,
    /// `backend.request_timeout` (10 s when empty).
    pub request_timeout: String,
    /// Extra keys of every `clusters` entry, indented by the caller as `    key: value` lines.
    pub cluster_yaml: String,
}

impl Proxy {
    /// Starts kafkatwin in front of `brokers` (cluster ids and addresses from each).
    pub fn start(brokers: &[&Broker]) -> Self {
        Self::start_with(brokers, ProxyOptions::default())
    }

    /// Starts kafkatwin with extra config.
    pub fn start_with(brokers: &[&Broker], opts: ProxyOptions) -> Self {
        // A port can still be taken between choosing and binding it: try fresh ones then.
        for _ in 0..2 {
            if let Some(p) = Self::try_start(brokers, &opts) {
                return p;
            }
        }
        Self::try_start(brokers, &opts).unwrap_or_else(|| panic!("kafkatwin did not start"))
    }

    /// Starts kafkatwin with `yaml` appended to the generated config.
    pub fn with_yaml(brokers: &[&Broker], yaml: &str) -> Self {
        Self::start_with(
            brokers,
            ProxyOptions {
                extra_yaml: yaml.into(),
                ..Default::default()
            },
        )
    }

    /// Starts scale-out instance `node` (session timeout 4 s) with `yaml` appended to the
    /// generated config and `env` set.
    pub fn scale_out_instance(
        brokers: &[&Broker],
        node: i32,
        yaml: &str,
        env: Vec<(String, String)>,
    ) -> Self {
        Self::start_with(
            brokers,
            ProxyOptions {
                server_yaml: format!(
                    "  node_id: {node}\n  scale_out: {{ enabled: true, session_timeout: 4s }}\n"
                ),
                extra_yaml: yaml.into(),
                env,
                ..Default::default()
            },
        )
    }

    fn try_start(brokers: &[&Broker], opts: &ProxyOptions) -> Option<Self> {
        let [port, health_port, metrics_port, admin_port] = free_ports::<4>();
        let mut yaml = format!(
            "server:\n  listen_address: \"127.0.0.1\"\n  port: {port}\n{}\nclusters:\n",
            opts.server_yaml
        );
        for (i, b) in brokers.iter().enumerate() {
            yaml.push_str(&format!(
                "  - id: \"{}\"\n    bootstrap_servers: [\"{}\"]\n    priority: {}\n{}",
                b.id,
                b.addr(),
                i + 1,
                opts.cluster_yaml
            ));
        }
        yaml.push_str(&format!(
            "admin_api:\n  listen_address: \"127.0.0.1\"\n  port: {admin_port}\n{}\
             monitoring:\n  metrics: {{ listen_address: \"127.0.0.1\", port: {metrics_port} }}\n  \
             health: {{ listen_address: \"127.0.0.1\", port: {health_port} }}\n\
             backend:\n  connect_timeout: 2s\n  request_timeout: {}\n\
             logging:\n  level: \"info\"\n{}",
            opts.admin_yaml,
            if opts.request_timeout.is_empty() {
                "10s"
            } else {
                &opts.request_timeout
            },
            opts.extra_yaml
        ));
        let dir = scratch_dir("proxy");
        let config_path = dir.join("kafkatwin.yaml");
        fs::write(&config_path, yaml).expect("write config");
        let log = dir.join("kafkatwin.log");
        let out = fs::File::create(&log).expect("proxy log");
        let mut cmd = Command::new(kafkatwin_bin());
        cmd.arg("--config")
            .arg(&config_path)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .stdin(Stdio::null());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start kafkatwin");
        let mut p = Self {
            port,
            health_port,
            metrics_port,
            admin_port,
            child: Some(child),
            log,
            config_path,
        };
        let listen_port = opts
            .env
            .iter()
            .find(|(k, _)| k == "KAFKATWIN_SERVER__PORT")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(port);
        p.port = listen_port;
        let deadline = Instant::now() + Duration::from_secs(20);
        while p.is_running() && Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", listen_port)).is_ok() {
                return Some(p);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = p.log();
        if log.contains("Address already in use") {
            return None;
        }
        panic!("kafkatwin did not listen on {listen_port}; log:\n{log}");
    }

    /// `127.0.0.1:port` of the Kafka listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The process's output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Freezes the instance (SIGSTOP): its connections stay open, nothing is answered.
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    /// Thaws a frozen instance (SIGCONT).
    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "-TERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the process (SIGKILL): nothing is drained, in-flight requests are lost.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Log lines at WARN or ERROR level.
    pub fn warnings(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The real client libraries the scenarios are written for.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// librdkafka through confluent-kafka (Python).
    Confluent,
    /// kafka-python.
    KafkaPython,
    /// Apache Kafka's Java client.
    Java,
    /// kafkajs (Node).
    KafkaJs,
}

/// What a client scenario printed.
pub struct ScenarioRun {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output (the JSON report is its last line).
    pub stdout: String,
    /// Standard error (progress and failures).
    pub stderr: String,
}

impl ScenarioRun {
    /// The JSON report, if the run printed one.
    pub fn report(&self) -> Option<serde_json::Value> {
        self.stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
    }
}

impl Client {
    fn command(self) -> Command {
        let root = repo_root();
        let clients = root.join("tests/clients");
        match self {
            Client::Confluent | Client::KafkaPython => {
                let script = if matches!(self, Client::Confluent) {
                    "scenario_confluent.py"
                } else {
                    "scenario_kafka_python.py"
                };
                let mut c = Command::new(cache_dir().join("venv/bin/python"));
                c.arg(clients.join("python").join(script));
                c
            }
            Client::Java => java_program("Scenario.java"),
            Client::KafkaJs => {
                let mut c = Command::new("node");
                c.arg(clients.join("node/scenario.js"));
                c
            }
        }
    }

    /// Runs the full client scenario (create, produce, consume by assignment and in a group,
    /// committed offsets, offsets by timestamp, groups, delete) against `bootstrap`.
    pub fn run_scenario(self, bootstrap: &str, topic: &str, group: &str) -> ScenarioRun {
        self.run_scenario_with(bootstrap, topic, group, &[])
    }

    /// [`Client::run_scenario`] with the client's own further arguments.
    pub fn run_scenario_with(
        self,
        bootstrap: &str,
        topic: &str,
        group: &str,
        extra: &[&str],
    ) -> ScenarioRun {
        let mut cmd = self.command();
        cmd.args(["--bootstrap", bootstrap, "--topic", topic, "--group", group])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start client scenario");
        let mut stdout = String::new();
        let mut stderr = String::new();
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let _ = out.read_to_string(&mut stdout);
        let status = child.wait().expect("scenario exit");
        if let Ok(s) = t.join() {
            stderr = s;
        }
        ScenarioRun {
            status,
            stdout,
            stderr,
        }
    }
}

/// `tests/clients/python/replicate.py` (produce through a bootstrap, read a broker directly)
/// run with the test venv's Python.
pub fn replicate_script() -> Command {
    python_script("replicate.py")
}

/// Creates `topic` with `partitions` partitions through `bootstrap` (a proxy, or one broker
/// directly); panics with what the client said if it failed.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: usize) {
    let out = replicate_script()
        .args(["create", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("create ran");
    assert!(
        out.status.success(),
        "creating {topic} through {bootstrap} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kafkatwin compare -c config`: its exit code and what it printed (stdout, then stderr).
pub fn compare(config: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(kafkatwin_bin())
        .args(["compare", "-c"])
        .arg(config)
        .output()
        .expect("compare ran");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `replicate.py produce` of `count` records to `topic` through `bootstrap`; callers add
/// options (`--partitions`, `--start`, …) and run it.
pub fn produce_cmd(bootstrap: &str, topic: &str, count: usize) -> Command {
    let mut c = replicate_script();
    c.args(["produce", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--count", &count.to_string()]);
    c
}

/// `produce_cmd` through `proxy` with `args` added, run to its end: the report it printed
/// (asserted, see [`producer_report`]).
pub fn produce_ok(proxy: &Proxy, topic: &str, count: usize, args: &[&str]) -> serde_json::Value {
    let out = produce_cmd(&proxy.bootstrap(), topic, count)
        .args(args)
        .output()
        .expect("producer ran");
    producer_report(&out, proxy)
}

/// The JSON report (`delivered`, `failed`, `errors`) of a finished `replicate.py produce`
/// through `proxy`; panics with its output and the proxy's log unless it exited 0 with one.
pub fn producer_report(out: &Output, proxy: &Proxy) -> serde_json::Value {
    let v = last_json(&out.stdout);
    assert!(
        out.status.success() && v.is_object(),
        "producer failed: {}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    v
}

/// `topic` read from `broker` directly (`replicate.py dump`, with `--partitions` if given):
/// the JSON with `total`, `complete` and per partition `count`, `digest` and `duplicates`.
pub fn dump_direct(broker: &Broker, topic: &str, partitions: Option<usize>) -> serde_json::Value {
    let mut dump = replicate_script();
    dump.args(["dump", "--bootstrap", &broker.addr(), "--topic", topic]);
    if let Some(n) = partitions {
        dump.args(["--partitions", &n.to_string()]);
    }
    last_json(&dump.output().expect("dump ran").stdout)
}

/// Cluster `id` as the proxy's admin API shows it (`Null` if it could not be read).
pub fn cluster_view(proxy: &Proxy, id: &str) -> serde_json::Value {
    http::get(proxy.admin_port, &format!("/api/v1/clusters/{id}"))
        .ok()
        .and_then(|(_, body)| serde_json::from_str(&body).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Waits up to 20 s for the proxy to report cluster `id` down; panics with its log if not.
pub fn wait_down(proxy: &Proxy, id: &str) {
    let down = eventually(Duration::from_secs(20), || {
        cluster_view(proxy, id)["status"] == "down"
    });
    assert!(down, "{id} never reported down:\n{}", proxy.log());
}

/// The value of the first line of the proxy's metrics that starts with `series` (`None` if
/// there is none or the endpoint did not answer).
pub fn metric(proxy: &Proxy, series: &str) -> Option<f64> {
    let (_, text) = http::get(proxy.metrics_port, "/metrics").ok()?;
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A script of `tests/clients/python` run with the test venv's Python.
pub fn python_script(name: &str) -> Command {
    let mut c = Command::new(cache_dir().join("venv/bin/python"));
    c.arg(repo_root().join("tests/clients/python").join(name));
    c.stdin(Stdio::null());
    c
}

/// The consumer-group readers of `tests/clients` (one per client library), which share
/// their arguments (`--bootstrap --topic --group --consumers --expect --progress-every
/// --timeout`, `--per-consumer-bootstrap`) and their output: `progress K` lines, `revoked`
/// and `lost` lines for rebalances, then one JSON report.
#[derive(Debug, Clone, Copy)]
pub enum GroupReader {
    /// The Java client (`Group.java`) with this `group.protocol` (`classic` or `consumer`).
    Java(&'static str),
    /// kafka-python.
    KafkaPython,
    /// kafkajs.
    KafkaJs,
}

impl GroupReader {
    /// The reader's command, before the shared arguments.
    pub fn command(self) -> Command {
        match self {
            GroupReader::Java(protocol) => {
                let mut c = java_program("Group.java");
                c.args(["--protocol", protocol, "--max-poll-records", "50"]);
                c
            }
            GroupReader::KafkaPython => {
                let mut c = python_script("group_kafka_python.py");
                c.args(["--max-poll-records", "50"]);
                c
            }
            GroupReader::KafkaJs => {
                let mut c = Command::new("node");
                c.arg(repo_root().join("tests/clients/node/group.js"));
                c.stdin(Stdio::null());
                c
            }
        }
    }

    /// The group protocol it uses.
    pub fn protocol(self) -> &'static str {
        match self {
            GroupReader::Java(p) => p,
            _ => "classic",
        }
    }
}

/// A program of `tests/clients/java` run with the Java client's jars on the class path.
pub fn java_program(file: &str) -> Command {
    let mut c = Command::new("java");
    c.arg("-cp")
        .arg(format!("{}/*", cache_dir().join("jars").display()))
        .arg(repo_root().join("tests/clients/java").join(file));
    c.stdin(Stdio::null());
    c
}

/// Waits until `p` has logged `needle`; panics with the log after `within`.
pub fn wait_log(p: &Proxy, needle: &str, within: Duration) {
    let seen = eventually(within, || p.log().contains(needle));
    assert!(
        seen,
        "{needle:?} not logged within {within:?}:\n{}",
        p.log()
    );
}

/// Polls `check` every 200 ms until it holds or `within` passed; whether it held.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last JSON object line a client script printed (`Null` if none).
pub fn last_json(out: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
}

/// Partition 0.. of `topic` read from `broker` directly (`replicate.py dump --values`): the
/// JSON with `values` and `headers` per record.
pub fn dump_values(broker: &Broker, topic: &str) -> serde_json::Value {
    let out = replicate_script()
        .args([
            "dump",
            "--bootstrap",
            &broker.addr(),
            "--topic",
            topic,
            "--values",
        ])
        .output()
        .expect("dump ran");
    last_json(&out.stdout)
}

/// The record values of `topic` on `broker`, read directly, in order.
pub fn stored_values(broker: &Broker, topic: &str) -> Vec<String> {
    dump_values(broker, topic)["values"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A WASM plugin component built by tests/run.sh (`$KAFKATWIN_WASM_DIR`, else
/// `target/wasm32-wasip2/release`).
pub fn wasm_module(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("KAFKATWIN_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // target/<profile>/deps/<test> → target/wasm32-wasip2/release
            let exe = std::env::current_exe().expect("test path");
            exe.ancestors()
                .nth(3)
                .expect("target dir")
                .join("wasm32-wasip2/release")
        });
    let path = dir.join(format!("{name}.wasm"));
    fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first (tests/run.sh does)",
            path.display()
        )
    })
}
