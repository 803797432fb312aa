//! What every layer builds on: metric families, the fixed timing values, and why an admin
//! change was refused.

pub mod change_error;
pub mod metrics;
pub mod origin;
pub mod timing;
