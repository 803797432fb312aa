//! Read failover without waiting for a fetch to time out. A cluster that freezes (SIGSTOP, a
//! stuck disk, a partition in the network) keeps its connections open and answers nothing: a
//! fetch to it would only be given up after its long poll plus `consumer.fetch_stall_margin`.
//! Each cluster is probed here on a connection of its own (a long-poll fetch on a shared
//! connection would hold the probe up) every [`READ_PROBE_EVERY`]; a probe unanswered within
//! `consumer.read_probe_timeout` counts as a stall: reads pass the cluster over, and fetches
//! waiting on it stop waiting and read the next cluster at once.

use crate::backend::BrokerConn;
use crate::base::cluster_idx::ClusterIdx;
use crate::replication::Replicator;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind};
use std::sync::Arc;
use tokio::sync::watch;

use crate::base::timing::READ_PROBE_EVERY;

impl Replicator {
    /// Probes every cluster for stalls until `stop` turns true (only with several clusters:
    /// one has nowhere to fail over to).
    pub fn spawn_read_watch(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        if self.clusters.len() < 2 {
            return;
        }
        for i in self.clusters.indices() {
            let (me, mut stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut conn: Option<Arc<BrokerConn>> = None;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(READ_PROBE_EVERY) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return;
                    }
                    if !me.probe_reads(i, &mut conn).await {
                        me.note_read_stall(i);
                    }
                }
            });
        }
    }

    /// One probe of cluster `i` on its own connection (opened on demand); false when it did
    /// not answer in time. A cluster that refuses connections is not a stall: its reads fail
    /// at once.
    async fn probe_reads(&self, i: ClusterIdx, conn: &mut Option<Arc<BrokerConn>>) -> bool {
        let c = &self.clusters[i];
        if conn.is_none() {
            match tokio::time::timeout(self.reading.probe_timeout, c.dedicated_conn()).await {
                Ok(Ok(opened)) => *conn = Some(opened),
                Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
        let Some(open) = conn.as_ref() else {
            return true;
        };
        let req = RequestKind::ApiVersions(ApiVersionsRequest::default());
        let answered = tokio::time::timeout(
            self.reading.probe_timeout,
            open.call(ApiKey::ApiVersions, 0, None, &req),
        )
        .await;
        match answered {
            Ok(Ok(_)) => true,
            // Closed or broken: open another next time.
            Ok(Err(_)) => {
                *conn = None;
                true
            }
            // Kept: its late answers are matched and dropped, and opening connection after
            // connection to a frozen broker would only fill its backlog.
            Err(_) => false,
        }
    }

    /// Cluster `i` stopped answering: reads pass it over and fetches waiting on it give up.
    fn note_read_stall(&self, i: ClusterIdx) {
        self.avoid_reads(i);
        self.reading.stalls[i].send_modify(|n| *n += 1);
    }

    /// A receiver that changes when cluster `i` is next seen stalled.
    pub fn read_stalls(&self, i: ClusterIdx) -> watch::Receiver<u64> {
        self.reading.stalls[i].subscribe()
    }
}
