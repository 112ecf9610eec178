//! How times are shown: RFC 3339 in UTC for machines, plus a short age for people.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix milliseconds as RFC 3339 UTC, second precision (`2026-11-23T10:00:00Z`).
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// The UTC day (`YYYY-MM-DD`) `days` days before `now_ms`.
#[must_use]
pub fn day_before(now_ms: i64, days: u32) -> String {
    let ms = now_ms - i64::from(days) * 86_400_000;
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// How long ago `ms` was, roughly: `just now`, `5 min ago`, `3 h ago`, `12 days ago`.
#[must_use]
pub fn age(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A clock offset in words: `2 h ahead`, `3 days behind`.
#[must_use]
pub fn skew(ms: i64) -> String {
    let direction = if ms >= 0 { "ahead" } else { "behind" };
    let secs = ms.unsigned_abs() / 1000;
    let amount = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    };
    format!("{amount} {direction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_as_utc_rfc3339() {
        assert_eq!(rfc3339(1_795_428_000_000), "2026-11-23T10:00:00Z");
        assert_eq!(day_before(1_795_428_000_000, 1), "2026-11-22");
    }

    #[test]
    fn ages_round_down_to_a_readable_unit() {
        assert_eq!(age(0, 30_000), "just now");
        assert_eq!(age(0, 5 * 60_000), "5 min ago");
        assert_eq!(age(0, 3 * 3_600_000), "3 h ago");
        assert_eq!(age(0, 12 * 86_400_000), "12 days ago");
    }

    #[test]
    fn a_clock_skew_says_which_way() {
        assert_eq!(skew(2 * 3_600_000), "2 h ahead");
        assert_eq!(skew(-3 * 86_400_000), "3 days behind");
    }
}
