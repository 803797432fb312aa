//! Bringing clusters back into line: the background repairer and its share of a writer
//! connection, history checks before a log is extended, running digests, the admin's reseed,
//! promotion of a behind cluster when no in-sync one is reachable, and `kafkatwin compare`.

pub mod compare;
pub mod digest;
pub(in crate::replication) mod error;
pub mod history;
pub(in crate::replication) mod promote;
pub(in crate::replication) mod repairer;
pub(in crate::replication) mod reseed;
pub(in crate::replication) mod share;
