//! Admin requests (topics, partitions, configs) go to the backend controller; InitProducerId
//! to any broker. Broker config resources name the proxy's node id to clients and the backend
//! broker's inside.

use crate::backend::BackendError;
use crate::proxy::{Proxy, errors};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::base::timing::ADMIN_FAN_OUT_WAIT;

/// Config resource type of a broker.
const RESOURCE_BROKER: i8 = 4;

impl Proxy {
    pub(super) async fn admin_request(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        mut req: RequestKind,
    ) -> ResponseKind {
        if let RequestKind::DeleteTopics(r) = &req
            && let Some(t) = r
                .topic_names
                .iter()
                .chain(r.topics.iter().filter_map(|t| t.name.as_ref()))
                .find(|t| crate::control::state_log::is_internal(t.as_str()))
        {
            let msg = format!(
                "topic {} is KafkaTwin's own (control state): it cannot be deleted through the proxy",
                t.as_str()
            );
            tracing::warn!("refused DeleteTopics: {msg}");
            return self.admin_failure(&req, ResponseError::TopicAuthorizationFailed.code(), &msg);
        }
        let cluster = self.front();
        if api == ApiKey::CreatePartitions && cluster.supports(api).is_none() {
            let msg = format!("cluster {} does not support CreatePartitions", cluster.id);
            tracing::info!("refused CreatePartitions: {msg}");
            return self.admin_failure(&req, ResponseError::UnsupportedVersion.code(), &msg);
        }
        let me = self.identity.node_id.to_string();
        let backend_broker = cluster
            .controller()
            .or(cluster.broker_ids().await.first().copied());
        let backend_name = backend_broker.map(|b| StrBytes::from_string(b.to_string()));
        if let (RequestKind::DescribeConfigs(r), Some(name)) = (&mut req, &backend_name) {
            for res in &mut r.resources {
                if res.resource_type == RESOURCE_BROKER && res.resource_name.as_str() == me {
                    res.resource_name = name.clone();
                }
            }
        }
        let fans_out = matches!(
            api,
            ApiKey::CreateTopics
                | ApiKey::DeleteTopics
                | ApiKey::CreatePartitions
                | ApiKey::IncrementalAlterConfigs
        );
        let result = match (&self.backends.replicator, fans_out) {
            (Some(rep), true) => self.admin_fan_out(rep, api, version, client_id, &req).await,
            _ => send_admin(cluster, api, version, client_id, &req).await,
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => return self.admin_failed(&req, e),
        };
        match (&req, &mut resp) {
            (RequestKind::DescribeConfigs(_), ResponseKind::DescribeConfigs(r)) => {
                for res in &mut r.results {
                    if res.resource_type == RESOURCE_BROKER
                        && Some(&res.resource_name) == backend_name.as_ref()
                    {
                        res.resource_name = StrBytes::from_string(me.clone());
                    }
                }
            }
            (RequestKind::CreateTopics(r), _) => {
                for t in &r.topics {
                    cluster.forget_topic(&t.name);
                }
            }
            (RequestKind::DeleteTopics(r), _) => {
                for t in r
                    .topic_names
                    .iter()
                    .chain(r.topics.iter().filter_map(|t| t.name.as_ref()))
                {
                    cluster.forget_topic(t);
                }
            }
            _ => {}
        }
        resp
    }

    /// Sends an admin change to every cluster at once and answers with the first cluster's
    /// (by priority) answer. A cluster that is down gets topic creations and deletions when
    /// it comes back (the repairer's comparison); its failure is logged here.
    async fn admin_fan_out(
        &self,
        rep: &crate::replication::Replicator,
        api: ApiKey,
        version: i16,
        client_id: Option<StrBytes>,
        req: &RequestKind,
    ) -> Result<ResponseKind, BackendError> {
        match req {
            RequestKind::CreateTopics(r) => {
                let names: Vec<TopicName> = r.topics.iter().map(|t| t.name.clone()).collect();
                rep.note_created(&names);
            }
            RequestKind::DeleteTopics(r) => {
                let names: Vec<TopicName> = r
                    .topic_names
                    .iter()
                    .cloned()
                    .chain(r.topics.iter().filter_map(|t| t.name.clone()))
                    .collect();
                rep.note_deleted(&names);
            }
            _ => {}
        }
        // A hung cluster must not hold the change up: it counts as missed after the bound
        // (deferred, or caught up by the comparison once it answers again).
        let results = futures::future::join_all(rep.clusters().iter().map(|c| {
            c.within(
                ADMIN_FAN_OUT_WAIT,
                api,
                send_admin(c, api, version, client_id.clone(), req),
            )
        }))
        .await;
        let touched: Vec<&TopicName> = match req {
            RequestKind::CreateTopics(r) => r.topics.iter().map(|t| &t.name).collect(),
            RequestKind::DeleteTopics(r) => r
                .topic_names
                .iter()
                .chain(r.topics.iter().filter_map(|t| t.name.as_ref()))
                .collect(),
            _ => Vec::new(),
        };
        for c in rep.clusters() {
            for t in &touched {
                c.forget_topic(t);
            }
        }
        let mut first_ok = None;
        let mut first_err = None;
        for (c, r) in rep.clusters().iter().zip(results) {
            match r {
                Ok(resp) => {
                    first_ok.get_or_insert(resp);
                }
                Err(e) => {
                    tracing::warn!(cluster = %c.id, "{api:?} not applied on {} now ({e}); it is applied when the cluster is back", c.id);
                    if !matches!(api, ApiKey::CreateTopics | ApiKey::DeleteTopics) {
                        rep.defer_admin(&c.id, api, version, req.clone());
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        match (first_ok, first_err) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(e),
            (None, None) => Err(BackendError::NoCluster),
        }
    }

    fn admin_failed(&self, req: &RequestKind, e: BackendError) -> ResponseKind {
        tracing::warn!("admin request failed: {e}");
        self.admin_failure(req, e.client_code(), &e.to_string())
    }

    fn admin_failure(&self, req: &RequestKind, code: i16, msg: &str) -> ResponseKind {
        errors::error_response(req, code, msg)
            .unwrap_or(ResponseKind::CreateTopics(Default::default()))
    }

    /// Idempotent producers get a producer id from the proxy (several clusters) or the backend
    /// (one); transactional ones get their transactional id's (see `transactions`).
    pub(super) async fn init_producer_id(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        req: InitProducerIdRequest,
    ) -> ResponseKind {
        if let Some(tid) = &req.transactional_id {
            return self.init_transactional(tid.0.as_str(), &req).await;
        }
        let req = RequestKind::InitProducerId(req);
        if let Some(ids) = &self.backends.producer_ids {
            return match ids.next().await {
                // Kafka gives an idempotent (non-transactional) producer a new id with epoch 0
                // on every InitProducerId, whatever id and epoch it names.
                Ok(id) => ResponseKind::InitProducerId(
                    InitProducerIdResponse::default()
                        .with_producer_id(ProducerId(id))
                        .with_producer_epoch(0),
                ),
                Err(e) => {
                    tracing::warn!("InitProducerId: {e}");
                    self.admin_failure(
                        &req,
                        ResponseError::CoordinatorNotAvailable.code(),
                        &e.to_string(),
                    )
                }
            };
        }
        match self
            .front()
            .send_any(ApiKey::InitProducerId, version, client_id, &req)
            .await
        {
            Ok(r) => r,
            Err(e) => self.admin_failed(&req, e),
        }
    }
}

/// Sends an admin request to the cluster's controller, or any broker.
async fn send_admin(
    cluster: &crate::backend::Cluster,
    api: ApiKey,
    version: i16,
    client_id: Option<StrBytes>,
    req: &RequestKind,
) -> Result<ResponseKind, BackendError> {
    match cluster.controller() {
        Some(node) => cluster.send_to(node, api, version, client_id, req).await,
        None => cluster.send_any(api, version, client_id, req).await,
    }
}
