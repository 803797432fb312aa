//! The configuration's typed shape: the documented YAML keys, with a default for every optional one.

use crate::duration::Duration;
use serde::{Deserialize, Serialize};

/// The whole KafkaTwin configuration.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Config {
    /// The Kafka listener clients connect to.
    pub server: ServerConfig,
    /// Backend Kafka clusters, in the order given.
    pub clusters: Vec<ClusterConfig>,
    /// How produced records are written to the clusters.
    pub producer: ProducerConfig,
    /// Consumer-side settings.
    pub consumer: ConsumerConfig,
    /// Connections from the proxy to backend brokers.
    pub backend: BackendConfig,
    /// The admin REST API and web dashboard.
    pub admin_api: AdminApiConfig,
    /// Metrics and health endpoints.
    pub monitoring: MonitoringConfig,
    /// Datacenter layout and replication strategy.
    pub multi_dc: MultiDcConfig,
    /// Log level and format.
    pub logging: LoggingConfig,
    /// When a failing cluster is taken out of service, and for how long.
    pub circuit_breaker: CircuitBreakerConfig,
    /// Limits for sandboxed WASM plugins.
    pub plugins: PluginsConfig,
    /// Client authentication (SASL/PLAIN checked by on_auth plugins).
    pub auth: AuthConfig,
    /// Rule chains per topic (exact name or pattern). Rules are kept as written here and
    /// validated by the engine that runs them (`kafkatwin check-config` reports both).
    pub transformations: Vec<TopicRules>,
    /// Client quotas (byte rates and request rates per client id and user).
    pub quotas: QuotasConfig,
    /// The schema registry's own listener (Confluent's REST API).
    pub schema_registry: SchemaRegistryConfig,
}

/// `schema_registry`: a Confluent-compatible schema registry on its own listener, its state
/// kept in the control log on every cluster. It accepts the admin API's tokens.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// Whether the registry's REST API listens (the registry and `validate_schema` rules
    /// work either way).
    pub enabled: bool,
    /// Address to bind.
    pub listen_address: String,
    /// Port to bind (Confluent's default).
    pub port: u16,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen_address: "0.0.0.0".into(),
            port: 8081,
        }
    }
}

/// `quotas`: rate limits per client, with Kafka's client quota semantics. For each kind of
/// limit, the most specific entry that sets it applies: user and client id, the user's
/// client default, user, the default for user and client id pairs, the user default (those
/// for logged-in clients only), client id, the client default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct QuotasConfig {
    /// Limits for clients and users that have no entry of their own.
    pub defaults: QuotaDefaults,
    /// Limits per client id (the `client.id` a client sends).
    pub clients: std::collections::BTreeMap<String, QuotaLimits>,
    /// Limits per user (the principal a client logged in as with SASL), and per client id of
    /// that user.
    pub users: std::collections::BTreeMap<String, UserQuotas>,
}

/// `quotas.defaults`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaDefaults {
    /// Applies to each client id without an entry (each client id metered on its own).
    pub client: QuotaLimits,
    /// Applies to each logged-in user without an entry (each user metered on its own).
    pub user: QuotaLimits,
    /// Applies to each client id of each logged-in user, where neither has an entry (each
    /// user and client id pair metered on its own).
    pub user_client: QuotaLimits,
}

/// One quota entry: any of three limits, each a positive number per second.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaLimits {
    /// Produce request bytes per second.
    pub produce_byte_rate: Option<std::num::NonZeroU64>,
    /// Fetch response bytes per second.
    pub fetch_byte_rate: Option<std::num::NonZeroU64>,
    /// Requests of any kind per second (an extension: Kafka has no such quota).
    pub request_rate: Option<std::num::NonZeroU64>,
}

impl QuotaLimits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One entry of `quotas.users`: the user's own limits and its per-client-id ones.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct UserQuotas {
    /// Produce request bytes per second, for all the user's clients together.
    pub produce_byte_rate: Option<std::num::NonZeroU64>,
    /// Fetch response bytes per second, for all the user's clients together.
    pub fetch_byte_rate: Option<std::num::NonZeroU64>,
    /// Requests per second, for all the user's clients together.
    pub request_rate: Option<std::num::NonZeroU64>,
    /// Limits for one client id of this user.
    pub clients: std::collections::BTreeMap<String, QuotaLimits>,
    /// Limits for each client id of this user without an entry in `clients` (each metered
    /// on its own).
    pub default_client: QuotaLimits,
}

impl UserQuotas {
    /// The user's own limits.
    pub fn limits(&self) -> QuotaLimits {
        QuotaLimits {
            produce_byte_rate: self.produce_byte_rate,
            fetch_byte_rate: self.fetch_byte_rate,
            request_rate: self.request_rate,
        }
    }
}

/// `auth`: with `users` or `plugins` set, clients must log in with SASL (PLAIN,
/// SCRAM-SHA-256 or SCRAM-SHA-512 for `users`; PLAIN checked by the on_auth `plugins` in
/// order, the first that allows it wins). `acls` then say what each principal may do; without
/// `acls`, a logged-in principal may do everything.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct AuthConfig {
    /// Users who may log in, with their passwords.
    pub users: Vec<AuthUser>,
    /// The on_auth plugins, by uploaded name, with their config.
    pub plugins: Vec<AuthPlugin>,
    /// What each principal may do.
    pub acls: Vec<AclEntry>,
}

impl AuthConfig {
    /// Whether clients must log in.
    pub fn required(&self) -> bool {
        !self.users.is_empty() || !self.plugins.is_empty()
    }
}

/// One entry of `auth.users`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthUser {
    /// The user name clients log in with; the principal is `User:<username>`.
    pub username: String,
    /// The password: plain, `${env:NAME}` or `${file:PATH}`. Give it, or salted credentials.
    #[serde(default)]
    pub password: Option<crate::Secret>,
    /// A salted SCRAM-SHA-256 credential instead of a password (`kafkatwin
    /// scram-credential` makes one).
    #[serde(default)]
    pub scram_sha_256: Option<ScramCredential>,
    /// A salted SCRAM-SHA-512 credential instead of a password.
    #[serde(default)]
    pub scram_sha_512: Option<ScramCredential>,
}

/// A salted SCRAM credential (RFC 5802), the password itself not kept: what Kafka stores.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct ScramCredential {
    /// The salt, base64.
    pub salt: String,
    /// PBKDF2 iterations (4096 or more).
    pub iterations: u32,
    /// `StoredKey`, base64.
    pub stored_key: String,
    /// `ServerKey`, base64.
    pub server_key: String,
}

/// One entry of `auth.acls`: allows `principal` the `operations` on the resources it names.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// `User:<name>` (or `User:*` for every logged-in principal).
    pub principal: String,
    /// What kind of resource `name` names.
    pub resource: AclResource,
    /// The resource's name, a prefix (`pattern: prefixed`), a regular expression
    /// (`pattern: regex`, matched in whole), or `*` for all.
    pub name: String,
    /// How `name` matches.
    #[serde(default)]
    pub pattern: AclPattern,
    /// What is allowed.
    pub operations: Vec<AclOperation>,
}

/// What an ACL entry applies to.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AclResource {
    /// Topics.
    Topic,
    /// Consumer groups.
    Group,
}

/// How an ACL entry's name matches.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AclPattern {
    /// The name exactly (`*`: every name).
    #[default]
    Literal,
    /// Names that start with it.
    Prefixed,
    /// Names the regular expression matches in whole.
    Regex,
}

/// An operation an ACL entry allows.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AclOperation {
    /// Fetch from a topic; join, commit to and fetch offsets of a group.
    Read,
    /// Produce to a topic.
    Write,
    /// Create a topic.
    Create,
    /// Delete a topic, or a group's offsets.
    Delete,
    /// See a topic in metadata and its offsets; describe a group.
    Describe,
    /// Everything.
    All,
}

/// One entry of `auth.plugins`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthPlugin {
    /// The uploaded plugin's name.
    pub plugin: String,
    /// Its `init` config.
    #[serde(default)]
    pub config: std::collections::BTreeMap<String, String>,
}

/// `plugins`: the sandbox every WASM plugin call runs in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct PluginsConfig {
    /// CPU time one call may take before it is interrupted.
    pub cpu_deadline: Duration,
    /// Linear memory one plugin instance may grow to, in bytes.
    pub memory_limit: u64,
    /// Largest module the admin API accepts, in bytes.
    pub max_upload: u64,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            cpu_deadline: Duration::from_millis(50),
            memory_limit: 32 << 20,
            max_upload: 10 << 20,
        }
    }
}

/// `circuit_breaker`: per-cluster failure handling.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures (requests or probes) that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit skips the cluster before letting an attempt through.
    pub open_duration: Duration,
    /// Probe latency above which an answering cluster counts as degraded.
    pub degraded_latency: Duration,
    /// Share of failures among the last `window` outcomes that also opens the circuit
    /// (a flaky cluster that never fails `failure_threshold` times in a row); `1.0` turns
    /// this off.
    pub failure_ratio: f64,
    /// How many recent outcomes `failure_ratio` looks at.
    pub window: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_duration: Duration::from_secs(30),
            degraded_latency: Duration::from_secs(1),
            failure_ratio: 0.5,
            window: 20,
        }
    }
}

/// One entry of `transformations`: rules for a topic or for topics matching a pattern.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct TopicRules {
    /// An exact topic name.
    pub topic: Option<String>,
    /// A regular expression over topic names (whole-name match).
    pub pattern: Option<String>,
    /// Rules in the documented shape (`id`, `name`, `enabled`, `priority`, `conditions`,
    /// `actions`, plus `hook`, `clients`, `on_invalid`), each checked when the config loads.
    pub rules: Vec<kafkatwin_builtin_transforms::Rule>,
}

impl Config {
    /// The backend cluster the single-cluster paths use: the lowest `priority` value, ties
    /// broken by order in the file.
    pub fn primary_cluster(&self) -> Option<&ClusterConfig> {
        self.clusters.iter().min_by_key(|c| c.priority)
    }
}

/// `server`: the Kafka-protocol listener.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to bind, e.g. `0.0.0.0`.
    pub listen_address: String,
    /// Port to bind.
    pub port: u16,
    /// Host name clients are told to connect to (Metadata, FindCoordinator). Defaults to
    /// `listen_address` (`localhost` for a wildcard address, which a client cannot dial).
    pub advertised_host: Option<String>,
    /// Port clients are told to connect to. Defaults to `port`.
    pub advertised_port: Option<u16>,
    /// Node id the proxy presents as its broker id.
    pub node_id: i32,
    /// Cluster id of the virtual cluster the proxy presents.
    pub cluster_id: String,
    /// Largest request frame accepted from a client, in bytes.
    pub max_request_bytes: u32,
    /// Request bytes in flight across all clients before the proxy stops reading from them
    /// (like Kafka's `queued.max.request.bytes`); at least `max_request_bytes`.
    pub max_inflight_request_bytes: u32,
    /// How long SIGTERM waits for in-flight requests, and then for the clusters to answer the
    /// writes still on their way to them, before exiting anyway.
    pub drain_timeout: Duration,
    /// A client connection that sends nothing (or stalls inside a frame) this long is closed,
    /// like Kafka's `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// Several instances in front of the same clusters.
    pub scale_out: ScaleOutConfig,
    /// TLS on the Kafka listener (then it takes TLS connections only).
    pub tls: Option<ServerTlsConfig>,
    /// Client connections open at once; one more is closed at once.
    pub max_connections: u32,
    /// Client connections open at once from one IP address.
    pub max_connections_per_ip: u32,
}

/// `server.tls`: the Kafka listener's certificate, and the CA that client certificates must
/// chain to for mutual TLS (the certificate's subject is then the client's principal).
/// The files are read again on SIGHUP and when they change: new connections get the new
/// certificate, open ones keep theirs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM CA certificates; set, clients must present a certificate that chains to one.
    #[serde(default)]
    pub client_ca_file: Option<String>,
    /// The password of an encrypted key (`ENCRYPTED PRIVATE KEY`, PKCS#8): plain,
    /// `${env:NAME}` or `${file:PATH}`.
    #[serde(default)]
    pub key_password: Option<crate::Secret>,
}

/// `server.scale_out`: instances divide partition leadership through a Kafka consumer group
/// on the backend clusters. Off, one instance owns every partition.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScaleOutConfig {
    /// Join the instance group. Every instance needs its own `server.node_id` and advertised
    /// address.
    pub enabled: bool,
    /// The group's id on the backend clusters.
    pub group: String,
    /// Session timeout of an instance in the group: how long a stopped instance keeps its
    /// partitions before the others take them over.
    pub session_timeout: Duration,
}

impl Default for ScaleOutConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            group: "__kafkatwin_instances".into(),
            session_timeout: Duration::from_secs(6),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_address: "0.0.0.0".into(),
            port: 9092,
            advertised_host: None,
            advertised_port: None,
            node_id: 0,
            cluster_id: "kafkatwin".into(),
            max_request_bytes: 100 * 1024 * 1024,
            max_inflight_request_bytes: 128 * 1024 * 1024,
            drain_timeout: Duration::from_secs(30),
            connections_max_idle: Duration::from_secs(600),
            scale_out: ScaleOutConfig::default(),
            tls: None,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

impl ServerConfig {
    /// The host clients are told to connect to. A wildcard listen address is not something a
    /// client can dial, so it advertises `localhost` instead.
    pub fn effective_advertised_host(&self) -> String {
        match &self.advertised_host {
            Some(h) => h.clone(),
            None if self.listen_address == "0.0.0.0" || self.listen_address == "::" => {
                "localhost".into()
            }
            None => self.listen_address.clone(),
        }
    }

    /// The port clients are told to connect to.
    pub fn effective_advertised_port(&self) -> u16 {
        self.advertised_port.unwrap_or(self.port)
    }
}

/// One entry of `clusters`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]

pub struct ClusterConfig {
    /// Unique id, used in metrics labels and the admin API.
    pub id: String,
    /// `host:port` of one or more brokers of this cluster.
    pub bootstrap_servers: Vec<String>,
    /// Lower is preferred.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Relative weight for load distribution.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// TLS to this cluster's brokers (absent: plaintext).
    #[serde(default)]
    pub tls: Option<ClusterTlsConfig>,
    /// SASL login to this cluster's brokers (absent: none).
    #[serde(default)]
    pub sasl: Option<ClusterSaslConfig>,
}

/// `clusters[].tls`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterTlsConfig {
    /// PEM CA certificates the brokers' certificates must chain to (absent: the system's
    /// web roots shipped with the binary).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// PEM client certificate chain, for brokers that ask for one.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<String>,
    /// The password of an encrypted `key_file` (PKCS#8): plain, `${env:NAME}` or
    /// `${file:PATH}`.
    #[serde(default)]
    pub key_password: Option<crate::Secret>,
    /// The name the brokers' certificates must carry (absent: each broker's host).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// `clusters[].sasl`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password: plain, `${env:NAME}` or `${file:PATH}`.
    pub password: crate::Secret,
}

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum SaslMechanism {
    /// Username and password in the clear (use with TLS).
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

fn default_priority() -> u32 {
    1
}
fn default_weight() -> u32 {
    100
}

/// `producer.ack_policy`: how many clusters must take a write before the producer is answered.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AckPolicy {
    /// Every cluster of the write set.
    AllClusters,
    /// More than half of the write set.
    #[default]
    Majority,
    /// `producer.quorum` clusters.
    Quorum,
    /// Any one cluster.
    Any,
}

impl AckPolicy {
    /// How many of `clusters` write-set clusters must take a write (`quorum` for QUORUM).
    pub fn required(self, clusters: usize, quorum: Option<u32>) -> usize {
        match self {
            Self::AllClusters => clusters,
            Self::Majority => clusters / 2 + 1,
            Self::Quorum => quorum.map_or(clusters, |q| q as usize),
            Self::Any => 1,
        }
        .clamp(1, clusters.max(1))
    }
}

/// `producer`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ProducerConfig {
    /// The ack policy.
    pub ack_policy: AckPolicy,
    /// Cluster count for `QUORUM`.
    pub quorum: Option<u32>,
    /// How long a produce may wait for its ack policy to be met.
    pub timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            ack_policy: AckPolicy::default(),
            quorum: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// `consumer`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ConsumerConfig {
    /// Upper bound on records per poll the proxy hands out.
    pub max_poll_records: u32,
    /// Where committed offsets and offset maps live.
    pub offset_storage: OffsetStorageConfig,
    /// How long past a fetch's own max wait a read cluster may stay silent before the
    /// partitions are read from the next cluster.
    pub fetch_stall_margin: crate::Duration,
    /// How long a cluster that failed or stalled a read is passed over for reads (and then
    /// until a health probe succeeds).
    pub read_avoid: crate::Duration,
    /// How long a cluster may leave a read probe (sent every 100 ms on a connection of its
    /// own) unanswered before it counts as stalled: reads move off it at once.
    pub read_probe_timeout: crate::Duration,
    /// Bound on the quick group requests (heartbeat, commit, offsets, leave, describe) at
    /// the coordinating cluster; JoinGroup and SyncGroup wait by design.
    pub group_request_timeout: crate::Duration,
    /// How long the first rebalance of an empty group waits for more members to join
    /// (Kafka's `group.initial.rebalance.delay.ms`), with several clusters.
    pub group_initial_rebalance_delay: crate::Duration,
    /// Shortest session timeout a group member may ask for (`group.min.session.timeout.ms`).
    pub group_min_session_timeout: crate::Duration,
    /// Longest session timeout a group member may ask for (`group.max.session.timeout.ms`).
    pub group_max_session_timeout: crate::Duration,
    /// Session timeout of members using the consumer group protocol
    /// (`group.consumer.session.timeout.ms`).
    pub group_consumer_session_timeout: crate::Duration,
    /// Heartbeat interval given to members using the consumer group protocol
    /// (`group.consumer.heartbeat.interval.ms`).
    pub group_consumer_heartbeat_interval: crate::Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_poll_records: 500,
            offset_storage: OffsetStorageConfig::default(),
            fetch_stall_margin: crate::Duration::from_secs(2),
            read_avoid: crate::Duration::from_secs(5),
            read_probe_timeout: crate::Duration::from_millis(300),
            group_request_timeout: crate::Duration::from_secs(3),
            group_initial_rebalance_delay: crate::Duration::from_secs(1),
            group_min_session_timeout: crate::Duration::from_secs(6),
            group_max_session_timeout: crate::Duration::from_secs(1800),
            group_consumer_session_timeout: crate::Duration::from_secs(45),
            group_consumer_heartbeat_interval: crate::Duration::from_secs(5),
        }
    }
}

/// `consumer.offset_storage`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct OffsetStorageConfig {
    /// Storage kind.
    #[serde(rename = "type")]
    pub kind: OffsetStorageKind,
}

/// Kinds of offset storage.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OffsetStorageKind {
    /// In the proxy's memory (single-instance development).
    #[default]
    Memory,
    /// In the internal state topic on every cluster.
    Kafka,
}

/// `backend`: connections from the proxy to backend brokers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct BackendConfig {
    /// TCP connect timeout to a backend broker.
    pub connect_timeout: Duration,
    /// How long one backend request may take before it counts as failed.
    pub request_timeout: Duration,
    /// Accepted for compatibility with the documented config shape; has no effect (metadata
    /// is refreshed on NOT_LEADER, unknown topics and reconnects).
    pub metadata_max_age: Duration,
    /// Attempts for a request that failed with a retriable error (leader moved, connection lost).
    pub retries: u32,
    /// Largest response frame accepted from a backend broker, in bytes.
    pub max_response_bytes: u32,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            metadata_max_age: Duration::from_secs(30),
            retries: 3,
            max_response_bytes: 256 * 1024 * 1024,
        }
    }
}

/// `admin_api`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AdminApiConfig {
    /// Whether the admin API listens at all.
    pub enabled: bool,
    /// Address to bind.
    pub listen_address: String,
    /// Port to bind.
    pub port: u16,
    /// Whether the web dashboard is served at `/`.
    pub web_ui: bool,
    /// One bearer token with the `admin` role (named `admin`). A plain string,
    /// `${env:NAME}` or `${file:PATH}`.
    pub auth_token: Option<crate::Secret>,
    /// Named bearer tokens, each with a role (`read` or `admin`).
    pub tokens: Vec<AdminToken>,
}

/// A named admin API token.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Shown in the audit trail (never the token).
    pub name: String,
    /// The token: a plain string, `${env:NAME}` or `${file:PATH}`.
    pub token: crate::Secret,
    /// What it may do.
    pub role: AdminRole,
}

/// What an admin API token may do.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// GET only.
    Read,
    /// Everything.
    Admin,
}

impl AdminApiConfig {
    /// Whether any token is configured (then every `/api/v1` request needs one).
    pub fn has_tokens(&self) -> bool {
        self.auth_token.is_some() || !self.tokens.is_empty()
    }
}

impl Default for AdminApiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen_address: "0.0.0.0".into(),
            port: 8000,
            web_ui: true,
            auth_token: None,
            tokens: Vec::new(),
        }
    }
}

/// `monitoring`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct MonitoringConfig {
    /// Prometheus `/metrics`.
    pub metrics: MetricsEndpoint,
    /// `/health/live` and `/health/ready`.
    pub health: HealthEndpoint,
}

/// An HTTP endpoint that can be switched off, with its own default port.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $port:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
        #[serde(default)]
        pub struct $name {
            /// Whether it listens.
            pub enabled: bool,
            /// Address to bind.
            pub listen_address: String,
            /// Port to bind.
            pub port: u16,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    enabled: true,
                    listen_address: "0.0.0.0".into(),
                    port: $port,
                }
            }
        }
    };
}

endpoint!(
    /// `monitoring.metrics` (default port 9090).
    MetricsEndpoint,
    9090
);
endpoint!(
    /// `monitoring.health` (default port 8080).
    HealthEndpoint,
    8080
);

/// `multi_dc`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct MultiDcConfig {
    /// Whether the datacenter layout is used.
    pub enabled: bool,
    /// Replication strategy across datacenters.
    pub strategy: DcStrategy,
    /// The datacenter this proxy runs in.
    pub local_dc: Option<String>,
    /// Serve reads from the local datacenter when it is healthy.
    pub prefer_local_reads: bool,
    /// The datacenters and their clusters.
    pub datacenters: Vec<DatacenterConfig>,
}

/// Replication strategies.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DcStrategy {
    /// Write to all DCs at once.
    #[default]
    ActiveActive,
    /// Write to the primary DC; the others stand by.
    ActivePassive,
    /// Active within a region, asynchronous between regions.
    RegionalActive,
    /// The local DC is preferred, with fallback.
    Preferred,
}

/// One entry of `multi_dc.datacenters`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]

pub struct DatacenterConfig {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Cloud region or similar.
    #[serde(default)]
    pub region: String,
    /// Lower is preferred.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Clusters in this datacenter.
    pub cluster_ids: Vec<String>,
}

/// `logging`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LoggingConfig {
    /// A `tracing` filter such as `info` or `kafkatwin_core=debug`; `RUST_LOG` wins when set.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Log output formats.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
