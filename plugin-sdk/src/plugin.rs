//! The guest-side plugin API: implement [`Plugin`] over borrowed record views, export it with
//! [`export_plugin!`](crate::export_plugin). The same code runs natively in `cargo test`
//! through [`testing`](crate::testing), which stands in for the host.

use crate::{BatchContext, RecordView, Verdict};

/// A hook a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Produced batches, before they are written.
    Produce,
    /// Fetched batches, before the client sees them.
    Fetch,
    /// SASL logins.
    Auth,
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
