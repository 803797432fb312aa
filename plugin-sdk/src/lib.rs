//! The plugin API: hook traits, record views and verdicts shared by native and WASM plugins (filled by the hook-pipeline and WASM issues).
