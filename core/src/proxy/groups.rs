//! Consumer-group requests: each goes to the backend coordinator of its group (the proxy
//! itself is every group's coordinator to clients). Requests naming several groups are split
//! per coordinator and merged.

use crate::proxy::{Proxy, errors};
use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn coordinator_moved(code: i16) -> bool {
    code == ResponseError::NotCoordinator.code()
        || code == ResponseError::CoordinatorNotAvailable.code()
}

/// The first non-zero code, or 0.
fn first_error(codes: impl Iterator<Item = i16>) -> i16 {
    codes.into_iter().find(|c| *c != 0).unwrap_or(0)
}

/// The first group-level error code of a group response.
fn group_error(resp: &ResponseKind) -> i16 {
    match resp {
        ResponseKind::JoinGroup(r) => r.error_code,
        ResponseKind::SyncGroup(r) => r.error_code,
        ResponseKind::Heartbeat(r) => r.error_code,
        ResponseKind::LeaveGroup(r) => r.error_code,
        ResponseKind::OffsetCommit(r) => first_error(
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code),
        ),
        ResponseKind::OffsetFetch(r) if r.error_code != 0 => r.error_code,
        ResponseKind::OffsetFetch(r) => first_error(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DescribeGroups(r) => first_error(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DeleteGroups(r) => first_error(r.results.iter().map(|g| g.error_code)),
        _ => 0,
    }
}

/// The groups a request names.
fn group_ids(req: &RequestKind, version: i16) -> Vec<StrBytes> {
    match req {
        RequestKind::JoinGroup(r) => vec![r.group_id.0.clone()],
        RequestKind::SyncGroup(r) => vec![r.group_id.0.clone()],
        RequestKind::Heartbeat(r) => vec![r.group_id.0.clone()],
        RequestKind::LeaveGroup(r) => vec![r.group_id.0.clone()],
        RequestKind::OffsetCommit(r) => vec![r.group_id.0.clone()],
        RequestKind::OffsetFetch(r) if version >= 8 => {
            r.groups.iter().map(|g| g.group_id.0.clone()).collect()
        }
        RequestKind::OffsetFetch(r) => vec![r.group_id.0.clone()],
        RequestKind::DescribeGroups(r) => r.groups.iter().map(|g| g.0.clone()).collect(),
        RequestKind::DeleteGroups(r) => r.groups_names.iter().map(|g| g.0.clone()).collect(),
        _ => Vec::new(),
    }
}

/// A copy of a multi-group request that names only `group`.
fn only_group(req: &RequestKind, group: &StrBytes) -> RequestKind {
    let mut req = req.clone();
    match &mut req {
        RequestKind::OffsetFetch(r) => r.groups.retain(|g| &g.group_id.0 == group),
        RequestKind::DescribeGroups(r) => r.groups.retain(|g| &g.0 == group),
        RequestKind::DeleteGroups(r) => r.groups_names.retain(|g| &g.0 == group),
        _ => {}
    }
    req
}

/// Appends the per-group parts of `from` to `into` (same API).
fn merge(into: &mut ResponseKind, from: ResponseKind) {
    match (into, from) {
        (ResponseKind::OffsetFetch(a), ResponseKind::OffsetFetch(b)) => a.groups.extend(b.groups),
        (ResponseKind::DescribeGroups(a), ResponseKind::DescribeGroups(b)) => {
            a.groups.extend(b.groups)
        }
        (ResponseKind::DeleteGroups(a), ResponseKind::DeleteGroups(b)) => {
            a.results.extend(b.results)
        }
        _ => {}
    }
}

impl Proxy {
    /// Routes a group request to its coordinator(s).
    pub(super) async fn group_request(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: RequestKind,
    ) -> ResponseKind {
        let mut resp = self.group_request_inner(api, version, client_id, req).await;
        if let ResponseKind::DescribeGroups(r) = &mut resp {
            for g in &mut r.groups {
                // -1 ("every operation") is not a valid bit set; Kafka sends i32::MIN for
                // "not computed", and some clients (kafka-python) fail on -1.
                if g.authorized_operations == -1 {
                    g.authorized_operations = i32::MIN;
                }
            }
        }
        resp
    }

    async fn group_request_inner(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: RequestKind,
    ) -> ResponseKind {
        let groups = group_ids(&req, version);
        if groups.len() <= 1 {
            let group = groups.into_iter().next().unwrap_or_default();
            return self
                .to_coordinator(api, version, client_id, &group, &req)
                .await;
        }
        let parts = groups.iter().map(|g| {
            let sub = only_group(&req, g);
            let client_id = client_id.clone();
            async move { self.to_coordinator(api, version, client_id, g, &sub).await }
        });
        let mut answers = join_all(parts).await.into_iter();
        let Some(mut out) = answers.next() else {
            return self.group_failure(&req, ResponseError::UnknownServerError.code(), "no groups");
        };
        for a in answers {
            merge(&mut out, a);
        }
        out
    }

    async fn to_coordinator(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        group: &StrBytes,
        req: &RequestKind,
    ) -> ResponseKind {
        let cluster = &self.cluster;
        let mut last_err = None;
        for _ in 0..=self.retries() {
            let node = match cluster.coordinator(group).await {
                Ok(n) => n,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            match cluster
                .send_to(node, api, version, client_id.clone(), req)
                .await
            {
                Ok(resp) if coordinator_moved(group_error(&resp)) => {
                    // The coordinator moved or is loading: look it up again and retry.
                    cluster.forget_coordinator(group);
                    last_err = None;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                Ok(resp) => return resp,
                Err(e) if e.is_transient() => {
                    cluster.forget_coordinator(group);
                    last_err = Some(e);
                }
                Err(e) => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        let msg = match &last_err {
            Some(e) => e.to_string(),
            None => format!(
                "cluster {}: coordinator for group {:?} kept moving",
                cluster.id,
                group.as_str()
            ),
        };
        tracing::warn!("{api:?} for group {:?} failed: {msg}", group.as_str());
        // Retriable for the client: it looks the coordinator up again and retries.
        self.group_failure(req, ResponseError::CoordinatorNotAvailable.code(), &msg)
    }

    fn group_failure(&self, req: &RequestKind, code: i16, msg: &str) -> ResponseKind {
        errors::error_response(req, code, msg).unwrap_or(ResponseKind::Heartbeat(
            HeartbeatResponse::default().with_error_code(code),
        ))
    }

    /// ListGroups asks every backend broker (each knows the groups it coordinates).
    pub(super) async fn list_groups(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        req: ListGroupsRequest,
    ) -> ResponseKind {
        let cluster = &self.cluster;
        let brokers = cluster.broker_ids().await;
        let body = RequestKind::ListGroups(req);
        let asks = brokers
            .iter()
            .map(|n| cluster.send_to(*n, ApiKey::ListGroups, version, client_id.clone(), &body));
        let mut out = ListGroupsResponse::default();
        let results = if brokers.is_empty() {
            vec![
                cluster
                    .send_any(ApiKey::ListGroups, version, client_id.clone(), &body)
                    .await,
            ]
        } else {
            join_all(asks).await
        };
        for r in results {
            match r {
                Ok(ResponseKind::ListGroups(l)) => {
                    if out.error_code == 0 {
                        out.error_code = l.error_code;
                    }
                    out.groups.extend(l.groups);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("ListGroups: {e}");
                    out.error_code = ResponseError::CoordinatorNotAvailable.code();
                }
            }
        }
        ResponseKind::ListGroups(out)
    }
}
