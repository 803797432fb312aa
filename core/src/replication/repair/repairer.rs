//! The background repairer: finds clusters that missed writes and copies what they lack from
//! a cluster that has it, batch by batch in order, until they can take live writes again.

use crate::backend::{BackendError, Pending};
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::replication::Replicator;
use crate::replication::partitions::ends;
use crate::replication::partitions::lanes::{Numbering, Tp};
use crate::replication::partitions::stamps;
use crate::replication::repair::error::RepairError;
use crate::replication::repair::history;
use crate::wire::records;
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

use crate::base::timing::REPAIR_LOOKUP_WAIT;
/// Batches copied per partition per pass, so one long repair does not starve the others.
const FETCHES_PER_PASS: usize = 32;

/// How far one fetch's copy took a repair.
enum Copied {
    /// The target's physical end now, and the bytes copied: copy on from there.
    UpTo(i64, u64),
    /// Nothing more to copy now (caught up, or the source has nothing new yet).
    Done,
}

impl Replicator {
    /// Runs the repairer until `stop` turns true.
    pub fn spawn_repairer(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut was_up = PerCluster::from_fn(me.clusters.len(), |_| false);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(crate::base::timing::REPAIR_EVERY) => {}
                    _ = me.repairing.wake.notified() => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    return;
                }
                let up: PerCluster<bool> = me
                    .clusters
                    .iter()
                    .map(|c| c.status().reachable && c.admits())
                    .collect();
                for (i, u) in up.iter_indexed() {
                    if !u {
                        me.set_compared(i, false);
                    }
                }
                // Back after being down, or a connection to it was lost (it may have been
                // replaced by an empty broker): compare it with the others again.
                let came_back = up
                    .indices()
                    .any(|i| up[i] && (!was_up[i] || !me.is_compared(i)));
                if came_back {
                    match me.reconcile(&up).await {
                        Ok(()) => was_up = up.clone(),
                        Err(e) => tracing::warn!(
                            "replication check after a cluster came back failed, will retry: {e}"
                        ),
                    }
                } else {
                    was_up = up.clone();
                }
                me.repair_pass(&up).await;
                me.digest_pass(&up).await;
            }
        });
    }

    /// Waits briefly, holding the sequencer, until no write to `tp` (any partition for
    /// `None`) is in flight on the clusters in `on`.
    pub(in crate::replication) async fn drained(&self, tp: Option<&Tp>, on: &[ClusterIdx]) -> bool {
        for _ in 0..200 {
            let n: u32 = match tp {
                Some(tp) => on.iter().map(|&i| self.lanes.inflight_on(tp, i)).sum(),
                None => on.iter().map(|&i| self.lanes.total_inflight_on(i)).sum(),
            };
            if n == 0 {
                return true;
            }
            tokio::time::sleep(crate::base::timing::REPAIR_DRAIN_POLL).await;
        }
        false
    }

    /// Runs a lookup on cluster `i` while the sequencer is held: a cluster that hangs must
    /// not hold every producer for long.
    async fn bounded<T>(
        &self,
        i: ClusterIdx,
        f: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        self.clusters[i]
            .within(REPAIR_LOOKUP_WAIT, ApiKey::ListOffsets, f)
            .await
    }

    /// Compares the reachable clusters: creates topics some lack (and deletes those deleted
    /// through the proxy while they were away), reports partition-count mismatches, and marks
    /// every cluster whose partition ends short of another's as behind there.
    async fn reconcile(&self, up: &PerCluster<bool>) -> Result<(), RepairError> {
        let (live, lists) = self.topic_lists(up).await?;
        if live.iter().all(|&i| self.is_compared(i)) {
            // Only clusters that still do not answer need comparing: nothing to do yet.
            return Ok(());
        }
        // A cluster gets its producer id before it takes writes (see `stamps`).
        for &i in &live {
            if self.identities.get(i) == stamps::Sequencing::Pending
                && let Err(e) = self.ensure_identity(i, None).await
            {
                tracing::warn!(cluster = %self.clusters[i].id, "{e}");
            }
        }
        let counts = self.align_topics(&live, &lists).await?;
        self.apply_deferred(up).await?;
        // Only partitions this instance writes: another instance's writes in flight would look
        // like gaps.
        let parts: Vec<Tp> = counts
            .iter()
            .flat_map(|(t, &n)| (0..n).map(move |p| Tp::new(t.clone(), p)))
            .filter(|tp| self.owns(tp))
            .collect();
        if parts.is_empty() {
            for &i in &live {
                self.set_compared(i, true);
            }
            return Ok(());
        }
        // Histories first (no lock held: this reads several batches per partition): a
        // cluster whose log is not a prefix of the others' is divergent and left alone.
        self.compare_histories(&parts, &live).await?;
        self.compare_ends(&parts, &live).await
    }

    /// The topic lists of the clusters up that answer within the bound (`live`); one that
    /// hangs is left out (not compared, so it takes no writes) and holds up no other.
    async fn topic_lists(
        &self,
        up: &PerCluster<bool>,
    ) -> Result<
        (
            Vec<ClusterIdx>,
            HashMap<ClusterIdx, HashMap<TopicName, i32>>,
        ),
        RepairError,
    > {
        let candidates: Vec<ClusterIdx> = self.clusters.indices().filter(|&i| up[i]).collect();
        for &i in &candidates {
            self.note_losses(i);
        }
        let answers = futures::future::join_all(candidates.iter().map(|&i| {
            self.clusters[i].within(
                REPAIR_LOOKUP_WAIT,
                ApiKey::Metadata,
                ends::topics(&self.clusters[i]),
            )
        }))
        .await;
        let mut lists = HashMap::new();
        let mut live = Vec::new();
        for (&i, r) in candidates.iter().zip(answers) {
            match r {
                Ok(list) => {
                    lists.insert(i, list);
                    live.push(i);
                }
                Err(e) => tracing::info!(
                    cluster = %self.clusters[i].id,
                    "cluster {} left out of this comparison: {e}",
                    self.clusters[i].id
                ),
            }
        }
        if live.is_empty() {
            return Err(RepairError::NoClusterAnswered);
        }
        Ok((live, lists))
    }

    /// Gives every live cluster the same topics: deletes those deleted while it was away,
    /// creates those it lacks, and reports partition-count mismatches. Returns each topic's
    /// partition count (the largest any cluster has).
    async fn align_topics(
        &self,
        live: &[ClusterIdx],
        lists: &HashMap<ClusterIdx, HashMap<TopicName, i32>>,
    ) -> Result<HashMap<TopicName, i32>, RepairError> {
        let deleted = lock(&self.repairing.deleted).clone();
        let mut counts: HashMap<TopicName, i32> = HashMap::new();
        for list in lists.values() {
            for (t, &n) in list {
                if !deleted.contains(t) {
                    let c = counts.entry(t.clone()).or_default();
                    *c = (*c).max(n);
                }
            }
        }
        let mut mismatches = Vec::new();
        for &i in live {
            let c = &self.clusters[i];
            let list = &lists[&i];
            for t in deleted.iter().filter(|t| list.contains_key(*t)) {
                tracing::info!(cluster = %c.id, "deleting topic {} on {} (deleted while it was away)", t.as_str(), c.id);
                ends::delete_topic(c, t).await?;
            }
            for (t, &want) in &counts {
                match list.get(t) {
                    None => {
                        tracing::info!(cluster = %c.id, "creating topic {} ({want} partitions) on {}, which lacks it", t.as_str(), c.id);
                        ends::create_topic(c, t, want).await?;
                    }
                    Some(&have) if have != want => {
                        let m = crate::replication::Mismatch {
                            topic: t.as_str().to_owned(),
                            cluster: c.id.to_string(),
                            has: have,
                            other: want,
                        };
                        tracing::warn!("partition-count mismatch: {m}");
                        mismatches.push(m);
                    }
                    Some(_) => {}
                }
            }
        }
        *lock(&self.repairing.mismatches) = mismatches;
        Ok(counts)
    }

    /// Sends the admin requests deferred while their cluster was away to those up now.
    async fn apply_deferred(&self, up: &PerCluster<bool>) -> Result<(), RepairError> {
        let due: Vec<_> = {
            let mut d = lock(&self.repairing.deferred);
            let (now, later) = d.drain(..).partition(|(i, ..)| up[*i]);
            *d = later;
            now
        };
        for (i, api, version, req) in due {
            let c = &self.clusters[i];
            match c.send_any(api, version, None, &req).await {
                Ok(_) => tracing::info!(cluster = %c.id, "applied a deferred {api:?} on {}", c.id),
                Err(e) => {
                    lock(&self.repairing.deferred).push((i, api, version, req));
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Compares the live clusters' log ends on `parts` with no write in flight (so a slower
    /// answer is not taken for a gap), marks each one short of another as behind, and then
    /// every live cluster as compared (still under the sequencer: no write slips between).
    async fn compare_ends(&self, parts: &[Tp], live: &[ClusterIdx]) -> Result<(), RepairError> {
        let _order = self.sequencer.lock().await;
        if !self.drained(None, live).await {
            return Err(RepairError::WritesFlowing);
        }
        let found = futures::future::join_all(
            live.iter()
                .map(|&i| self.bounded(i, ends::latest(&self.clusters[i], parts))),
        )
        .await;
        let mut latest = HashMap::new();
        for (&i, r) in live.iter().zip(found) {
            latest.insert(i, r?);
        }
        for tp in parts {
            for &i in live {
                if let Some(&end) = latest[&i].get(tp) {
                    self.lanes.set_end(tp, i, end);
                }
            }
            // Compared in logical offsets (each cluster's end less its offset map).
            let logical = |i: ClusterIdx| latest[&i].get(tp).map(|&e| e - self.lanes.delta(tp, i));
            let max = live.iter().filter_map(|&i| logical(i)).max().unwrap_or(0);
            // What the clusters held before this instance wrote there: read side by side.
            self.repairing.digests.read_up_to(tp, max);
            for &i in live {
                if logical(i).unwrap_or(0) < max {
                    self.missed(tp, i, &"it holds fewer records than another cluster");
                }
            }
        }
        for &i in live {
            self.set_compared(i, true);
        }
        Ok(())
    }

    /// Where each of the clusters in `live` stands on `tp`'s history (see `history`).
    pub(in crate::replication) async fn compare_on(
        &self,
        tp: &Tp,
        live: &[ClusterIdx],
    ) -> Vec<Result<history::Standing, BackendError>> {
        let sides: Vec<history::Side> = live
            .iter()
            .map(|&i| history::Side {
                cluster: self.clusters[i].clone(),
                delta: self.lanes.delta(tp, i),
            })
            .collect();
        history::compare(tp, &sides).await.standings
    }

    /// Checks every partition's history on the clusters in `live`: behind clusters (a prefix,
    /// or nothing) are marked for repair, divergent ones are reported and excluded.
    async fn compare_histories(
        &self,
        parts: &[Tp],
        live: &[ClusterIdx],
    ) -> Result<(), RepairError> {
        for tp in parts {
            let standings = self.compare_on(tp, live).await;
            for (&i, standing) in live.iter().zip(standings) {
                match standing? {
                    history::Standing::InSync => {}
                    history::Standing::Behind(_) => {
                        self.missed(tp, i, &"its log is a prefix of another cluster's");
                    }
                    history::Standing::Divergent(at) => self.note_divergent(tp, i, at),
                }
            }
        }
        Ok(())
    }

    pub(in crate::replication) fn note_divergent(&self, tp: &Tp, i: ClusterIdx, at: i64) {
        let c = &self.clusters[i];
        let partition = tp.partition.to_string();
        self.metrics
            .partition_divergent
            .with_label_values(&[&c.id, tp.topic.as_str(), &partition])
            .set(1);
        self.metrics
            .partition_divergent_offset
            .with_label_values(&[&c.id, tp.topic.as_str(), &partition])
            .set(at);
        if self.lanes.mark_divergent(tp, i, at) {
            tracing::warn!(
                cluster = %c.id,
                "cluster {} holds another history of {tp} than the other clusters (first \
                 difference at logical offset {at}): it takes no writes and serves no reads \
                 there, and nothing is copied to it. To keep the others' history, reseed it: \
                 POST /api/v1/clusters/{}/topics/{}/reseed with {{\"confirm\": \"{}\"}} \
                 (deletes the topic on {} and copies it back from the others)",
                c.id,
                c.id,
                tp.topic.as_str(),
                tp.topic.as_str(),
                c.id
            );
        }
    }

    /// One round over every partition every reachable cluster is behind on.
    async fn repair_pass(&self, up: &PerCluster<bool>) {
        self.promote_orphaned(up).await;
        for (i, c) in self.clusters.iter_indexed() {
            // Only a target compared since it was last seen: the comparison creates the
            // topics a new, empty broker lacks (a copy to a topic it lacks would make Tansu
            // store records under no topic, readable by nobody).
            if up[i] && self.compared_since_loss(i) {
                if self.identities.get(i) == stamps::Sequencing::Pending
                    && let Err(e) = self.ensure_identity(i, None).await
                {
                    tracing::debug!(cluster = %c.id, "{e}");
                }
                let mut budget = self.repairing.share.budget(i);
                for tp in self.lanes.behind_on(i).iter().filter(|tp| self.owns(tp)) {
                    if budget == Some(0) {
                        break;
                    }
                    match self.repair_partition(i, tp, up, &mut budget).await {
                        Ok(()) => {}
                        Err(e) => {
                            tracing::warn!(cluster = %c.id, "repairing {tp} on {}: {e}", c.id)
                        }
                    }
                }
            }
            let behind_now = self.lanes.behind_on(i).len();
            self.metrics
                .replication_behind
                .with_label_values(&[&c.id])
                .set(behind_now as i64);
            self.metrics
                .replication_lag
                .with_label_values(&[&c.id])
                .set(self.lanes.lag(i));
        }
    }

    /// Copies what cluster `i` lacks on `tp` from an in-sync cluster, within `budget` bytes
    /// (`None`: no limit; spent as it copies).
    async fn repair_partition(
        &self,
        i: ClusterIdx,
        tp: &Tp,
        up: &PerCluster<bool>,
        budget: &mut Option<u64>,
    ) -> Result<(), RepairError> {
        // A source must have been compared since it was last seen: one back from an outage
        // (perhaps empty) is not yet known to hold what its lane says.
        let Some(j) = self.clusters.indices().find(|&j| {
            j != i && up[j] && self.compared_since_loss(j) && !self.lanes.is_behind(tp, j)
        }) else {
            return Ok(());
        };
        if self.lanes.inflight_on(tp, i) > 0 {
            // Earlier writes may still land there; repair from where they leave it.
            return Ok(());
        }
        // A write there failed under the proxy's producer id: the broker's sequence is not
        // known, so copies go under a new one.
        if let Some(stale) = self.lanes.stale_identity(tp, i) {
            self.ensure_identity(i, Some(stale)).await?;
        }
        let mut pos = self.target_end(i, j, tp).await?;
        // Nothing in flight there: this is its end now (lower than before if it was
        // replaced by an empty broker).
        self.lanes.set_end(tp, i, pos);
        if pos == 0 {
            self.start_backfill(i, j, tp).await?;
        }
        for _ in 0..FETCHES_PER_PASS {
            if *budget == Some(0) {
                break;
            }
            match self.copy_fetch(i, j, tp, pos).await? {
                Copied::UpTo(end, bytes) => {
                    pos = end;
                    if let Some(b) = budget.as_mut() {
                        *b = b.saturating_sub(bytes);
                    }
                }
                Copied::Done => return Ok(()),
            }
        }
        Ok(())
    }

    /// Cluster `i`'s physical end on `tp`; a missing topic is created there (as on the
    /// source `j`) and ends at 0.
    async fn target_end(&self, i: ClusterIdx, j: ClusterIdx, tp: &Tp) -> Result<i64, RepairError> {
        let (target, source) = (&self.clusters[i], &self.clusters[j]);
        Ok(match ends::end_offset(target, tp).await? {
            Some(p) => p,
            None => {
                // The topic is missing there (a replaced cluster, or auto-created elsewhere).
                let n = ends::topics(source)
                    .await?
                    .get(&tp.topic)
                    .copied()
                    .unwrap_or(tp.partition + 1);
                let code = ends::create_topic(target, &tp.topic, n).await?;
                if code != 0 {
                    // It is there after all: its end could not be read just now (a slow or
                    // restarting broker). Copying from 0 would duplicate all it holds.
                    return Err(RepairError::EndUnreadable {
                        cluster: target.id.to_string(),
                        tp: tp.to_string(),
                        code,
                    });
                }
                0
            }
        })
    }

    /// An empty target's offsets start at the source's log start: past 0 when retention or
    /// DeleteRecords removed the first records there, and 0 otherwise, whatever map it had
    /// before it was emptied (a map learned from a log it no longer holds would misplace
    /// every copy).
    async fn start_backfill(
        &self,
        i: ClusterIdx,
        j: ClusterIdx,
        tp: &Tp,
    ) -> Result<(), RepairError> {
        let (target, source) = (&self.clusters[i], &self.clusters[j]);
        // Always set before anything is copied: a map left from what the target held
        // before would start the copy elsewhere (or make the empty target look caught
        // up). A log start that cannot be read is taken as 0: if it is not, the first
        // fetch fails out of range, nothing is copied, and the next pass reads it again.
        let start = log_start(source, tp).await?;
        if let Some(delta) = backfill_delta(self.lanes.delta(tp, i), start, self.lanes.delta(tp, j))
        {
            tracing::info!(
                cluster = %target.id,
                "backfilling {tp} on {} from {}, whose log starts at offset {start}: its \
                 offset map starts there",
                target.id,
                source.id
            );
            self.note_delta(tp, i, 0, -delta);
        }
        Ok(())
    }

    /// One fetch from the source `j` copied to the target `i`, whose physical end is `pos`.
    async fn copy_fetch(
        &self,
        i: ClusterIdx,
        j: ClusterIdx,
        tp: &Tp,
        pos: i64,
    ) -> Result<Copied, RepairError> {
        let (target, source) = (&self.clusters[i], &self.clusters[j]);
        // Offsets differ by the clusters' offset maps (zero when they started together).
        let (target_delta, source_delta) = (self.lanes.delta(tp, i), self.lanes.delta(tp, j));
        let from = copy_from(pos, target_delta, source_delta);
        let f = ends::fetch(source, tp, from, crate::base::timing::REPAIR_FETCH_WAIT_MS).await?;
        if f.error_code != 0 {
            return Err(ends::fetch_failed(source, tp, from, f.error_code).into());
        }
        let list = records::batches(&f.records);
        let fresh: Vec<_> = list
            .into_iter()
            .filter(|(h, _)| h.base_offset + h.offsets > from)
            .collect();
        self.lanes.note_end(tp, i, pos);
        self.lanes.note_end(tp, j, f.high_watermark);
        if fresh.is_empty() {
            if from >= f.high_watermark {
                self.finish_repair(i, j, tp).await?;
            }
            return Ok(Copied::Done);
        }
        if let Some((h, _)) = fresh.first()
            && h.base_offset < from
        {
            // The target's end, as read, falls inside a source batch.
            let logical = h.base_offset - source_delta;
            let end = self.end_within_batch(i, j, tp, logical).await? + target_delta;
            self.lanes.note_end(tp, i, end);
            return Ok(Copied::UpTo(end, 0));
        }
        // Queue every fetched batch on the writer connection (order kept), then read the
        // answers: one round trip per fetch, not per batch.
        let mut queued = Vec::with_capacity(fresh.len());
        let mut bytes = 0u64;
        let mut expect = from;
        let mut failed = None;
        for (h, range) in fresh {
            if h.base_offset != expect {
                failed = Some(RepairError::BatchBoundaries {
                    cluster: target.id.to_string(),
                    tp: tp.to_string(),
                    end: expect,
                    copied_from: source.id.to_string(),
                    base: h.base_offset,
                });
                break;
            }
            expect += h.offsets;
            bytes += range.len() as u64;
            match self.queue_copy(i, tp, f.records.slice(range)).await {
                Ok(pending) => queued.push((h.offsets, pending)),
                Err(e) => {
                    // The queue is full, or the connection lost: copy the rest next pass.
                    failed = Some(e);
                    break;
                }
            }
        }
        let pos = self.await_copies(i, tp, queued, pos, &mut failed).await;
        if let Some(e) = failed {
            // Copies queued after the failed one were refused, or landed: either way the
            // broker's sequence is not known now.
            self.lanes.copy_failed(tp, i);
            return Err(e);
        }
        Ok(Copied::UpTo(pos, bytes))
    }

    /// Awaits every queued copy to cluster `i`, even after a failure (one left behind would
    /// still land, after the next pass had read the end without it, and be copied twice).
    /// Returns the end reached from `pos`; the first failure goes to `failed`.
    async fn await_copies(
        &self,
        i: ClusterIdx,
        tp: &Tp,
        queued: Vec<(i64, Pending)>,
        mut pos: i64,
        failed: &mut Option<RepairError>,
    ) -> i64 {
        let target = &self.clusters[i];
        for (offsets, pending) in queued {
            let base = match self.copy_answer(i, tp, pending).await {
                Ok(base) => base,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if base != pos && failed.is_none() {
                // Something else wrote here: stop, and compare its history again.
                self.set_compared(i, false);
                *failed = Some(RepairError::AnotherWriter {
                    cluster: target.id.to_string(),
                    tp: tp.to_string(),
                    expected: pos,
                    landed: base,
                });
            }
            pos = base + offsets;
            self.lanes.note_end(tp, i, pos);
            self.metrics
                .replication_repaired
                .with_label_values(&[&target.id])
                .inc_by(offsets as u64);
        }
        pos
    }

    /// Cluster `i`'s end on `tp` was read inside the source `j`'s batch at logical `base`. A
    /// broker that answers ListOffsets LATEST with its last batch's base + 1 (Tansu), with a
    /// high watermark that lags, shows its end there while holding the whole batch: when the
    /// target's batch at `base` is the source's (offsets and checksum), its logical end is
    /// that batch's end. Anything else there is another history: divergent, left alone.
    async fn end_within_batch(
        &self,
        i: ClusterIdx,
        j: ClusterIdx,
        tp: &Tp,
        base: i64,
    ) -> Result<i64, RepairError> {
        let side = |k: ClusterIdx| history::Side {
            cluster: self.clusters[k].clone(),
            delta: self.lanes.delta(tp, k),
        };
        let (theirs, ours) = (
            side(j).mark_at(tp, base).await?,
            side(i).mark_at(tp, base).await?,
        );
        let (cluster, source) = (
            self.clusters[i].id.to_string(),
            self.clusters[j].id.to_string(),
        );
        let tp_name = tp.to_string();
        Err(match (theirs, ours) {
            (Some(t), Some(o)) if t == o => return Ok(t.base + t.count),
            (Some(_), Some(o)) if o.base <= base => {
                self.note_divergent(tp, i, base);
                RepairError::Divergent {
                    cluster,
                    tp: tp_name,
                    at: base,
                    copied_from: source,
                }
            }
            _ => RepairError::EndInsideBatch {
                cluster,
                tp: tp_name,
                base,
                copied_from: source,
            },
        })
    }

    /// Queues one fetched batch for cluster `i` on its writer connection.
    async fn queue_copy(&self, i: ClusterIdx, tp: &Tp, raw: Bytes) -> Result<Pending, RepairError> {
        let c = &self.clusters[i];
        if !self.compared_since_loss(i) {
            // Its broker may have been restarted mid-pass: a copy would land at the start of
            // an empty log (another history). Compare it first.
            return Err(RepairError::NotCompared {
                cluster: c.id.to_string(),
            });
        }
        let count = records::batches(&raw).iter().map(|(h, _)| h.offsets).sum();
        let mut b = BytesMut::from(&raw[..]);
        match self.lanes.number_copy(tp, i, count, self.identities.get(i)) {
            Numbering::Stamped(s) => {
                records::stamp_in_place(&mut b, s);
            }
            Numbering::Unstamped => records::clear_in_place(&mut b),
            Numbering::Blocked => {
                return Err(RepairError::NoSequence {
                    cluster: c.id.to_string(),
                    tp: tp.to_string(),
                });
            }
        }
        // The base offset is the broker's to assign (and outside the CRC).
        b[..8].copy_from_slice(&0i64.to_be_bytes());
        let version = copy_version(c);
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(crate::base::timing::REPAIR_COPY_TIMEOUT_MS)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(tp.topic.clone())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(tp.partition)
                            .with_records(Some(b.freeze())),
                    ]),
            ]);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version);
        let mut frame = BytesMut::new();
        let encoded = header
            .encode(&mut frame, ApiKey::Produce.request_header_version(version))
            .and_then(|_| req.encode(&mut frame, version));
        if let Err(e) = encoded {
            return Err(BackendError::Encode {
                cluster: c.id.to_string(),
                api: ApiKey::Produce,
                version,
                reason: e.to_string(),
            }
            .into());
        }
        let leader = c.leader(&tp.topic, tp.partition).await;
        c.start_writer_frame(
            leader,
            ApiKey::Produce,
            version,
            frame.freeze(),
            crate::base::timing::REPAIR_COPY_WAIT,
        )
        .await
        .map_err(RepairError::from)
    }

    /// The offset a queued copy was written at.
    async fn copy_answer(
        &self,
        i: ClusterIdx,
        tp: &Tp,
        pending: Pending,
    ) -> Result<i64, RepairError> {
        let c = &self.clusters[i];
        let answer = c.finish(pending).await?;
        let ResponseKind::Produce(r) = answer.body else {
            return Err(BackendError::WrongAnswer {
                cluster: c.id.to_string(),
                api: ApiKey::Produce,
            }
            .into());
        };
        let p = r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == tp.partition)
            .cloned()
            .unwrap_or_default();
        if p.error_code != 0 {
            if p.error_code == ResponseError::NotLeaderOrFollower.code() {
                c.forget_topic(&tp.topic);
            }
            return Err(BackendError::Refused {
                cluster: c.id.to_string(),
                what: format!("copy to {tp}"),
                code: p.error_code,
            }
            .into());
        }
        Ok(p.base_offset)
    }

    /// Makes sure cluster `i` has a producer id other than `stale` (see `stamps`), within
    /// the lookup bound.
    pub(in crate::replication) async fn ensure_identity(
        &self,
        i: ClusterIdx,
        stale: Option<stamps::WriterId>,
    ) -> Result<(), BackendError> {
        let c = &self.clusters[i];
        c.within(
            REPAIR_LOOKUP_WAIT,
            ApiKey::InitProducerId,
            self.identities.ensure(i, c, stale),
        )
        .await
    }

    /// Puts cluster `i` back in sync on `tp` if, with no write in flight, it ends where the
    /// source `j` does.
    async fn finish_repair(
        &self,
        i: ClusterIdx,
        j: ClusterIdx,
        tp: &Tp,
    ) -> Result<(), RepairError> {
        let _order = self.sequencer.lock().await;
        if !self.drained(Some(tp), &[i, j]).await {
            return Ok(());
        }
        let (source_end, target_end) = futures::future::join(
            self.bounded(j, ends::end_offset(&self.clusters[j], tp)),
            self.bounded(i, ends::end_offset(&self.clusters[i], tp)),
        )
        .await;
        let (source_end, target_end) = (source_end?, target_end?);
        let shift = self.lanes.delta(tp, j) - self.lanes.delta(tp, i);
        if let (Some(s), Some(t)) = (source_end, target_end)
            && t + shift >= s
        {
            self.lanes.mark_in_sync(tp, i);
            tracing::info!(
                cluster = %self.clusters[i].id,
                "cluster {} caught up on {tp} at offset {t}; it takes live writes again",
                self.clusters[i].id
            );
        }
        Ok(())
    }
}

/// Where `source`'s log of `tp` starts: the first batch a fetch from 0 returns, else (the
/// start is past 0: out of range) what ListOffsets EARLIEST says. EARLIEST alone is not
/// trusted: Tansu has answered it past 0 for a log that starts at 0.
async fn log_start(source: &crate::backend::Cluster, tp: &Tp) -> Result<i64, BackendError> {
    let f = ends::fetch(source, tp, 0, crate::base::timing::PROMPT_FETCH_WAIT_MS).await?;
    if f.error_code == 0
        && let Some((first, _)) = records::batches(&f.records).first()
    {
        return Ok(first.base_offset);
    }
    Ok(ends::earliest(source, tp).await?.unwrap_or(0))
}

/// The offset map (physical - logical) an empty target needs when it is backfilled from a
/// source whose log starts at physical `source_start` under the source's map `source_delta`:
/// the first copy lands at physical 0 and holds the source's first logical offset. `None`
/// when the target's map already is that.
fn backfill_delta(target_delta: i64, source_start: i64, source_delta: i64) -> Option<i64> {
    let first_logical = source_start - source_delta;
    let wanted = -first_logical;
    (target_delta != wanted).then_some(wanted)
}

/// Where a copy reads the source: the target's physical end `pos` moved through both maps.
fn copy_from(pos: i64, target_delta: i64, source_delta: i64) -> i64 {
    pos + source_delta - target_delta
}

/// The Produce version repair copies use: v9 (topic names, flexible), within the cluster's.
fn copy_version(c: &crate::backend::Cluster) -> i16 {
    c.supports(ApiKey::Produce)
        .map_or(9, |r| 9.clamp(r.min, r.max.max(r.min)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake source partition (numbers only, no broker): its log start and offset map.
    struct FakeSource {
        log_start: i64,
        delta: i64,
    }

    #[test]
    fn an_empty_target_backfilled_past_the_source_log_start_starts_its_offsets_there() {
        // Retention removed the source's first 500 records.
        let source = FakeSource {
            log_start: 500,
            delta: 0,
        };
        let delta = backfill_delta(0, source.log_start, source.delta).expect("a new map");
        assert_eq!(delta, -500, "physical 0 on the target is logical 500");
        // The first copy reads the source at its log start, not at 0.
        assert_eq!(copy_from(0, delta, source.delta), 500);
        // A record at logical 742 is at 242 on the target and 742 on the source.
        assert_eq!(742 + delta, 242);
        // Already mapped: nothing to change.
        assert_eq!(backfill_delta(-500, source.log_start, source.delta), None);
    }

    #[test]
    fn a_source_with_its_own_map_or_starting_at_zero() {
        // The source itself was backfilled: physical 100 is logical 600 there.
        let source = FakeSource {
            log_start: 100,
            delta: -500,
        };
        let delta = backfill_delta(0, source.log_start, source.delta).expect("a new map");
        assert_eq!(delta, -600);
        assert_eq!(copy_from(0, delta, source.delta), 100);
        let whole = FakeSource {
            log_start: 0,
            delta: 0,
        };
        assert_eq!(backfill_delta(0, whole.log_start, whole.delta), None);
        assert_eq!(copy_from(40, 0, whole.delta), 40);
        // A target emptied (replaced) after it had learned a map from its old log: the map
        // starts over, or every copy would be read from the wrong place.
        assert_eq!(
            backfill_delta(40_151, whole.log_start, whole.delta),
            Some(0)
        );
    }
}
