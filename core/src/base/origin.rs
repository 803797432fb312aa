//! Where an entry managed through the admin API comes from.

/// The config file (read-only at run time) or the admin API (control state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The config file.
    Config,
    /// The admin API.
    Api,
}

impl Origin {
    /// How the admin API names it.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Api => "api",
        }
    }
}
