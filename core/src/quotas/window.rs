//! A rate measured the way Kafka measures client quotas: over a sliding window of
//! [`SAMPLES`] samples of [`SAMPLE_MS`] each, and the throttle time that brings a client over
//! its bound back to it. Same arithmetic as Kafka's `Rate` and `QuotaUtils.throttleTime`, so
//! clients see the delays they would see from a broker.

/// Samples in the window (Kafka's `quota.window.num` default).
pub const SAMPLES: usize = 11;
/// Length of one sample in milliseconds (Kafka's `quota.window.size.seconds` default).
pub const SAMPLE_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// When the sample started, in ms on the caller's clock.
    start_ms: u64,
    value: f64,
}

/// A value per second over the last [`SAMPLES`] samples.
#[derive(Debug, Clone)]
pub struct Rate {
    samples: [Sample; SAMPLES],
    current: usize,
}

impl Rate {
    /// An empty rate whose first sample starts at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            samples: [Sample {
                start_ms: now_ms,
                value: 0.0,
            }; SAMPLES],
            current: 0,
        }
    }

    /// Adds `value` at `now_ms` (negative to take back what was recorded).
    pub fn record(&mut self, value: f64, now_ms: u64) {
        let cur = self.samples[self.current];
        if now_ms.saturating_sub(cur.start_ms) >= SAMPLE_MS {
            self.current = (self.current + 1) % SAMPLES;
            self.samples[self.current] = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
        }
        self.samples[self.current].value += value;
    }

    /// Forgets samples older than the whole window, as Kafka's `purgeObsoleteSamples`.
    fn purge(&mut self, now_ms: u64) {
        let expire = SAMPLES as u64 * SAMPLE_MS;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.start_ms) >= expire {
                *s = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
    }

    /// The window the rate is taken over, in ms: since the oldest sample began, and never
    /// less than `SAMPLES - 1` whole samples (so a first burst is spread over the window
    /// rather than measured over a few milliseconds).
    fn window_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(oldest);
        elapsed.max((SAMPLES as u64 - 1) * SAMPLE_MS)
    }

    /// What the samples in the window add up to (call after `window_ms`, which purges).
    fn total(&self) -> f64 {
        self.samples.iter().map(|s| s.value).sum()
    }

    /// The value per second now.
    pub fn per_second(&mut self, now_ms: u64) -> f64 {
        let window = self.window_ms(now_ms);
        self.total().max(0.0) * 1000.0 / window as f64
    }

    /// How much more may be recorded now without the rate going over `bound` per second
    /// (negative when it is over already), and whether nothing is counted in the window.
    pub fn room(&mut self, bound: f64, now_ms: u64) -> (f64, bool) {
        let window = self.window_ms(now_ms) as f64;
        let total = self.total();
        (bound * window / 1000.0 - total, total <= 0.0)
    }

    /// How long a client must wait, in ms, for the rate to come back to `bound` per second:
    /// `(rate - bound) / bound × window`, 0 when within it, at most `max_ms`.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: u64, max_ms: u64) -> u64 {
        let rate = self.per_second(now_ms);
        if rate <= bound || bound <= 0.0 {
            return 0;
        }
        let window = self.window_ms(now_ms) as f64;
        let ms = ((rate - bound) / bound * window).round();
        (ms as u64).min(max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_burst_is_spread_over_the_whole_window() {
        let mut r = Rate::new(0);
        r.record(5000.0, 10);
        // 5000 over at least 10 s of window: 500 per second.
        assert_eq!(r.per_second(10), 500.0);
        assert_eq!(r.throttle_ms(1000.0, 10, 60_000), 0);
    }

    #[test]
    fn the_throttle_brings_the_rate_back_to_the_bound() {
        let mut r = Rate::new(0);
        r.record(20_000.0, 0);
        // 2000/s over a 10 s window against a bound of 1000/s: (2000-1000)/1000 × 10 s.
        assert_eq!(r.throttle_ms(1000.0, 0, 60_000), 10_000);
        // After waiting that long the window is 20 s... but purged past 11 s: what was
        // recorded at 0 is gone, and the rate is 0.
        assert_eq!(r.per_second(11_000), 0.0);
        // The throttle is capped.
        let mut r = Rate::new(0);
        r.record(1e9, 0);
        assert_eq!(r.throttle_ms(1.0, 0, 11_000), 11_000);
    }

    #[test]
    fn samples_roll_and_the_window_grows_with_age() {
        let mut r = Rate::new(0);
        for s in 0..11u64 {
            r.record(1000.0, s * 1000);
        }
        // 11 samples of 1000 over 10.5 s since the oldest began.
        let rate = r.per_second(10_500);
        assert!((rate - 11_000.0 / 10.5).abs() < 1e-9, "{rate}");
        // A 12th sample replaces the oldest.
        r.record(1000.0, 11_000);
        let rate = r.per_second(11_000);
        assert!((rate - 11_000.0 / 10.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn the_room_left_is_what_keeps_the_rate_at_its_bound() {
        let mut r = Rate::new(0);
        assert_eq!(r.room(100.0, 0), (1000.0, true));
        r.record(400.0, 0);
        assert_eq!(r.room(100.0, 0), (600.0, false));
        r.record(600.0, 0);
        assert_eq!(r.throttle_ms(100.0, 0, 60_000), 0);
        r.record(1.0, 0);
        assert!(r.throttle_ms(100.0, 0, 60_000) > 0);
    }

    #[test]
    fn a_recorded_value_can_be_taken_back() {
        let mut r = Rate::new(0);
        r.record(4000.0, 100);
        r.record(-4000.0, 100);
        assert_eq!(r.per_second(100), 0.0);
    }
}
