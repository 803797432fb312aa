//! The rule model, in the documented shape (`id`, `name`, `enabled`, `priority`, `conditions`,
//! `actions`), as it appears in YAML and in the admin API, and its validation.

use serde::{Deserialize, Serialize};

/// One transformation rule as written by users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within its topic.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Disabled rules are kept but never run.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Lower runs first; ties keep the order given.
    #[serde(default)]
    pub priority: i32,
    /// Where it runs: on produce (stored data changes) or on fetch (only what readers see).
    #[serde(default)]
    pub hook: Hook,
    /// For on_fetch rules: only these client ids (or principals) see the change; all when
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// What to do with a record whose value is not JSON when the rule needs fields.
    #[serde(default)]
    pub on_invalid: OnInvalid,
    /// All must hold (use `any_of` for OR).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Applied in order.
    pub actions: Vec<Action>,
}

fn yes() -> bool {
    true
}

/// Hook points: a rule runs `on_produce` (stored data changes) or `on_fetch` (only what
/// readers see); `on_auth` is refused for rules (SASL plugins are bound by `auth.plugins`).
pub use kafkatwin_plugin_sdk::Hook;

/// Behaviour for values that are not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Leave the record unchanged (counted as skipped).
    #[default]
    Skip,
    /// Reject the batch.
    Reject,
}

/// A condition on a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The field is present (even if null).
    FieldExists {
        /// Field path.
        field: String,
    },
    /// The field equals a JSON value.
    FieldEquals {
        /// Field path.
        field: String,
        /// The value to compare with.
        value: serde_json::Value,
    },
    /// The field (a string, or a number as text) matches a regular expression.
    FieldMatches {
        /// Field path.
        field: String,
        /// Regular expression.
        pattern: String,
    },
    /// The record has a header with this name.
    HeaderExists {
        /// Header name.
        #[serde(alias = "field")]
        header: String,
    },
    /// The record has a header with this name and UTF-8 value.
    HeaderEquals {
        /// Header name.
        #[serde(alias = "field")]
        header: String,
        /// Header value.
        value: String,
    },
    /// The record key (as UTF-8) matches a regular expression.
    KeyMatches {
        /// Regular expression.
        pattern: String,
    },
    /// At least one of these holds.
    AnyOf {
        /// The alternatives.
        conditions: Vec<Condition>,
    },
}

/// How `mask_field` hides a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskMode {
    /// Every character becomes `*`.
    #[default]
    Full,
    /// All but the last `keep_last` characters become `*`.
    KeepLast,
    /// `sha256:` + hex of SHA-256(salt ‖ value): masked values still join.
    Hash,
}

/// An action on a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Sets a field (creating parent objects for dotted paths).
    SetField {
        /// Field path.
        field: String,
        /// The value.
        value: serde_json::Value,
    },
    /// Removes a field.
    RemoveField {
        /// Field path.
        field: String,
    },
    /// Renames a field's key within its object.
    RenameField {
        /// Field path.
        field: String,
        /// The new key.
        to: String,
    },
    /// Masks a field's value.
    MaskField {
        /// Field path.
        field: String,
        /// How.
        #[serde(default)]
        mode: MaskMode,
        /// Characters left visible with `keep_last`.
        #[serde(default = "four")]
        keep_last: usize,
        /// Salt for `hash`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        salt: Option<String>,
    },
    /// Sets a header (replacing one of the same name).
    SetHeader {
        /// Header name (the config calls it `field`).
        #[serde(alias = "header")]
        field: String,
        /// Header value.
        value: String,
    },
    /// Upper-cases a string field.
    UppercaseField {
        /// Field path.
        field: String,
    },
    /// Lower-cases a string field.
    LowercaseField {
        /// Field path.
        field: String,
    },
    /// Runs an uploaded WASM plugin on each batch; the rule's only action, with no
    /// conditions (the plugin decides per record).
    Wasm {
        /// The uploaded plugin's name.
        plugin: String,
        /// The plugin's `init` settings.
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        config: serde_json::Map<String, serde_json::Value>,
        /// What a failing plugin (trap, timeout, memory, missing) does to the batch.
        #[serde(default)]
        on_error: OnError,
    },
    /// Checks each record's key or value against the schema registry; an invalid record
    /// rejects its batch. The rule's only action, with no conditions, on_produce only.
    ValidateSchema {
        /// The subject; default `<topic>-value` or `<topic>-key` (the topic-name strategy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// Which part of the record is checked.
        #[serde(default)]
        part: SchemaPart,
        /// How the record carries its schema.
        #[serde(default)]
        format: SchemaFormat,
    },
}

/// Which part of a record `validate_schema` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaPart {
    /// The value.
    #[default]
    Value,
    /// The key.
    Key,
}

impl SchemaPart {
    /// `value` or `key`: the suffix of the topic-name strategy's subject.
    pub fn label(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::Key => "key",
        }
    }
}

/// How a record carries its schema, for `validate_schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaFormat {
    /// Confluent's wire format: magic byte 0, the schema id, the encoded data.
    #[default]
    Confluent,
    /// A plain JSON value, checked against the subject's latest JSON Schema.
    Json,
}

/// What a rule's WASM plugin failing (trap, timeout, memory, missing) does to the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The partition gets an error and nothing of the batch is written.
    #[default]
    Reject,
    /// The batch goes on unchanged.
    Pass,
}

fn four() -> usize {
    4
}

/// A rule that cannot be used, naming the rule and the part of it that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {field}: {message}")]
pub struct RuleError {
    /// The rule id (empty if the id itself is missing).
    pub rule: String,
    /// Where in the rule, e.g. `actions[1].field`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}
