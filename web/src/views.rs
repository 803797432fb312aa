//! What the admin API answers: every response body, as JSON and in the OpenAPI document.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A backend cluster as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct ClusterView {
    /// Cluster id.
    pub id: String,
    /// Configured bootstrap servers.
    pub bootstrap_servers: Vec<String>,
    /// Configured priority (lower preferred).
    pub priority: u32,
    /// Configured weight.
    pub weight: u32,
    /// The datacenter it is in (`multi_dc.datacenters`: name, and region when given).
    pub datacenter: Option<String>,
    /// Whether requests go to it (not down).
    pub reachable: bool,
    /// `healthy`, `degraded` or `down` (circuit open or never reached).
    pub status: String,
    /// The last health probe's round trip, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The last error, while failures are recent.
    pub last_error: Option<String>,
    /// Open broker connections.
    pub connections: usize,
    /// Whether it was compared with the other clusters since it was last seen: until then
    /// it takes no writes (at startup, after an outage or a lost connection).
    pub compared: bool,
    /// Partitions on which it missed writes and is being repaired.
    pub behind_partitions: usize,
    /// Records other clusters hold that it does not yet: missed writes awaiting repair and
    /// writes still on their way (replication lag).
    pub lag_records: i64,
    /// Topics whose partition count differs from another cluster's.
    pub partition_mismatches: Vec<String>,
    /// Partitions where it holds another history than the other clusters (excluded from
    /// writes and reads until reseeded).
    pub divergent_partitions: Vec<DivergentView>,
}

/// A partition whose history on a cluster differs from the other clusters'.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct DivergentView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The first logical offset where it differs.
    pub first_differing_offset: i64,
}

/// What a reseed did.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct ReseedView {
    /// Cluster id.
    pub cluster: String,
    /// Topic deleted and recreated there.
    pub topic: String,
    /// Its partitions, now being copied back from the other clusters.
    pub partitions: i32,
}

/// A transformation rule as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct RuleView {
    /// The rule in the documented shape.
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    /// `config` (from the YAML file) or `api`.
    pub origin: String,
}

/// A client quota as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct QuotaView {
    /// Whom it applies to, as Kafka names quota entities: `client-id=app`, `user=alice`,
    /// `user=alice,client-id=app`, `user=alice,client-id=<default>`, `client-id=<default>`,
    /// `user=<default>`, `user=<default>,client-id=<default>`.
    pub entity: String,
    /// The client id, for a client id's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user, for a user's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Produce request bytes per second.
    pub produce_byte_rate: Option<u64>,
    /// Fetch response bytes per second.
    pub fetch_byte_rate: Option<u64>,
    /// Requests per second.
    pub request_rate: Option<u64>,
    /// `config`, `api`, or `default` (the client default from the config applies).
    pub origin: String,
    /// The entry's version (for `If-Match`), for entries set through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// What this instance measures the client at now, per second, for each limit that
    /// applies (`GET /api/v1/quotas/{client_id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<BTreeMap<String, f64>>,
}

/// An uploaded WASM plugin as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct PluginView {
    /// Name.
    pub name: String,
    /// Upload count of this name (1 for the first).
    pub version: u32,
    /// SHA-256 of the module, hex.
    pub sha256: String,
    /// Hooks it implements.
    pub hooks: Vec<String>,
    /// Module size, bytes.
    pub size: usize,
}

/// A consumer group as the admin API shows it (groups the proxy coordinates, in front of
/// several clusters).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct GroupView {
    /// Group id.
    pub group: String,
    /// Kafka's name of its state: `Empty`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Stable`.
    pub state: String,
    /// Protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The assignor chosen for this generation.
    pub protocol: Option<String>,
    /// Generation.
    pub generation: i32,
    /// Node id of the instance coordinating it.
    pub coordinator: Option<i32>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members and their assignments.
    pub members: Vec<GroupMemberView>,
    /// Committed offsets (logical) and the lag behind each cluster's end.
    pub offsets: Vec<GroupOffsetView>,
    /// Per cluster: whether its own group coordinator holds the latest commits (they are
    /// mirrored every second by the coordinating instance, and to a cluster that was away
    /// when it is back). Only the coordinating instance knows: the others show `false`.
    pub mirrored: BTreeMap<String, bool>,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct GroupMemberView {
    /// Member id.
    pub member_id: String,
    /// Static membership id (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// The client's address (`/127.0.0.1`).
    pub client_host: String,
    /// Assigned partitions by topic.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// One committed offset of a group.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct GroupOffsetView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next offset to consume (logical).
    pub committed: i64,
    /// Records between it and each cluster's end, by cluster id (sampled every 5 s).
    pub lag: BTreeMap<String, i64>,
}

/// A topic across the clusters (`GET /api/v1/topics`).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct TopicSummaryView {
    /// Topic name.
    pub name: String,
    /// Partitions (the most any cluster has).
    pub partitions: i32,
    /// The topic on each cluster, in the clusters' configured order.
    pub clusters: Vec<TopicOnClusterView>,
}

/// A topic on one cluster.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct TopicOnClusterView {
    /// Cluster id.
    pub cluster: String,
    /// Whether the cluster has the topic (as last seen: an unreachable cluster's answer is
    /// its last known one).
    pub present: bool,
    /// Its partition count there, when known.
    pub partitions: Option<i32>,
    /// Partitions on which the cluster missed writes and is being repaired.
    pub behind_partitions: usize,
    /// Partitions on which it holds another history (excluded until reseeded).
    pub divergent_partitions: usize,
    /// Records of the topic other clusters hold that it does not yet (replication lag).
    pub lag_records: i64,
}

/// One topic in detail (`GET /api/v1/topics/{topic}`).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct TopicView {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Per partition, per cluster.
    pub partition_details: Vec<PartitionView>,
    /// Transformation rules that apply to it.
    pub rules: Vec<RuleView>,
    /// WASM plugins its rules call.
    pub plugins: Vec<String>,
    /// Schema subjects for its records (`<topic>-key`, `<topic>-value`, and those its
    /// `validate_schema` rules name) that are registered.
    pub schema_subjects: Vec<String>,
    /// Client quotas (quotas apply per client, to every topic the client writes or reads).
    pub quotas: Vec<QuotaView>,
}

/// One partition of a topic.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct PartitionView {
    /// Partition index.
    pub partition: i32,
    /// The cluster its reads go to now.
    pub read_cluster: Option<String>,
    /// The partition on each cluster.
    pub clusters: Vec<PartitionOnClusterView>,
}

/// A partition on one cluster, in the logical offsets clients see.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct PartitionOnClusterView {
    /// Cluster id.
    pub cluster: String,
    /// First offset held (`None`: the cluster did not answer).
    pub log_start: Option<i64>,
    /// Next offset to be written (`None`: the cluster did not answer).
    pub log_end: Option<i64>,
    /// Whether it holds every write so far (not behind, not divergent).
    pub in_sync: bool,
}

/// The kafkatwin instances (`GET /api/v1/instances`).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct InstancesView {
    /// This instance's node id.
    pub me: i32,
    /// Whether instances divide partitions and groups (`server.scale_out`).
    pub scale_out: bool,
    /// Whether a second instance group is live on another cluster.
    pub split_brain: bool,
    /// The instances clients are shown.
    pub instances: Vec<InstanceView>,
}

/// One kafkatwin instance.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct InstanceView {
    /// Node id (the broker id clients see).
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Whether it is the instance answering.
    pub me: bool,
    /// Partitions it owns now (of the topics known to this instance).
    pub owned_partitions: usize,
    /// Consumer groups it coordinates now (of the groups known to this instance).
    pub owned_groups: Vec<String>,
}

/// The proxy's rates over one sampling interval (`GET /api/v1/metrics/summary`, the
/// dashboard's charts and live events).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct MetricsSample {
    /// When the interval ended, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Records produced per second.
    pub produce_records_per_s: f64,
    /// Record-batch bytes produced per second.
    pub produce_bytes_per_s: f64,
    /// Records fetched per second.
    pub fetch_records_per_s: f64,
    /// Record-batch bytes fetched per second.
    pub fetch_bytes_per_s: f64,
    /// 99th percentile produce latency over the interval, ms (`None`: no produce).
    pub produce_p99_ms: Option<f64>,
    /// 99th percentile fetch latency over the interval, ms (`None`: no fetch).
    pub fetch_p99_ms: Option<f64>,
    /// Per cluster id.
    pub clusters: BTreeMap<String, ClusterSample>,
    /// Per consumer group: the sum over its partitions of the largest lag on any cluster.
    pub consumer_lag: BTreeMap<String, i64>,
}

/// One cluster's rates over a sampling interval.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct ClusterSample {
    /// `healthy`, `degraded` or `down`.
    pub status: String,
    /// Record-batch bytes produced per second.
    pub produce_bytes_per_s: f64,
    /// Record-batch bytes fetched per second.
    pub fetch_bytes_per_s: f64,
    /// 99th percentile produce latency, ms.
    pub produce_p99_ms: Option<f64>,
    /// 99th percentile fetch latency, ms.
    pub fetch_p99_ms: Option<f64>,
    /// Records other clusters hold that it does not yet.
    pub replication_lag_records: i64,
}

/// Who is calling (`GET /api/v1/me`): the dashboard hides what the caller may not do.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct MeView {
    /// The token's name, or `loopback` / `anonymous` when no token is configured.
    pub who: String,
    /// `admin` or `read`.
    pub role: String,
    /// Whether changes are accepted from this caller.
    pub can_change: bool,
}

/// A schema as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct SchemaView {
    /// Subject.
    pub subject: String,
    /// Version within the subject.
    pub version: u32,
    /// Global id.
    pub id: u32,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    /// The schema text.
    pub schema: String,
    /// Schemas it refers to.
    #[schema(value_type = Vec<Object>)]
    pub references: serde_json::Value,
}

/// The body of every admin API error.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the thing it is about.
    pub error: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A user who may log in (`GET /api/v1/users`); never a password.
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct UserView {
    /// The user name; the principal is `User:<username>`.
    pub username: String,
    /// `config` (`auth.users`) or `api`.
    pub origin: String,
    /// The SASL mechanisms it can log in with.
    pub mechanisms: Vec<String>,
}

/// An ACL entry (`GET /api/v1/acls`).
#[derive(Debug, Clone, Serialize, PartialEq, Default, ToSchema)]
pub struct AclView {
    /// Its id, for entries added through the API (`DELETE /api/v1/acls/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `config` (`auth.acls`) or `api`.
    pub origin: String,
    /// `User:<name>` or `User:*`.
    pub principal: String,
    /// `topic` or `group`.
    pub resource: String,
    /// The name, prefix, or `*`.
    pub name: String,
    /// `literal` or `prefixed`.
    pub pattern: String,
    /// `read`, `write`, `create`, `delete`, `describe`, `all`.
    pub operations: Vec<String>,
}
