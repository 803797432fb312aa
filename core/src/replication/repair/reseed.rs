//! The admin's resolution of a divergent history: the topic is deleted on that cluster,
//! recreated, and copied back from the clusters that agree. Nothing is ever deleted or
//! overwritten without this explicit action.

use crate::backend::BackendError;
use crate::replication::Replicator;
use crate::replication::partitions::ends;
use crate::replication::partitions::lanes::Tp;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// Attempts at recreating the topic (a broker may still be finishing the deletion).
const CREATE_ATTEMPTS: u32 = 20;
use crate::base::timing::RESEED_CREATE_PAUSE;

/// Why a reseed could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ReseedError {
    /// No such cluster.
    #[error("cluster {0} is not configured")]
    UnknownCluster(String),
    /// No other cluster holds the topic to copy it from.
    #[error("cannot reseed {topic} on cluster {cluster}: no other reachable cluster holds it")]
    NoSource {
        /// Cluster id.
        cluster: String,
        /// Topic.
        topic: String,
    },
    /// A backend request failed.
    #[error("reseeding {topic} on cluster {cluster}: {source}")]
    Backend {
        /// Cluster id.
        cluster: String,
        /// Topic.
        topic: String,
        /// What failed.
        source: BackendError,
    },
}

impl Replicator {
    /// Deletes `topic` on cluster `id`, recreates it with the partition count the other
    /// clusters have, and lets the repairer copy it back; returns the partition count.
    pub async fn reseed(&self, id: &str, topic: &str) -> Result<i32, ReseedError> {
        let i = self
            .clusters
            .position(|c| &*c.id == id)
            .ok_or_else(|| ReseedError::UnknownCluster(id.to_owned()))?;
        let name = TopicName(StrBytes::from_string(topic.to_owned()));
        let fail = |source| ReseedError::Backend {
            cluster: id.to_owned(),
            topic: topic.to_owned(),
            source,
        };
        let mut partitions = None;
        for (j, c) in self.clusters.iter_indexed() {
            if j != i
                && c.admits()
                && let Ok(list) = ends::topics(c).await
                && let Some(&n) = list.get(&name)
            {
                partitions = Some(n);
                break;
            }
        }
        let n = partitions.ok_or_else(|| ReseedError::NoSource {
            cluster: id.to_owned(),
            topic: topic.to_owned(),
        })?;
        // From now on the cluster takes no writes to the topic: behind everywhere, repaired
        // from empty once recreated.
        {
            let _order = self.sequencer.lock().await;
            for p in 0..n {
                let tp = Tp::new(name.clone(), p);
                self.lanes.mark_behind(&tp, i);
                self.lanes.learn_delta(&tp, i, 0, 0);
            }
            self.drained(None, &[i]).await;
        }
        let c = &self.clusters[i];
        tracing::warn!(
            cluster = %c.id,
            "reseeding topic {topic} on cluster {id}: deleting it there and copying its {n} \
             partition(s) back from the other clusters (admin action)"
        );
        ends::delete_topic(c, &name).await.map_err(fail)?;
        c.forget_topic(&name);
        let mut last = None;
        for _ in 0..CREATE_ATTEMPTS {
            match ends::create_topic(c, &name, n).await {
                Ok(0) => {
                    last = None;
                    break;
                }
                // Typically TOPIC_ALREADY_EXISTS while the deletion completes.
                Ok(code) => {
                    last = Some(BackendError::Refused {
                        cluster: id.to_owned(),
                        what: format!("creating {topic}"),
                        code,
                    })
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(RESEED_CREATE_PAUSE).await;
        }
        if let Some(e) = last {
            return Err(fail(e));
        }
        let cleared = self.lanes.clear_divergent(&name, i);
        for p in 0..n {
            let tp = Tp::new(name.clone(), p);
            self.lanes.mark_behind(&tp, i);
            let partition = p.to_string();
            self.metrics
                .partition_divergent
                .with_label_values(&[&c.id, topic, &partition])
                .set(0);
            let _ = self
                .metrics
                .partition_divergent_offset
                .remove_label_values(&[&c.id, topic, &partition]);
        }
        // Its log starts anew: every digest of the topic is read again from the start.
        self.repairing.digests.forget_topic(&name);
        tracing::info!(
            cluster = %c.id,
            "topic {topic} recreated on cluster {id} ({} partition(s) were divergent); the \
             repairer copies it back now",
            cleared.len()
        );
        self.repairing.wake();
        Ok(n)
    }
}
