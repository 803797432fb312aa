//! The write path over several clusters: the fan-out of a produce, idempotent producers'
//! state, and that state rebuilt from a partition's tail.

pub(in crate::replication) mod fanout;
pub mod producers;
pub(in crate::replication) mod recover;
