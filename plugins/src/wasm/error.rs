//! What can go wrong uploading or calling a plugin; every message names the plugin.

use std::time::Duration;

/// Why an upload was refused (the admin API answers 400, or 413 for size).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No bytes.
    #[error("plugin {name}: the module is empty (0 bytes)")]
    Empty {
        /// Plugin name.
        name: String,
    },
    /// Over `plugins.max_upload`.
    #[error(
        "plugin {name}: the module is {size} bytes, over the limit of {limit} (plugins.max_upload)"
    )]
    TooLarge {
        /// Plugin name.
        name: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A name the API cannot use.
    #[error("plugin name {name:?} is not allowed: use 1-64 letters, digits, '-' or '_'")]
    BadName {
        /// The name.
        name: String,
    },
    /// Not a WebAssembly component, or one wasmtime cannot compile.
    #[error("plugin {name}: not a valid WebAssembly component: {reason}")]
    Invalid {
        /// Plugin name.
        name: String,
        /// wasmtime's reason.
        reason: String,
    },
    /// Asks for a capability the sandbox never grants.
    #[error("plugin {name}: imports {import}, which plugins may not use (no files or sockets)")]
    ForbiddenImport {
        /// Plugin name.
        name: String,
        /// The import.
        import: String,
    },
    /// Does not implement the `kafkatwin:plugin/plugin` world.
    #[error("plugin {name}: does not implement the kafkatwin:plugin world: {reason}")]
    NotAPlugin {
        /// Plugin name.
        name: String,
        /// What is missing or wrong.
        reason: String,
    },
}

/// Why a call failed (the binding's `on_error` policy decides what happens next).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No plugin of that name is loaded.
    #[error("plugin {plugin} is not uploaded")]
    NotFound {
        /// Plugin name.
        plugin: String,
    },
    /// `init` refused the binding's config.
    #[error("plugin {plugin}: init refused its config: {reason}")]
    Init {
        /// Plugin name.
        plugin: String,
        /// The plugin's reason.
        reason: String,
    },
    /// The call ran past the CPU deadline and was interrupted.
    #[error("plugin {plugin}: {hook} interrupted after the CPU deadline of {after:?}")]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The instance tried to grow past the memory limit.
    #[error("plugin {plugin}: {hook} exceeded the memory limit of {limit} bytes")]
    Memory {
        /// Plugin name.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The plugin trapped (panic, unreachable, stack overflow…).
    #[error("plugin {plugin}: {hook} trapped: {reason}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// wasmtime's description.
        reason: String,
    },
}

impl CallError {
    /// A short label for metrics: `timeout`, `memory`, `trap`, `init`, `missing`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "missing",
            Self::Init { .. } => "init",
            Self::Timeout { .. } => "timeout",
            Self::Memory { .. } => "memory",
            Self::Trap { .. } => "trap",
        }
    }
}
