//! Circuit breakers: a component that keeps failing is skipped for a cool-down, then tried again.

use std::time::{Duration, Instant};

use cascade_core::config::EngineConf;
use parking_lot::Mutex;

#[derive(Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

/// Opens after `threshold` consecutive failures; while open, calls are skipped; after the
/// cool-down one call is let through (half-open) and its outcome closes or re-opens it.
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    /// A closed breaker with `EngineConf.BreakerFailures` and `BreakerCooldownMs`.
    pub fn from_conf(conf: &EngineConf) -> Self {
        Self::new(
            conf.breaker_failures,
            Duration::from_millis(conf.breaker_cooldown_ms),
        )
    }

    /// Whether a call may go ahead now.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock();
        match state.open_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // half-open: let this call through; a failure re-opens at once
                state.open_until = None;
                state.consecutive_failures = self.threshold - 1;
                true
            }
            None => true,
        }
    }

    /// Records a success: the breaker closes.
    pub fn success(&self) {
        *self.state.lock() = State::default();
    }

    /// Records a failure (an error or a timeout).
    pub fn failure(&self) {
        let mut state = self.state.lock();
        state.consecutive_failures += 1;
        if state.consecutive_failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_half_opens_after_the_cooldown() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(30));
        breaker.failure();
        assert!(breaker.allow());
        breaker.failure();
        assert!(!breaker.allow(), "two failures open it");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "half-open after the cool-down");
        breaker.failure();
        assert!(!breaker.allow(), "a failure while half-open re-opens it");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.success();
        breaker.failure();
        assert!(breaker.allow(), "a success closed it");
    }
}
