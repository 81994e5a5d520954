//! Timestamps in every syntax Entra logs use, normalised to UTC.
//!
//! Formats accepted (schema doc §2 and §8): ISO 8601 with 0–9+ fractional digits, `Z`, an
//! offset (`+02:00`, `+0200`) or none (taken as UTC), a one-digit hour (`T9:59:27Z`), a space
//! instead of `T`; and the US form `M/d/yyyy h:mm:ss` with optional `AM`/`PM` and offset. .NET
//! ticks have their own constructor because only one field uses them.

use std::fmt;

/// An instant in UTC with nanosecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Self> {
        (nanos < 1_000_000_000).then_some(Timestamp { secs, nanos })
    }

    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        }
    }

    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }
    pub fn unix_millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// Parses any supported syntax; `None` when the text is in none of them.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.contains('/') {
            parse_us(t)
        } else {
            parse_iso(t)
        }
    }

    /// .NET ticks: 100 ns units since 0001-01-01T00:00:00Z (AAD Graph's
    /// `__UDI_RequiredFields_EventTime`).
    pub fn from_dotnet_ticks(ticks: i64) -> Option<Self> {
        const TICKS_AT_UNIX_EPOCH: i64 = 621_355_968_000_000_000;
        let since = ticks.checked_sub(TICKS_AT_UNIX_EPOCH)?;
        Some(Timestamp {
            secs: since.div_euclid(10_000_000),
            nanos: (since.rem_euclid(10_000_000) * 100) as u32,
        })
    }

    /// RFC 3339 in UTC with millisecond precision, as ECS `@timestamp` is written.
    pub fn write_millis(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.write_date_time(out)?;
        write!(out, ".{:03}Z", self.nanos / 1_000_000)
    }

    /// RFC 3339 in UTC keeping all precision received: no fraction, or 3, 6 or 9 digits.
    pub fn write_rfc3339(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.write_date_time(out)?;
        let n = self.nanos;
        if n == 0 {
            out.write_char('Z')
        } else if n.is_multiple_of(1_000_000) {
            write!(out, ".{:03}Z", n / 1_000_000)
        } else if n.is_multiple_of(1_000) {
            write!(out, ".{:06}Z", n / 1_000)
        } else {
            write!(out, ".{n:09}Z")
        }
    }

    /// [`write_rfc3339`](Self::write_rfc3339) straight into bytes, without the formatting
    /// machinery (this runs once per record on the hot path).
    pub fn write_rfc3339_bytes(&self, out: &mut Vec<u8>) {
        self.write_date_time_bytes(out);
        let n = self.nanos;
        if n == 0 {
        } else if n.is_multiple_of(1_000_000) {
            out.push(b'.');
            push_digits(out, u64::from(n / 1_000_000), 3);
        } else if n.is_multiple_of(1_000) {
            out.push(b'.');
            push_digits(out, u64::from(n / 1_000), 6);
        } else {
            out.push(b'.');
            push_digits(out, u64::from(n), 9);
        }
        out.push(b'Z');
    }

    /// [`write_millis`](Self::write_millis) straight into bytes.
    pub fn write_millis_bytes(&self, out: &mut Vec<u8>) {
        self.write_date_time_bytes(out);
        out.push(b'.');
        push_digits(out, u64::from(self.nanos / 1_000_000), 3);
        out.push(b'Z');
    }

    fn write_date_time_bytes(&self, out: &mut Vec<u8>) {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400) as u64;
        let (y, m, d) = civil_from_days(days);
        if (0..=9999).contains(&y) {
            push_digits(out, y as u64, 4);
        } else {
            out.extend_from_slice(y.to_string().as_bytes());
        }
        out.push(b'-');
        push_digits(out, m as u64, 2);
        out.push(b'-');
        push_digits(out, d as u64, 2);
        out.push(b'T');
        push_digits(out, sod / 3600, 2);
        out.push(b':');
        push_digits(out, sod % 3600 / 60, 2);
        out.push(b':');
        push_digits(out, sod % 60, 2);
    }

    fn write_date_time(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rfc3339(f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rfc3339(f)
    }
}

/// Appends `v` as exactly `width` decimal digits (zero-padded; `v` must fit).
fn push_digits(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for i in (0..width).rev() {
        out[start + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A small cursor over ASCII digits and separators.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<(i64, usize)> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + i64::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        let n = self.i - start;
        (n >= min).then_some((v, n))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    /// Fraction after '.', any number of digits, truncated to nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        let start = self.i;
        let mut nanos: u32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if self.i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
        Some(nanos)
    }
    /// `Z`, `±hh:mm`, `±hhmm`, `±hh`, or nothing (UTC). Returns the offset in seconds.
    fn zone(&mut self) -> Option<i64> {
        match self.peek() {
            None => Some(0),
            Some(b'Z' | b'z') => {
                self.i += 1;
                Some(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.i += 1;
                let (h, _) = self.digits(2, 2)?;
                self.eat(b':');
                let m = self.digits(2, 2).map_or(0, |(m, _)| m);
                if h > 23 || m > 59 {
                    return None;
                }
                let off = h * 3600 + m * 60;
                Some(if sign == b'-' { -off } else { off })
            }
            Some(_) => None,
        }
    }
}

fn parse_iso(t: &str) -> Option<Timestamp> {
    let mut c = Cursor {
        b: t.as_bytes(),
        i: 0,
    };
    let (year, _) = c.digits(4, 4)?;
    c.eat(b'-').then_some(())?;
    let (month, _) = c.digits(1, 2)?;
    c.eat(b'-').then_some(())?;
    let (day, _) = c.digits(1, 2)?;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let (hour, _) = c.digits(1, 2)?;
    c.eat(b':').then_some(())?;
    let (min, _) = c.digits(2, 2)?;
    let sec = if c.eat(b':') { c.digits(2, 2)?.0 } else { 0 };
    let nanos = if c.eat(b'.') || c.eat(b',') {
        c.fraction()?
    } else {
        0
    };
    let offset = c.zone()?;
    c.done().then_some(())?;
    assemble(year, month, day, hour, min, sec, nanos, offset)
}

/// `M/d/yyyy h:mm:ss[ AM|PM][ ±hh:mm]`, month first, as Entra's risk logs and ADFS write it.
fn parse_us(t: &str) -> Option<Timestamp> {
    let mut c = Cursor {
        b: t.as_bytes(),
        i: 0,
    };
    let (month, _) = c.digits(1, 2)?;
    c.eat(b'/').then_some(())?;
    let (day, _) = c.digits(1, 2)?;
    c.eat(b'/').then_some(())?;
    let (year, _) = c.digits(4, 4)?;
    c.eat(b' ').then_some(())?;
    let (mut hour, _) = c.digits(1, 2)?;
    c.eat(b':').then_some(())?;
    let (min, _) = c.digits(2, 2)?;
    c.eat(b':').then_some(())?;
    let (sec, _) = c.digits(2, 2)?;
    let nanos = if c.eat(b'.') { c.fraction()? } else { 0 };
    let rest = t[c.i..].trim_start();
    let (meridiem, rest) = match rest.get(..2) {
        Some(m) if m.eq_ignore_ascii_case("AM") => (Some(false), &rest[2..]),
        Some(m) if m.eq_ignore_ascii_case("PM") => (Some(true), &rest[2..]),
        _ => (None, rest),
    };
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let mut z = Cursor {
        b: rest.trim_start().as_bytes(),
        i: 0,
    };
    let offset = z.zone()?;
    z.done().then_some(())?;
    assemble(year, month, day, hour, min, sec, nanos, offset)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: u32,
    offset: i64,
) -> Option<Timestamp> {
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(Timestamp {
        secs: days * 86_400 + hour * 3600 + min * 60 + sec - offset,
        nanos,
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        Timestamp::parse(s)
            .map(|t| t.to_string())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn the_eleven_corner_case_spellings_are_one_instant() {
        // The same instant as Elastic's time-format corner-case tests write it.
        for s in [
            "01/09/2007 09:41:00",
            "1/9/2007 09:41:00",
            "1/9/2007 09:41:00 AM",
            "1/9/2007 9:41:00 AM",
            "1/9/2007 10:41:00 AM +01:00",
            "2007-01-09T09:41:00",
            "2007-01-09T09:41:00Z",
            "2007-01-09T09:41:00.0000000Z",
            "2007-01-09T09:41:00.000000000Z",
            "2007-01-09T09:41:00+00:00",
            "2007-01-09T11:41:00+02:00",
        ] {
            assert_eq!(iso(s), "2007-01-09T09:41:00Z", "{s}");
        }
        assert_eq!(iso("2007-01-09T09:41:00.22Z"), "2007-01-09T09:41:00.220Z");
    }

    #[test]
    fn entra_spellings() {
        assert_eq!(
            iso("2022-01-24T04:59:49.2279838Z"),
            "2022-01-24T04:59:49.227983800Z"
        );
        assert_eq!(iso("2022-09-09T9:59:27.958Z"), "2022-09-09T09:59:27.958Z");
        assert_eq!(
            iso("2019-10-18T04:45:48.0729893-05:00"),
            "2019-10-18T09:45:48.072989300Z"
        );
        assert_eq!(iso("9/9/2022 12:05:01 PM"), "2022-09-09T12:05:01Z");
        assert_eq!(iso("9/9/2022 12:05:01 AM"), "2022-09-09T00:05:01Z");
        assert_eq!(iso("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z");
        assert_eq!(
            Timestamp::from_dotnet_ticks(639_140_000_000_000_000)
                .unwrap()
                .to_string(),
            "2026-05-10T08:53:20Z"
        );
    }

    #[test]
    fn rejects_impossible_dates_and_junk() {
        for s in [
            "",
            "2023-02-29T00:00:00Z",
            "2022-13-01T00:00:00Z",
            "2022-01-01T24:00:00Z",
            "13/1/2022 1:00:00",
            "1/1/2022 13:00:00 PM",
            "yesterday",
            "2022-01-01T00:00:00Q",
            "2022-01-01",
        ] {
            assert_eq!(iso(s), "none", "{s}");
        }
    }

    #[test]
    fn byte_writers_match_the_fmt_writers() {
        for text in [
            "1969-12-31T23:59:59.5Z",
            "2022-01-24T04:59:49.2279838Z",
            "2024-02-29T00:00:00Z",
            "2001-01-01T00:00:00.000123Z",
            "0001-01-01T00:00:00Z",
        ] {
            let t = Timestamp::parse(text).unwrap();
            let (mut a, mut b) = (String::new(), Vec::new());
            t.write_rfc3339(&mut a).unwrap();
            t.write_rfc3339_bytes(&mut b);
            assert_eq!(a.as_bytes(), b);
            let (mut a, mut b) = (String::new(), Vec::new());
            t.write_millis(&mut a).unwrap();
            t.write_millis_bytes(&mut b);
            assert_eq!(a.as_bytes(), b);
        }
    }

    #[test]
    fn millis_and_round_trip() {
        let t = Timestamp::parse("1969-12-31T23:59:59.5Z").unwrap();
        let mut s = String::new();
        t.write_millis(&mut s).unwrap();
        assert_eq!(s, "1969-12-31T23:59:59.500Z");
        for days in [-800_000, -1, 0, 1, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
