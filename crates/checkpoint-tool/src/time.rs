//! Times on the command line and in the output.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entrastream_entra::Timestamp;

/// `--to-time`: RFC 3339 (`2026-12-05T03:00:00Z`), or a duration meaning that long before
/// `now` (`90m`, `6h`, `2d`), the form runbooks paste.
pub fn parse_time(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    if let Some(ts) = Timestamp::parse(text.trim()) {
        let secs = ts.unix_seconds();
        let at = if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, ts.subsec_nanos())
        } else {
            return Err(format!("{text:?} is before 1970"));
        };
        return Ok(at);
    }
    match entrastream_settings::units::parse_duration(text.trim()) {
        Ok(ago) => now
            .checked_sub(ago)
            .ok_or_else(|| format!("{text:?} reaches before 1970")),
        Err(_) => Err(format!(
            "invalid time {text:?}: use RFC 3339 (2026-12-05T03:00:00Z) or a duration ago (90m, 6h, 2d)"
        )),
    }
}

/// RFC 3339 in UTC, milliseconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut s = String::new();
    match Timestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()) {
        Some(ts) if ts.write_millis(&mut s).is_ok() => s,
        _ => format!("{}s since 1970", d.as_secs()),
    }
}

/// Seconds from `earlier` to `later`, 0 when `earlier` is later.
pub(crate) fn seconds_between(earlier: SystemTime, later: SystemTime) -> f64 {
    later
        .duration_since(earlier)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `3h12m`, `45s`, `2d4h`: short, for a table column.
pub fn format_age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_time("1970-01-01T00:16:40Z", now),
            Ok(UNIX_EPOCH + Duration::from_secs(1000))
        );
        assert_eq!(parse_time("2h", now), Ok(now - Duration::from_secs(7200)));
        let e = parse_time("yesterday", now).unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1500)),
            "1970-01-01T00:00:01.500Z"
        );
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(format_age(5.4), "5s");
        assert_eq!(format_age(65.0), "1m05s");
        assert_eq!(format_age(3.0 * 3600.0 + 720.0), "3h12m");
        assert_eq!(format_age(2.0 * 86_400.0 + 4.0 * 3600.0), "2d04h");
        assert_eq!(format_age(-3.0), "0s");
    }
}
