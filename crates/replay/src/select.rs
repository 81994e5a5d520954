//! `--since`, `--until`, `--categories`: which records a replay sends.
//!
//! Design decision: a selection rewrites a body *without changing its length*: an unselected
//! record's line becomes spaces, and a line holding several records (an envelope) where only
//! some are selected becomes those records, one per line, padded with spaces. So every byte
//! offset in the body still is the offset in the file, which is what the dead-letter lines
//! and the resume positions are counted in. Parts that do not parse are kept as they are, so
//! the pipeline dead-letters them with their exact offset.

use entrastream_entra::{ParseOptions, Record, Timestamp, parse_records};

/// What a replay keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep records whose event time is at or after this (Unix seconds, nanos).
    pub since: Option<Timestamp>,
    /// Keep records whose event time is before this.
    pub until: Option<Timestamp>,
    /// Keep only these categories (compared case-insensitively).
    pub categories: Option<Vec<String>>,
}

impl Selection {
    /// True when every record is kept (no rewriting needed).
    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.categories.is_none()
    }

    /// Whether a category is wanted at all (whole containers are skipped on this).
    pub fn wants_category(&self, category_lowercase_letters: &str) -> bool {
        self.categories.as_ref().is_none_or(|cs| {
            cs.iter().any(|c| {
                c.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|ch| ch.to_ascii_lowercase())
                    .eq(category_lowercase_letters.chars())
            })
        })
    }

    /// Whether an hour starting at `start` (Unix seconds) can hold a selected record. Hour
    /// files are named by the hour Azure (or entrastream) filed them under, which for Azure's
    /// own export need not be the record's event time: a day of slack either side keeps late
    /// records.
    pub fn wants_hour(&self, start: i64) -> bool {
        const SLACK: i64 = 24 * 3600;
        let end = start + 3600;
        self.since.is_none_or(|s| end + SLACK > s.unix_seconds())
            && self.until.is_none_or(|u| start - SLACK < u.unix_seconds())
    }

    /// Whether a record is selected. A record without a time is kept only when no window is
    /// given (it cannot be placed in one).
    pub fn keeps(&self, record: &Record<'_>) -> bool {
        if let Some(cs) = &self.categories
            && !cs.iter().any(|c| c.eq_ignore_ascii_case(record.category()))
        {
            return false;
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = record.event_time() else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    /// Rewrites `body` in place (same length) so that it holds only the selected records.
    /// Returns how many records were kept and how many dropped.
    pub fn apply(&self, body: &mut [u8], opts: &ParseOptions) -> (u64, u64) {
        let (mut kept, mut dropped) = (0, 0);
        let mut start = 0;
        while start < body.len() {
            let end = body[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| start + i);
            let (k, d) = self.apply_line(&mut body[start..end], opts);
            kept += k;
            dropped += d;
            start = end + 1;
        }
        (kept, dropped)
    }

    fn apply_line(&self, line: &mut [u8], opts: &ParseOptions) -> (u64, u64) {
        let mut keep: Vec<(usize, usize)> = Vec::new();
        let (mut total, mut broken) = (0u64, false);
        for item in parse_records(line, opts) {
            total += 1;
            match item {
                Ok(r) => {
                    if self.keeps(&r) {
                        keep.push((r.offset(), r.raw().len()));
                    }
                }
                Err(_) => broken = true,
            }
        }
        if broken || keep.len() as u64 == total {
            // Unparseable parts stay for the pipeline to dead-letter with their offsets (a
            // line that is one record is either broken or a record).
            return (total, 0);
        }
        let kept = keep.len() as u64;
        let mut out = Vec::with_capacity(line.len());
        for (i, (at, len)) in keep.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(&line[*at..at + len]);
        }
        // The kept records are parts of the line, so they fit in it with room for separators.
        out.resize(line.len(), b' ');
        line.copy_from_slice(&out[..line.len()]);
        (kept, total - kept)
    }
}

/// Parses a `--since` / `--until` value: RFC 3339 (`2024-06-20T05:00:00Z`) or a date
/// (`2024-06-20`, midnight UTC).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    let full = if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        format!("{t}T00:00:00Z")
    } else {
        t.to_owned()
    };
    Timestamp::parse(&full).ok_or_else(|| {
        format!("{text:?} is not a time; write it like 2024-06-20T05:00:00Z or 2024-06-20")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_entra::{parse_record, split};

    fn rec(cat: &str, time: &str, id: &str) -> String {
        format!(
            r#"{{"time":"{time}","tenantId":"t","category":"{cat}","properties":{{"id":"{id}","createdDateTime":"{time}","activityDateTime":"{time}"}}}}"#
        )
    }

    fn kept_ids(sel: &Selection, body: &str) -> Vec<String> {
        let mut b = body.as_bytes().to_vec();
        sel.apply(&mut b, &ParseOptions::default());
        assert_eq!(b.len(), body.len(), "length kept");
        let mut ids = Vec::new();
        for item in split(&b) {
            let r = parse_record(item.unwrap(), &ParseOptions::default()).unwrap();
            ids.push(r.raw_str().split("\"id\":\"").nth(1).unwrap()[..1].to_owned());
        }
        ids
    }

    #[test]
    fn window_and_categories_select_records_keeping_offsets() {
        let body = format!(
            "{}\n{}\n{{\"records\":[{},{}]}}\n{}\n",
            rec("SignInLogs", "2024-06-20T04:59:59Z", "a"),
            rec("SignInLogs", "2024-06-20T05:00:00Z", "b"),
            rec("AuditLogs", "2024-06-20T05:30:00Z", "c"),
            rec("SignInLogs", "2024-06-20T05:40:00Z", "d"),
            rec("SignInLogs", "2024-06-20T06:00:00Z", "e"),
        );
        let window = Selection {
            since: Some(parse_time("2024-06-20T05:00:00Z").unwrap()),
            until: Some(parse_time("2024-06-20T06:00:00Z").unwrap()),
            categories: None,
        };
        assert_eq!(kept_ids(&window, &body), ["b", "c", "d"]);
        let signins = Selection {
            categories: Some(vec!["signinlogs".into()]),
            ..window.clone()
        };
        assert_eq!(kept_ids(&signins, &body), ["b", "d"]);
        assert_eq!(
            kept_ids(&Selection::default(), &body),
            ["a", "b", "c", "d", "e"]
        );
    }

    #[test]
    fn broken_lines_stay_where_they_are() {
        let good = rec("SignInLogs", "2024-06-20T05:00:00Z", "b");
        let body = format!("not json\n{good}\n");
        let sel = Selection {
            categories: Some(vec!["AuditLogs".into()]),
            ..Default::default()
        };
        let mut b = body.as_bytes().to_vec();
        sel.apply(&mut b, &ParseOptions::default());
        assert!(b.starts_with(b"not json\n"));
        assert!(b[9..].iter().all(|&c| c == b' ' || c == b'\n'));
    }

    #[test]
    fn hours_and_containers() {
        let sel = Selection {
            since: Some(parse_time("2024-06-20").unwrap()),
            until: Some(parse_time("2024-06-21").unwrap()),
            categories: Some(vec!["SignInLogs".into()]),
        };
        assert!(sel.wants_category("signinlogs"));
        assert!(!sel.wants_category("auditlogs"));
        let day = sel.since.unwrap().unix_seconds();
        assert!(sel.wants_hour(day + 5 * 3600));
        assert!(sel.wants_hour(day - 3 * 3600), "slack for late records");
        assert!(!sel.wants_hour(day - 3 * 86_400));
        assert!(!sel.wants_hour(day + 3 * 86_400));
        assert!(parse_time("yesterday").is_err());
    }
}
