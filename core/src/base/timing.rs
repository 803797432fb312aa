//! Every fixed timeout and interval of the proxy, in one place. What an operator would tune is
//! a config key instead (`backend.*`, `consumer.*`, `producer.timeout`, `server.scale_out.*`);
//! these are the internal pacing values, chosen so that a hung cluster is noticed and worked
//! around well inside a client's default request timeout (30 s).
//!
//! Elsewhere in the proxy a span is one of these, a config value, or a span a client sent
//! ([`from_ms`]); `Duration::from_secs`/`from_millis` are refused by clippy outside this file
//! and tests, so that no pacing value hides in a handler.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

/// A span a client or a peer sent in milliseconds (a request's `timeout_ms`, a group's
/// session timeout, a stored member's timeouts); a negative one counts as zero.
pub fn from_ms(ms: impl TryInto<u64>) -> Duration {
    Duration::from_millis(ms.try_into().unwrap_or(0))
}

/// The shortest session or rebalance timeout a consumer-protocol member is given.
pub const MIN_MEMBER_TIMEOUT: Duration = Duration::from_secs(1);

// --- backend: clusters, metadata, routing -------------------------------------------------

/// Metadata refreshes for every topic run at most once per this long, so a burst of
/// NOT_LEADER answers causes one lookup.
pub const METADATA_REFRESH_GATE: Duration = Duration::from_millis(100);
/// Pause before a partition-routed request is sent again after a leader moved, times the
/// attempt number.
pub const REROUTE_BACKOFF: Duration = Duration::from_millis(50);
/// A cluster counts as healthy for membership if its last probe answered within this long.
pub const PROBE_FRESH: Duration = Duration::from_secs(3);

// --- control state: control log, producer ids ---------------------------------------------

/// How long an append to one cluster's control log may take before that cluster is skipped.
pub const CONTROL_APPEND_WAIT: Duration = Duration::from_secs(3);
/// Once a majority has answered, how long the others get (they usually answer together).
pub const MAJORITY_GRACE: Duration = Duration::from_millis(50);
/// How often the control logs are read and merged (anti-entropy between clusters).
pub const CONTROL_ANTI_ENTROPY_EVERY: Duration = Duration::from_secs(3);
/// Pause before a failed control-log step is tried again.
pub const CONTROL_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How long one cluster may take to answer a producer-id block claim.
pub const PRODUCER_ID_CLUSTER_WAIT: Duration = Duration::from_secs(3);
/// How long a schema registration waits for the control state to load (it must see the
/// subject's versions before it checks compatibility and numbers a new one).
pub const SCHEMA_LOAD_WAIT: Duration = Duration::from_secs(10);
/// Base pause before a contended producer-id block claim is retried (plus 100 ms per attempt
/// and a per-instance jitter, so two instances do not collide again).
pub const PRODUCER_ID_RETRY_BASE: Duration = Duration::from_millis(50);

// --- membership: the instance group -------------------------------------------------------

/// Pause while no cluster is healthy enough to hold the instance group.
pub const NO_GROUP_CLUSTER_PAUSE: Duration = Duration::from_secs(1);
/// Pause before rejoining the instance group after a failed join.
pub const REJOIN_PAUSE: Duration = Duration::from_millis(500);
/// Added to twice the session timeout for a JoinGroup answer (the coordinator may wait a
/// whole rebalance before answering).
pub const JOIN_EXTRA_WAIT: Duration = Duration::from_secs(5);
/// The shortest heartbeat interval (otherwise a third of the session timeout).
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(300);
/// How long DescribeGroups and LeaveGroup of the instance group may take.
pub const MEMBERSHIP_REQUEST_WAIT: Duration = Duration::from_secs(2);

// --- replication: repair, comparison, read watch ------------------------------------------

/// How often the repairer looks for clusters to repair when nothing wakes it.
pub const REPAIR_EVERY: Duration = Duration::from_millis(500);

/// The least a repair pass may copy to a cluster that takes live writes (see
/// `replication::share`): 16 MiB a pass, 32 MiB/s at the pass interval.
pub const REPAIR_MIN_BYTES_PER_PASS: u64 = 16 << 20;

/// How often the digests of every partition are read on (see `replication::digest`): reading
/// back what was written yields to the writes.
pub const DIGEST_EVERY: Duration = Duration::from_secs(1);

/// Fetches per partition and cluster in one digest pass while no write is in flight (one
/// fetch, for one partition, while writes are).
pub const DIGEST_FETCHES_PER_PASS: usize = 8;

/// Bytes one fetch of a log comparison or digest reads at most: small reads keep a broker
/// that serves them from holding up the writes for long (4 MiB reads raised produce p99
/// from 5 to 50-150 ms on a loaded 2-core machine). With the pass interval and fetch count,
/// digests read at most 4 MiB per second per partition and cluster.
pub const COMPARE_FETCH_BYTES: i32 = 512 << 10;
/// Poll interval while a stopping instance waits for its writes to the clusters to be
/// answered.
pub const DRAIN_POLL: Duration = Duration::from_millis(20);
/// Poll interval while waiting for queued repair copies to land.
pub const REPAIR_DRAIN_POLL: Duration = Duration::from_millis(5);
/// How long a log-end or leader lookup during repair may take.
pub const REPAIR_LOOKUP_WAIT: Duration = Duration::from_secs(2);
/// How long one repair copy (a Produce of up to a fetch's worth of batches) may take.
pub const REPAIR_COPY_WAIT: Duration = Duration::from_secs(30);
/// How long one step of a history comparison or recovery scan may take on a cluster.
pub const COMPARE_STEP_WAIT: Duration = Duration::from_secs(3);
/// Pause between deleting a topic and creating it again during a reseed.
pub const RESEED_CREATE_PAUSE: Duration = Duration::from_millis(250);
/// How often every cluster is probed for the read watch.
pub const READ_PROBE_EVERY: Duration = Duration::from_millis(100);
/// First and longest pause between checks of a produce's ack policy.
pub const ACK_POLL_FIRST: Duration = Duration::from_millis(10);
/// See `ACK_POLL_FIRST`; the pause doubles up to this.
pub const ACK_POLL_MAX: Duration = Duration::from_millis(200);

// --- Kafka request fields (milliseconds, as the protocol takes them) ----------------------

/// Max wait of a fetch that should answer at once with what is there (comparisons, log
/// starts). Tansu answers nothing unless a fetch may wait a little.
pub const PROMPT_FETCH_WAIT_MS: i32 = 100;
/// Max wait of a repair's fetch from the source.
pub const REPAIR_FETCH_WAIT_MS: i32 = 200;
/// Max wait of the fetch that reads a log's high watermark (its end).
pub const END_FETCH_WAIT_MS: i32 = 500;
/// Broker-side timeout of the proxy's own CreateTopics, DeleteTopics and control-log
/// produces.
pub const BROKER_REQUEST_TIMEOUT_MS: i32 = 10_000;
/// Broker-side timeout of a repair copy (see `REPAIR_COPY_WAIT`).
pub const REPAIR_COPY_TIMEOUT_MS: i32 = 30_000;

// --- hooks ---------------------------------------------------------------------------------

/// A plugin's failures are logged once per this long (per plugin and kind), not per batch.
pub const PLUGIN_FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

// --- proxy: per-API handlers ---------------------------------------------------------------

/// How long a client request that needs the control state (rules, plugins) may wait for it.
pub const CONTROL_WAIT: Duration = Duration::from_secs(5);
/// How long an admin request fanned out to every cluster (CreateTopics, DeleteTopics…) waits.
pub const ADMIN_FAN_OUT_WAIT: Duration = Duration::from_secs(5);
/// How long Metadata may wait for another cluster's answer when the first answered a topic
/// with an error.
pub const METADATA_FALLBACK_WAIT: Duration = Duration::from_secs(2);
/// How long ListOffsets may wait for a cluster's answer before trying the next.
pub const LIST_OFFSETS_WAIT: Duration = Duration::from_secs(3);
/// How long a group commit mirrored to the other clusters may take.
pub const COMMIT_MIRROR_WAIT: Duration = Duration::from_secs(2);
/// How often commits are mirrored to each cluster's own group coordinator (how stale the
/// mirrored commits may be while a cluster is up).
pub const GROUP_MIRROR_EVERY: Duration = Duration::from_secs(1);
/// How often the proxy's group coordinator expires silent members and ends overdue rounds.
pub const GROUP_TICK_EVERY: Duration = Duration::from_millis(100);

/// How long a transaction commit that could not be wholly written waits before the proxy
/// tries again on its own (a client retrying EndTxn tries at once).
pub const TXN_RETRY_PENDING_EVERY: Duration = Duration::from_secs(1);

/// The longest pause between the proxy's own tries of a commit that keeps failing.
pub const TXN_RETRY_PENDING_AT_MOST: Duration = Duration::from_secs(60);

/// The transaction timeout of an id first known from a stored commit decision (its own is
/// set again by the producer's next InitProducerId).
pub const TXN_RECOVERED_TIMEOUT: Duration = Duration::from_secs(60);
/// Heartbeat interval given to a consumer-protocol member still on its way to its target
/// (partitions to give up, or to receive once others release them): it learns of each step
/// this soon, not one configured interval later.
pub const GROUP_SETTLING_HEARTBEAT: Duration = Duration::from_millis(250);
/// Pause before a group request is retried after the coordinator moved.
pub const COORDINATOR_MOVED_PAUSE: Duration = Duration::from_millis(100);
/// Poll interval while a group request waits for its read cluster to come back or be avoided.
pub const READ_CLUSTER_POLL: Duration = Duration::from_millis(200);
/// How long the consumer-lag sampler waits for one cluster's log ends.
pub const LAG_LOOKUP_WAIT: Duration = Duration::from_secs(3);

// --- server: background samplers and the listener ------------------------------------------

/// How often every cluster's health and connection gauges are sampled.
pub const HEALTH_SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the consumer-lag gauge is updated.
pub const LAG_SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// A client's TLS handshake must be done within this.
pub const TLS_HANDSHAKE_WAIT: Duration = Duration::from_secs(10);
/// How often the listener's certificate files are checked for changes.
pub const TLS_FILE_POLL: Duration = Duration::from_secs(2);
/// An HTTP request head must arrive within this (also the idle time of a kept-alive
/// connection between requests).
pub const HTTP_HEAD_WAIT: Duration = Duration::from_secs(10);
/// How often the dashboard's rates are sampled.
pub const RATE_SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// How far back the dashboard's rates are kept in memory.
pub const RATE_HISTORY: Duration = Duration::from_secs(15 * 60);
/// Pause after a failed accept (for example out of file descriptors) before accepting again.
pub const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);
