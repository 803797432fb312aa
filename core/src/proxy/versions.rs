//! Which APIs and versions the proxy speaks, and the ApiVersions answer: the intersection of
//! what the proxy implements and what the backend supports.

use crate::backend::Cluster;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, api_versions_response::ApiVersion};
use kafka_protocol::protocol::VersionRange;

/// Where the proxy gets the answer for an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Answered by the proxy itself; the backend's versions do not matter.
    Locally,
    /// Forwarded; advertised only within what the backend supports.
    Forwarded,
    /// Forwarded when the backend has it; when it does not, the proxy still advertises it and
    /// answers with the API's own error response, so the client gets a clear error.
    ForwardedOrRefused,
    /// Answered by the proxy in front of several clusters; not offered in front of one (the
    /// backend's own, where it has one, is not passed through: Tansu's describes only
    /// classic groups without members).
    WithSeveral,
}

/// One API the proxy offers.
#[derive(Debug, Clone, Copy)]
pub struct ProxyApi {
    /// The API.
    pub key: ApiKey,
    /// Its label in metrics (`kafkatwin_requests_total{api}`).
    pub label: &'static str,
    /// Lowest version the proxy handles.
    pub min: i16,
    /// Highest version the proxy handles.
    pub max: i16,
    /// Where the answer comes from.
    pub served: Served,
}

impl ProxyApi {
    const fn new(key: ApiKey, label: &'static str, min: i16, max: i16, served: Served) -> Self {
        Self {
            key,
            label,
            min,
            max,
            served,
        }
    }
}

/// The proxy's own version caps. Produce and Fetch stop below v13, where topics are named by
/// topic id (ids differ per cluster); other caps stop below versions whose semantics the
/// proxy does not rewrite yet (topic-id variants).
pub const PROXY_APIS: &[ProxyApi] = &[
    ProxyApi::new(ApiKey::Produce, "produce", 3, 12, Served::Forwarded),
    ProxyApi::new(ApiKey::Fetch, "fetch", 4, 12, Served::Forwarded),
    ProxyApi::new(ApiKey::ListOffsets, "list_offsets", 1, 9, Served::Forwarded),
    ProxyApi::new(ApiKey::Metadata, "metadata", 0, 12, Served::Forwarded),
    ProxyApi::new(
        ApiKey::OffsetCommit,
        "offset_commit",
        2,
        9,
        Served::Forwarded,
    ),
    // From v2: v1 has no error field outside partitions, so a failure would read as "no
    // committed offsets" and make consumers reset.
    ProxyApi::new(ApiKey::OffsetFetch, "offset_fetch", 2, 9, Served::Forwarded),
    ProxyApi::new(
        ApiKey::FindCoordinator,
        "find_coordinator",
        0,
        6,
        Served::Locally,
    ),
    ProxyApi::new(ApiKey::JoinGroup, "join_group", 0, 9, Served::Forwarded),
    ProxyApi::new(ApiKey::Heartbeat, "heartbeat", 0, 4, Served::Forwarded),
    ProxyApi::new(ApiKey::LeaveGroup, "leave_group", 0, 5, Served::Forwarded),
    ProxyApi::new(ApiKey::SyncGroup, "sync_group", 0, 5, Served::Forwarded),
    ProxyApi::new(
        ApiKey::DescribeGroups,
        "describe_groups",
        0,
        5,
        Served::Forwarded,
    ),
    ProxyApi::new(ApiKey::ListGroups, "list_groups", 0, 5, Served::Forwarded),
    ProxyApi::new(ApiKey::ApiVersions, "api_versions", 0, 3, Served::Locally),
    ProxyApi::new(
        ApiKey::CreateTopics,
        "create_topics",
        2,
        7,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::DeleteTopics,
        "delete_topics",
        1,
        6,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::DeleteRecords,
        "delete_records",
        0,
        2,
        Served::ForwardedOrRefused,
    ),
    // Answered by the proxy in front of several clusters (`producer_ids`), forwarded to a
    // single one.
    ProxyApi::new(
        ApiKey::InitProducerId,
        "init_producer_id",
        0,
        5,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::OffsetForLeaderEpoch,
        "offset_for_leader_epoch",
        2,
        4,
        Served::ForwardedOrRefused,
    ),
    ProxyApi::new(
        ApiKey::DescribeConfigs,
        "describe_configs",
        1,
        4,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::CreatePartitions,
        "create_partitions",
        0,
        3,
        Served::ForwardedOrRefused,
    ),
    ProxyApi::new(
        ApiKey::DeleteGroups,
        "delete_groups",
        0,
        2,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::OffsetDelete,
        "offset_delete",
        0,
        0,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::IncrementalAlterConfigs,
        "incremental_alter_configs",
        0,
        1,
        Served::Forwarded,
    ),
    ProxyApi::new(
        ApiKey::DescribeCluster,
        "describe_cluster",
        0,
        1,
        Served::Locally,
    ),
    // The consumer group protocol: answered by the proxy in front of several clusters.
    ProxyApi::new(
        ApiKey::ConsumerGroupHeartbeat,
        "consumer_group_heartbeat",
        0,
        1,
        Served::WithSeveral,
    ),
    ProxyApi::new(
        ApiKey::ConsumerGroupDescribe,
        "consumer_group_describe",
        0,
        1,
        Served::WithSeveral,
    ),
    // Answered by the proxy when `auth.plugins` is set (v0 handshakes, raw SASL tokens
    // outside Kafka frames, are not offered).
    ProxyApi::new(
        ApiKey::SaslHandshake,
        "sasl_handshake",
        1,
        1,
        Served::Locally,
    ),
    ProxyApi::new(
        ApiKey::SaslAuthenticate,
        "sasl_authenticate",
        0,
        2,
        Served::Locally,
    ),
];

/// The APIs the proxy answers itself in front of several clusters: it issues producer ids
/// and coordinates consumer groups (`groups`).
const LOCAL_WITH_SEVERAL: &[ApiKey] = &[
    ApiKey::InitProducerId,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
];

/// The range the proxy advertises for `api` given the backend's ranges, if any; `several`
/// when the proxy is in front of several clusters (see [`LOCAL_WITH_SEVERAL`]).
pub fn advertised(api: ApiKey, backend: &Cluster, several: bool) -> Option<VersionRange> {
    let &ProxyApi {
        min,
        max,
        mut served,
        ..
    } = PROXY_APIS.iter().find(|a| a.key == api)?;
    if several && (LOCAL_WITH_SEVERAL.contains(&api) || served == Served::WithSeveral) {
        served = Served::Locally;
    }
    let lib = api.valid_versions();
    let (min, max) = (min.max(lib.min), max.min(lib.max));
    let range = match (served, backend.supports(api)) {
        (Served::WithSeveral, _) => return None,
        (Served::Locally, _) | (Served::ForwardedOrRefused, None) => VersionRange { min, max },
        // Before the backend was ever reached, offer the proxy's range; the first reconnect
        // learns the real one.
        (Served::Forwarded, None) if !backend.versions_known() => VersionRange { min, max },
        (Served::Forwarded, None) => return None,
        (_, Some(b)) => VersionRange {
            min: min.max(b.min),
            max: max.min(b.max),
        },
    };
    (range.min <= range.max).then_some(range)
}

/// The ApiVersions response body (without error) for the current backend.
pub fn api_versions_response(backend: &Cluster, several: bool) -> ApiVersionsResponse {
    let api_keys = PROXY_APIS
        .iter()
        .filter_map(|a| {
            advertised(a.key, backend, several).map(|r| {
                ApiVersion::default()
                    .with_api_key(a.key as i16)
                    .with_min_version(r.min)
                    .with_max_version(r.max)
            })
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}
