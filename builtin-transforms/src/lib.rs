//! Built-in record transforms (set/remove/rename/mask field, set header, upper/lower case) and
//! rule chains with conditions, on JSON record values. Rules use the brief's shape; they are
//! validated and compiled once (paths, regexes), then applied per record.
//!
//! Not yet wired into the proxy's hook pipeline (issue 5): this crate is the rule engine.

pub mod engine;
pub mod path;
pub mod rule;

pub use engine::{Applied, CompiledRule, RecordData, Rejected, RuleChain, Tally};
pub use rule::{Action, Condition, Hook, MaskMode, OnInvalid, Rule, RuleError};
