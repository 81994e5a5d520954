//! Reads inputs record by record with bounded memory.
//!
//! Line-oriented inputs (NDJSON of envelopes or records: `entrastream generate`, the file sink,
//! exports) are read in chunks of whole lines, so a 1 GB file needs one chunk of memory, not
//! 1 GB. An input whose first line is not a complete JSON value (one pretty-printed document)
//! is read whole, as `parse` does.

use std::io::{self, Read};

use entrastream_entra::{ParseError, ParseOptions, Record, parse_record, split};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bytes read per chunk. Large enough that per-chunk overhead vanishes, small next to the
/// report's own state.
pub const CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Inputs larger than this (in total) get a progress bar on stderr; indicatif draws it only
/// when stderr is a terminal.
pub const PROGRESS_MIN_BYTES: u64 = 16 * 1024 * 1024;

/// A progress bar over input bytes, hidden for small inputs.
#[derive(Debug, Clone)]
pub struct Progress(ProgressBar);

impl Progress {
    /// `total`: the summed size of the inputs when known (files), `None` for stdin.
    pub fn new(total: Option<u64>) -> Progress {
        let show = total.is_none_or(|t| t >= PROGRESS_MIN_BYTES);
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        if !show {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Progress(bar)
    }
    pub fn hidden() -> Progress {
        Progress(ProgressBar::hidden())
    }
    fn inc(&self, n: usize) {
        self.0.inc(n as u64);
    }
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Whether the first line of `buf` holds complete JSON values (depth back to 0 at its end).
/// `None` when `buf` has no newline yet.
fn first_line_complete(buf: &[u8]) -> Option<bool> {
    let (mut depth, mut in_str, mut esc, mut seen) = (0i64, false, false, false);
    for &b in buf {
        if in_str {
            match b {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                seen = true;
            }
            b'}' | b']' => depth -= 1,
            b'\n' if seen => return Some(depth == 0),
            _ => {}
        }
    }
    None
}

fn fill(r: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = start;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(true);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// Splits and parses everything `reader` yields, calling `each` once per record or per part
/// that could not be parsed.
pub fn for_each_record<R, F>(
    mut reader: R,
    opts: &ParseOptions,
    progress: &Progress,
    mut each: F,
) -> io::Result<()>
where
    R: Read,
    F: FnMut(Result<Record<'_>, ParseError<'_>>),
{
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut eof = fill(&mut reader, &mut buf, CHUNK_BYTES)?;
    let visit = |body: &[u8], each: &mut F| {
        progress.inc(body.len());
        for item in split(body) {
            each(item.and_then(|s| parse_record(s, opts)));
        }
    };
    let line_mode = loop {
        match first_line_complete(&buf) {
            Some(v) => break v,
            None if eof => break false,
            // The first line is longer than a chunk: read more of it.
            None => eof = fill(&mut reader, &mut buf, CHUNK_BYTES)?,
        }
    };
    if !line_mode {
        while !eof {
            eof = fill(&mut reader, &mut buf, CHUNK_BYTES)?;
        }
        visit(&buf, &mut each);
        return Ok(());
    }
    loop {
        if eof {
            visit(&buf, &mut each);
            return Ok(());
        }
        // Without a newline the buffer holds one line longer than a chunk: read on.
        if let Some(end) = memchr_last_newline(&buf) {
            visit(&buf[..=end], &mut each);
            buf.drain(..=end);
        }
        eof = fill(&mut reader, &mut buf, CHUNK_BYTES)?;
    }
}

fn memchr_last_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().rposition(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(input: &[u8]) -> (usize, usize) {
        let (mut ok, mut bad) = (0, 0);
        for_each_record(
            input,
            &ParseOptions::default(),
            &Progress::hidden(),
            |r| match r {
                Ok(_) => ok += 1,
                Err(_) => bad += 1,
            },
        )
        .unwrap();
        (ok, bad)
    }

    #[test]
    fn line_and_document_inputs() {
        assert_eq!(first_line_complete(b"{\"a\":1}\n{"), Some(true));
        assert_eq!(first_line_complete(b"{\n \"a\": 1}\n"), Some(false));
        assert_eq!(first_line_complete(b"{\"a\":\"}\"}"), None);
        let nd = b"{\"records\":[{\"category\":\"AuditLogs\"},{\"category\":\"AuditLogs\"}]}\n{\"category\":\"SignInLogs\"}\nnot json\n";
        assert_eq!(count(nd), (3, 1));
        let doc = b"{\n  \"records\": [\n    {\"category\": \"AuditLogs\"}\n  ]\n}\n";
        assert_eq!(count(doc), (1, 0));
    }

    #[test]
    fn chunks_keep_whole_lines() {
        let line = b"{\"category\":\"AuditLogs\",\"properties\":{\"id\":\"x\"}}\n";
        let n = CHUNK_BYTES / line.len() * 2 + 7;
        let input: Vec<u8> = line.iter().copied().cycle().take(line.len() * n).collect();
        assert_eq!(count(&input), (n, 0));
    }
}
