//! Timestamp rendering in the syntaxes Entra uses. Times are `Ticks`: 100 ns units since the
//! Unix epoch, the resolution of Entra's 7-digit fractions.

pub(crate) type Ticks = i64;

pub(crate) const TICKS_PER_SECOND: i64 = 10_000_000;
pub(crate) const TICKS_PER_MS: i64 = 10_000;

/// .NET ticks (since 0001-01-01) at the Unix epoch.
pub(crate) const DOTNET_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 100 ns units within the second.
    frac: u32,
}

fn civil(t: Ticks) -> Civil {
    let secs = t.div_euclid(TICKS_PER_SECOND);
    let frac = t.rem_euclid(TICKS_PER_SECOND) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: (sod / 60) % 60,
        second: sod % 60,
        frac,
    }
}

#[inline]
fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn digits(out: &mut Vec<u8>, v: u32, n: u32) {
    for i in (0..n).rev() {
        out.push(b'0' + ((v / 10u32.pow(i)) % 10) as u8);
    }
}

fn date_time(out: &mut Vec<u8>, c: &Civil) {
    digits(out, c.year.clamp(0, 9999) as u32, 4);
    out.push(b'-');
    two(out, c.month);
    out.push(b'-');
    two(out, c.day);
    out.push(b'T');
    two(out, c.hour);
    out.push(b':');
    two(out, c.minute);
    out.push(b':');
    two(out, c.second);
}

/// `2022-01-24T04:59:49.2279838Z` (envelope `time`).
pub(crate) fn iso7z(out: &mut Vec<u8>, t: Ticks) {
    let c = civil(t);
    date_time(out, &c);
    out.push(b'.');
    digits(out, c.frac, 7);
    out.push(b'Z');
}

/// `2022-01-24T04:59:49.227983+00:00`: 7 fractional digits with trailing zeros trimmed, as in
/// sign-in `createdDateTime` and audit `activityDateTime`.
pub(crate) fn iso_offset(out: &mut Vec<u8>, t: Ticks) {
    let c = civil(t);
    date_time(out, &c);
    if c.frac != 0 {
        out.push(b'.');
        let mut frac = c.frac;
        let mut n = 7;
        while frac.is_multiple_of(10) {
            frac /= 10;
            n -= 1;
        }
        digits(out, frac, n);
    }
    out.extend_from_slice(b"+00:00");
}

/// `2022-08-22T18:05:06.133Z` (risk detections).
pub(crate) fn iso3z(out: &mut Vec<u8>, t: Ticks) {
    let c = civil(t);
    date_time(out, &c);
    out.push(b'.');
    digits(out, c.frac / 10_000, 3);
    out.push(b'Z');
}

/// `2024-03-07T11:42:00Z` (Graph `tokenIssuedAt`).
pub(crate) fn iso0z(out: &mut Vec<u8>, t: Ticks) {
    let c = civil(t);
    date_time(out, &c);
    out.push(b'Z');
}

/// `8/22/2022 6:07:16 PM`, the US format risk logs use for the envelope `time`.
pub(crate) fn us(out: &mut Vec<u8>, t: Ticks) {
    let c = civil(t);
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(c.month).as_bytes());
    out.push(b'/');
    out.extend_from_slice(b.format(c.day).as_bytes());
    out.push(b'/');
    out.extend_from_slice(b.format(c.year).as_bytes());
    out.push(b' ');
    let h12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    out.extend_from_slice(b.format(h12).as_bytes());
    out.push(b':');
    two(out, c.minute);
    out.push(b':');
    two(out, c.second);
    out.extend_from_slice(if c.hour < 12 { b" AM" } else { b" PM" });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: fn(&mut Vec<u8>, Ticks), t: Ticks) -> String {
        let mut v = Vec::new();
        f(&mut v, t);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn formats() {
        // 2022-01-24T04:59:49.2279838Z
        let t = 1_643_000_389 * TICKS_PER_SECOND + 2_279_838;
        assert_eq!(render(iso7z, t), "2022-01-24T04:59:49.2279838Z");
        assert_eq!(render(iso_offset, t), "2022-01-24T04:59:49.2279838+00:00");
        assert_eq!(
            render(iso_offset, t - 8),
            "2022-01-24T04:59:49.227983+00:00"
        );
        assert_eq!(
            render(iso_offset, 1_643_000_389 * TICKS_PER_SECOND),
            "2022-01-24T04:59:49+00:00"
        );
        assert_eq!(render(iso3z, t), "2022-01-24T04:59:49.227Z");
        assert_eq!(render(iso0z, t), "2022-01-24T04:59:49Z");
        assert_eq!(render(us, t), "1/24/2022 4:59:49 AM");
        assert_eq!(
            render(us, t + 12 * 3600 * TICKS_PER_SECOND),
            "1/24/2022 4:59:49 PM"
        );
        assert_eq!(render(us, 0), "1/1/1970 12:00:00 AM");
        // Leap day.
        assert_eq!(
            render(iso0z, 1_709_164_800 * TICKS_PER_SECOND),
            "2024-02-29T00:00:00Z"
        );
    }
}
