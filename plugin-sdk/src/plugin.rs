//! The guest-side plugin API: implement [`Plugin`] over borrowed record views, export it with
//! [`export_plugin!`](crate::export_plugin). The same code runs natively in `cargo test`
//! through [`testing`](crate::testing), which stands in for the host.

use crate::{BatchContext, RecordView, Verdict};

/// A hook point: what a plugin implements, and where a rule runs. The one hook kind shared
/// by the SDK, the rule engine and the WASM host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Hook {
    /// Produced batches, before they are written.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "on_produce"))]
    Produce,
    /// Fetched batches, before the client sees them.
    #[cfg_attr(feature = "serde", serde(rename = "on_fetch"))]
    Fetch,
    /// SASL logins.
    #[cfg_attr(feature = "serde", serde(rename = "on_auth"))]
    Auth,
}

impl Hook {
    /// Its name in rules, config and metric labels (`on_produce`, `on_fetch`, `on_auth`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::Produce => "on_produce",
            Self::Fetch => "on_fetch",
            Self::Auth => "on_auth",
        }
    }

    /// Its short name, as plugins list the hooks they implement (`produce`, `fetch`, `auth`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Produce => "produce",
            Self::Fetch => "fetch",
            Self::Auth => "auth",
        }
    }
}

/// A binding's config: string keys and values from the rule's `config` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config(pub Vec<(String, String)>);

impl Config {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated value as a list (empty entries dropped).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A KafkaTwin WASM plugin. Every method has a default that lets data through, so a plugin
/// writes only the hooks it lists in [`Plugin::HOOKS`].
pub trait Plugin: Sized + 'static {
    /// The hooks this plugin implements; the host calls no others.
    const HOOKS: &'static [Hook];

    /// Builds the plugin from its binding's config (once per instance).
    fn init(config: &Config) -> Result<Self, String>;

    /// One produced partition batch.
    fn on_produce(&self, _ctx: &BatchContext<'_>, _records: &[RecordView<'_>]) -> Verdict {
        Verdict::Keep
    }

    /// One fetched partition batch.
    fn on_fetch(&self, _ctx: &BatchContext<'_>, _records: &[RecordView<'_>]) -> Verdict {
        Verdict::Keep
    }

    /// A SASL login: `Ok(principal)` or `Err(reason)`.
    fn on_auth(
        &self,
        _mechanism: &str,
        username: &str,
        _password: &[u8],
    ) -> Result<String, String> {
        Err(format!(
            "user {username}: this plugin does not authenticate"
        ))
    }
}
