//! Built-in record transforms (set/remove/rename/mask field, set header, upper/lower case) and
//! rule chains with conditions, on JSON record values. Rules use the documented shape; they are
//! validated and compiled once (paths, regexes), then applied per record.
//!
//! This crate is the rule engine; the proxy's hook pipeline (`core/src/hooks.rs`) runs the
//! compiled chains on produce and fetch.

pub mod engine;
pub mod path;
pub mod rule;

pub use engine::{
    Applied, CompiledRule, PluginRule, RecordData, Rejected, RuleChain, RuleCounts, SchemaRule,
    Tally, Validated, validate,
};
pub use rule::{
    Action, Condition, Hook, MaskMode, OnError, OnInvalid, Rule, RuleError, SchemaFormat,
    SchemaPart,
};
