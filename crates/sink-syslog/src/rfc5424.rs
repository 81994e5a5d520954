//! The RFC 5424 header: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD]` and the BOM
//! rule for MSG.
//!
//! Header fields are US-ASCII by the RFC, so anything else a record brings into them (an odd
//! category name) is replaced by `_` rather than sent as something a receiver must reject.
//! Structured-data values may be any UTF-8; `"`, `\` and `]` are escaped (§6.3.3).

use entrastream_entra::{Body, EncodeContext, Record, Timestamp};

use crate::config::Facility;

/// The byte-order mark that announces a UTF-8 MSG (RFC 5424 §6.4).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Longest MSGID the RFC allows.
const MSGID_MAX: usize = 32;

/// The fixed parts of every header of one sink, rendered once.
#[derive(Debug, Clone)]
pub struct Header {
    facility: Facility,
    /// ` HOSTNAME APP-NAME PROCID ` (with the spaces around).
    middle: Vec<u8>,
    /// `[SD-ID` of the structured-data element.
    sd_open: Vec<u8>,
}

/// PRI = facility × 8 + severity (§6.2.1).
pub fn pri(facility: Facility, severity: u8) -> u16 {
    u16::from(facility.code()) * 8 + u16::from(severity.min(7))
}

/// Writes `s` keeping only PRINTUSASCII, other bytes as `_`, at most `max` bytes; `-` when empty.
fn push_header_field(out: &mut Vec<u8>, s: &str, max: usize) {
    if s.is_empty() {
        out.push(b'-');
        return;
    }
    out.extend(
        s.bytes()
            .take(max)
            .map(|b| if (33..=126).contains(&b) { b } else { b'_' }),
    );
}

/// Escapes a PARAM-VALUE (§6.3.3): `"`, `\` and `]` get a backslash.
pub fn push_sd_value(out: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// TIMESTAMP: RFC 3339 in UTC (`Z`) with a fraction of 3 or 6 digits (the RFC allows at
/// most 6; nanoseconds are cut to microseconds).
pub fn push_timestamp(out: &mut Vec<u8>, t: Timestamp) {
    t.write_millis_bytes(out);
    let sub_milli_micros = t.subsec_nanos() / 1_000 % 1_000;
    if sub_milli_micros != 0 {
        out.pop(); // the `Z`
        let digits = [
            b'0' + (sub_milli_micros / 100) as u8,
            b'0' + (sub_milli_micros / 10 % 10) as u8,
            b'0' + (sub_milli_micros % 10) as u8,
            b'Z',
        ];
        out.extend_from_slice(&digits);
    }
}

impl Header {
    /// The header of a sink with these settings.
    pub fn new(facility: Facility, hostname: &str, app_name: &str, sd_id: &str) -> Self {
        let mut middle = vec![b' '];
        push_header_field(&mut middle, hostname, 255);
        middle.push(b' ');
        push_header_field(&mut middle, app_name, 48);
        middle.push(b' ');
        push_header_field(&mut middle, &std::process::id().to_string(), 128);
        middle.push(b' ');
        let mut sd_open = vec![b'['];
        sd_open.extend_from_slice(sd_id.as_bytes());
        Header {
            facility,
            middle,
            sd_open,
        }
    }

    /// Writes the header of `record` with this severity, up to and including the space that
    /// precedes MSG.
    pub fn write(&self, record: &Record<'_>, ctx: &EncodeContext, severity: u8, out: &mut Vec<u8>) {
        out.push(b'<');
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(pri(self.facility, severity))
                .as_bytes(),
        );
        out.extend_from_slice(b">1 ");
        push_timestamp(out, record.event_time().unwrap_or(ctx.ingest_time));
        out.extend_from_slice(&self.middle);
        push_header_field(out, record.category(), MSGID_MAX);
        out.push(b' ');
        out.extend_from_slice(&self.sd_open);
        let mut param = |name: &str, value: &str| {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            push_sd_value(out, value);
            out.push(b'"');
        };
        if let Some(t) = record.tenant_id() {
            param("tenant", t);
        }
        param("category", record.category());
        if let Some(c) = correlation_id(record) {
            param("correlationId", &c.decode());
        }
        let id = record.event_id().to_text();
        param("eventId", std::str::from_utf8(&id).unwrap_or("-"));
        out.extend_from_slice(b"] ");
    }
}

/// The correlation id: the envelope's, else the one inside `properties`.
pub fn correlation_id<'a>(record: &Record<'a>) -> Option<entrastream_entra::json::JsonStr<'a>> {
    record.envelope().correlation_id.or(match record.body() {
        Body::SignIn(s) => s.correlation_id,
        Body::Audit(a) => a.correlation_id,
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_records::parse;

    #[test]
    fn sd_values_escape_quote_backslash_and_bracket() {
        let mut out = Vec::new();
        push_sd_value(&mut out, r#"a"b\c]d=e ü"#);
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\"b\\c\]d=e ü"#);
    }

    #[test]
    fn pri_is_facility_times_eight_plus_severity() {
        assert_eq!(pri(Facility::Authpriv, 4), 84);
        assert_eq!(pri(Facility::Local7, 6), 190);
        assert_eq!(pri(Facility::Kern, 0), 0);
    }

    #[test]
    fn timestamp_has_fraction_of_at_most_six_digits_and_an_offset() {
        let mut cases = Vec::new();
        for (secs, nanos, want) in [
            (1_714_557_600, 0, "2024-05-01T10:00:00.000Z"),
            (1_714_557_600, 123_000_000, "2024-05-01T10:00:00.123Z"),
            (1_714_557_600, 123_456_789, "2024-05-01T10:00:00.123456Z"),
            (1_714_557_600, 123_456_000, "2024-05-01T10:00:00.123456Z"),
            (1_714_557_600, 100_000_001, "2024-05-01T10:00:00.100Z"),
        ] {
            let mut out = Vec::new();
            push_timestamp(&mut out, Timestamp::from_unix(secs, nanos).unwrap());
            cases.push((String::from_utf8(out).unwrap(), want));
        }
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn header_fields_in_order_with_escaped_structured_data() {
        let rec = parse(
            r#"{"time":"2024-05-01T10:00:00.1234567Z","category":"SignInLogs","tenantId":"t\"1]","correlationId":"c\\1","properties":{"status":{"errorCode":0}}}"#,
        );
        let h = Header::new(
            Facility::Authpriv,
            "host-1",
            "entrastream",
            "entrastream@32473",
        );
        let mut out = Vec::new();
        h.write(&rec.record(), &EncodeContext::default(), 6, &mut out);
        let text = String::from_utf8(out).unwrap();
        let pid = std::process::id();
        let id = rec.record().event_id().to_string();
        assert_eq!(
            text,
            format!(
                r#"<86>1 2024-05-01T10:00:00.123456Z host-1 entrastream {pid} SignInLogs [entrastream@32473 tenant="t\"1\]" category="SignInLogs" correlationId="c\\1" eventId="{id}"] "#
            )
        );
    }

    #[test]
    fn long_or_odd_category_becomes_a_valid_msgid() {
        let rec = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"MicrosoftServicePrincipalSignInLogs","properties":{}}"#,
        );
        let h = Header::new(Facility::User, "h", "a", "x@1");
        let mut out = Vec::new();
        h.write(&rec.record(), &EncodeContext::default(), 6, &mut out);
        let text = String::from_utf8(out).unwrap();
        let msgid = text.split(' ').nth(5).unwrap();
        assert_eq!(msgid, "MicrosoftServicePrincipalSignInL");
        let odd = parse(r#"{"time":"2024-05-01T10:00:00Z","category":"My Cat ü","properties":{}}"#);
        let mut out = Vec::new();
        h.write(&odd.record(), &EncodeContext::default(), 6, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap().split(' ').nth(5).unwrap(),
            "My_Cat___"
        );
    }
}
