//! Failed enrollments are rate limited per source address, so the fleet secret (or a code)
//! cannot be guessed at speed. The count lives in this process: each collector limits what it
//! sees, which is enough to make guessing slow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed enrollments allowed from one address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Addresses tracked before expired entries are swept.
const SWEEP_AT: usize = 10_000;

/// Failed attempts per source address.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// How long `ip` must wait before trying again, if it failed too often.
    #[must_use]
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (since, count) = seen.get(&ip)?;
        let elapsed = now.saturating_duration_since(*since);
        (*count >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    /// Counts a failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, (since, _)| now.saturating_duration_since(*since) < WINDOW);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_too_many_failures_until_the_window_ends() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            limiter.record_failure(ip, t0);
        }
        assert_eq!(limiter.blocked(ip, t0), None);
        limiter.record_failure(ip, t0);
        assert_eq!(limiter.blocked(ip, t0), Some(WINDOW));
        assert_eq!(limiter.blocked(other, t0), None, "per address");
        assert_eq!(limiter.blocked(ip, t0 + WINDOW), None);
        limiter.record_failure(ip, t0 + WINDOW);
        assert_eq!(limiter.blocked(ip, t0 + WINDOW), None, "a new window");
    }
}
