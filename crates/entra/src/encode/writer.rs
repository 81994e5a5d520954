//! Appending JSON to a byte buffer: strings we already hold escaped are copied as is, strings we
//! build are escaped here.

use std::fmt;

use crate::json::{JsonStr, Value};
use crate::time::Timestamp;

/// Writes `s` as a JSON string, escaping what JSON requires.
///
/// Inlined: most calls write the encoders' own literal keys and values, for which the compiler
/// can then fold the escape check and the copy; strings that need escaping go out of line.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if crate::scan::needs_escape(bytes) {
        write_str_escaped(out, bytes);
        return;
    }
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

#[inline(never)]
fn write_str_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[run..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                run = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Writes a string taken from the input, in its original escaped form.
#[inline]
pub fn write_json_str(out: &mut Vec<u8>, s: JsonStr<'_>) {
    out.push(b'"');
    out.extend_from_slice(s.raw().as_bytes());
    out.push(b'"');
}

/// Writes a value compactly; strings and numbers keep their input text.
pub fn write_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.text().as_bytes()),
        Value::String(s) => write_json_str(out, *s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(o) => write_object(out, o),
    }
}

/// Writes an object compactly; a parsed object without line breaks is copied as received.
pub fn write_object(out: &mut Vec<u8>, o: &crate::json::Object<'_>) {
    let text = o.source_text();
    if !text.is_empty() && memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'{');
    for (i, (k, v)) in o.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, *k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

/// `fmt::Write` over a byte buffer, for numbers and timestamps.
#[derive(Debug)]
pub struct FmtBuf<'o>(pub &'o mut Vec<u8>);

impl fmt::Write for FmtBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub fn write_time(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    t.write_rfc3339_bytes(out);
    out.push(b'"');
}

pub fn write_time_millis(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    t.write_millis_bytes(out);
    out.push(b'"');
}

pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Digits of `v`, written from a stack buffer: the formatting machinery (or a `String` per
/// number, as `u64` members once did) costs more than the number for these small ids.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Builds a JSON object member by member, handling the commas.
#[derive(Debug)]
pub struct ObjectWriter<'o> {
    pub out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }
    /// Writes the key and returns the buffer for the caller to write the value.
    #[inline(always)]
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
        self.out
    }
    /// Writes the separator a new member needs and returns the buffer, for a caller that writes
    /// the key (quotes and colon included) itself.
    pub fn sep(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out
    }
    /// Writes a key already in escaped form (taken from the input).
    pub fn raw_key(&mut self, key: JsonStr<'_>) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_json_str(self.out, key);
        self.out.push(b':');
        self.out
    }
    #[inline]
    pub fn str(&mut self, key: &str, v: &str) {
        let out = self.key(key);
        write_str(out, v);
    }
    #[inline]
    pub fn u64(&mut self, key: &str, v: u64) {
        let out = self.key(key);
        write_u64(out, v);
    }
    #[inline]
    pub fn opt_json_str(&mut self, key: &str, v: Option<JsonStr<'_>>) {
        if let Some(v) = v {
            let out = self.key(key);
            write_json_str(out, v);
        }
    }
    #[inline]
    pub fn opt_time(&mut self, key: &str, v: Option<Timestamp>) {
        if let Some(t) = v {
            let out = self.key(key);
            write_time(out, t);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.first
    }
    pub fn finish(self) {
        self.out.push(b'}');
    }
    /// Where the object stands now, to [`rollback`](Self::rollback) a member that turns out to
    /// be empty after its key was written.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            first: self.first,
        }
    }
    /// Removes everything written since `mark`, separator included.
    pub fn rollback(&mut self, mark: Mark) {
        self.out.truncate(mark.len);
        self.first = mark.first;
    }
    /// Writes a nested object filled by `f`; an object left empty is removed with its key.
    /// Returns whether it was kept.
    #[inline]
    pub fn object(&mut self, key: &str, f: impl FnOnce(&mut ObjectWriter<'_>)) -> bool {
        let mark = self.mark();
        let out = self.key(key);
        let mut child = ObjectWriter::new(out);
        f(&mut child);
        if child.is_empty() {
            self.rollback(mark);
            false
        } else {
            child.finish();
            true
        }
    }
    /// A string from the input, skipped when absent or empty.
    #[inline]
    pub fn opt_str_nonempty(&mut self, key: &str, v: Option<JsonStr<'_>>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let out = self.key(key);
            write_json_str(out, v);
        }
    }
    #[inline]
    pub fn i64(&mut self, key: &str, v: i64) {
        let out = self.key(key);
        write_i64(out, v);
    }
    #[inline]
    pub fn bool(&mut self, key: &str, v: bool) {
        let out = self.key(key);
        out.extend_from_slice(if v { b"true" } else { b"false" });
    }
    /// An array of literal strings (which must need no escaping).
    pub fn strs(&mut self, key: &str, items: &[&str]) {
        let out = self.key(key);
        out.push(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, s);
        }
        out.push(b']');
    }
    pub fn value(&mut self, key: &str, v: &Value<'_>) {
        let out = self.key(key);
        write_value(out, v);
    }
    #[inline]
    pub fn time_millis(&mut self, key: &str, t: Timestamp) {
        let out = self.key(key);
        write_time_millis(out, t);
    }
}

/// A position in an [`ObjectWriter`], from [`ObjectWriter::mark`].
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    len: usize,
    first: bool,
}

/// Writes an `f64` as JSON (non-finite values, which JSON cannot hold, as `null`).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = fmt::Write::write_fmt(&mut FmtBuf(out), format_args!("{v}"));
    } else {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quote\"back\\slash",
            "line\nbreak\ttab\r",
            "\u{1}ctl",
            "é–😀",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn integers_are_written_as_std_formats_them() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            4711,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut out = Vec::new();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for n in [0, 7, 10, 1_000_000, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn pretty_objects_are_compacted() {
        let v = crate::json::parse("{\n \"a\" : [1, 2],\n \"b\": {\"c\": null}\n}").unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":[1,2],"b":{"c": null}}"#
        );
    }
}
