//! Per-store resource limits that also remember whether a limit was hit, so a trap caused by
//! a refused memory growth is reported as a memory blow-up.

/// The store's limiter.
pub struct Limiter {
    /// Largest linear memory allowed, bytes.
    pub memory: usize,
    /// Set when a growth was refused.
    pub denied: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory;
        self.denied |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
