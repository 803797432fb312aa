//! KafkaTwin core: the Kafka protocol front, backend connections and routing, and the pieces
//! the `kafkatwin` binary assembles. One folder per layer, bottom up (a module imports only
//! from its own layer or those below, checked by `core/tests/layers.rs`): `base` and `wire`,
//! `backend`, `control`, `replication`, `hooks`, the control plane's domain (`groups`,
//! `quotas`), `proxy`, and `app`, the process around it.

pub mod app;
pub mod backend;
pub mod base;
pub mod control;
pub mod groups;
pub mod hooks;
pub mod proxy;
pub mod quotas;
pub mod replication;
pub mod transactions;
pub mod wire;
