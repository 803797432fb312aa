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

/// The proxy's own version caps. Produce and Fetch stop below v13, where topics are named by
/// topic id (ids differ per cluster); other caps stop below versions whose semantics the
/// proxy does not rewrite yet (topic-id variants).
pub const PROXY_APIS: &[(ApiKey, i16, i16, Served)] = &[
    (ApiKey::Produce, 3, 12, Served::Forwarded),
    (ApiKey::Fetch, 4, 12, Served::Forwarded),
    (ApiKey::ListOffsets, 1, 9, Served::Forwarded),
    (ApiKey::Metadata, 0, 12, Served::Forwarded),
    (ApiKey::OffsetCommit, 2, 9, Served::Forwarded),
    // From v2: v1 has no error field outside partitions, so a failure would read as "no
    // committed offsets" and make consumers reset.
    (ApiKey::OffsetFetch, 2, 9, Served::Forwarded),
    (ApiKey::FindCoordinator, 0, 6, Served::Locally),
    (ApiKey::JoinGroup, 0, 9, Served::Forwarded),
    (ApiKey::Heartbeat, 0, 4, Served::Forwarded),
    (ApiKey::LeaveGroup, 0, 5, Served::Forwarded),
    (ApiKey::SyncGroup, 0, 5, Served::Forwarded),
    (ApiKey::DescribeGroups, 0, 5, Served::Forwarded),
    (ApiKey::ListGroups, 0, 5, Served::Forwarded),
    (ApiKey::ApiVersions, 0, 3, Served::Locally),
    (ApiKey::CreateTopics, 2, 7, Served::Forwarded),
    (ApiKey::DeleteTopics, 1, 6, Served::Forwarded),
    (ApiKey::DeleteRecords, 0, 2, Served::ForwardedOrRefused),
    // Answered by the proxy in front of several clusters (`producer_ids`), forwarded to a
    // single one.
    (ApiKey::InitProducerId, 0, 5, Served::Forwarded),
    (
        ApiKey::OffsetForLeaderEpoch,
        2,
        4,
        Served::ForwardedOrRefused,
    ),
    (ApiKey::DescribeConfigs, 1, 4, Served::Forwarded),
    (ApiKey::CreatePartitions, 0, 3, Served::ForwardedOrRefused),
    (ApiKey::DeleteGroups, 0, 2, Served::Forwarded),
    (ApiKey::OffsetDelete, 0, 0, Served::Forwarded),
    (ApiKey::IncrementalAlterConfigs, 0, 1, Served::Forwarded),
    (ApiKey::DescribeCluster, 0, 1, Served::Locally),
    // The consumer group protocol: answered by the proxy in front of several clusters.
    (ApiKey::ConsumerGroupHeartbeat, 0, 1, Served::WithSeveral),
    (ApiKey::ConsumerGroupDescribe, 0, 1, Served::WithSeveral),
    // Answered by the proxy when `auth.plugins` is set (v0 handshakes, raw SASL tokens
    // outside Kafka frames, are not offered).
    (ApiKey::SaslHandshake, 1, 1, Served::Locally),
    (ApiKey::SaslAuthenticate, 0, 2, Served::Locally),
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
    let &(_, min, max, mut served) = PROXY_APIS.iter().find(|(k, ..)| *k == api)?;
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
        .filter_map(|(k, ..)| {
            advertised(*k, backend, several).map(|r| {
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(r.min)
                    .with_max_version(r.max)
            })
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}
