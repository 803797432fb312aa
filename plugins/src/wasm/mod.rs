//! The WASM plugin host.

mod bindings;
mod error;
mod host;
mod limits;

pub use error::{CallError, UploadError};
pub use host::{Outcome, PluginHost, PluginInfo, Sandbox};
pub use kafkatwin_plugin_sdk::Hook;
