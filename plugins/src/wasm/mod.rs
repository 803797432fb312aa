//! The WASM plugin host.

mod bindings;
mod error;
mod host;
mod limits;
mod ticker;

pub use error::{CallError, UploadError};
pub use host::{PluginHost, PluginInfo, PluginVerdict, Sandbox};
pub use kafkatwin_plugin_sdk::Hook;
