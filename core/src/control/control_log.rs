//! The control plane's log on every cluster: rules, plugins, offset maps, the audit trail and
//! whatever else must survive restarts and reach every instance.
//!
//! Every entry is written to the state topic (`__kafkatwin_state`) of every configured
//! cluster, in order per cluster, and a change is acknowledged once a majority of them hold
//! it; with fewer, the caller gets an error naming the clusters. Each entry carries a
//! [`Stamp`] (a version later than anything its writer had seen, and the writer's id), and
//! the state is the latest entry per key. Every instance follows the log on every cluster it
//! can reach and merges them, so losing or freezing any one cluster loses nothing and stops
//! nothing: a majority read to its end holds every acknowledged change (two majorities share
//! a cluster). The instance counts as *loaded* once a majority has been read to the end, and
//! serves no client before (fail closed: no topic is served without its rules). A cluster that
//! missed entries, or came back empty, is sent the latest entry of every key it lacks
//! (anti-entropy), so every cluster converges.
//!
//! Why not the data path's replicator (one more replicated topic): the control state is a
//! map, not a sequence; per-key stamps order it whatever order clusters received entries in,
//! reading every reachable cluster needs no failover position, and a cluster's offsets are
//! never authoritative.

use crate::backend::Cluster;
use crate::base::change_error::ChangeError;
use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use crate::base::sync::lock;
use crate::control::state_log::{Entry, Stamp, StateError, StateLog};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

use crate::base::timing::CONTROL_ANTI_ENTROPY_EVERY;
use crate::base::timing::CONTROL_APPEND_WAIT;
use crate::base::timing::CONTROL_RETRY_PAUSE;
use crate::base::timing::MAJORITY_GRACE;

/// Why a change could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("written to {written} of {clusters} clusters, a majority ({majority}) is needed ({why})")]
pub struct ControlError {
    /// Clusters that took it.
    pub written: usize,
    /// Clusters configured.
    pub clusters: usize,
    /// Majority needed.
    pub majority: usize,
    /// What the others said, by cluster id.
    pub why: String,
}

/// The latest entry of a key.
#[derive(Clone)]
struct Latest {
    stamp: Stamp,
    value: Option<Bytes>,
}

/// What to do with an entry once it is the latest of its key: key, value, version.
pub type Apply = Box<dyn Fn(&str, Option<Bytes>, i64) + Send + Sync>;

/// A key, its value (`None` deletes it) and the stamp it was written with.
type StampedEntry = (String, Option<Bytes>, Stamp);

/// Where one cluster's writer reports a queued job; `None` when the writer has stopped.
struct QueuedAck {
    cluster: ClusterIdx,
    rx: Option<oneshot::Receiver<Result<(), JobError>>>,
}

/// Entries to write to one cluster in one batch.
struct Job {
    entries: Vec<StampedEntry>,
    done: Option<oneshot::Sender<Result<(), JobError>>>,
}

/// Why one cluster did not take a batch of entries.
#[derive(Debug, thiserror::Error)]
enum JobError {
    /// Its state log refused or failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// It did not answer in time.
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    /// Its writer task has stopped (the proxy is shutting down).
    #[error("its writer stopped")]
    WriterStopped,
}

/// The control log over every configured cluster.
pub struct ControlLog {
    /// Per cluster: its log.
    logs: PerCluster<Arc<StateLog>>,
    writer: String,
    clock: AtomicU64,
    latest: Mutex<HashMap<String, Latest>>,
    /// Per cluster: the stamp of each key's latest entry seen there.
    seen: PerCluster<Mutex<HashMap<String, Stamp>>>,
    /// Per cluster: read to its end at least once.
    caught_up: PerCluster<AtomicBool>,
    /// Per cluster: the queue of its writer task.
    queues: PerCluster<mpsc::UnboundedSender<Job>>,
    /// Per cluster: jobs queued and not yet done (the anti-entropy pass waits for none).
    queued: PerCluster<std::sync::atomic::AtomicUsize>,
    loaded: Arc<watch::Sender<bool>>,
    apply: std::sync::OnceLock<Apply>,
}

impl ControlLog {
    /// A log over `clusters` (every configured cluster); `loaded` turns true once a majority
    /// has been read to its end. Starts one writer task per cluster.
    pub fn new(clusters: &PerCluster<Arc<Cluster>>, loaded: Arc<watch::Sender<bool>>) -> Arc<Self> {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let (queues, receivers): (Vec<_>, Vec<_>) =
            clusters.iter().map(|_| mpsc::unbounded_channel()).unzip();
        let me = Arc::new(Self {
            logs: clusters.map(|c| Arc::new(StateLog::new(c.clone()))),
            writer: format!("{:016x}", h.finish()),
            clock: AtomicU64::new(0),
            latest: Mutex::default(),
            seen: clusters.map(|_| Mutex::default()),
            caught_up: clusters.map(|_| AtomicBool::new(false)),
            queues: PerCluster::from(queues),
            queued: clusters.map(|_| Default::default()),
            loaded,
            apply: std::sync::OnceLock::new(),
        });
        for (i, rx) in me.logs.indices().zip(receivers) {
            tokio::spawn(me.clone().write_loop(i, rx));
        }
        me
    }

    fn majority(&self) -> usize {
        self.logs.len() / 2 + 1
    }

    fn id(&self, i: ClusterIdx) -> &str {
        &self.logs[i].cluster().id
    }

    /// A version later than every one seen or issued here, and than the clock's
    /// milliseconds (scaled, so versions stay comparable across restarts).
    fn next_version(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
            .saturating_mul(1000);
        let mut cur = self.clock.load(Ordering::Acquire);
        loop {
            let next = (cur + 1).max(now);
            match self
                .clock
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(seen) => cur = seen,
            }
        }
    }

    /// This run's writer id, in every stamp it writes.
    pub fn writer_id(&self) -> &str {
        &self.writer
    }

    /// Appends `key = value` (`None` deletes it) to every cluster and returns its version
    /// once a majority holds it; applies it here at once.
    pub async fn append(&self, key: &str, value: Option<&[u8]>) -> Result<i64, ControlError> {
        self.append_all(&[(key, value)]).await
    }

    /// Appends several entries together (one batch per cluster, so each cluster holds all
    /// or none of them), with one version, returned once a majority holds them (0, at once,
    /// for no entries).
    pub async fn append_all(&self, entries: &[(&str, Option<&[u8]>)]) -> Result<i64, ControlError> {
        if entries.is_empty() {
            // Nothing to write: an empty record batch is no entry.
            return Ok(0);
        }
        let (entries, pending) = self.enqueue(entries);
        self.acknowledged(entries, pending, MAJORITY_GRACE).await
    }

    /// [`Self::append_all`] answered as soon as a majority holds the entries, without the
    /// grace the others get there: for a caller that waits on it in the data path (a
    /// transaction's commit), where one slow cluster must not add its delay.
    pub async fn append_to_majority(
        &self,
        entries: &[(&str, Option<&[u8]>)],
    ) -> Result<i64, ControlError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let (entries, pending) = self.enqueue(entries);
        self.acknowledged(entries, pending, Duration::ZERO).await
    }

    /// [`Self::append_all`] in two steps: the entries get their version and join every
    /// cluster's queue now, before anything appended later; the future returned waits for a
    /// majority, and may be dropped (the entries are written all the same).
    pub fn submit(
        self: &Arc<Self>,
        entries: &[(&str, Option<&[u8]>)],
    ) -> impl std::future::Future<Output = Result<i64, ControlError>> + Send + 'static {
        let queued = (!entries.is_empty()).then(|| self.enqueue(entries));
        let me = self.clone();
        async move {
            match queued {
                Some((entries, pending)) => me.acknowledged(entries, pending, MAJORITY_GRACE).await,
                None => Ok(0),
            }
        }
    }

    /// Stamps `entries` and queues them on every cluster's writer.
    fn enqueue(&self, entries: &[(&str, Option<&[u8]>)]) -> (Vec<StampedEntry>, Vec<QueuedAck>) {
        let stamp = Stamp {
            version: self.next_version(),
            writer: self.writer.clone(),
        };
        let entries: Vec<StampedEntry> = entries
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    v.map(Bytes::copy_from_slice),
                    stamp.clone(),
                )
            })
            .collect();
        let pending = self
            .queues
            .iter_indexed()
            .map(|(i, q)| {
                let (tx, rx) = oneshot::channel();
                self.queued[i].fetch_add(1, Ordering::AcqRel);
                let sent = q.send(Job {
                    entries: entries.clone(),
                    done: Some(tx),
                });
                QueuedAck {
                    cluster: i,
                    rx: sent.ok().map(|()| rx),
                }
            })
            .collect();
        (entries, pending)
    }

    /// Waits until a majority took the queued `entries` (and `grace` for the rest), then
    /// applies them here; their version.
    async fn acknowledged(
        &self,
        entries: Vec<StampedEntry>,
        pending: Vec<QueuedAck>,
        grace: Duration,
    ) -> Result<i64, ControlError> {
        let Some(stamp) = entries.first().map(|(_, _, s)| s.clone()) else {
            return Ok(0);
        };
        let mut pending: FuturesUnordered<_> = pending
            .into_iter()
            .map(|a| async move {
                let r = match a.rx {
                    Some(rx) => rx.await.unwrap_or(Err(JobError::WriterStopped)),
                    None => Err(JobError::WriterStopped),
                };
                (a.cluster, r)
            })
            .collect();
        let mut written = 0;
        let mut why = Vec::new();
        let mut grace_until = None;
        loop {
            let next = match grace_until {
                Some(t) => match tokio::time::timeout_at(t, pending.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => pending.next().await,
            };
            let Some((i, r)) = next else { break };
            match r {
                Ok(()) => written += 1,
                Err(e) => why.push(format!("{}: {e}", self.id(i))),
            }
            if written >= self.majority() && grace_until.is_none() {
                if grace.is_zero() {
                    break;
                }
                grace_until = Some(tokio::time::Instant::now() + grace);
            }
        }
        if written < self.majority() {
            return Err(ControlError {
                written,
                clusters: self.logs.len(),
                majority: self.majority(),
                why: why.join("; "),
            });
        }
        for (key, value, stamp) in entries {
            self.merge(None, &key, value, stamp);
        }
        Ok(stamp.version as i64)
    }

    /// Appends one cluster's queue in order; a failed or slow append is left to the
    /// anti-entropy pass.
    async fn write_loop(self: Arc<Self>, i: ClusterIdx, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut ensured = false;
        while let Some(job) = rx.recv().await {
            let log = &self.logs[i];
            let r = tokio::time::timeout(CONTROL_APPEND_WAIT, async {
                if !ensured {
                    log.ensure_topic().await?;
                }
                let batch: Vec<_> = job
                    .entries
                    .iter()
                    .map(|(k, v, s)| (k.as_str(), v.as_deref(), Some(s)))
                    .collect();
                log.append_all(&batch).await
            })
            .await;
            let r: Result<(), JobError> = match r {
                Ok(Ok(_)) => {
                    ensured = true;
                    for (key, _, stamp) in &job.entries {
                        self.note_seen(i, key, stamp);
                    }
                    Ok(())
                }
                Ok(Err(e)) => Err(JobError::State(e)),
                Err(_) => Err(JobError::NoAnswer(CONTROL_APPEND_WAIT)),
            };
            if let Err(e) = &r {
                ensured = false;
                tracing::debug!(
                    "control log entries {:?} not written to cluster {}: {e}",
                    job.entries.iter().map(|(k, _, _)| k).collect::<Vec<_>>(),
                    self.id(i)
                );
            }
            self.queued[i].fetch_sub(1, Ordering::AcqRel);
            if let Some(done) = job.done {
                let _ = done.send(r);
            }
        }
    }

    fn note_seen(&self, i: ClusterIdx, key: &str, stamp: &Stamp) {
        let mut seen = lock(&self.seen[i]);
        if seen.get(key).is_none_or(|s| s < stamp) {
            seen.insert(key.to_owned(), stamp.clone());
        }
    }

    /// Takes an entry (read from cluster `from`, or written here) into the merged state and
    /// applies it when it is the latest of its key.
    fn merge(&self, from: Option<ClusterIdx>, key: &str, value: Option<Bytes>, stamp: Stamp) {
        self.clock.fetch_max(stamp.version, Ordering::AcqRel);
        if let Some(i) = from {
            self.note_seen(i, key, &stamp);
        }
        let mut latest = lock(&self.latest);
        if latest.get(key).is_some_and(|l| l.stamp >= stamp) {
            return;
        }
        latest.insert(
            key.to_owned(),
            Latest {
                stamp: stamp.clone(),
                value: value.clone(),
            },
        );
        // Applied while `latest` is held: two entries of one key merged at once (read from
        // two clusters' logs) are applied in stamp order, never the older one last. The
        // books' apply functions take only their own locks and never call back here.
        if let Some(apply) = self.apply.get() {
            apply(key, value, stamp.version as i64);
        }
    }

    /// Follows every cluster's log, applying entries through `apply`, and repairs clusters
    /// that lack entries, until `stop` turns true.
    pub fn start(self: &Arc<Self>, apply: Apply, stop: watch::Receiver<bool>) {
        let _ = self.apply.set(apply);
        for i in self.logs.indices() {
            // Each follower long-polls on connections of its own: a broker answers a
            // connection's requests in order, so appends queued behind a waiting fetch on a
            // shared connection would wait for it (up to its max wait).
            let own = Arc::new(crate::backend::pool::ConnPool::default());
            tokio::spawn(crate::backend::pool::scope(
                own,
                self.clone().follow(i, stop.clone()),
            ));
        }
        tokio::spawn(self.clone().anti_entropy(stop));
    }

    /// Reads cluster `i`'s log from the start and keeps following it.
    async fn follow(self: Arc<Self>, i: ClusterIdx, mut stop: watch::Receiver<bool>) {
        let log = self.logs[i].clone();
        let mut next = 0i64;
        let mut end_at_start: Option<i64> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            let fetched = tokio::select! {
                r = log.fetch_from(next) => r,
                _ = stop.changed() => return,
            };
            let (entries, high) = match fetched {
                Ok(f) => f,
                Err(e) => {
                    if matches!(e, StateError::Records(_)) {
                        tracing::warn!("{e}");
                    } else {
                        tracing::debug!("control log on cluster {}: {e}", self.id(i));
                    }
                    if pause(&mut stop, CONTROL_RETRY_PAUSE).await {
                        return;
                    }
                    continue;
                }
            };
            if high < next {
                // The log is gone or shorter (the cluster was replaced): read it again from
                // the start; the anti-entropy pass gives it back what it lacks.
                tracing::info!(
                    "control log on cluster {} restarted at offset {high} (it was at {next}); \
                     reading it again",
                    self.id(i)
                );
                next = 0;
                lock(&self.seen[i]).clear();
                if pause(&mut stop, CONTROL_RETRY_PAUSE).await {
                    return;
                }
                continue;
            }
            let end = *end_at_start.get_or_insert(high);
            for Entry {
                offset,
                key,
                value,
                stamp,
            } in entries
            {
                if offset < next {
                    continue;
                }
                next = offset + 1;
                // Entries from before stamps: ordered by offset, below every stamped one.
                let stamp = stamp.unwrap_or(Stamp {
                    version: u64::try_from(offset).unwrap_or(0),
                    writer: String::new(),
                });
                self.merge(Some(i), &key, value, stamp);
            }
            if next >= end && !self.caught_up[i].swap(true, Ordering::AcqRel) {
                let n = self
                    .caught_up
                    .iter()
                    .filter(|c| c.load(Ordering::Acquire))
                    .count();
                tracing::info!(
                    "control log read to its end on cluster {} ({n} of {} clusters)",
                    self.id(i),
                    self.logs.len()
                );
                if n >= self.majority() && !*self.loaded.borrow() {
                    tracing::info!("control state loaded from a majority of clusters");
                    self.loaded.send_replace(true);
                }
            }
            if high == 0 && next == 0 {
                // Nothing there yet (or no topic): the writer creates it on first use.
                if pause(&mut stop, CONTROL_RETRY_PAUSE).await {
                    return;
                }
            }
        }
    }

    /// Sends every cluster that has been read to its end the latest entry of each key it
    /// lacks, every few seconds.
    async fn anti_entropy(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if pause(&mut stop, CONTROL_ANTI_ENTROPY_EVERY).await {
                return;
            }
            let latest: Vec<(String, Latest)> = {
                let l = lock(&self.latest);
                l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            for i in self.logs.indices() {
                if !self.caught_up[i].load(Ordering::Acquire)
                    || self.queued[i].load(Ordering::Acquire) > 0
                {
                    continue;
                }
                let lacking: Vec<&(String, Latest)> = {
                    let seen = lock(&self.seen[i]);
                    latest
                        .iter()
                        .filter(|(k, l)| seen.get(k).is_none_or(|s| *s < l.stamp))
                        .collect()
                };
                if lacking.is_empty() {
                    continue;
                }
                tracing::info!(
                    "control log: cluster {} lacks {} entr{}; sending them",
                    self.id(i),
                    lacking.len(),
                    if lacking.len() == 1 { "y" } else { "ies" }
                );
                // Plugin chunks before heads: the store loads a plugin once its head and every
                // chunk are there, in whatever order they came.
                for (k, l) in lacking {
                    self.queued[i].fetch_add(1, Ordering::AcqRel);
                    let _ = self.queues[i].send(Job {
                        entries: vec![(k.clone(), l.value.clone(), l.stamp.clone())],
                        done: None,
                    });
                }
            }
        }
    }
}

/// Sleeps unless stopped first; true when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => *stop.borrow(),
    }
}

/// Where a book (rules, plugins, quotas, groups, audit trail, offset maps) keeps its changes,
/// chosen when the book is made, so that no book can be left unattached by mistake.
#[derive(Clone)]
pub enum Keeping {
    /// In the control log on every cluster: every instance applies the change and a restart
    /// finds it. What the proxy always uses.
    Logged(Arc<ControlLog>),
    /// In this process only: unit tests, which have no clusters.
    Memory,
}

impl Keeping {
    /// The control log, when changes are kept there.
    pub fn log(&self) -> Option<&Arc<ControlLog>> {
        match self {
            Self::Logged(log) => Some(log),
            Self::Memory => None,
        }
    }

    /// Keeps a change of `key`: appended to the control log when changes are kept there (the
    /// offset it took), nothing more in memory. An append that fails says that `what` could
    /// not be stored.
    pub async fn store(
        &self,
        key: &str,
        value: Option<&[u8]>,
        what: impl std::fmt::Display,
    ) -> Result<Option<i64>, ChangeError> {
        let Some(log) = self.log() else {
            return Ok(None);
        };
        match log.append(key, value).await {
            Ok(offset) => Ok(Some(offset)),
            Err(e) => Err(ChangeError::unavailable(format!(
                "{what} could not be stored: {e}"
            ))),
        }
    }
}
