//! KafkaTwin core: the Kafka protocol front, backend connections and routing, and the pieces
//! the `kafkatwin` binary assembles.

pub mod audit_trail;
pub mod backend;
pub mod change_error;
pub mod control_log;
pub mod frame;
pub mod groups;
pub mod hooks;
pub mod http;
pub mod listen;
pub mod membership;
pub mod metrics;
pub mod plugin_store;
pub mod producer_ids;
pub mod proxy;
pub mod quotas;
pub mod records;
pub mod replication;
pub mod rule_book;
pub mod samplers;
pub mod server;
pub mod state_log;
pub mod timing;
pub mod topology;
