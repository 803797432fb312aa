//! DeleteRecords in logical offsets: sent to every cluster (each in its own offsets), so the
//! clusters keep holding the same records; the client gets the answer of the first cluster
//! by authority order that took it.

use super::Proxy;
use super::partitioned::{self, Tp};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::protocol::StrBytes;

impl Proxy {
    /// Answers DeleteRecords.
    pub(super) async fn delete_records(
        &self,
        version: i16,
        client_id: Option<StrBytes>,
        req: DeleteRecordsRequest,
    ) -> DeleteRecordsResponse {
        let Some(rep) = &self.backends.replicator else {
            return partitioned::route(
                &self.backends.cluster,
                version,
                client_id,
                req,
                self.retries(),
            )
            .await;
        };
        let asks = rep.clusters().iter_indexed().map(|(i, c)| {
            let mut sub = req.clone();
            for t in &mut sub.topics {
                for p in &mut t.partitions {
                    // -1 means "up to the high watermark", the same on every cluster.
                    if p.offset >= 0 {
                        p.offset += rep.delta(&Tp::new(t.name.clone(), p.partition_index), i);
                    }
                }
            }
            let client_id = client_id.clone();
            async move {
                let mut r = partitioned::route(c, version, client_id, sub, self.retries()).await;
                for t in &mut r.topics {
                    for p in &mut t.partitions {
                        if p.low_watermark >= 0 {
                            p.low_watermark -=
                                rep.delta(&Tp::new(t.name.clone(), p.partition_index), i);
                        }
                    }
                }
                r
            }
        });
        let answers = futures::future::join_all(asks).await;
        let ok = |r: &DeleteRecordsResponse| {
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .all(|p| p.error_code == 0)
        };
        let first_ok = answers.iter().position(ok).unwrap_or(0);
        answers.into_iter().nth(first_ok).unwrap_or_default()
    }
}
