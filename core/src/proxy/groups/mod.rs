//! Consumer-group requests. In front of several clusters the proxy coordinates groups itself
//! (`coordinator`); in front of one, each request goes to the cluster's coordinator of
//! its group (the proxy is every group's coordinator to clients), and requests naming several
//! groups are split per coordinator and merged.

mod commits;
mod consumer;
mod coordinator;

use crate::proxy::{Proxy, errors};
use commits::group_error;
use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn coordinator_moved(code: i16) -> bool {
    code == ResponseError::NotCoordinator.code()
        || code == ResponseError::CoordinatorNotAvailable.code()
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
        RequestKind::OffsetDelete(r) => vec![r.group_id.0.clone()],
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
        peer: std::net::SocketAddr,
    ) -> ResponseKind {
        if self.backends.replicator.is_some() {
            // Kafka shows a member's host as "/" and its address.
            let host = StrBytes::from_string(format!("/{}", peer.ip()));
            return self.coordinate(version, client_id, req, host).await;
        }
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

    /// Sends a group request to the cluster's coordinator of its group.
    async fn to_coordinator(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        group: &StrBytes,
        req: &RequestKind,
    ) -> ResponseKind {
        // JoinGroup and SyncGroup wait for the other members by design; the rest are quick.
        let bound = match api {
            ApiKey::JoinGroup | ApiKey::SyncGroup => None,
            _ => Some(self.config.consumer.group_request_timeout.get()),
        };
        let sent = self
            .send_group(
                &self.backends.cluster,
                api,
                version,
                client_id,
                group,
                req,
                bound,
            )
            .await;
        match sent {
            Ok(mut resp) => {
                self.after_group_answer(group, req, &mut resp);
                resp
            }
            Err((msg, _)) => {
                tracing::warn!("{api:?} for group {:?} failed: {msg}", group.as_str());
                // Retriable for the client: it looks the coordinator up again and retries.
                self.group_failure(req, ResponseError::CoordinatorNotAvailable.code(), &msg)
            }
        }
    }

    /// One group request to `cluster`'s coordinator for `group`, retried when the
    /// coordinator moves. `Err` carries the reason and whether the cluster itself failed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_group(
        &self,
        cluster: &crate::backend::Cluster,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        group: &StrBytes,
        req: &RequestKind,
        bound: Option<std::time::Duration>,
    ) -> Result<ResponseKind, (String, bool)> {
        let mut last_err = None;
        for _ in 0..=self.retries() {
            let attempt = async {
                let node = cluster.coordinator(group).await?;
                cluster
                    .send_to(node, api, version, client_id.clone(), req)
                    .await
            };
            let result = match bound {
                Some(limit) => cluster.within(limit, api, attempt).await,
                None => attempt.await,
            };
            match result {
                Ok(resp) if coordinator_moved(group_error(&resp)) => {
                    // The coordinator moved or is loading: look it up again and retry.
                    cluster.forget_coordinator(group);
                    last_err = None;
                    tokio::time::sleep(crate::base::timing::COORDINATOR_MOVED_PAUSE).await;
                }
                Ok(resp) => return Ok(resp),
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
        Err(match last_err {
            Some(e) => (e.to_string(), true),
            None => (
                format!(
                    "cluster {}: coordinator for group {:?} kept moving",
                    cluster.id,
                    group.as_str()
                ),
                false,
            ),
        })
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
        if self.backends.replicator.is_some() {
            return self
                .coordinate(
                    version,
                    client_id,
                    RequestKind::ListGroups(req),
                    StrBytes::default(),
                )
                .await;
        }
        let cluster = self.front();
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
