//! Prometheus metrics with the documented names and labels. Counters are looked up once per
//! topic per request (never per record).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The proxy's metric families, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// `kafkatwin_produce_requests_total{topic, cluster, status}`.
    pub produce_requests: IntCounterVec,
    /// `kafkatwin_produce_latency_seconds{topic, cluster}`.
    pub produce_latency: HistogramVec,
    /// `kafkatwin_produce_bytes_total{topic, cluster}`.
    pub produce_bytes: IntCounterVec,
    /// `kafkatwin_produce_records_total{topic, cluster}`.
    pub produce_records: IntCounterVec,
    /// `kafkatwin_fetch_requests_total{topic, cluster, status}`.
    pub fetch_requests: IntCounterVec,
    /// `kafkatwin_fetch_latency_seconds{topic, cluster}`.
    pub fetch_latency: HistogramVec,
    /// `kafkatwin_fetch_bytes_total{topic, cluster}`.
    pub fetch_bytes: IntCounterVec,
    /// `kafkatwin_fetch_records_total{topic, cluster}`.
    pub fetch_records: IntCounterVec,
    /// `kafkatwin_cluster_health_status{cluster}`: 2 healthy, 1 degraded, 0 down.
    pub cluster_health: IntGaugeVec,
    /// `kafkatwin_cluster_connections_active{cluster}`.
    pub cluster_connections: IntGaugeVec,
    /// `kafkatwin_client_connections_active`: client connections open now.
    pub client_connections: IntGaugeVec,
    /// `kafkatwin_requests_total{api, status}`: every client request by API.
    pub requests: IntCounterVec,
    /// `kafkatwin_fetch_read_ahead_total{outcome}`: read-aheads used or discarded.
    pub read_ahead: IntCounterVec,
    /// `kafkatwin_rule_records_total{hook, rule, outcome}`: records per rule, by outcome
    /// (applied, skipped, rejected).
    pub rule_records: IntCounterVec,
    /// `kafkatwin_hook_latency_seconds{hook}`: time to run a partition batch through its chains.
    pub hook_latency: HistogramVec,
    /// `kafkatwin_rule_seconds_total{hook, rule}`: time spent in each rule (with
    /// `kafkatwin_rule_records_total`, its mean latency per record).
    pub rule_seconds: prometheus::CounterVec,
    /// `kafkatwin_replication_lag_records{cluster}`: records other clusters hold that this one
    /// does not yet (missed writes awaiting repair, writes still on their way).
    pub replication_lag: IntGaugeVec,
    /// `kafkatwin_instance_split_brain`: 1 while another instance group is live on another
    /// cluster (see `membership`).
    pub split_brain: IntGaugeVec,
    /// `kafkatwin_consumer_group_members{group}`: members in the group's current generation.
    pub group_members: IntGaugeVec,
    /// `kafkatwin_consumer_group_rebalance_total{group}`: generations the group went through.
    pub group_rebalances: IntCounterVec,
    /// `kafkatwin_consumer_lag{group, topic, partition, cluster}`: records between the
    /// group's committed (logical) offset and the partition's end on each cluster.
    pub consumer_lag: IntGaugeVec,
    /// `kafkatwin_replication_behind_partitions{cluster}`: partitions awaiting repair.
    pub replication_behind: IntGaugeVec,
    /// `kafkatwin_replication_missed_writes_total{cluster}`: partition writes the cluster
    /// missed (down, circuit open, failed, timed out), to be repaired.
    pub replication_missed: IntCounterVec,
    /// `kafkatwin_replication_repaired_records_total{cluster}`: records copied to it by the
    /// repairer.
    pub replication_repaired: IntCounterVec,
    /// `kafkatwin_partition_divergent{cluster, topic, partition}`: 1 while the cluster holds
    /// another history of the partition (excluded from writes and reads until reseeded).
    pub partition_divergent: IntGaugeVec,
    /// `kafkatwin_partition_divergent_offset{cluster, topic, partition}`: the first logical
    /// offset from which the cluster holds other records than the others.
    pub partition_divergent_offset: IntGaugeVec,
    /// `kafkatwin_plugin_calls_total{plugin, hook, outcome}`: WASM plugin calls by outcome
    /// (ok, rewrite, reject, trap, timeout, memory, init, missing).
    pub plugin_calls: IntCounterVec,
    /// `kafkatwin_plugin_call_seconds{plugin, hook}`: time per WASM plugin call.
    pub plugin_latency: HistogramVec,
    /// `kafkatwin_quota_throttle_seconds_total{entity, kind}`: throttle time handed to
    /// clients over a quota (`kind`: produce, fetch, request).
    pub quota_throttle: prometheus::CounterVec,
    /// `kafkatwin_quota_bytes_total{entity, kind}`: bytes counted against byte-rate quotas.
    pub quota_bytes: IntCounterVec,
    /// `kafkatwin_schema_validations_total{topic, subject, outcome}`: records checked by
    /// `validate_schema` rules (`valid`, `invalid`).
    pub schema_validations: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let histogram =
            |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, prometheus::Error> {
                let h = HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ]),
                    labels,
                )?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        Ok(Self {
            produce_requests: counter(
                "kafkatwin_produce_requests_total",
                "Produce requests per topic and backend cluster, by outcome.",
                &["topic", "cluster", "status"],
            )?,
            produce_latency: histogram(
                "kafkatwin_produce_latency_seconds",
                "Time from receiving a produce request to answering it.",
                &["topic", "cluster"],
            )?,
            produce_bytes: counter(
                "kafkatwin_produce_bytes_total",
                "Record-batch bytes produced per topic and cluster.",
                &["topic", "cluster"],
            )?,
            produce_records: counter(
                "kafkatwin_produce_records_total",
                "Records produced per topic and cluster (control records not counted).",
                &["topic", "cluster"],
            )?,
            fetch_records: counter(
                "kafkatwin_fetch_records_total",
                "Records fetched per topic and cluster (control records not counted).",
                &["topic", "cluster"],
            )?,
            fetch_requests: counter(
                "kafkatwin_fetch_requests_total",
                "Fetch requests per topic and backend cluster, by outcome.",
                &["topic", "cluster", "status"],
            )?,
            fetch_latency: histogram(
                "kafkatwin_fetch_latency_seconds",
                "Time from receiving a fetch request to answering it.",
                &["topic", "cluster"],
            )?,
            fetch_bytes: counter(
                "kafkatwin_fetch_bytes_total",
                "Record-batch bytes fetched per topic and cluster.",
                &["topic", "cluster"],
            )?,
            cluster_health: gauge(
                "kafkatwin_cluster_health_status",
                "2 healthy, 1 degraded (slow or recent failures), 0 down (circuit open or never reached).",
                &["cluster"],
            )?,
            cluster_connections: gauge(
                "kafkatwin_cluster_connections_active",
                "Open connections from the proxy to the cluster's brokers.",
                &["cluster"],
            )?,
            client_connections: gauge(
                "kafkatwin_client_connections_active",
                "Open client connections to the proxy.",
                &["listener"],
            )?,
            requests: counter(
                "kafkatwin_requests_total",
                "Client requests by API and outcome.",
                &["api", "status"],
            )?,
            read_ahead: counter(
                "kafkatwin_fetch_read_ahead_total",
                "Fetches fetched ahead for consumers that are behind, by whether the next fetch used them.",
                &["outcome"],
            )?,
            rule_records: counter(
                "kafkatwin_rule_records_total",
                "Records seen by each transformation rule, by outcome (applied, skipped, rejected).",
                &["hook", "rule", "outcome"],
            )?,
            split_brain: gauge(
                "kafkatwin_instance_split_brain",
                "1 while a second kafkatwin instance group is live on another cluster.",
                &[],
            )?,
            group_members: gauge(
                "kafkatwin_consumer_group_members",
                "Members in the consumer group's current generation.",
                &["group"],
            )?,
            group_rebalances: counter(
                "kafkatwin_consumer_group_rebalance_total",
                "Rebalances (new generations) of the consumer group seen through the proxy.",
                &["group"],
            )?,
            consumer_lag: gauge(
                "kafkatwin_consumer_lag",
                "Records between the group's committed offset and the partition's end, per cluster.",
                &["group", "topic", "partition", "cluster"],
            )?,
            replication_lag: gauge(
                "kafkatwin_replication_lag_records",
                "Records other clusters hold that this one does not yet (missed writes awaiting repair, writes still on their way).",
                &["cluster"],
            )?,
            replication_behind: gauge(
                "kafkatwin_replication_behind_partitions",
                "Partitions on which the cluster missed writes and is being repaired.",
                &["cluster"],
            )?,
            replication_missed: counter(
                "kafkatwin_replication_missed_writes_total",
                "Partition writes the cluster missed (down, circuit open, failed or timed out).",
                &["cluster"],
            )?,
            replication_repaired: counter(
                "kafkatwin_replication_repaired_records_total",
                "Records the repairer copied to the cluster.",
                &["cluster"],
            )?,
            partition_divergent: gauge(
                "kafkatwin_partition_divergent",
                "1 while the cluster holds another history of the partition than the others (excluded until reseeded).",
                &["cluster", "topic", "partition"],
            )?,
            partition_divergent_offset: gauge(
                "kafkatwin_partition_divergent_offset",
                "The first logical offset from which the cluster holds other records of the partition than the others.",
                &["cluster", "topic", "partition"],
            )?,
            schema_validations: counter(
                "kafkatwin_schema_validations_total",
                "Records checked by validate_schema rules, by outcome (valid, invalid).",
                &["topic", "subject", "outcome"],
            )?,
            plugin_calls: counter(
                "kafkatwin_plugin_calls_total",
                "WASM plugin calls by outcome (ok, rewrite, reject, trap, timeout, memory, init, missing).",
                &["plugin", "hook", "outcome"],
            )?,
            plugin_latency: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "kafkatwin_plugin_call_seconds",
                        "Time per WASM plugin call (one partition batch).",
                    )
                    .buckets(vec![
                        0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                    ]),
                    &["plugin", "hook"],
                )?;
                registry.register(Box::new(h.clone()))?;
                h
            },
            quota_throttle: {
                let c = prometheus::CounterVec::new(
                    Opts::new(
                        "kafkatwin_quota_throttle_seconds_total",
                        "Throttle time handed to clients over a quota.",
                    ),
                    &["entity", "kind"],
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            quota_bytes: counter(
                "kafkatwin_quota_bytes_total",
                "Bytes counted against byte-rate quotas.",
                &["entity", "kind"],
            )?,
            rule_seconds: {
                let c = prometheus::CounterVec::new(
                    Opts::new(
                        "kafkatwin_rule_seconds_total",
                        "Time spent in each transformation rule (conditions and actions).",
                    ),
                    &["hook", "rule"],
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            hook_latency: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "kafkatwin_hook_latency_seconds",
                        "Time to run one partition's batches through its rule chains.",
                    )
                    .buckets(vec![
                        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
                    ]),
                    &["hook"],
                )?;
                registry.register(Box::new(h.clone()))?;
                h
            },
            registry,
        })
    }

    /// The name of every registered family, from each collector's descriptor: the registry's
    /// `gather()` leaves out families with no child yet, so it cannot answer this.
    pub fn family_names(&self) -> Vec<String> {
        use prometheus::core::Collector;
        // Destructured without `..` so that a new family fails to compile until it is listed.
        let Self {
            registry: _,
            produce_requests,
            produce_latency,
            produce_bytes,
            produce_records,
            fetch_requests,
            fetch_latency,
            fetch_bytes,
            fetch_records,
            cluster_health,
            cluster_connections,
            client_connections,
            requests,
            read_ahead,
            rule_records,
            hook_latency,
            rule_seconds,
            replication_lag,
            split_brain,
            group_members,
            group_rebalances,
            consumer_lag,
            replication_behind,
            replication_missed,
            replication_repaired,
            partition_divergent,
            partition_divergent_offset,
            plugin_calls,
            plugin_latency,
            quota_throttle,
            quota_bytes,
            schema_validations,
        } = self;
        let collectors: &[&dyn Collector] = &[
            produce_requests,
            produce_latency,
            produce_bytes,
            produce_records,
            fetch_requests,
            fetch_latency,
            fetch_bytes,
            fetch_records,
            cluster_health,
            cluster_connections,
            client_connections,
            requests,
            read_ahead,
            rule_records,
            hook_latency,
            rule_seconds,
            replication_lag,
            split_brain,
            group_members,
            group_rebalances,
            consumer_lag,
            replication_behind,
            replication_missed,
            replication_repaired,
            partition_divergent,
            partition_divergent_offset,
            plugin_calls,
            plugin_latency,
            quota_throttle,
            quota_bytes,
            schema_validations,
        ];
        collectors
            .iter()
            .flat_map(|c| c.desc())
            .map(|d| d.fq_name.clone())
            .collect()
    }
}
