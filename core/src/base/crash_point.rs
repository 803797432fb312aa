//! Crash points for recovery tests: with `KAFKATWIN_CRASH_AT=<name>` set, the process stops
//! dead when it reaches the point named, as if killed there, so a test can check that a
//! restart recovers from exactly that moment. Unset (always, outside tests), a point costs
//! one comparison.

use std::sync::OnceLock;

/// The environment variable naming the point to stop at.
pub const CRASH_AT: &str = "KAFKATWIN_CRASH_AT";

/// A named point: stops the process here when [`CRASH_AT`] names it.
pub fn reached(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(CRASH_AT).ok()).as_deref() == Some(name) {
        eprintln!("{CRASH_AT}={name}: stopping here");
        std::process::abort();
    }
}
