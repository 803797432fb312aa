//! KafkaTwin configuration: the documented YAML shape, typed, with defaults, `KAFKATWIN_*`
//! environment overrides and validation that reports every problem with its key path and line.

pub mod duration;
pub mod error;
pub mod load;
pub mod model;
pub mod secret;
pub mod validate;
pub mod yaml;

pub use duration::Duration;
pub use error::{ConfigError, Problem};
pub use load::{load_file, load_str};
pub use model::*;
pub use secret::Secret;
pub use validate::parse_host_port;
