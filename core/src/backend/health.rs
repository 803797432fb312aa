//! Cluster health and the circuit breaker, as a small state machine fed by the outcome of
//! every request and health probe.
//!
//! - healthy: the last attempts worked and answered within `degraded_latency`;
//! - degraded: answering, but slowly or with some recent failures;
//! - down: the circuit is open — after `failure_threshold` consecutive failures the cluster
//!   is skipped (requests fail fast) for `open_duration`; then the next probe or request is
//!   let through (half-open) and one success closes the circuit again.

use kafkatwin_config::CircuitBreakerConfig;
use std::time::{Duration, Instant};

/// Health as reported to the admin API and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Answering promptly.
    Healthy,
    /// Answering, but slowly or with recent failures.
    Degraded,
    /// Circuit open (or never reached).
    Down,
}

impl HealthState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }

    /// The gauge value: 2 healthy, 1 degraded, 0 down.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Healthy => 2,
            Self::Degraded => 1,
            Self::Down => 0,
        }
    }
}

/// The breaker for one cluster.
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: CircuitBreakerConfig,
    consecutive_failures: u32,
    recent_failures: u32,
    open_until: Option<Instant>,
    ever_ok: bool,
    last_latency: Option<Duration>,
    last_error: Option<String>,
    /// The last `cfg.window` outcomes, newest in bit 0; a set bit is a failure.
    outcomes: u64,
    seen: u32,
}

impl Breaker {
    /// A closed breaker for a cluster not reached yet.
    pub fn new(cfg: CircuitBreakerConfig) -> Self {
        Self {
            cfg,
            consecutive_failures: 0,
            recent_failures: 0,
            open_until: None,
            ever_ok: false,
            last_latency: None,
            last_error: None,
            outcomes: 0,
            seen: 0,
        }
    }

    fn record(&mut self, failed: bool) {
        let window = self.cfg.window.clamp(1, 64);
        let mask = if window == 64 {
            u64::MAX
        } else {
            (1u64 << window) - 1
        };
        self.outcomes = ((self.outcomes << 1) | u64::from(failed)) & mask;
        self.seen = (self.seen + 1).min(window);
    }

    /// Whether failures among the last `window` outcomes (a full window) reach the ratio.
    fn ratio_exceeded(&self) -> bool {
        let window = self.cfg.window.clamp(1, 64);
        self.cfg.failure_ratio < 1.0
            && self.seen >= window
            && f64::from(self.outcomes.count_ones()) >= self.cfg.failure_ratio * f64::from(window)
    }

    /// Whether a request may go to the cluster now (closed, or half-open after the pause).
    pub fn allows(&self, now: Instant) -> bool {
        self.open_until.is_none_or(|t| now >= t)
    }

    /// Records a success, and how long it took when that measures the cluster (probes;
    /// request durations include long polls).
    pub fn success(&mut self, latency: Option<Duration>) {
        self.record(false);
        self.consecutive_failures = 0;
        self.recent_failures = self.recent_failures.saturating_sub(1);
        self.open_until = None;
        self.ever_ok = true;
        if latency.is_some() {
            self.last_latency = latency;
        }
        if self.recent_failures == 0 {
            self.last_error = None;
        }
    }

    /// Records a failure; opens the circuit at the threshold (or re-opens it when a
    /// half-open attempt fails).
    pub fn failure(&mut self, error: String, now: Instant) {
        self.record(true);
        self.consecutive_failures += 1;
        self.recent_failures = (self.recent_failures + 1).min(self.cfg.failure_threshold * 2);
        self.last_error = Some(error);
        let half_open = self.open_until.is_some_and(|t| now >= t);
        if half_open
            || self.consecutive_failures >= self.cfg.failure_threshold
            || self.ratio_exceeded()
        {
            self.open_until = Some(now + self.cfg.open_duration.get());
            // A fresh window after each opening: the half-open attempt decides alone.
            self.outcomes = 0;
            self.seen = 0;
        }
    }

    /// The state now.
    pub fn state(&self, now: Instant) -> HealthState {
        if !self.ever_ok || self.open_until.is_some_and(|t| now < t) {
            return HealthState::Down;
        }
        if self.consecutive_failures > 0
            || self.recent_failures > 0
            || self
                .last_latency
                .is_some_and(|l| l > self.cfg.degraded_latency.get())
        {
            return HealthState::Degraded;
        }
        HealthState::Healthy
    }

    /// Whether the circuit is open now.
    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|t| now < t)
    }

    /// The last error, while failures are recent.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The last successful attempt's latency.
    pub fn last_latency(&self) -> Option<Duration> {
        self.last_latency
    }
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(CircuitBreakerConfig {
            failure_threshold: 3,
            open_duration: kafkatwin_config::Duration::from_secs(10),
            degraded_latency: kafkatwin_config::Duration::from_millis(100),
            failure_ratio: 0.5,
            window: 10,
        })
    }

    #[test]
    fn opens_at_the_threshold_half_opens_after_the_pause_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert_eq!(b.state(t0), HealthState::Down, "never reached yet");
        b.success(Some(Duration::from_millis(5)));
        assert_eq!(b.state(t0), HealthState::Healthy);
        b.failure("boom".into(), t0);
        b.failure("boom".into(), t0);
        assert_eq!(b.state(t0), HealthState::Degraded);
        assert!(b.allows(t0));
        b.failure("boom".into(), t0);
        assert_eq!(b.state(t0), HealthState::Down);
        assert!(!b.allows(t0 + Duration::from_secs(5)), "open: skipped");
        let later = t0 + Duration::from_secs(11);
        assert!(b.allows(later), "half-open after the pause");
        // A failed half-open attempt re-opens at once.
        b.failure("still down".into(), later);
        assert!(!b.allows(later + Duration::from_secs(1)));
        let much_later = later + Duration::from_secs(11);
        b.success(Some(Duration::from_millis(5)));
        assert!(b.allows(much_later));
        assert_ne!(b.state(much_later), HealthState::Down);
    }

    #[test]
    fn a_flaky_cluster_opens_on_the_failure_ratio_without_a_run_of_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        // Fail, fail, succeed: never three in a row, but two thirds of the window fail.
        for _ in 0..3 {
            b.failure("flaky".into(), t0);
            b.failure("flaky".into(), t0);
            b.success(None);
            assert!(b.allows(t0), "window not full yet");
        }
        b.failure("flaky".into(), t0);
        assert!(!b.allows(t0), "7 of the last 10 failed: open");
        assert_eq!(b.state(t0), HealthState::Down);
    }

    #[test]
    fn slow_answers_are_degraded() {
        let mut b = breaker();
        b.success(Some(Duration::from_millis(500)));
        assert_eq!(b.state(Instant::now()), HealthState::Degraded);
    }
}
