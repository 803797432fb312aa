//! The epoch ticker behind plugins' CPU deadlines. It ticks only while a plugin call runs:
//! an idle proxy (no plugin loaded, or none called) pays no thread waking a thousand times a
//! second.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use wasmtime::Engine;

/// Epoch tick: the CPU deadline's resolution.
pub const TICK: Duration = Duration::from_millis(1);

#[derive(Default)]
struct State {
    /// Calls running now.
    active: usize,
    /// The host is gone: the thread ends.
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    // Nothing panics while holding this lock, and a count is valid whatever happened.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Advances an engine's epoch every [`TICK`] while at least one call holds a [`Ticking`].
pub struct Ticker {
    shared: Arc<Shared>,
}

/// Held for the length of one plugin call: the epoch advances meanwhile.
pub struct Ticking<'a> {
    shared: &'a Shared,
}

impl Ticker {
    /// Starts the ticker thread for `engine`.
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                let s = &*thread_shared;
                loop {
                    let mut state = s.state();
                    while state.active == 0 && !state.stopped {
                        state = s.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    if state.stopped {
                        return;
                    }
                    drop(state);
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { shared })
    }

    /// Ticks until the returned guard is dropped.
    pub fn ticking(&self) -> Ticking<'_> {
        let mut state = self.shared.state();
        state.active += 1;
        if state.active == 1 {
            self.shared.wake.notify_one();
        }
        Ticking {
            shared: &self.shared,
        }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.active = state.active.saturating_sub(1);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.state().stopped = true;
        self.shared.wake.notify_one();
    }
}
