//! What every step knows of each partition: its lanes (which clusters are behind, writes in
//! flight), the proxy's producer stamps per cluster, and lookups of topics and ends.

pub(in crate::replication) mod ends;
pub mod lanes;
pub(in crate::replication) mod stamps;
