//! Minimal JSON writing straight into a byte buffer.
//!
//! Objects are written as `{"a":1,"b":2,` and closed with [`close`], which turns the trailing
//! comma into the closing bracket. That keeps every field writer uniform (each one ends with a
//! comma) and avoids tracking "first field" state.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `b` must be escaped inside a JSON string.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` escaped for use inside a JSON string (no surrounding quotes).
pub(crate) fn esc_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

#[inline]
pub(crate) fn esc(out: &mut Vec<u8>, s: &str) {
    esc_bytes(out, s.as_bytes());
}

/// Appends `"key":` (keys are ASCII literals that never need escaping).
#[inline]
pub(crate) fn key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `"key":"value",`
#[inline]
pub(crate) fn s(out: &mut Vec<u8>, k: &str, v: &str) {
    key(out, k);
    out.push(b'"');
    esc(out, v);
    out.extend_from_slice(b"\",");
}

/// `"key":"value",` or `"key":null,`
#[inline]
pub(crate) fn opt_s(out: &mut Vec<u8>, k: &str, v: Option<&str>) {
    match v {
        Some(v) => s(out, k, v),
        None => null(out, k),
    }
}

/// `"key":"value",` where `value` is already escaped (pre-rendered fragments).
#[inline]
pub(crate) fn s_raw(out: &mut Vec<u8>, k: &str, v: &[u8]) {
    key(out, k);
    out.push(b'"');
    out.extend_from_slice(v);
    out.extend_from_slice(b"\",");
}

/// `"key":null,`
#[inline]
pub(crate) fn null(out: &mut Vec<u8>, k: &str) {
    key(out, k);
    out.extend_from_slice(b"null,");
}

/// `"key":123,`
#[inline]
pub(crate) fn int(out: &mut Vec<u8>, k: &str, v: i64) {
    key(out, k);
    num(out, v);
    out.push(b',');
}

/// A bare integer.
#[inline]
pub(crate) fn num(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// `"key":true,`
#[inline]
pub(crate) fn bool(out: &mut Vec<u8>, k: &str, v: bool) {
    key(out, k);
    out.extend_from_slice(if v { b"true," } else { b"false," });
}

/// `"key":<raw>,` where `raw` is valid JSON.
#[inline]
pub(crate) fn raw(out: &mut Vec<u8>, k: &str, v: &[u8]) {
    key(out, k);
    out.extend_from_slice(v);
    out.push(b',');
}

/// `"key":{`
#[inline]
pub(crate) fn obj(out: &mut Vec<u8>, k: &str) {
    key(out, k);
    out.push(b'{');
}

/// `"key":[`
#[inline]
pub(crate) fn arr(out: &mut Vec<u8>, k: &str) {
    key(out, k);
    out.push(b'[');
}

/// Closes the innermost object or array with `close` (`b'}'` or `b']'`) and appends a comma.
/// A trailing comma left by the last member is replaced; an empty container is closed as is.
#[inline]
pub(crate) fn close(out: &mut Vec<u8>, close: u8) {
    match out.last_mut() {
        Some(last) if *last == b',' => *last = close,
        _ => out.push(close),
    }
    out.push(b',');
}

/// Closes the outermost value: like [`close`] but without the trailing comma.
#[inline]
pub(crate) fn close_last(out: &mut Vec<u8>, close: u8) {
    match out.last_mut() {
        Some(last) if *last == b',' => *last = close,
        _ => out.push(close),
    }
}

/// `"key":["a","b"],`
pub(crate) fn str_list(out: &mut Vec<u8>, k: &str, items: &[&str]) {
    arr(out, k);
    for item in items {
        out.push(b'"');
        esc(out, item);
        out.extend_from_slice(b"\",");
    }
    close(out, b']');
}

/// `"key":"<inner>",` where `inner` is JSON text that gets escaped again, the way Entra audit
/// `oldValue`/`newValue` carry JSON-encoded values inside a string.
pub(crate) fn double_encoded(out: &mut Vec<u8>, k: &str, inner: &[u8]) {
    key(out, k);
    out.push(b'"');
    esc_bytes(out, inner);
    out.extend_from_slice(b"\",");
}

/// Lowercase hex of the low `digits` nibbles of `v`.
#[inline]
pub(crate) fn hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// A version-4-shaped GUID from 128 bits. Bits that the version and variant overwrite are the
/// low nibble group of `hi` bits 12..16 and two bits of `lo`; see [`crate::rng::unique_guid`]
/// for how unique ids avoid losing information there.
pub(crate) fn guid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    out.extend_from_slice(&guid_bytes(hi, lo));
}

/// [`guid`] into a fixed array.
pub(crate) fn guid_bytes(hi: u64, lo: u64) -> [u8; 36] {
    let mut a = [b'-'; 36];
    let mut put = |pos: usize, v: u64, nibbles: u32| {
        for k in 0..nibbles {
            a[pos + k as usize] = HEX[((v >> ((nibbles - 1 - k) * 4)) & 0xf) as usize];
        }
    };
    put(0, hi >> 32, 8);
    put(9, hi >> 16, 4);
    put(15, hi, 3);
    put(20, lo >> 48, 3);
    put(24, lo, 12);
    a[14] = b'4';
    a[19] = HEX[(8 | ((lo >> 62) & 3)) as usize];
    a
}

/// A GUID rendered to a `String` (used when building the population).
pub(crate) fn guid_string(hi: u64, lo: u64) -> String {
    let mut v = Vec::with_capacity(36);
    guid(&mut v, hi, lo);
    String::from_utf8(v).unwrap_or_default()
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 22 base64url characters from 128 bits, like Entra's `uniqueTokenIdentifier`.
pub(crate) fn b64_token(out: &mut Vec<u8>, hi: u64, lo: u64) {
    let v = (u128::from(hi) << 64) | u128::from(lo);
    for i in 0..22 {
        let shift = 122u32.saturating_sub(i * 6);
        out.push(B64URL[((v >> shift) & 0x3f) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_through_serde() {
        let nasty = "a\"b\\c\nd\te\u{1}f Jürgen – \u{7f}";
        let mut out = Vec::new();
        out.push(b'"');
        esc(&mut out, nasty);
        out.push(b'"');
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn close_handles_empty_and_trailing_comma() {
        let mut out = b"{".to_vec();
        arr(&mut out, "a");
        close(&mut out, b']');
        obj(&mut out, "b");
        int(&mut out, "c", -3);
        close(&mut out, b'}');
        close_last(&mut out, b'}');
        assert_eq!(out, br#"{"a":[],"b":{"c":-3}}"#);
    }

    #[test]
    fn double_encoding_is_a_json_string_holding_json() {
        let mut out = b"{".to_vec();
        double_encoded(&mut out, "v", br#"["Fin\"ance"]"#);
        close_last(&mut out, b'}');
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let inner: Vec<String> = serde_json::from_str(v["v"].as_str().unwrap()).unwrap();
        assert_eq!(inner, vec!["Fin\"ance".to_string()]);
    }

    #[test]
    fn guid_shape() {
        let g = guid_string(u64::MAX, 0);
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4");
        assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"));
    }
}
