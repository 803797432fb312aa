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
    /// What answers it once decoded.
    pub handler: Handler,
}

/// What answers a decoded request: the session (before any routing), the fetch path, or one
/// of `dispatch`'s handlers. Every API the proxy offers names its handler in [`PROXY_APIS`],
/// so no offered API can reach the "not supported" answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// ApiVersions and SASL: answered by the session before requests are routed.
    Session,
    /// The fetch path (reads, read-ahead, quotas on what is returned).
    Fetch,
    /// Produce: the write path.
    Produce,
    /// Metadata, as the proxy presents the clusters.
    Metadata,
    /// FindCoordinator: this proxy or an instance of it.
    FindCoordinator,
    /// DescribeCluster: the proxy's own brokers.
    DescribeCluster,
    /// ListOffsets in logical offsets.
    ListOffsets,
    /// DeleteRecords on every cluster.
    DeleteRecords,
    /// OffsetForLeaderEpoch, routed to partition leaders.
    OffsetForLeaderEpoch,
    /// InitProducerId: the proxy's ids in front of several clusters.
    InitProducerId,
    /// Group membership and offsets (classic and consumer protocol).
    Group,
    /// ListGroups.
    ListGroups,
    /// Topic and config administration.
    Admin,
    /// Transactions (coordinated by the proxy in front of several clusters).
    Transaction,
}

impl ProxyApi {
    const fn new(
        key: ApiKey,
        label: &'static str,
        min: i16,
        max: i16,
        served: Served,
        handler: Handler,
    ) -> Self {
        Self {
            key,
            label,
            min,
            max,
            served,
            handler,
        }
    }
}

/// The proxy's own version caps. Produce and Fetch stop below v13, where topics are named by
/// topic id (ids differ per cluster); other caps stop below versions whose semantics the
/// proxy does not rewrite yet (topic-id variants).
pub const PROXY_APIS: &[ProxyApi] = &[
    ProxyApi::new(
        ApiKey::Produce,
        "produce",
        3,
        12,
        Served::Forwarded,
        Handler::Produce,
    ),
    ProxyApi::new(
        ApiKey::Fetch,
        "fetch",
        4,
        12,
        Served::Forwarded,
        Handler::Fetch,
    ),
    ProxyApi::new(
        ApiKey::ListOffsets,
        "list_offsets",
        1,
        9,
        Served::Forwarded,
        Handler::ListOffsets,
    ),
    ProxyApi::new(
        ApiKey::Metadata,
        "metadata",
        0,
        12,
        Served::Forwarded,
        Handler::Metadata,
    ),
    ProxyApi::new(
        ApiKey::OffsetCommit,
        "offset_commit",
        2,
        9,
        Served::Forwarded,
        Handler::Group,
    ),
    // From v2: v1 has no error field outside partitions, so a failure would read as "no
    // committed offsets" and make consumers reset.
    ProxyApi::new(
        ApiKey::OffsetFetch,
        "offset_fetch",
        2,
        9,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::FindCoordinator,
        "find_coordinator",
        0,
        6,
        Served::Locally,
        Handler::FindCoordinator,
    ),
    ProxyApi::new(
        ApiKey::JoinGroup,
        "join_group",
        0,
        9,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::Heartbeat,
        "heartbeat",
        0,
        4,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::LeaveGroup,
        "leave_group",
        0,
        5,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::SyncGroup,
        "sync_group",
        0,
        5,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::DescribeGroups,
        "describe_groups",
        0,
        5,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::ListGroups,
        "list_groups",
        0,
        5,
        Served::Forwarded,
        Handler::ListGroups,
    ),
    ProxyApi::new(
        ApiKey::ApiVersions,
        "api_versions",
        0,
        3,
        Served::Locally,
        Handler::Session,
    ),
    ProxyApi::new(
        ApiKey::CreateTopics,
        "create_topics",
        2,
        7,
        Served::Forwarded,
        Handler::Admin,
    ),
    ProxyApi::new(
        ApiKey::DeleteTopics,
        "delete_topics",
        1,
        6,
        Served::Forwarded,
        Handler::Admin,
    ),
    ProxyApi::new(
        ApiKey::DeleteRecords,
        "delete_records",
        0,
        2,
        Served::ForwardedOrRefused,
        Handler::DeleteRecords,
    ),
    // Answered by the proxy in front of several clusters (`producer_ids`), forwarded to a
    // single one.
    ProxyApi::new(
        ApiKey::InitProducerId,
        "init_producer_id",
        0,
        5,
        Served::Forwarded,
        Handler::InitProducerId,
    ),
    ProxyApi::new(
        ApiKey::OffsetForLeaderEpoch,
        "offset_for_leader_epoch",
        2,
        4,
        Served::ForwardedOrRefused,
        Handler::OffsetForLeaderEpoch,
    ),
    ProxyApi::new(
        ApiKey::DescribeConfigs,
        "describe_configs",
        1,
        4,
        Served::Forwarded,
        Handler::Admin,
    ),
    ProxyApi::new(
        ApiKey::CreatePartitions,
        "create_partitions",
        0,
        3,
        Served::ForwardedOrRefused,
        Handler::Admin,
    ),
    ProxyApi::new(
        ApiKey::DeleteGroups,
        "delete_groups",
        0,
        2,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::OffsetDelete,
        "offset_delete",
        0,
        0,
        Served::Forwarded,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::IncrementalAlterConfigs,
        "incremental_alter_configs",
        0,
        1,
        Served::Forwarded,
        Handler::Admin,
    ),
    ProxyApi::new(
        ApiKey::DescribeCluster,
        "describe_cluster",
        0,
        1,
        Served::Locally,
        Handler::DescribeCluster,
    ),
    // The consumer group protocol: answered by the proxy in front of several clusters.
    ProxyApi::new(
        ApiKey::ConsumerGroupHeartbeat,
        "consumer_group_heartbeat",
        0,
        1,
        Served::WithSeveral,
        Handler::Group,
    ),
    ProxyApi::new(
        ApiKey::ConsumerGroupDescribe,
        "consumer_group_describe",
        0,
        1,
        Served::WithSeveral,
        Handler::Group,
    ),
    // Transactions: coordinated by the proxy (`transactions`), in front of one cluster too.
    // Versions whose answers may carry TRANSACTION_ABORTABLE or that bump the epoch at every
    // commit (transaction protocol 2) are not offered.
    ProxyApi::new(
        ApiKey::AddPartitionsToTxn,
        "add_partitions_to_txn",
        0,
        4,
        Served::Locally,
        Handler::Transaction,
    ),
    ProxyApi::new(
        ApiKey::AddOffsetsToTxn,
        "add_offsets_to_txn",
        0,
        3,
        Served::Locally,
        Handler::Transaction,
    ),
    ProxyApi::new(
        ApiKey::TxnOffsetCommit,
        "txn_offset_commit",
        0,
        3,
        Served::Locally,
        Handler::Transaction,
    ),
    ProxyApi::new(
        ApiKey::EndTxn,
        "end_txn",
        0,
        3,
        Served::Locally,
        Handler::Transaction,
    ),
    ProxyApi::new(
        ApiKey::DescribeTransactions,
        "describe_transactions",
        0,
        0,
        Served::Locally,
        Handler::Transaction,
    ),
    ProxyApi::new(
        ApiKey::ListTransactions,
        "list_transactions",
        0,
        1,
        Served::Locally,
        Handler::Transaction,
    ),
    // Answered by the proxy when `auth.plugins` is set (v0 handshakes, raw SASL tokens
    // outside Kafka frames, are not offered).
    ProxyApi::new(
        ApiKey::SaslHandshake,
        "sasl_handshake",
        1,
        1,
        Served::Locally,
        Handler::Session,
    ),
    ProxyApi::new(
        ApiKey::SaslAuthenticate,
        "sasl_authenticate",
        0,
        2,
        Served::Locally,
        Handler::Session,
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

/// The handler of `api`; `None` for an API the proxy does not offer.
pub fn handler(api: ApiKey) -> Option<Handler> {
    PROXY_APIS.iter().find(|a| a.key == api).map(|a| a.handler)
}

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

/// The ApiVersions response body (without error) for the current backend; the SASL APIs only
/// when clients must log in (`sasl`).
pub fn api_versions_response(backend: &Cluster, several: bool, sasl: bool) -> ApiVersionsResponse {
    let login = [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];
    let api_keys = PROXY_APIS
        .iter()
        .filter(|a| sasl || !login.contains(&a.key))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_api_names_the_handler_of_its_own_kind() {
        use ApiKey::*;
        for a in PROXY_APIS {
            let own = match a.handler {
                Handler::Session => matches!(a.key, ApiVersions | SaslHandshake | SaslAuthenticate),
                Handler::Fetch => a.key == Fetch,
                Handler::Produce => a.key == Produce,
                Handler::Metadata => a.key == Metadata,
                Handler::FindCoordinator => a.key == FindCoordinator,
                Handler::DescribeCluster => a.key == DescribeCluster,
                Handler::ListOffsets => a.key == ListOffsets,
                Handler::DeleteRecords => a.key == DeleteRecords,
                Handler::OffsetForLeaderEpoch => a.key == OffsetForLeaderEpoch,
                Handler::InitProducerId => a.key == InitProducerId,
                Handler::ListGroups => a.key == ListGroups,
                // What `group_request` and `admin_request` take.
                Handler::Group => matches!(
                    a.key,
                    JoinGroup
                        | SyncGroup
                        | Heartbeat
                        | LeaveGroup
                        | OffsetCommit
                        | OffsetFetch
                        | DescribeGroups
                        | DeleteGroups
                        | OffsetDelete
                        | ConsumerGroupHeartbeat
                        | ConsumerGroupDescribe
                ),
                Handler::Transaction => matches!(
                    a.key,
                    AddPartitionsToTxn
                        | AddOffsetsToTxn
                        | TxnOffsetCommit
                        | EndTxn
                        | DescribeTransactions
                        | ListTransactions
                ),
                Handler::Admin => matches!(
                    a.key,
                    CreateTopics
                        | DeleteTopics
                        | CreatePartitions
                        | DescribeConfigs
                        | IncrementalAlterConfigs
                ),
            };
            assert!(own, "{:?} is routed to {:?}", a.key, a.handler);
        }
    }
}
