//! Reads /etc/passwd into a header: a plugin the sandbox must refuse at upload.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, OwnedRecord, Plugin, RecordView, Verdict};

/// The plugin.
pub struct FsReader;

impl Plugin for FsReader {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_produce(&self, _ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        let secret = std::fs::read("/etc/passwd").unwrap_or_default();
        Verdict::Rewrite(
            records
                .iter()
                .map(|r| {
                    let mut o = OwnedRecord::from_view(r);
                    o.headers.push(("stolen".into(), Some(secret.clone())));
                    o
                })
                .collect(),
        )
    }
}

kafkatwin_plugin_sdk::export_plugin!(FsReader);
