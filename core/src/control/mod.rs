//! The control state's storage and the policies drawn from it: the state and control logs on
//! every cluster, producer ids, schema-registry claims, the audit trail, the users and ACL
//! entries, the clusters' order (topology) and the instances dividing the partitions
//! (membership).

pub mod acls;
pub mod audit_trail;
pub mod control_log;
pub mod keys;
pub mod majority;
pub mod membership;
pub mod producer_ids;
pub mod schema_claims;
pub mod schema_store;
pub mod state_log;
pub mod topology;
pub mod users;
