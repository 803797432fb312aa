//! Where reads go: each partition's read cluster and offset map, and read failover.

pub(in crate::replication) mod routing;
pub(in crate::replication) mod watch;
