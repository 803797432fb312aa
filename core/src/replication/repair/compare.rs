//! `kafkatwin compare`: every partition of every topic read on every cluster, by the ends
//! and side by side (digests), and reported in one line each. Changes nothing.

use crate::backend::{BackendError, Cluster};
use crate::base::cluster_idx::PerCluster;
use crate::replication::partitions::ends;
use crate::replication::partitions::lanes::Tp;
use crate::replication::repair::digest;
use crate::replication::repair::history::{Side, Standing, compare};
use std::sync::Arc;

/// `kafkatwin compare`: every partition of every topic (internal `__` topics left out) on
/// `clusters` (authority order), each as one line saying whether they agree, one is a prefix
/// of another and by how much, or they diverge and where. Changes nothing. Returns the lines
/// and whether anything diverged; an error when a cluster cannot be read.
pub async fn report(
    clusters: &PerCluster<Arc<Cluster>>,
) -> Result<(Vec<String>, bool), BackendError> {
    let mut topics = std::collections::BTreeMap::new();
    for c in clusters {
        for (t, n) in ends::topics(c).await? {
            let e = topics.entry(t.as_str().to_owned()).or_insert((t, 0));
            e.1 = e.1.max(n);
        }
    }
    // One side per cluster, in authority order: the comparison's positions are theirs.
    let sides: Vec<Side> = clusters
        .iter()
        .map(|c| Side {
            cluster: c.clone(),
            delta: 0,
        })
        .collect();
    let mut lines = Vec::new();
    let mut diverged = false;
    for (topic, n) in topics.into_values() {
        for p in 0..n {
            let tp = Tp::new(topic.clone(), p);
            let cmp = compare(&tp, &sides).await;
            let src = cmp.source.unwrap_or(0);
            let src_id = &sides[src].cluster.id;
            let src_end = cmp.ends[src].unwrap_or(0);
            let mut notes = Vec::new();
            for (i, st) in cmp.standings.into_iter().enumerate() {
                let id = &sides[i].cluster.id;
                // The ends alone miss a difference in the middle: the logs are read side by
                // side (their digests) up to where the shorter one ends.
                let st = match st? {
                    st @ (Standing::InSync | Standing::Behind(_)) if i != src => {
                        let whole = digest::scan(
                            &tp,
                            &mut digest::Reference::new(&sides[src]),
                            &sides[i],
                            digest::Digest::default(),
                            usize::MAX,
                        )
                        .await?;
                        match whole {
                            digest::DigestStep::Differ(at) => Standing::Divergent(at),
                            digest::DigestStep::Agree(_) => st,
                        }
                    }
                    other => other,
                };
                match st {
                    Standing::InSync => {}
                    Standing::Behind(by) => notes.push(format!(
                        "{id} is a prefix of {src_id} ({} of {src_end} records, {by} behind)",
                        cmp.ends[i].unwrap_or(0)
                    )),
                    Standing::Divergent(at) => {
                        diverged = true;
                        notes.push(format!("{id} diverges from {src_id} at offset {at}"));
                    }
                }
            }
            lines.push(if notes.is_empty() {
                let ids: Vec<&str> = clusters.iter().map(|c| &*c.id).collect();
                format!("{tp}: agree ({src_end} records on {})", ids.join(", "))
            } else {
                format!("{tp}: {}", notes.join("; "))
            });
        }
    }
    Ok((lines, diverged))
}
