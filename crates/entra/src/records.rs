//! Parses a message body's records in one pass, the fast path for well-formed input.
//!
//! [`split`](crate::split) followed by [`parse_record`] reads every record twice: once
//! structurally to find where it ends, once to parse it. [`parse_records`] parses each record
//! where it lies in the body, so parsing finds the record's end, and one parser's scratch
//! stacks serve every record instead of being allocated per record.
//!
//! The key decision: its results are *defined* as those of `split` + `parse_record`, item for
//! item (same records, same errors with the same offsets and bytes). The fast path handles the
//! plain case (a valid UTF-8 body of envelopes whose first member is `records`, bare arrays of
//! records, or single records). Any top-level value that does not parse cleanly in that shape
//! is handed whole to the two-pass path, which decides what is an error and how far it
//! reaches: a malformed envelope is still one error up to the end of its line, and a
//! malformed record inside a well-formed envelope still fails alone. A top-level value is
//! parsed whole before any of its records is handed out, so the fallback never has to take
//! back a record already given. The `records_differential` fuzz target checks the equivalence.

use std::collections::VecDeque;
use std::fmt;

use crate::error::{ErrorKind, ParseError};
use crate::json::{Parser, Value};
use crate::record::{ParseOptions, Record, parse_record, record_from_value};
use crate::split::{Split, skip_ws};

/// Parses every record of `body`: the same items, in the same order, as
/// `split(body).map(|s| s.and_then(|s| parse_record(s, opts)))`, in about one pass.
pub fn parse_records<'a>(body: &'a [u8], opts: &ParseOptions) -> Records<'a> {
    let pos = if body.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    Records {
        body,
        opts: opts.clone(),
        // A body that is not UTF-8 throughout takes the two-pass path, which finds the record
        // the bad bytes belong to and refuses only that one.
        parser: std::str::from_utf8(body).ok().map(Parser::new),
        pos,
        ready: VecDeque::new(),
    }
}

/// Iterator over a body's records and the parts that could not be parsed; see
/// [`parse_records`].
pub struct Records<'a> {
    body: &'a [u8],
    opts: ParseOptions,
    /// Over the whole body; `None` when the body is not valid UTF-8.
    parser: Option<Parser<'a>>,
    /// Where the next top-level value may start.
    pos: usize,
    /// The current top-level value's items, parsed and not yet handed out.
    ready: VecDeque<Result<Record<'a>, ParseError<'a>>>,
}

impl fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("body_len", &self.body.len())
            .field("pos", &self.pos)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, ParseError<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            self.pos = skip_ws(self.body, self.pos);
            if self.pos >= self.body.len() {
                return None;
            }
            let start = self.pos;
            match self.fast_value(start) {
                Some(end) => self.pos = end,
                None => self.two_pass_value(start),
            }
        }
    }
}

impl<'a> Records<'a> {
    /// Parses the top-level value at `start` into `ready` and returns its end, or `None` when it
    /// is not the plain case (then `ready` holds leftovers that the caller discards).
    fn fast_value(&mut self, start: usize) -> Option<usize> {
        let body = self.body;
        // The body as text: only a body that is UTF-8 throughout has a parser.
        let text = self.parser.as_ref()?.text();
        match body[start] {
            b'[' => self.array_of_records(text, start),
            b'{' => {
                let key = skip_ws(body, start + 1);
                if !is_records_key(body, key) {
                    return self.single_record(text, start);
                }
                let colon = skip_ws(body, key + b"\"records\"".len());
                if body.get(colon) != Some(&b':') {
                    return None;
                }
                let array = skip_ws(body, colon + 1);
                if body.get(array) != Some(&b'[') {
                    return None;
                }
                // Any member after `records` (a second `records` among them) is left to the
                // two-pass path, which knows which one counts.
                let close = skip_ws(body, self.array_of_records(text, array)?);
                (body.get(close) == Some(&b'}')).then_some(close + 1)
            }
            _ => None,
        }
    }

    /// A top-level object that is one record (NDJSON of records, or a lone record).
    fn single_record(&mut self, text: &'a str, start: usize) -> Option<usize> {
        let (value, end) = self.parser.as_mut()?.value_at(start).ok()?;
        // The two-pass path takes an object with a `records` member anywhere for an envelope.
        if let Value::Object(o) = &value
            && o.iter()
                .any(|(k, _)| k.raw().as_bytes().eq_ignore_ascii_case(b"records"))
        {
            return None;
        }
        self.push_record(text, start, end, value);
        Some(end)
    }

    /// The array at `start`: each element is a record. Returns the position after `]`.
    fn array_of_records(&mut self, text: &'a str, start: usize) -> Option<usize> {
        let body = self.body;
        let mut pos = skip_ws(body, start + 1);
        if body.get(pos) == Some(&b']') {
            return Some(pos + 1);
        }
        loop {
            let (value, end) = self.parser.as_mut()?.value_at(pos).ok()?;
            self.push_record(text, pos, end, value);
            pos = skip_ws(body, end);
            match body.get(pos) {
                Some(b',') => pos = skip_ws(body, pos + 1),
                Some(b']') => return Some(pos + 1),
                _ => return None,
            }
        }
    }

    /// Queues the record that occupies `start..end` of `text` (the body), or the error
    /// `parse_record` gives for it.
    fn push_record(&mut self, text: &'a str, start: usize, end: usize, value: Value<'a>) {
        let bytes = &self.body[start..end];
        let item = if bytes.len() > self.opts.max_record_bytes {
            Err(ParseError::new(
                start,
                bytes,
                None,
                ErrorKind::TooLarge {
                    size: bytes.len(),
                    limit: self.opts.max_record_bytes,
                },
            ))
        } else {
            // `start..end` begins and ends on ASCII bytes (the value's first and last).
            record_from_value(&text[start..end], start, value)
        };
        self.ready.push_back(item);
    }

    /// The top-level value at `start` the way `split` + `parse_record` read it.
    #[cold]
    fn two_pass_value(&mut self, start: usize) {
        self.ready.clear();
        let (items, end) = Split::one_value(self.body, start);
        let opts = &self.opts;
        self.ready.extend(
            items
                .into_iter()
                .map(|item| item.and_then(|slice| parse_record(slice, opts))),
        );
        self.pos = end;
    }
}

/// Whether a `"records"` key (any case, as the two-pass path matches it) starts at `at`.
fn is_records_key(body: &[u8], at: usize) -> bool {
    body.get(at) == Some(&b'"')
        && body
            .get(at + 1..at + 8)
            .is_some_and(|k| k.eq_ignore_ascii_case(b"records"))
        && body.get(at + 8) == Some(&b'"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::split;

    /// Every item of both paths, as comparable text.
    fn both(body: &[u8]) -> (Vec<String>, Vec<String>) {
        let opts = ParseOptions::default();
        let show = |r: Result<Record<'_>, ParseError<'_>>| match r {
            Ok(r) => format!("ok {} {} {:?}", r.offset(), r.raw_str(), r.event_id()),
            Err(e) => format!(
                "err {} {} {:?} {}",
                e.offset(),
                e.reason_code(),
                String::from_utf8_lossy(e.raw()),
                e
            ),
        };
        let fast = parse_records(body, &opts).map(show).collect();
        let slow = split(body)
            .map(|s| s.and_then(|s| parse_record(s, &opts)))
            .map(show)
            .collect();
        (fast, slow)
    }

    fn same(body: &str) -> usize {
        let (fast, slow) = both(body.as_bytes());
        assert_eq!(fast, slow, "body: {body}");
        fast.len()
    }

    const A: &str = r#"{"category":"AuditLogs","time":"2024-05-01T10:00:00Z","properties":{"result":"success"}}"#;
    const S: &str = r#"{"category":"SignInLogs","time":"2024-05-01T10:00:01Z","properties":{"status":{"errorCode":0}}}"#;

    #[test]
    fn plain_shapes_match_the_two_pass_path() {
        assert_eq!(same(&format!(r#"{{"records":[{A},{S}]}}"#)), 2);
        assert_eq!(same(&format!(" {{ \"Records\" : [ {A} , {S} ] }}\n")), 2);
        assert_eq!(same(&format!("[{A},{S}]")), 2);
        assert_eq!(same(&format!("{A}\n{S}\n")), 2);
        assert_eq!(same(&format!("\u{feff}{{\"records\":[{A}]}}")), 1);
        assert_eq!(same(r#"{"records":[]}"#), 0);
        assert_eq!(same(""), 0);
        assert_eq!(same(" \n"), 0);
    }

    #[test]
    fn bad_records_fail_alone_as_before() {
        // A record that is not an object, one without a category, one with bad JSON inside a
        // well-formed envelope, one with a control character in a string.
        assert_eq!(
            same(&format!(
                r#"{{"records":[{A},42,{{"time":"x"}},{{"a":tru}},{{"a":"b{}"}},{S}]}}"#,
                '\u{1}'
            )),
            6
        );
        assert_eq!(
            same(&format!(r#"{{"records":[{A},"x",null,[1],1.5e,01]}}"#)),
            6
        );
    }

    #[test]
    fn broken_envelopes_fail_whole_as_before() {
        assert_eq!(same(&format!(r#"{{"records":[{A},{S}"#)), 1);
        assert_eq!(same(&format!(r#"{{"records":[{A},{S},]}}"#)), 1);
        assert_eq!(same(&format!(r#"{{"records":[{A}]"#)), 1);
        assert_eq!(
            same(&format!("{{\"records\":[{A}\n{S}\nnot json\n[{A}]")),
            4
        );
        assert_eq!(same(r#"{"records": 5}"#), 1);
        assert_eq!(same("nope"), 1);
    }

    #[test]
    fn unusual_envelopes_go_the_two_pass_way() {
        // Members after `records`, a second `records`, `records` not first, a record object
        // with a `records` member, an escaped key.
        same(&format!(r#"{{"records":[{A}],"x":1}}"#));
        same(&format!(r#"{{"records":[{A}],"records":[{S}]}}"#));
        same(&format!(r#"{{"x":1,"records":[{A}]}}"#));
        same(r#"{"category":"AuditLogs","records":[1]}"#);
        same(&format!(r#"{{"record\u0073":[{A}]}}"#));
    }

    #[test]
    fn invalid_utf8_and_size_limits_match() {
        let mut body = format!(r#"{{"records":[{A},{{"category":"AuditLogs","x":"#).into_bytes();
        body.extend_from_slice(b"\"\xff\"}]}");
        let (fast, slow) = both(&body);
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 2);

        let opts = ParseOptions {
            max_record_bytes: A.len() - 1,
        };
        let body = format!(r#"{{"records":[{A},{{"a":1}}]}}"#);
        let fast: Vec<_> = parse_records(body.as_bytes(), &opts)
            .map(|r| r.map(|_| ()).map_err(|e| e.reason_code()))
            .collect();
        let slow: Vec<_> = split(body.as_bytes())
            .map(|s| s.and_then(|s| parse_record(s, &opts)))
            .map(|r| r.map(|_| ()).map_err(|e| e.reason_code()))
            .collect();
        assert_eq!(fast, slow);
        assert_eq!(fast[0], Err("too_large"));
    }
}
