//! Per-caller rate limits: a token bucket per caller, in a map of bounded size.
//!
//! The map keeps two generations of buckets. A caller's bucket lives in the current one (moved
//! there from the previous one when it is seen again); the current generation becomes the
//! previous one, and the previous one is forgotten, when it holds half of
//! `MaxRateLimitedCallers` or has lasted the time an empty bucket takes to fill. So memory is
//! bounded however many callers come, and a bucket forgotten by age was full again, which is
//! what a new caller gets: forgetting it changes nothing. Only a flood of more distinct callers
//! than the map holds makes it forget callers early (they start again with a full bucket).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Who a request is counted against.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The credentials the caller sent (its `Authorization` header); only their hash is kept.
    Credentials(&'a [u8]),
    /// The caller's IP address.
    Address(IpAddr),
}

/// A caller as the map keys it: credentials by a hash seeded at random per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Credentials(u64),
    Address(IpAddr),
}

/// Token buckets per caller.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// The most buckets a generation holds.
    generation_size: usize,
    /// How long an empty bucket takes to fill: the longest a generation lasts.
    refill: Duration,
    hash_seed: RandomState,
    buckets: Mutex<Generations>,
}

struct Generations {
    current: HashMap<Key, Bucket>,
    previous: HashMap<Key, Bucket>,
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_second` requests per second (above 0) per caller, bursts of up to `burst`, and
    /// buckets for at most `max_callers` callers (at least 2).
    pub fn new(per_second: f64, burst: u32, max_callers: usize) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second,
            burst,
            generation_size: (max_callers / 2).max(1),
            refill: Duration::try_from_secs_f64(burst / per_second).unwrap_or(Duration::MAX),
            hash_seed: RandomState::new(),
            buckets: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    /// Takes one request from `caller`'s bucket at `now`; when it is empty, how long until it
    /// holds one again.
    pub fn admit(&self, caller: Caller<'_>, now: Instant) -> Result<(), Duration> {
        let key = match caller {
            Caller::Credentials(credentials) => {
                Key::Credentials(self.hash_seed.hash_one(credentials))
            }
            Caller::Address(ip) => Key::Address(ip),
        };
        let mut buckets = self.buckets.lock();
        let buckets = &mut *buckets;
        if !buckets.current.contains_key(&key) {
            let aged = now.saturating_duration_since(buckets.started) >= self.refill;
            if aged || buckets.current.len() >= self.generation_size {
                buckets.previous = std::mem::take(&mut buckets.current);
                buckets.started = now;
            }
        }
        let previous = &mut buckets.previous;
        let bucket = buckets.current.entry(key).or_insert_with(|| {
            previous.remove(&key).unwrap_or(Bucket {
                tokens: self.burst,
                updated: now,
            })
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = bucket.updated.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    /// How many callers' buckets are remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        let buckets = self.buckets.lock();
        buckets.current.len() + buckets.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn address(n: u32) -> Caller<'static> {
        Caller::Address(IpAddr::V4(Ipv4Addr::from(n)))
    }

    #[test]
    fn a_caller_gets_its_burst_then_waits_for_the_rate() {
        let limiter = RateLimiter::new(2.0, 3, 100);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.admit(address(1), start), Ok(()));
        }
        let wait = limiter.admit(address(1), start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another caller has a bucket of its own; credentials are told apart by their value.
        assert_eq!(limiter.admit(address(2), start), Ok(()));
        assert_eq!(
            limiter.admit(Caller::Credentials(b"Bearer a"), start),
            Ok(())
        );
        let half_a_second = start + Duration::from_millis(500);
        assert_eq!(limiter.admit(address(1), half_a_second), Ok(()));
        assert!(limiter.admit(address(1), half_a_second).is_err());
    }

    #[test]
    fn credentials_are_limited_by_their_value_wherever_they_come_from() {
        let limiter = RateLimiter::new(1.0, 2, 100);
        let now = Instant::now();
        assert_eq!(
            limiter.admit(Caller::Credentials(b"Bearer k1"), now),
            Ok(())
        );
        assert_eq!(
            limiter.admit(Caller::Credentials(b"Bearer k1"), now),
            Ok(())
        );
        assert!(
            limiter
                .admit(Caller::Credentials(b"Bearer k1"), now)
                .is_err()
        );
        assert_eq!(
            limiter.admit(Caller::Credentials(b"Bearer k2"), now),
            Ok(())
        );
    }

    #[test]
    fn many_distinct_callers_keep_the_map_bounded() {
        let limiter = RateLimiter::new(1.0, 5, 64);
        let now = Instant::now();
        for n in 0..10_000 {
            limiter.admit(address(n), now).unwrap();
            assert!(
                limiter.remembered() <= 64,
                "{} buckets",
                limiter.remembered()
            );
        }
    }

    #[test]
    fn an_active_caller_stays_limited_while_others_come_and_go() {
        let limiter = RateLimiter::new(1.0, 2, 64);
        let now = Instant::now();
        limiter.admit(address(0), now).unwrap();
        limiter.admit(address(0), now).unwrap();
        // Enough other callers to roll the generations several times over; the limited
        // caller is seen between them and so is never forgotten.
        for n in 1..200 {
            limiter.admit(address(n), now).unwrap();
            assert!(limiter.admit(address(0), now).is_err(), "after {n} others");
        }
    }

    #[test]
    fn idle_buckets_are_forgotten_once_they_would_be_full_again() {
        let limiter = RateLimiter::new(10.0, 5, 1000);
        let start = Instant::now();
        for n in 0..100 {
            limiter.admit(address(n), start).unwrap();
        }
        assert_eq!(limiter.remembered(), 100);
        // An empty bucket fills in 0.5 s: after two such periods with other callers only,
        // the first hundred are forgotten.
        let later = start + Duration::from_millis(600);
        limiter.admit(address(1000), later).unwrap();
        limiter
            .admit(address(1001), later + Duration::from_millis(600))
            .unwrap();
        assert_eq!(limiter.remembered(), 2);
    }
}
