//! ArcSight CEF:0 as the syslog MSG:
//! `CEF:0|Microsoft|Entra ID|<version>|<category>|<name>|<severity>|<extension>`.
//!
//! Escaping (CEF rev. 25, "Character Encoding"): in header fields `\` → `\\` and `|` → `\|`;
//! in extension values `\` → `\\`, `=` → `\=`, line feed → `\n`, carriage return → `\r`.
//! A header cannot hold a line break, so one becomes a space there. Keys are fixed ASCII.

use crate::mapping::Mapped;

/// Vendor and product, the same for every record.
pub const VENDOR: &str = "Microsoft";
pub const PRODUCT: &str = "Entra ID";

/// Appends a header field, escaped.
pub fn push_header(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' | b'|' => out.extend_from_slice(&[b'\\', b]),
            b'\n' | b'\r' => out.push(b' '),
            _ => out.push(b),
        }
    }
}

/// Appends an extension value, escaped.
pub fn push_value(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' | b'=' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Writes the whole CEF event.
pub fn write(out: &mut Vec<u8>, m: &Mapped<'_>, class_id: &str, severity: u8, rt_millis: i64) {
    out.extend_from_slice(b"CEF:0|");
    for field in [
        VENDOR,
        PRODUCT,
        env!("CARGO_PKG_VERSION"),
        class_id,
        &m.name,
    ] {
        push_header(out, field);
        out.push(b'|');
    }
    out.extend_from_slice(itoa::Buffer::new().format(severity).as_bytes());
    out.extend_from_slice(b"|rt=");
    out.extend_from_slice(itoa::Buffer::new().format(rt_millis).as_bytes());
    for (key, value) in &m.fields {
        if let Some(label) = key.cef_label {
            out.push(b' ');
            out.extend_from_slice(key.cef.as_bytes());
            out.extend_from_slice(b"Label=");
            out.extend_from_slice(label.as_bytes());
        }
        out.push(b' ');
        out.extend_from_slice(key.cef.as_bytes());
        out.push(b'=');
        push_value(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::keys;
    use std::borrow::Cow;

    fn text(f: fn(&mut Vec<u8>, &str), s: &str) -> String {
        let mut out = Vec::new();
        f(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn header_escapes_pipe_and_backslash() {
        assert_eq!(text(push_header, r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(text(push_header, "two\nlines"), "two lines");
    }

    #[test]
    fn extension_escapes_equals_backslash_and_newlines() {
        assert_eq!(text(push_value, "a=b\\c|d"), r"a\=b\\c|d");
        assert_eq!(text(push_value, "l1\nl2\r\n"), r"l1\nl2\r\n");
        assert_eq!(text(push_value, "Zürich 東京"), "Zürich 東京");
    }

    #[test]
    fn event_has_header_rt_and_labelled_custom_keys() {
        let m = Mapped {
            name: Cow::Borrowed("Add member|to role"),
            fields: vec![
                (keys::ACTOR, Cow::Borrowed("a=b@c")),
                (keys::AUDIT_CATEGORY, Cow::Borrowed("RoleManagement")),
            ],
        };
        let mut out = Vec::new();
        write(&mut out, &m, "AuditLogs", 4, 1_714_557_600_000);
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                r"CEF:0|Microsoft|Entra ID|{v}|AuditLogs|Add member\|to role|4|rt=1714557600000 suser=a\=b@c cs1Label=AuditCategory cs1=RoleManagement"
            )
        );
    }
}
