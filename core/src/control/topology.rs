//! Which clusters a write must reach and which serve reads, by the `multi_dc` strategy and
//! the clusters' health. Pure functions of the config and a health view, so
//! every strategy's sets are tested as a table.

use crate::base::cluster_idx::{ClusterIdx, PerCluster};
use kafkatwin_config::{ClusterConfig, Config, DcStrategy};

/// Clusters in authority order: by datacenter priority (when `multi_dc` is on), then cluster
/// priority, then config order. Index 0 is the authority whose offsets clients see; every
/// instance computes the same order, whatever its local datacenter. The one place config
/// order is seen: every cluster index in the process is a position in this order.
pub fn authority_order(config: &Config) -> PerCluster<&ClusterConfig> {
    let dc_priority = |id: &str| -> u32 {
        if !config.multi_dc.enabled {
            return 0;
        }
        config
            .multi_dc
            .datacenters
            .iter()
            .find(|d| d.cluster_ids.iter().any(|c| c == id))
            .map_or(u32::MAX, |d| d.priority)
    };
    let mut order: Vec<usize> = (0..config.clusters.len()).collect();
    order.sort_by_key(|&i| {
        let c = &config.clusters[i];
        (dc_priority(&c.id), c.priority, i)
    });
    order.into_iter().map(|i| &config.clusters[i]).collect()
}

/// The write and read sets at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Clusters counted by the ack policy.
    pub sync: Vec<ClusterIdx>,
    /// Clusters written in the background (not counted; repaired when they miss).
    pub background: Vec<ClusterIdx>,
    /// Clusters to read from, best first (healthy ones first; the unhealthy follow as a last
    /// resort).
    pub reads: Vec<ClusterIdx>,
}

#[derive(Debug, Clone)]
struct Dc {
    region: String,
    /// Its clusters, in authority order.
    clusters: Vec<ClusterIdx>,
}

/// The datacenter layout over the clusters in authority order.
#[derive(Debug, Clone)]
pub struct Topology {
    /// How many clusters are configured.
    clusters: usize,
    strategy: Option<DcStrategy>,
    /// Datacenters by priority.
    dcs: Vec<Dc>,
    /// The local datacenter's position in `dcs`.
    local: Option<usize>,
    prefer_local_reads: bool,
}

impl Topology {
    /// The layout of a validated config; indices are positions in [`authority_order`].
    pub fn new(config: &Config) -> Self {
        let order = authority_order(config);
        let index_of = |id: &str| order.position(|c| c.id == id);
        let md = &config.multi_dc;
        let mut dcs: Vec<(u32, String, Dc)> = md
            .datacenters
            .iter()
            .map(|d| {
                let mut clusters: Vec<ClusterIdx> =
                    d.cluster_ids.iter().filter_map(|c| index_of(c)).collect();
                clusters.sort_unstable();
                (
                    d.priority,
                    d.id.clone(),
                    Dc {
                        region: d.region.clone(),
                        clusters,
                    },
                )
            })
            .collect();
        dcs.sort_by_key(|(p, ..)| *p);
        let local = md
            .local_dc
            .as_ref()
            .and_then(|l| dcs.iter().position(|(_, id, _)| id == l));
        let enabled = md.enabled && !dcs.is_empty();
        Self {
            clusters: order.len(),
            strategy: enabled.then_some(md.strategy),
            dcs: if enabled {
                dcs.into_iter().map(|(.., d)| d).collect()
            } else {
                Vec::new()
            },
            local: local.filter(|_| enabled),
            prefer_local_reads: md.prefer_local_reads,
        }
    }

    /// The sets now, given which clusters are up.
    pub fn plan(&self, up: &PerCluster<bool>) -> Plan {
        let all: Vec<ClusterIdx> = ClusterIdx::range(self.clusters).collect();
        let is_up = |i: &ClusterIdx| up.get(*i).copied().unwrap_or(false);
        let dc_up = |d: &Dc| d.clusters.iter().any(is_up);
        let (sync, reads_first): (Vec<ClusterIdx>, Vec<ClusterIdx>) = match self.strategy {
            None | Some(DcStrategy::ActiveActive) => (all.clone(), self.local_first()),
            Some(DcStrategy::ActivePassive) => {
                // The primary is the first datacenter by priority with a cluster up: when the
                // primary is down, the next one is promoted.
                let primary = self.dcs.iter().find(|d| dc_up(d)).or(self.dcs.first());
                let set = primary.map(|d| d.clusters.clone()).unwrap_or_default();
                (set.clone(), set)
            }
            Some(DcStrategy::RegionalActive) => {
                // The local region while any of it is up; otherwise the next region (by
                // datacenter priority) that is, so writes go on rather than stop.
                let local = self.local.map(|l| self.dcs[l].region.as_str());
                let region_up = |r: &str| self.dcs.iter().any(|d| d.region == r && dc_up(d));
                let region = local
                    .filter(|r| region_up(r))
                    .or_else(|| {
                        self.dcs
                            .iter()
                            .find(|d| dc_up(d))
                            .map(|d| d.region.as_str())
                    })
                    .or(local);
                let set: Vec<ClusterIdx> = self
                    .dcs
                    .iter()
                    .filter(|d| Some(d.region.as_str()) == region)
                    .flat_map(|d| d.clusters.iter().copied())
                    .collect();
                (sorted(set.clone()), sorted(set))
            }
            Some(DcStrategy::Preferred) => {
                // The local datacenter while any of it is up; otherwise the next by priority
                // that is. Reads and writes return to it on their own once it is back.
                let chosen = self
                    .local
                    .map(|l| &self.dcs[l])
                    .filter(|d| dc_up(d))
                    .or_else(|| self.dcs.iter().find(|d| dc_up(d)))
                    .or(self.local.map(|l| &self.dcs[l]));
                let set = chosen.map(|d| d.clusters.clone()).unwrap_or_default();
                (set.clone(), set)
            }
        };
        let sync = if sync.is_empty() { all.clone() } else { sync };
        let background = all.iter().copied().filter(|i| !sync.contains(i)).collect();
        // Preferred clusters first, then the rest by authority order; within that, the
        // healthy before the unhealthy.
        let mut ranked: Vec<ClusterIdx> = reads_first;
        for i in self.local_first() {
            if !ranked.contains(&i) {
                ranked.push(i);
            }
        }
        let (mut reads, down): (Vec<ClusterIdx>, Vec<ClusterIdx>) =
            ranked.into_iter().partition(is_up);
        reads.extend(down);
        Plan {
            sync,
            background,
            reads,
        }
    }

    /// Every cluster: the local datacenter's first when reads prefer it, then by priority.
    fn local_first(&self) -> Vec<ClusterIdx> {
        let mut out = Vec::with_capacity(self.clusters);
        if self.prefer_local_reads
            && let Some(l) = self.local
        {
            out.extend(self.dcs[l].clusters.iter().copied());
        }
        let rest = self.dcs.iter().flat_map(|d| d.clusters.iter().copied());
        for i in rest.chain(ClusterIdx::range(self.clusters)) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

fn sorted(mut v: Vec<ClusterIdx>) -> Vec<ClusterIdx> {
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_config::{ClusterConfig, DatacenterConfig, MultiDcConfig};

    /// Three clusters in two datacenters: a and b in dc1 (us-east), c in dc2 (eu-west).
    /// Authority order is a, b, c (indices 0, 1, 2).
    fn config(strategy: DcStrategy, local: &str) -> Config {
        let cluster = |id: &str, priority| ClusterConfig {
            id: id.into(),
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            priority,
            weight: 100,
            tls: None,
            sasl: None,
        };
        let dc = |id: &str, region: &str, priority, ids: &[&str]| DatacenterConfig {
            id: id.into(),
            name: id.into(),
            region: region.into(),
            priority,
            cluster_ids: ids.iter().map(|s| s.to_string()).collect(),
        };
        Config {
            clusters: vec![cluster("c", 1), cluster("a", 1), cluster("b", 2)],
            multi_dc: MultiDcConfig {
                enabled: true,
                strategy,
                local_dc: Some(local.into()),
                prefer_local_reads: true,
                datacenters: vec![
                    dc("dc2", "eu-west", 2, &["c"]),
                    dc("dc1", "us-east", 1, &["a", "b"]),
                ],
            },
            ..Config::default()
        }
    }

    const A: ClusterIdx = ClusterIdx::new(0);
    const B: ClusterIdx = ClusterIdx::new(1);
    const C: ClusterIdx = ClusterIdx::new(2);

    /// Which clusters are up, in authority order.
    fn health(up: &[bool]) -> PerCluster<bool> {
        up.iter().copied().collect()
    }

    #[test]
    fn authority_order_follows_datacenter_then_cluster_priority() {
        let cfg = config(DcStrategy::ActiveActive, "dc1");
        let ids: Vec<&str> = authority_order(&cfg)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn each_strategy_sets_writes_and_reads_with_a_datacenter_down() {
        use DcStrategy::*;
        let all_up = [true, true, true];
        let dc1_down = [false, false, true];
        let dc2_down = [true, true, false];
        // (strategy, local dc, health, sync, background, reads)
        #[rustfmt::skip]
        type Row<'a> = (DcStrategy, &'a str, [bool; 3], &'a [ClusterIdx], &'a [ClusterIdx], &'a [ClusterIdx]);
        let table: &[Row] = &[
            (ActiveActive, "dc1", all_up, &[A, B, C], &[], &[A, B, C]),
            (ActiveActive, "dc2", all_up, &[A, B, C], &[], &[C, A, B]),
            (ActiveActive, "dc2", dc2_down, &[A, B, C], &[], &[A, B, C]),
            (ActiveActive, "dc1", dc1_down, &[A, B, C], &[], &[C, A, B]),
            (ActivePassive, "dc2", all_up, &[A, B], &[C], &[A, B, C]),
            (ActivePassive, "dc1", dc1_down, &[C], &[A, B], &[C, A, B]),
            (ActivePassive, "dc1", dc2_down, &[A, B], &[C], &[A, B, C]),
            (RegionalActive, "dc1", all_up, &[A, B], &[C], &[A, B, C]),
            (RegionalActive, "dc2", all_up, &[C], &[A, B], &[C, A, B]),
            (RegionalActive, "dc2", dc2_down, &[A, B], &[C], &[A, B, C]),
            (Preferred, "dc2", all_up, &[C], &[A, B], &[C, A, B]),
            (Preferred, "dc2", dc2_down, &[A, B], &[C], &[A, B, C]),
            (Preferred, "dc1", dc1_down, &[C], &[A, B], &[C, A, B]),
            (Preferred, "dc1", all_up, &[A, B], &[C], &[A, B, C]),
        ];
        for (strategy, local, up, sync, background, reads) in table {
            let plan = Topology::new(&config(*strategy, local)).plan(&health(up));
            let case = format!("{strategy:?}, local {local}, up {up:?}");
            assert_eq!(plan.sync, *sync, "sync set: {case}");
            assert_eq!(plan.background, *background, "background set: {case}");
            assert_eq!(plan.reads, *reads, "read order: {case}");
        }
    }

    #[test]
    fn without_multi_dc_every_cluster_is_sync_and_reads_go_by_priority() {
        let mut cfg = config(DcStrategy::Preferred, "dc2");
        cfg.multi_dc.enabled = false;
        // Without datacenters the order is by cluster priority: c and a (1), then b (2).
        let plan = Topology::new(&cfg).plan(&health(&[false, true, true]));
        assert_eq!(plan.sync, [A, B, C]);
        assert!(plan.background.is_empty());
        assert_eq!(plan.reads, [B, C, A], "a cluster that is down is read last");
    }
}
