//! Waiting between attempts: exponential backoff with jitter, `Retry-After`, and the jittered
//! check interval.
//!
//! Jitter matters because a fleet that lost its collector for an hour would otherwise come back
//! in lock-step and knock it over again.

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` the agent honours; a larger one is treated as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Fraction of the check interval added or removed at random.
pub const INTERVAL_JITTER: f64 = 0.10;

/// Exponential backoff: the n-th wait is about `initial * 2^n`, capped at `max`, each wait drawn
/// between half and all of that (so attempts spread out but never hammer).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `initial` and never waiting more than `max`.
    #[must_use]
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// Same, with a fixed random seed (tests).
    #[must_use]
    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            ..Self::new(initial, max)
        }
    }

    /// The wait before the next attempt; each call doubles the base.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        let base = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        half + half.mul_f64(self.rng.f64())
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many failures in a row led here.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.attempt
    }
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP date. Capped at [`MAX_RETRY_AFTER`].
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The interval with ±[`INTERVAL_JITTER`] drawn at random, so a fleet does not check in step.
#[must_use]
pub fn jittered(interval: Duration, rng: &mut fastrand::Rng) -> Duration {
    let spread = rng.f64().mul_add(2.0, -1.0) * INTERVAL_JITTER;
    // Not `mul_f64`, which panics when the product does not fit a Duration: the configuration
    // bounds the interval, but this must not abort whatever it is given.
    Duration::try_from_secs_f64(interval.as_secs_f64() * (1.0 + spread)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stays_within_half_to_full() {
        let mut b = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(60), 7);
        let mut bases = Vec::new();
        for n in 0..12u32 {
            let d = b.next_delay();
            let base = Duration::from_secs(1)
                .saturating_mul(2u32.pow(n))
                .min(Duration::from_secs(60));
            assert!(d >= base / 2 && d <= base, "attempt {n}: {d:?} vs {base:?}");
            bases.push(base);
        }
        assert_eq!(*bases.last().unwrap(), Duration::from_secs(60));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_jitter_of_the_longest_duration_does_not_overflow() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..1000 {
            let d = jittered(Duration::MAX, &mut rng);
            assert!(d >= Duration::MAX.mul_f64(0.89), "{d:?}");
        }
    }

    #[test]
    fn the_interval_jitter_stays_within_ten_percent() {
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(900), &mut rng);
            assert!(d >= Duration::from_secs(810) && d <= Duration::from_secs(990));
        }
    }
}
