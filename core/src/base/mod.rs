//! What every layer builds on: clusters by index, metric families, the fixed timing values,
//! why an admin change was refused, and the one way to take a std lock.

pub mod change_error;
pub mod cluster_idx;
pub mod metrics;
pub mod origin;
pub mod sync;
pub mod timing;
