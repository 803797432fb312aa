//! The epoch ticker behind plugins' CPU deadlines. It ticks while plugin calls run and for
//! [`LINGER`] ticks after the last one: an idle proxy (no plugin loaded, or none called for a
//! while) pays no thread waking a thousand times a second, and back-to-back calls find it
//! running, so a call costs no wakeup of it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use wasmtime::Engine;

/// Epoch tick: the CPU deadline's resolution.
pub const TICK: Duration = Duration::from_millis(1);

/// Ticks the thread goes on for with no call running before it parks.
const LINGER: u32 = 100;

#[derive(Default)]
struct State {
    /// Calls running now.
    active: usize,
    /// The host is gone: the thread ends.
    stopped: bool,
    /// The thread waits for a call (so the next call must wake it).
    parked: bool,
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
                let mut idle = 0;
                loop {
                    let mut state = s.state();
                    idle = if state.active == 0 { idle + 1 } else { 0 };
                    while state.active == 0 && idle > LINGER && !state.stopped {
                        state.parked = true;
                        state = s.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                        state.parked = false;
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
        if state.parked {
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
