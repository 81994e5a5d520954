//! Reads inputs (files, stdin) for `parse` and `report` in bounded memory.
//!
//! Line-oriented inputs (NDJSON of envelopes or records: `entrastream generate`, the file sink,
//! exports) are read in chunks of whole lines, so a 1 GB file needs one chunk of memory, not
//! 1 GB. An input whose first line is not a complete JSON value (one pretty-printed document)
//! is read whole, as `parse` does.

#![forbid(unsafe_code)]

use std::io::{self, Read};

use entrastream_entra::{ParseError, ParseOptions, Record, parse_records};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The inputs named on a command line: `None` is stdin (no files given, or `-`).
pub fn inputs(files: &[std::path::PathBuf]) -> Vec<Option<std::path::PathBuf>> {
    if files.is_empty() {
        return vec![None];
    }
    files
        .iter()
        .map(|p| (p.as_os_str() != "-").then(|| p.clone()))
        .collect()
}

/// The summed size of the inputs, when every one is a file whose size is known (for the
/// progress bar).
pub fn total_size(inputs: &[Option<std::path::PathBuf>]) -> Option<u64> {
    inputs
        .iter()
        .map(|i| {
            i.as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
        })
        .sum()
}

/// Bytes read per chunk. Large enough that per-chunk overhead vanishes, small next to what a
/// process can spare.
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
pub fn first_line_complete(buf: &[u8]) -> Option<bool> {
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
/// that could not be parsed, with the byte offset in the whole input of the chunk that holds
/// it (add the record's or error's own offset to locate it in the input).
pub fn for_each_record<R, F>(
    reader: R,
    opts: &ParseOptions,
    progress: &Progress,
    mut each: F,
) -> io::Result<()>
where
    R: Read,
    F: FnMut(u64, Result<Record<'_>, ParseError<'_>>),
{
    for_each_body(reader, progress, |base, body| {
        for item in parse_records(body, opts) {
            each(base, item);
        }
    })
}

/// Hands `each` the input in bodies that hold whole records: chunks of whole lines for
/// line-oriented input, the whole input otherwise, with each body's offset in the input.
pub fn for_each_body<R, F>(mut reader: R, progress: &Progress, mut each: F) -> io::Result<()>
where
    R: Read,
    F: FnMut(u64, &[u8]),
{
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut base: u64 = 0;
    let mut eof = fill(&mut reader, &mut buf, CHUNK_BYTES)?;
    let mut visit = |base: u64, body: &[u8]| {
        progress.inc(body.len());
        each(base, body);
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
        visit(0, &buf);
        return Ok(());
    }
    loop {
        if eof {
            visit(base, &buf);
            return Ok(());
        }
        // Without a newline the buffer holds one line longer than a chunk: read on.
        if let Some(end) = memchr_last_newline(&buf) {
            visit(base, &buf[..=end]);
            buf.drain(..=end);
            base += end as u64 + 1;
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
            |_, r| match r {
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

    #[test]
    fn offsets_are_relative_to_the_whole_input() {
        let line = b"{\"category\":\"AuditLogs\",\"properties\":{\"id\":\"x\"}}\n";
        let n = CHUNK_BYTES / line.len() * 2 + 7;
        let mut input: Vec<u8> = line.iter().copied().cycle().take(line.len() * n).collect();
        input.extend_from_slice(b"broken\n");
        let mut bad = Vec::new();
        for_each_record(
            &input[..],
            &ParseOptions::default(),
            &Progress::hidden(),
            |base, r| {
                if let Err(e) = r {
                    bad.push(base + e.offset() as u64);
                }
            },
        )
        .unwrap();
        assert_eq!(bad, [(line.len() * n) as u64]);
    }
}
