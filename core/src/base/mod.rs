//! What every layer builds on: clusters by index, metric families, the fixed timing values,
//! why an admin change was refused, the one way to take a std lock, TLS setup and SCRAM.

pub mod change_error;
pub mod cluster_idx;
pub mod crash_point;
pub mod metrics;
pub mod origin;
pub mod scram;
pub mod sync;
pub mod timing;
pub mod tls;
