//! Where the ACLs (`auth.acls` and the admin API's entries) apply to requests. Without
//! entries every principal may do everything. A denied topic in a
//! partitioned request (Produce, Fetch, ListOffsets, DeleteRecords, OffsetForLeaderEpoch) is
//! answered `TOPIC_AUTHORIZATION_FAILED` on its own while the others are served; Metadata leaves out the topics a principal may not describe, as Kafka does; other
//! requests naming a denied topic or group are refused whole
//! (`TOPIC_AUTHORIZATION_FAILED` / `GROUP_AUTHORIZATION_FAILED`).

use crate::backend::partitioned::PartitionedApi;
use crate::control::acls::{ANONYMOUS, Acls};
use crate::proxy::Proxy;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{MetadataResponse, RequestKind, TopicName};
use kafkatwin_config::{AclOperation, AclResource};

/// A request refused by the ACLs: its error code and why.
pub struct Denied {
    /// `TOPIC_AUTHORIZATION_FAILED` or `GROUP_AUTHORIZATION_FAILED`.
    pub code: i16,
    /// What was denied to whom.
    pub message: String,
}

impl Proxy {
    fn acls(&self) -> &Acls {
        &self.books.acls
    }

    /// Takes the topics `principal` may not `op` out of a partitioned request; their
    /// answer (`TOPIC_AUTHORIZATION_FAILED`) when there were any.
    pub(super) fn take_denied<R: PartitionedApi>(
        &self,
        r: &mut R,
        principal: Option<&str>,
        op: AclOperation,
    ) -> Option<R::Response> {
        if self.acls().is_empty() {
            return None;
        }
        let allowed = |t: &TopicName| {
            self.acls()
                .allows(principal, AclResource::Topic, t.as_str(), op)
        };
        if r.partitions().iter().all(|tp| allowed(&tp.topic)) {
            return None;
        }
        let mut denied = r.clone();
        denied.retain(&|t, _| !allowed(t));
        r.retain(&|t, _| allowed(t));
        tracing::info!(
            "ACL: {} may not {op:?} topic(s) {:?}",
            principal.unwrap_or(ANONYMOUS),
            denied
                .partitions()
                .iter()
                .map(|tp| tp.topic.as_str().to_owned())
                .collect::<std::collections::BTreeSet<_>>()
        );
        Some(denied.fail_all(ResponseError::TopicAuthorizationFailed.code()))
    }

    /// Runs `handle` on the partitions of `r` that `principal` may `op`, and answers the
    /// others `TOPIC_AUTHORIZATION_FAILED` beside its answer.
    pub(super) async fn screened<R, F>(
        &self,
        mut r: R,
        principal: Option<&str>,
        op: AclOperation,
        handle: impl FnOnce(R) -> F,
    ) -> R::Response
    where
        R: PartitionedApi,
        F: std::future::Future<Output = R::Response>,
    {
        let denied = self.take_denied(&mut r, principal, op);
        let mut resp = handle(r).await;
        if let Some(d) = denied {
            R::extend_response(&mut resp, d);
        }
        resp
    }

    /// Why the ACLs refuse a whole request (those not screened per partition or answer:
    /// Produce, Fetch, ListOffsets, DeleteRecords, OffsetForLeaderEpoch, Metadata), if they
    /// do.
    pub(super) fn acl_refusal(
        &self,
        principal: Option<&str>,
        body: &RequestKind,
    ) -> Option<Denied> {
        if self.acls().is_empty() {
            return None;
        }
        use AclOperation::{Create, Delete, Describe, Read};
        let topic = |name: &str, op| (AclResource::Topic, name.to_owned(), op);
        let group = |name: &str, op| (AclResource::Group, name.to_owned(), op);
        let wanted: Vec<(AclResource, String, AclOperation)> = match body {
            RequestKind::CreateTopics(r) => r
                .topics
                .iter()
                .map(|t| topic(t.name.as_str(), Create))
                .collect(),
            RequestKind::DeleteTopics(r) => r
                .topic_names
                .iter()
                .map(|t| topic(t.as_str(), Delete))
                .chain(
                    r.topics
                        .iter()
                        .filter_map(|t| t.name.as_ref())
                        .map(|t| topic(t.as_str(), Delete)),
                )
                .collect(),
            RequestKind::CreatePartitions(r) => r
                .topics
                .iter()
                .map(|t| topic(t.name.as_str(), Create))
                .collect(),
            RequestKind::JoinGroup(r) => vec![group(r.group_id.as_str(), Read)],
            RequestKind::SyncGroup(r) => vec![group(r.group_id.as_str(), Read)],
            RequestKind::Heartbeat(r) => vec![group(r.group_id.as_str(), Read)],
            RequestKind::LeaveGroup(r) => vec![group(r.group_id.as_str(), Read)],
            RequestKind::OffsetCommit(r) => std::iter::once(group(r.group_id.as_str(), Read))
                .chain(r.topics.iter().map(|t| topic(t.name.as_str(), Read)))
                .collect(),
            RequestKind::OffsetFetch(r) => std::iter::once(group(r.group_id.as_str(), Describe))
                .chain(
                    r.groups
                        .iter()
                        .map(|g| group(g.group_id.as_str(), Describe)),
                )
                .filter(|(_, n, _)| !n.is_empty())
                .collect(),
            RequestKind::OffsetDelete(r) => vec![group(r.group_id.as_str(), Delete)],
            RequestKind::DescribeGroups(r) => r
                .groups
                .iter()
                .map(|g| group(g.as_str(), Describe))
                .collect(),
            RequestKind::DeleteGroups(r) => r
                .groups_names
                .iter()
                .map(|g| group(g.as_str(), Delete))
                .collect(),
            RequestKind::ConsumerGroupHeartbeat(r) => vec![group(r.group_id.as_str(), Read)],
            _ => Vec::new(),
        };
        let who = principal.unwrap_or(ANONYMOUS);
        let (resource, name, op) = wanted
            .into_iter()
            .find(|(res, name, op)| !self.acls().allows(principal, *res, name, *op))?;
        let (code, kind) = match resource {
            AclResource::Topic => (ResponseError::TopicAuthorizationFailed.code(), "topic"),
            AclResource::Group => (ResponseError::GroupAuthorizationFailed.code(), "group"),
        };
        let message = format!("{who} may not {op:?} {kind} {name} (auth.acls)");
        tracing::info!("ACL: {message}");
        Some(Denied { code, message })
    }

    /// Leaves out of a Metadata answer the topics `principal` may not describe; a topic the
    /// client asked for by name is answered `TOPIC_AUTHORIZATION_FAILED` instead.
    pub(super) fn screen_metadata(
        &self,
        principal: Option<&str>,
        asked: bool,
        m: &mut MetadataResponse,
    ) {
        if self.acls().is_empty() {
            return;
        }
        let allowed = |name: &str| {
            self.acls()
                .allows(principal, AclResource::Topic, name, AclOperation::Describe)
        };
        if asked {
            for t in &mut m.topics {
                if t.name.as_ref().is_some_and(|n| !allowed(n.as_str())) {
                    t.error_code = ResponseError::TopicAuthorizationFailed.code();
                    t.partitions.clear();
                }
            }
        } else {
            m.topics
                .retain(|t| t.name.as_ref().is_none_or(|n| allowed(n.as_str())));
        }
    }
}
