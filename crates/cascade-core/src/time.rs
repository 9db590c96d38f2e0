//! Timestamps: milliseconds since the Unix epoch, UTC, everywhere in Cascade.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type TimestampMs = i64;

/// Millisecond timestamps that are most likely Unix time in seconds sent by mistake: read as
/// seconds they are dates from 1973-03-03 to 2286-11-20, read as milliseconds the first 116 days
/// of 1970, long before any data a recommender holds. Smaller values stay valid (tests and
/// synthetic data count milliseconds from zero).
pub const SECONDS_LOOKALIKE_MS: std::ops::Range<TimestampMs> = 100_000_000..10_000_000_000;

/// Why `timestamp` cannot be meant as milliseconds, when it looks like seconds
/// ([`SECONDS_LOOKALIKE_MS`]).
pub fn seconds_mistake(timestamp: TimestampMs) -> Option<String> {
    SECONDS_LOOKALIKE_MS.contains(&timestamp).then(|| {
        format!(
            "{timestamp} looks like seconds since the Unix epoch (as milliseconds it is in the \
             first months of 1970); send milliseconds, e.g. {}",
            timestamp.saturating_mul(1000)
        )
    })
}

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> TimestampMs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as TimestampMs)
        .unwrap_or(0)
}

/// Parses an instant given as milliseconds since the epoch, a date `YYYY-MM-DD` (midnight
/// UTC) or a UTC date-time `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_instant(text: &str) -> Option<TimestampMs> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<TimestampMs>() {
        return Some(ms);
    }
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let seconds_of_day = match time {
        None => 0,
        Some(time) => {
            let mut hms = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
            let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
            if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&s) {
                return None;
            }
            h * 3600 + m * 60 + s
        }
    };
    Some((days_from_civil(year, month, day) * 86_400 + seconds_of_day) * 1000)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_date_times_and_milliseconds() {
        assert_eq!(parse_instant("1970-01-01"), Some(0));
        assert_eq!(parse_instant("2017-01-01"), Some(1_483_228_800_000));
        assert_eq!(parse_instant("2000-03-01T12:30:15Z"), Some(951_913_815_000));
        assert_eq!(parse_instant("1500"), Some(1500));
        assert_eq!(parse_instant("2017-13-01"), None);
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn seconds_of_any_date_since_1973_are_told_apart_from_milliseconds() {
        let seconds_2017 = parse_instant("2017-01-01").unwrap() / 1000;
        let seconds_1997 = parse_instant("1997-10-01").unwrap() / 1000;
        for seconds in [seconds_2017, seconds_1997, now_ms() / 1000] {
            let reason = seconds_mistake(seconds).expect("seconds taken for milliseconds");
            assert!(reason.contains("send milliseconds"), "{reason}");
            assert_eq!(seconds_mistake(seconds * 1000), None);
        }
        for synthetic in [0, 1, 1_000_000, SECONDS_LOOKALIKE_MS.start - 1] {
            assert_eq!(seconds_mistake(synthetic), None, "{synthetic}");
        }
    }
}
