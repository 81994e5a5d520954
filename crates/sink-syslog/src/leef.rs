//! IBM LEEF 2.0 as the syslog MSG:
//! `LEEF:2.0|Microsoft|Entra ID|<version>|<category>|x09|<attributes>`, attributes
//! `key=value` separated by tabs (declared as `x09` in the header's delimiter field).
//!
//! Escaping: in header fields `\` → `\\` and `|` → `\|` (a line break becomes a space); in
//! values the delimiter and line breaks are escaped (`\t`, `\n`, `\r`) and `\` → `\\` so the
//! escape is reversible. `=` is not escaped: LEEF splits an attribute at its first `=`, and
//! QRadar does not unescape `\=`.

use crate::mapping::Mapped;

pub use crate::cef::{PRODUCT, VENDOR, push_header};

/// Appends an attribute value, escaped.
pub fn push_value(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// `devTimeFormat` for [`write`]'s `devTime` (Java `SimpleDateFormat`, as LEEF specifies).
pub const DEV_TIME_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSX";

/// Writes the whole LEEF event; `dev_time` is RFC 3339 with milliseconds in UTC.
pub fn write(out: &mut Vec<u8>, m: &Mapped<'_>, event_id: &str, severity: u8, dev_time: &[u8]) {
    out.extend_from_slice(b"LEEF:2.0|");
    for field in [VENDOR, PRODUCT, env!("CARGO_PKG_VERSION"), event_id] {
        push_header(out, field);
        out.push(b'|');
    }
    out.extend_from_slice(b"x09|devTime=");
    out.extend_from_slice(dev_time);
    out.extend_from_slice(b"\tdevTimeFormat=");
    out.extend_from_slice(DEV_TIME_FORMAT.as_bytes());
    out.extend_from_slice(b"\tsev=");
    out.extend_from_slice(itoa::Buffer::new().format(severity.max(1)).as_bytes());
    out.extend_from_slice(b"\tname=");
    push_value(out, &m.name);
    for (key, value) in &m.fields {
        out.push(b'\t');
        out.extend_from_slice(key.leef.as_bytes());
        out.push(b'=');
        push_value(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::keys;
    use std::borrow::Cow;

    #[test]
    fn values_escape_tab_newlines_and_backslash_but_keep_equals() {
        let mut out = Vec::new();
        push_value(&mut out, "a\tb\nc\rd\\e=f ü");
        assert_eq!(String::from_utf8(out).unwrap(), r"a\tb\nc\rd\\e=f ü");
    }

    #[test]
    fn event_has_header_delimiter_and_attributes() {
        let m = Mapped {
            name: Cow::Borrowed("Sign-in activity"),
            fields: vec![
                (keys::ACTOR, Cow::Borrowed("a@b.c")),
                (keys::SOURCE_IP, Cow::Borrowed("10.0.0.1")),
            ],
        };
        let mut out = Vec::new();
        write(&mut out, &m, "Sign|In", 6, b"2024-05-01T10:00:00.000Z");
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "LEEF:2.0|Microsoft|Entra ID|{v}|Sign\\|In|x09|devTime=2024-05-01T10:00:00.000Z\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=6\tname=Sign-in activity\tusrName=a@b.c\tsrc=10.0.0.1"
            )
        );
    }
}
