//! Splits a message body into record byte ranges without parsing the records.
//!
//! The scan is structural only (strings, escapes, bracket depth), which is what makes it fast and
//! what lets one malformed record fail alone: each range is validated later by
//! [`parse_record`](crate::parse_record), and a range the scanner cannot close is reported as an
//! error covering the rest of its line, after which scanning resumes. Accepted shapes, in any
//! mix and separated by whitespace: Azure Monitor envelopes `{"records":[…]}`, bare arrays of
//! records, single record objects, and NDJSON of any of these.

use memchr::memchr;

use crate::error::{ErrorKind, ParseError};

/// One record's bytes inside the message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSlice<'a> {
    pub bytes: &'a [u8],
    /// Byte offset of `bytes` within the body that was split.
    pub offset: usize,
}

/// Iterator over the records of a body; see the module docs for the accepted shapes.
#[derive(Debug)]
pub struct Split<'a> {
    body: &'a [u8],
    pos: usize,
    /// Records of the envelope or array currently being walked.
    pending: std::collections::VecDeque<Result<RecordSlice<'a>, ParseError<'a>>>,
}

/// Splits `body` into records. Never fails as a whole: unsplittable parts come out as errors.
pub fn split(body: &[u8]) -> Split<'_> {
    let pos = if body.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    Split {
        body,
        pos,
        pending: Default::default(),
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = Result<RecordSlice<'a>, ParseError<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            self.pos = skip_ws(self.body, self.pos);
            if self.pos >= self.body.len() {
                return None;
            }
            self.top_level_value();
        }
    }
}

impl<'a> Split<'a> {
    /// Splits only the top-level value that starts at `start` (not whitespace), exactly as the
    /// iterator would when it reaches it; returns its items and where the next value may start.
    /// [`parse_records`](crate::parse_records) falls back to this for a value it cannot parse.
    pub(crate) fn one_value(
        body: &'a [u8],
        start: usize,
    ) -> (
        std::collections::VecDeque<Result<RecordSlice<'a>, ParseError<'a>>>,
        usize,
    ) {
        let mut split = Split {
            body,
            pos: start,
            pending: Default::default(),
        };
        split.top_level_value();
        (split.pending, split.pos)
    }

    /// Walks one top-level value starting at `self.pos` and queues what it holds.
    fn top_level_value(&mut self) {
        let body = self.body;
        let start = self.pos;
        match body[start] {
            b'{' => match walk_object(body, start) {
                Ok(ObjectWalk {
                    end,
                    records: Some(records),
                }) => {
                    self.pending.extend(records);
                    self.pos = end;
                }
                Ok(ObjectWalk { end, records: None }) => {
                    self.pending.push_back(Ok(slice(body, start, end)));
                    self.pos = end;
                }
                Err(kind) => self.fail_to_line_end(start, kind),
            },
            b'[' => match walk_array(body, start) {
                Ok((end, items)) => {
                    self.pending.extend(items.into_iter().map(Ok));
                    self.pos = end;
                }
                Err(kind) => self.fail_to_line_end(start, kind),
            },
            _ => self.fail_to_line_end(
                start,
                ErrorKind::InvalidEnvelope(
                    "expected a JSON object or array (an envelope, a record or a list of records)",
                ),
            ),
        }
    }

    /// Queues an error covering `start` up to the end of its line, and resumes after it: in
    /// NDJSON the next line is an independent message and must not be lost with this one.
    #[cold]
    fn fail_to_line_end(&mut self, start: usize, kind: ErrorKind) {
        let end = memchr(b'\n', &self.body[start..]).map_or(self.body.len(), |i| start + i + 1);
        let raw = trim_end(&self.body[start..end]);
        self.pending
            .push_back(Err(ParseError::new(start, raw, None, kind)));
        self.pos = end;
    }
}

struct ObjectWalk<'a> {
    end: usize,
    /// `Some` when the object is an envelope: its `records` array's elements.
    records: Option<Vec<Result<RecordSlice<'a>, ParseError<'a>>>>,
}

/// Walks a top-level object's members, recognising an envelope by its `records` array.
fn walk_object(body: &[u8], start: usize) -> Result<ObjectWalk<'_>, ErrorKind> {
    let mut pos = skip_ws(body, start + 1);
    let mut records = None;
    if body.get(pos) == Some(&b'}') {
        return Ok(ObjectWalk {
            end: pos + 1,
            records,
        });
    }
    loop {
        if body.get(pos) != Some(&b'"') {
            return Err(structural(pos, "expected a string key in an object"));
        }
        let key_end = skip_string(body, pos)?;
        let key = &body[pos + 1..key_end - 1];
        pos = skip_ws(body, key_end);
        if body.get(pos) != Some(&b':') {
            return Err(structural(pos, "expected ':' after an object key"));
        }
        pos = skip_ws(body, pos + 1);
        if key.eq_ignore_ascii_case(b"records") {
            if body.get(pos) != Some(&b'[') {
                return Err(ErrorKind::InvalidEnvelope(
                    "the envelope's \"records\" member must be an array of records",
                ));
            }
            let (end, items) = walk_array(body, pos)?;
            records = Some(items.into_iter().map(Ok).collect());
            pos = end;
        } else {
            pos = skip_value(body, pos)?;
        }
        pos = skip_ws(body, pos);
        match body.get(pos) {
            Some(b',') => pos = skip_ws(body, pos + 1),
            Some(b'}') => {
                return Ok(ObjectWalk {
                    end: pos + 1,
                    records,
                });
            }
            _ => return Err(structural(pos, "expected ',' or '}' in an object")),
        }
    }
}

/// Walks an array and returns each element's range.
fn walk_array(body: &[u8], start: usize) -> Result<(usize, Vec<RecordSlice<'_>>), ErrorKind> {
    let mut items = Vec::new();
    let mut pos = skip_ws(body, start + 1);
    if body.get(pos) == Some(&b']') {
        return Ok((pos + 1, items));
    }
    loop {
        let item_start = pos;
        let end = skip_value(body, pos)?;
        items.push(slice(body, item_start, end));
        pos = skip_ws(body, end);
        match body.get(pos) {
            Some(b',') => pos = skip_ws(body, pos + 1),
            Some(b']') => return Ok((pos + 1, items)),
            _ => return Err(structural(pos, "expected ',' or ']' in an array")),
        }
    }
}

/// Returns the end of the value starting at `pos`, tracking only strings and bracket depth.
fn skip_value(body: &[u8], mut pos: usize) -> Result<usize, ErrorKind> {
    match body.get(pos) {
        Some(b'"') => return skip_string(body, pos),
        Some(b'{' | b'[') => {}
        _ => {
            let start = pos;
            while body.get(pos).is_some_and(|&b| is_scalar_byte(b)) {
                pos += 1;
            }
            if pos == start {
                return Err(structural(pos, "expected a JSON value"));
            }
            return Ok(pos);
        }
    }
    let mut depth = 0usize;
    loop {
        let Some(&b) = body.get(pos) else {
            return Err(structural(pos, "unexpected end of input inside a value"));
        };
        match b {
            b'"' => {
                pos = skip_string(body, pos)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
}

fn is_scalar_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// Returns the position just after the closing quote of the string starting at `pos`.
fn skip_string(body: &[u8], pos: usize) -> Result<usize, ErrorKind> {
    let mut i = pos + 1;
    loop {
        i = crate::scan::string_stop(body, i, false);
        match body.get(i) {
            Some(b'"') => return Ok(i + 1),
            Some(_) => i += 2, // a backslash: skip the escaped byte
            None => return Err(structural(body.len(), "unterminated string")),
        }
    }
}

pub(crate) fn skip_ws(body: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = body.get(pos) {
        pos += 1;
    }
    pos
}

fn slice(body: &[u8], start: usize, end: usize) -> RecordSlice<'_> {
    RecordSlice {
        bytes: &body[start..end],
        offset: start,
    }
}

fn trim_end(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    &raw[..end]
}

#[cold]
fn structural(at: usize, message: &'static str) -> ErrorKind {
    ErrorKind::MalformedJson { message, at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &str) -> Vec<Result<String, String>> {
        split(body.as_bytes())
            .map(|r| match r {
                Ok(s) => Ok(String::from_utf8(s.bytes.to_vec()).unwrap()),
                Err(e) => Err(format!("{}@{}", e.reason_code(), e.offset())),
            })
            .collect()
    }

    #[test]
    fn envelope_array_object_and_ndjson() {
        assert_eq!(
            texts(r#" {"records": [ {"a":1}, {"b":"}]"} ]} "#),
            [Ok(r#"{"a":1}"#.into()), Ok(r#"{"b":"}]"}"#.into())]
        );
        assert_eq!(
            texts(r#"[{"a":1},{"b":2}]"#),
            [Ok(r#"{"a":1}"#.into()), Ok(r#"{"b":2}"#.into())]
        );
        assert_eq!(
            texts(r#"{"a":[1,{"x":2}]}"#),
            [Ok(r#"{"a":[1,{"x":2}]}"#.into())]
        );
        assert_eq!(
            texts("{\"a\":1}\n{\"records\":[{\"c\":3}]}\n"),
            [Ok(r#"{"a":1}"#.into()), Ok(r#"{"c":3}"#.into())]
        );
    }

    #[test]
    fn offsets_point_into_the_body() {
        let body = br#"{"records":[{"a":1},  {"b":2}]}"#;
        let second = split(body).nth(1).unwrap().unwrap();
        assert_eq!(
            &body[second.offset..second.offset + second.bytes.len()],
            br#"{"b":2}"#
        );
    }

    #[test]
    fn a_broken_line_does_not_take_the_next_one_with_it() {
        let out = texts("{\"records\":[{\"a\":1}\n{\"b\":2}\nnot json\n[{\"c\":3}]");
        assert_eq!(out[0].as_ref().unwrap_err(), "malformed_json@0");
        assert_eq!(out[1], Ok(r#"{"b":2}"#.into()));
        assert_eq!(out[2].as_ref().unwrap_err(), "invalid_envelope@28");
        assert_eq!(out[3], Ok(r#"{"c":3}"#.into()));
    }

    #[test]
    fn records_must_be_an_array() {
        assert_eq!(
            texts(r#"{"records": 5}"#)[0].as_ref().unwrap_err(),
            "invalid_envelope@0"
        );
    }

    #[test]
    fn scalars_inside_arrays_are_split_as_items() {
        // They are not records; parse_record rejects them with a clear reason.
        assert_eq!(texts("[1, \"x\", null]").len(), 3);
    }

    #[test]
    fn empty_and_whitespace_bodies_yield_nothing() {
        assert!(texts("").is_empty());
        assert!(texts(" \n\t").is_empty());
        assert!(texts(r#"{"records":[]}"#).is_empty());
    }
}
