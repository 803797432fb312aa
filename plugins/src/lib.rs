//! Plugin hosts. Today: the WASM plugin host ([`wasm::PluginHost`]): components validated and
//! compiled on upload, run sandboxed (no WASI capabilities granted, a CPU deadline and a
//! memory limit per call), one warm instance reused per plugin and config.

pub mod wasm;
