//! The rates the dashboard charts: every 2 s, the proxy's counters and latency histograms are
//! read and turned into per-second rates and p99 latencies over the interval; the last 15
//! minutes of samples are kept in memory, so a fresh page shows history.

use crate::base::metrics::Metrics;
use crate::base::sync::lock;
use crate::proxy::Proxy;
use kafkatwin_web::{ClusterSample, MetricsSample};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

use crate::base::timing::{RATE_HISTORY, RATE_SAMPLE_EVERY};

/// The samples of the last 15 minutes, oldest first.
#[derive(Default)]
pub struct RateHistory {
    samples: Mutex<VecDeque<MetricsSample>>,
}

impl RateHistory {
    /// Every kept sample, oldest first.
    pub fn all(&self) -> Vec<MetricsSample> {
        lock(&self.samples).iter().cloned().collect()
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<MetricsSample> {
        lock(&self.samples).back().cloned()
    }

    fn push(&self, s: MetricsSample) {
        let kept = (RATE_HISTORY.as_secs() / RATE_SAMPLE_EVERY.as_secs()) as usize;
        let mut q = lock(&self.samples);
        q.push_back(s);
        while q.len() > kept {
            q.pop_front();
        }
    }
}

/// A label's value in one series.
fn label<'a>(m: &'a prometheus::proto::Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

/// Counter totals by cluster label ("" for the sum over every series).
fn counter_by_cluster(families: &[MetricFamily]) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for m in families.iter().flat_map(|f| f.get_metric()) {
        let v = m.get_counter().get_value();
        *out.entry(String::new()).or_default() += v;
        *out.entry(label(m, "cluster").to_owned()).or_default() += v;
    }
    out
}

/// Cumulative bucket counts (upper bound, count) of a histogram family, by cluster label
/// ("" for the sum over every series); the last entry is +Inf (the sample count).
type Buckets = HashMap<String, Vec<(f64, u64)>>;

fn buckets_by_cluster(families: &[MetricFamily]) -> Buckets {
    let mut out: Buckets = HashMap::new();
    for m in families.iter().flat_map(|f| f.get_metric()) {
        let h = m.get_histogram();
        let series: Vec<(f64, u64)> = h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .chain(std::iter::once((f64::INFINITY, h.get_sample_count())))
            .collect();
        for key in ["", label(m, "cluster")] {
            match out.get_mut(key) {
                // Every series of a family has the same bounds.
                Some(sum) => {
                    for (s, x) in sum.iter_mut().zip(&series) {
                        s.1 += x.1;
                    }
                }
                None => {
                    out.insert(key.to_owned(), series.clone());
                }
            }
        }
    }
    out
}

/// The 99th percentile in ms of the observations between two cumulative bucket snapshots,
/// interpolated within its bucket as Prometheus' `histogram_quantile` does; `None` without
/// observations.
fn p99_ms(now: &[(f64, u64)], before: Option<&Vec<(f64, u64)>>) -> Option<f64> {
    let delta: Vec<(f64, u64)> = now
        .iter()
        .enumerate()
        .map(|(i, (b, c))| {
            let was = before.and_then(|p| p.get(i)).map_or(0, |p| p.1);
            (*b, c.saturating_sub(was))
        })
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = 0.99 * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in &delta {
        if count as f64 >= rank {
            if bound.is_infinite() {
                return Some(lower.0 * 1000.0);
            }
            let within = (count - lower.1) as f64;
            let frac = if within > 0.0 {
                (rank - lower.1 as f64) / within
            } else {
                1.0
            };
            return Some((lower.0 + (bound - lower.0) * frac) * 1000.0);
        }
        lower = (bound, count);
    }
    None
}

/// What the previous sample read, to take differences from.
struct Reading {
    at: Instant,
    produce_bytes: HashMap<String, f64>,
    produce_records: HashMap<String, f64>,
    fetch_bytes: HashMap<String, f64>,
    fetch_records: HashMap<String, f64>,
    produce_latency: Buckets,
    fetch_latency: Buckets,
}

fn read_counters(m: &Metrics) -> Reading {
    Reading {
        at: Instant::now(),
        produce_bytes: counter_by_cluster(&m.produce_bytes.collect()),
        produce_records: counter_by_cluster(&m.produce_records.collect()),
        fetch_bytes: counter_by_cluster(&m.fetch_bytes.collect()),
        fetch_records: counter_by_cluster(&m.fetch_records.collect()),
        produce_latency: buckets_by_cluster(&m.produce_latency.collect()),
        fetch_latency: buckets_by_cluster(&m.fetch_latency.collect()),
    }
}

/// Per second between two counter readings, for one key.
fn rate(now: &HashMap<String, f64>, before: &HashMap<String, f64>, key: &str, secs: f64) -> f64 {
    let d = now.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0);
    if secs > 0.0 { (d / secs).max(0.0) } else { 0.0 }
}

/// Per consumer group: the sum over its partitions of the largest lag on any cluster.
fn consumer_lag(m: &Metrics) -> BTreeMap<String, i64> {
    let mut by_partition: HashMap<(String, String, String), i64> = HashMap::new();
    for s in m.consumer_lag.collect().iter().flat_map(|f| f.get_metric()) {
        let key = (
            label(s, "group").to_owned(),
            label(s, "topic").to_owned(),
            label(s, "partition").to_owned(),
        );
        let v = s.get_gauge().get_value() as i64;
        let e = by_partition.entry(key).or_default();
        *e = (*e).max(v);
    }
    let mut out = BTreeMap::new();
    for ((group, _, _), lag) in by_partition {
        *out.entry(group).or_default() += lag;
    }
    out
}

/// One sample from two readings.
fn sample(proxy: &Proxy, now: &Reading, before: &Reading) -> MetricsSample {
    let secs = now.at.duration_since(before.at).as_secs_f64();
    let clusters = proxy
        .clusters()
        .iter()
        .map(|c| {
            let s = c.status();
            let id: &str = &s.id;
            let lag = proxy
                .replicator()
                .and_then(|r| r.status_of(id))
                .map_or(0, |r| r.lag_records);
            let view = ClusterSample {
                status: s.state.as_str().to_owned(),
                produce_bytes_per_s: rate(&now.produce_bytes, &before.produce_bytes, id, secs),
                fetch_bytes_per_s: rate(&now.fetch_bytes, &before.fetch_bytes, id, secs),
                produce_p99_ms: now
                    .produce_latency
                    .get(id)
                    .and_then(|b| p99_ms(b, before.produce_latency.get(id))),
                fetch_p99_ms: now
                    .fetch_latency
                    .get(id)
                    .and_then(|b| p99_ms(b, before.fetch_latency.get(id))),
                replication_lag_records: lag,
            };
            (id.to_owned(), view)
        })
        .collect();
    MetricsSample {
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        produce_records_per_s: rate(&now.produce_records, &before.produce_records, "", secs),
        produce_bytes_per_s: rate(&now.produce_bytes, &before.produce_bytes, "", secs),
        fetch_records_per_s: rate(&now.fetch_records, &before.fetch_records, "", secs),
        fetch_bytes_per_s: rate(&now.fetch_bytes, &before.fetch_bytes, "", secs),
        produce_p99_ms: now
            .produce_latency
            .get("")
            .and_then(|b| p99_ms(b, before.produce_latency.get(""))),
        fetch_p99_ms: now
            .fetch_latency
            .get("")
            .and_then(|b| p99_ms(b, before.fetch_latency.get(""))),
        clusters,
        consumer_lag: consumer_lag(proxy.metrics()),
    }
}

/// Samples the rates every 2 s into `history` until `stop`.
pub async fn sample_rates(
    proxy: Arc<Proxy>,
    history: Arc<RateHistory>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RATE_SAMPLE_EVERY);
    let mut before = read_counters(proxy.metrics());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let now = read_counters(proxy.metrics());
        // The first tick fires at once: an interval of zero length says nothing.
        if now.at.duration_since(before.at) < RATE_SAMPLE_EVERY / 2 {
            continue;
        }
        history.push(sample(&proxy, &now, &before));
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::p99_ms;

    #[test]
    fn p99_interpolates_within_the_bucket_of_the_interval() {
        // Bounds 1 ms, 10 ms, +Inf. Before: 100 observations under 1 ms.
        let before = vec![(0.001, 100), (0.010, 100), (f64::INFINITY, 100)];
        // Then 100 more, all between 1 and 10 ms: p99 of the interval lies in that bucket.
        let now = vec![(0.001, 100), (0.010, 200), (f64::INFINITY, 200)];
        let p = p99_ms(&now, Some(&before)).expect("observations");
        assert!((p - 9.91).abs() < 0.01, "{p}");
        // Nothing new: no percentile.
        assert_eq!(p99_ms(&before, Some(&before)), None);
        // Everything over the last bound: the last finite bound.
        let over = vec![(0.001, 0), (0.010, 0), (f64::INFINITY, 5)];
        assert_eq!(p99_ms(&over, None), Some(10.0));
    }
}
