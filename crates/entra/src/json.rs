//! A borrowed JSON tree: every string and number is a slice of the input, kept in its escaped
//! wire form.
//!
//! Why not `serde_json::Value`: it allocates a `String` for every string and a map for every
//! object, and re-escapes every string on output. Entra records are almost all strings, so
//! keeping them as escaped slices makes re-emitting them a `memcpy`, and decoding happens only
//! for the handful of fields we interpret (times, codes, names). Objects keep their keys in input
//! order in a `Vec`, duplicates included, so nothing is lost.

use std::borrow::Cow;
use std::fmt;

/// Nesting deeper than this is refused: real records nest about 6 levels, and the limit keeps a
/// hostile input from overflowing the stack.
pub const MAX_DEPTH: usize = 128;

/// A JSON string as it appears on the wire, without its quotes and still escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// A string that is known to need no escaping (used for literals built by this crate).
    pub const fn plain(s: &'a str) -> Self {
        JsonStr {
            raw: s,
            escaped: false,
        }
    }

    /// The escaped text between the quotes, ready to be written back into JSON as is.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the wire form contains escape sequences.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The string's value: borrowed when it had no escapes, decoded into an owned string when it did.
    pub fn decode(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Compares the decoded value with `s` without allocating in the common unescaped case.
    pub fn eq_str(&self, s: &str) -> bool {
        if self.escaped {
            unescape(self.raw) == s
        } else {
            self.raw == s
        }
    }

    /// ASCII case-insensitive comparison of the decoded value with `s`.
    pub fn eq_ignore_case(&self, s: &str) -> bool {
        if self.escaped {
            unescape(self.raw).eq_ignore_ascii_case(s)
        } else {
            self.raw.eq_ignore_ascii_case(s)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.raw)
    }
}

/// A JSON number kept as its validated text, so large integers and 17-digit coordinates are
/// re-emitted exactly as received.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Number<'a>(&'a str);

impl<'a> Number<'a> {
    pub fn text(&self) -> &'a str {
        self.0
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }
}

impl fmt::Debug for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[derive(Clone, PartialEq, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    String(JsonStr<'a>),
    /// A boxed slice rather than a `Vec`: 8 bytes smaller, which every `Value` pays.
    Array(Vec<Value<'a>>),
    Object(Object<'a>),
}

impl<'a> Value<'a> {
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<JsonStr<'a>> {
        match self {
            Value::String(s) => Some(*s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// A JSON object with its members in input order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Object<'a> {
    members: Vec<(JsonStr<'a>, Value<'a>)>,
    /// The object's source text, braces included, when it came from the parser.
    text: &'a str,
}

impl<'a> Object<'a> {
    pub fn new(members: Vec<(JsonStr<'a>, Value<'a>)>) -> Self {
        Object { members, text: "" }
    }
    /// The object's source text, as received (empty for objects not made by the parser).
    pub fn source_text(&self) -> &'a str {
        self.text
    }
    /// The first member whose decoded key equals `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.members
            .iter()
            .find(|(k, _)| k.eq_str(key))
            .map(|(_, v)| v)
    }
    /// The first member whose key equals `key` ignoring ASCII case (`Level`/`level`).
    pub fn get_ignore_case(&self, key: &str) -> Option<&Value<'a>> {
        self.members
            .iter()
            .find(|(k, _)| k.eq_ignore_case(key))
            .map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &(JsonStr<'a>, Value<'a>)> {
        self.members.iter()
    }
    pub fn len(&self) -> usize {
        self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Where and why the bytes are not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset into the parsed slice.
    pub offset: usize,
    pub message: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

/// Parses one complete JSON document; trailing bytes other than whitespace are an error.
pub fn parse(text: &str) -> Result<Value<'_>, SyntaxError> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

/// A parser over a whole message body that parses one value at a time where it is told to, so
/// the records of an envelope are parsed in place (no separate split scan) and share one pair of
/// scratch stacks instead of allocating them per record.
pub(crate) struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Members of the objects being parsed, innermost last; each object takes its own off the
    /// top when it closes, so it is allocated once at its exact size.
    members: Vec<(JsonStr<'a>, Value<'a>)>,
    items: Vec<Value<'a>>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            // Sized for a sign-in (its properties alone have about 60 members pending while its
            // nested objects are parsed), so the stacks do not grow in the middle of most records.
            members: Vec::with_capacity(text.len().min(64 << 10) / 32),
            items: Vec::with_capacity(16),
        }
    }

    /// The whole text this parser reads; values' slices point into it.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Parses the one value that starts at `pos` (nesting counted from there, as if it were a
    /// document of its own) and returns it with the position just after it. What follows the
    /// value is the caller's business.
    pub(crate) fn value_at(&mut self, pos: usize) -> Result<(Value<'a>, usize), SyntaxError> {
        self.pos = pos;
        let v = self.value(0)?;
        Ok((v, self.pos))
    }

    #[cold]
    fn err(&self, message: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message,
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        match self.bytes.get(self.pos) {
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.number()?)),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input, expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static str, v: Value<'a>) -> Result<Value<'a>, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal, expected true, false or null"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 128 levels"));
        }
        let start = self.pos;
        let mark = self.members.len();
        self.pos += 1; // '{'
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Object(Object {
                members: Vec::new(),
                text: &self.text[start..self.pos],
            }));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.err("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            self.members.push((key, v));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    let members = self.members.split_off(mark);
                    let text = &self.text[start..self.pos];
                    return Ok(Value::Object(Object { members, text }));
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 128 levels"));
        }
        self.pos += 1; // '['
        let mark = self.items.len();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Array(Vec::new()));
        }
        loop {
            self.skip_ws();
            let v = self.value(depth)?;
            self.items.push(v);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(self.items.split_off(mark)));
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }

    /// Inlined into its two callers (keys and values): strings are most of every record, and
    /// the call with its register saves and the returned `Result` cost more than scanning a
    /// GUID. The position stays in a local until the string ends.
    #[inline(always)]
    fn string(&mut self) -> Result<JsonStr<'a>, SyntaxError> {
        let start = self.pos + 1; // after the opening quote
        let mut pos = start;
        // Fast path: skip ordinary bytes. Multi-byte UTF-8 is >= 0x80 and never a stop byte,
        // and the whole input was validated as UTF-8 before parsing.
        pos = scan_string_body(self.bytes, pos);
        if self.bytes.get(pos) == Some(&b'"') {
            self.pos = pos + 1;
            return Ok(JsonStr {
                raw: &self.text[start..pos],
                escaped: false,
            });
        }
        self.pos = pos;
        self.string_with_escapes(start)
    }

    /// The rest of a string whose plain run stopped at a backslash or a byte that is not allowed.
    #[inline(never)]
    fn string_with_escapes(&mut self, start: usize) -> Result<JsonStr<'a>, SyntaxError> {
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let raw = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(JsonStr { raw, escaped: true });
                }
                Some(b'\\') => self.escape()?,
                Some(_) => {
                    return Err(self.err("control character inside a string must be escaped"));
                }
                None => return Err(self.err("unterminated string")),
            }
            self.pos = scan_string_body(self.bytes, self.pos);
        }
    }

    fn escape(&mut self) -> Result<(), SyntaxError> {
        self.pos += 1; // backslash
        match self.bytes.get(self.pos) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                let hex = self.bytes.get(self.pos..self.pos + 4);
                match hex {
                    Some(h) if h.iter().all(u8::is_ascii_hexdigit) => {
                        self.pos += 4;
                        Ok(())
                    }
                    _ => Err(self.err("invalid \\u escape, expected four hex digits")),
                }
            }
            _ => Err(self.err("invalid escape sequence")),
        }
    }

    fn number(&mut self) -> Result<Number<'a>, SyntaxError> {
        let start = self.pos;
        let b = self.bytes;
        if b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err("invalid number")),
        }
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: digits expected after '.'"));
            }
            while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: digits expected in exponent"));
            }
            while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(Number(&self.text[start..self.pos]))
    }
}

/// Returns the position of the first quote, backslash or control character at or after `pos`.
#[inline]
fn scan_string_body(bytes: &[u8], pos: usize) -> usize {
    crate::scan::string_stop(bytes, pos, true)
}

/// Decodes JSON escapes in a string already validated by the parser. Lone surrogates become
/// U+FFFD rather than an error: the record is still worth delivering.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    let mut run_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[run_start..i]);
        let Some(&kind) = bytes.get(i + 1) else {
            break;
        };
        i += 2;
        match kind {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = hex4(bytes, i);
                i += 4;
                let ch = match first {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let lo = if bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u')
                        {
                            hex4(bytes, i + 2)
                        } else {
                            None
                        };
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                i += 6;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            }
                            _ => None,
                        }
                    }
                    Some(cp) => char::from_u32(cp),
                    None => None,
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            _ => {}
        }
        run_start = i.min(bytes.len());
    }
    if run_start < bytes.len() {
        out.push_str(&raw[run_start..]);
    }
    out
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let h = bytes.get(at..at + 4)?;
    let s = std::str::from_utf8(h).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Converts to `serde_json::Value`; used by tests and the fuzz target to compare with serde_json.
#[cfg(any(test, feature = "testsuite"))]
pub fn to_serde(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::from_str(n.text()).unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.decode().into_owned()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
        Value::Object(o) => {
            let mut map = serde_json::Map::new();
            for (k, v) in o.iter() {
                // serde_json keeps the last duplicate; do the same for comparison.
                map.insert(k.decode().into_owned(), to_serde(v));
            }
            serde_json::Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_and_keeps_order_and_escapes() {
        let v = parse(r#"{"b":1,"a":[true,null,"x\"y"],"c":{"d":-0.5e3}}"#).unwrap();
        let o = v.as_object().unwrap();
        let keys: Vec<_> = o.iter().map(|(k, _)| k.raw()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let a = o.get("a").unwrap().as_array().unwrap();
        assert_eq!(a[2].as_str().unwrap().raw(), r#"x\"y"#);
        assert_eq!(a[2].as_str().unwrap().decode(), "x\"y");
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "01",
            "1.",
            "-",
            "\"\u{1}\"",
            "\"\\x\"",
            "tru",
            "{} x",
            "\"\\u12G4\"",
            "[1 2]",
            "{\"a\":1,}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn unescapes_unicode_and_double_escapes() {
        assert_eq!(unescape(r"\u00e9\ud83d\ude00"), "é😀");
        // The double-escaped form Entra emits for '&' stays a literal backslash sequence.
        assert_eq!(unescape(r"iOS \\u0026 Android"), r"iOS \u0026 Android");
        assert_eq!(unescape(r"\ud800x"), "\u{FFFD}x");
    }

    #[test]
    fn depth_limit_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn agrees_with_serde_json_on_values() {
        let text = r#"{"n":[0,-1,1.5,1e10,12345678901234567890],"s":"a\/b\u0041","o":{}}"#;
        let ours = parse(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(crate::json::to_serde(&ours), theirs);
    }
}
