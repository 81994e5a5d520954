//! Streaming, member-by-member decompression of a `.gz` / `.zst` input with bounded memory.
//!
//! Why not `entrastream_archive::decode_members`: it takes the whole compressed file as one
//! slice, so a large input was held whole in memory while it was decoded. Here the compressed
//! bytes are pulled through a small window ([`WINDOW`]) and the decoder writes
//! [`DECODE_CHUNK`] slices; memory does not grow with the file.
//!
//! Damage is handled as `decode_members` does (same events, same compressed offsets): a member
//! that fails to decode is reported at the compressed byte where it starts, and reading goes
//! on at the next member header after that byte. Finding that header needs the bytes after
//! the member's start again, which the decoder has already consumed: the input is reopened
//! there (`open(offset)`: a seek for a file, a ranged GET for a blob) and scanned forward.
//! A failure of the input itself (an I/O error, a blob that cannot be read) is not damage:
//! it ends the file with an error, and the file stays undone in the state file.

use std::io::{self, BufRead, Read};

use entrastream_archive::codec::DECODE_CHUNK;
use entrastream_archive::{Compression, DecodeEvent};

/// Compressed bytes held at once.
pub const WINDOW: usize = 256 * 1024;

/// Opens the compressed input at a byte offset.
pub type Open<'a> = dyn FnMut(u64) -> io::Result<Box<dyn Read + 'a>> + 'a;

/// A buffered reader that knows the absolute offset of its next byte and remembers whether
/// the underlying input failed (as opposed to the decoder finding bad data).
struct Window<'a> {
    inner: Box<dyn Read + 'a>,
    buf: Box<[u8]>,
    lo: usize,
    hi: usize,
    /// Offset (in the compressed input) of `buf[lo]`.
    pos: u64,
    /// Bytes read from the input in total (progress counter).
    read_total: u64,
    failed: Option<io::Error>,
}

impl<'a> Window<'a> {
    fn new(inner: Box<dyn Read + 'a>, pos: u64) -> Self {
        Window {
            inner,
            buf: vec![0u8; WINDOW].into_boxed_slice(),
            lo: 0,
            hi: 0,
            pos,
            read_total: 0,
            failed: None,
        }
    }

    /// Makes at least `n` bytes available unless the input ends first; returns how many are.
    fn ensure(&mut self, n: usize) -> io::Result<usize> {
        while self.hi - self.lo < n {
            if self.lo > 0 {
                self.buf.copy_within(self.lo..self.hi, 0);
                self.hi -= self.lo;
                self.lo = 0;
            }
            match self.inner.read(&mut self.buf[self.hi..]) {
                Ok(0) => break,
                Ok(k) => {
                    self.hi += k;
                    self.read_total += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let shown = io::Error::new(e.kind(), e.to_string());
                    self.failed = Some(e);
                    return Err(shown);
                }
            }
        }
        Ok(self.hi - self.lo)
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    /// Skips to the next occurrence of `magic` (or to the end); true when found.
    fn seek_magic(&mut self, magic: &[u8]) -> io::Result<bool> {
        loop {
            let have = self.ensure(magic.len())?;
            if have < magic.len() {
                self.consume(have);
                return Ok(false);
            }
            let data = self.available();
            match data.windows(magic.len()).position(|w| w == magic) {
                Some(i) => {
                    self.consume(i);
                    return Ok(true);
                }
                // Keep the last bytes: the magic may straddle the refill.
                None => {
                    let skip = data.len() - (magic.len() - 1);
                    self.consume(skip);
                }
            }
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Window<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
            self.ensure(1)?;
        }
        Ok(self.available())
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.hi - self.lo);
        self.lo += n;
        self.pos += n as u64;
    }
}

/// Decodes the input `open` gives, member by member, calling `each` with the decompressed
/// data and with every damaged member (at the compressed offset where it starts); `each`
/// answers false to stop early (the consumer is gone). Returns the compressed bytes read;
/// an error means the input itself failed.
pub fn decode_stream(
    compression: Compression,
    open: &mut Open<'_>,
    mut each: impl FnMut(DecodeEvent<'_>) -> bool,
) -> io::Result<u64> {
    let magic = compression.magic();
    let mut read_before = 0u64;
    let mut src = Window::new(open(0)?, 0);
    let mut out = vec![0u8; DECODE_CHUNK];
    let mut go_on = true;
    loop {
        if !go_on {
            break;
        }
        let have = src.ensure(magic.len().max(1))?;
        if have == 0 {
            break;
        }
        let start = src.pos;
        let result = if src.available().starts_with(magic) {
            read_member(compression, &mut src, &mut out, &mut |ev| {
                go_on = go_on && each(ev);
                go_on
            })
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no member header here",
            ))
        };
        if let Some(e) = src.failed.take() {
            return Err(e);
        }
        let damage = match result {
            Ok(()) if src.pos == start => Some("empty member".to_string()),
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        if !go_on {
            break;
        }
        if let Some(error) = damage {
            go_on = each(DecodeEvent::Damaged {
                offset: start,
                error,
            });
            // The decoder consumed past `start`: read again from the byte after it.
            read_before += src.read_total;
            src = Window::new(open(start + 1)?, start + 1);
            src.seek_magic(magic)?;
        }
    }
    Ok(read_before + src.read_total)
}

/// One member; stops early (Ok) when `each` answers false.
fn read_member(
    compression: Compression,
    src: &mut Window<'_>,
    buf: &mut [u8],
    each: &mut impl FnMut(DecodeEvent<'_>) -> bool,
) -> io::Result<()> {
    let mut reader: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::GzDecoder::new(src)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(src)?.single_frame())
        }
        Compression::None => {
            // Not compressed: pass the bytes through.
            loop {
                let data = src.fill_buf()?;
                if data.is_empty() {
                    return Ok(());
                }
                let n = data.len().min(buf.len());
                let go_on = each(DecodeEvent::Data(&data[..n]));
                src.consume(n);
                if !go_on {
                    return Ok(());
                }
            }
        }
    };
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !each(DecodeEvent::Data(&buf[..n])) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_archive::{decode_members, encode_member};

    type Decoded = (Vec<u8>, Vec<(u64, String)>);

    fn both(c: Compression, data: &[u8], trickle: bool) -> (Decoded, (Vec<u8>, Vec<u64>)) {
        let (mut whole, mut whole_dmg) = (Vec::new(), Vec::new());
        decode_members(c, data, |ev| match ev {
            DecodeEvent::Data(d) => whole.extend_from_slice(d),
            DecodeEvent::Damaged { offset, .. } => whole_dmg.push(offset),
        });
        let (mut streamed, mut dmg) = (Vec::new(), Vec::new());
        // A few bytes at a time: every window boundary is exercised.
        let mut open = |at: u64| {
            let rest = &data[at as usize..];
            Ok(if trickle {
                Box::new(Trickle(rest)) as Box<dyn Read + '_>
            } else {
                Box::new(rest) as Box<dyn Read + '_>
            })
        };
        let n = decode_stream(c, &mut open, |ev| {
            match ev {
                DecodeEvent::Data(d) => streamed.extend_from_slice(d),
                DecodeEvent::Damaged { offset, error } => dmg.push((offset, error)),
            }
            true
        })
        .unwrap();
        assert!(n >= data.len() as u64);
        ((streamed, dmg), (whole, whole_dmg))
    }

    /// A reader that returns at most 7 bytes per call.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.0.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn same_data_and_damage_as_the_whole_file_decoder() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let big: Vec<u8> = (0..6000)
                .flat_map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", i * 7919).into_bytes())
                .collect();
            let mut file = Vec::new();
            encode_member(c, b"{\"first\":1}\n", &mut file).unwrap();
            let mut torn = Vec::new();
            encode_member(c, &big, &mut torn).unwrap();
            file.extend_from_slice(&torn[..torn.len() / 2]); // torn write
            file.extend_from_slice(b"garbage between members");
            encode_member(c, &big, &mut file).unwrap();
            encode_member(c, b"{\"after\":1}\n", &mut file).unwrap();
            file.extend_from_slice(&torn[..10]); // truncated at the end
            // Read in one window: byte for byte what the whole-file decoder gives.
            let ((streamed, dmg), (whole, whole_dmg)) = both(c, &file, false);
            assert!(file.len() < WINDOW);
            assert_eq!(streamed, whole, "{c:?}");
            let offsets = |d: &[(u64, String)]| d.iter().map(|d| d.0).collect::<Vec<_>>();
            assert_eq!(offsets(&dmg), whole_dmg, "{c:?}: {dmg:?}");
            assert!(whole_dmg.len() >= 2, "{c:?}: {whole_dmg:?}");
            // A few bytes per read: the same damage at the same offsets and every intact
            // member's data (what a decoder emits of a torn member before it notices may
            // differ with the read sizes; it is dead-lettered either way).
            let ((trickled, dmg), _) = both(c, &file, true);
            assert_eq!(offsets(&dmg), whole_dmg, "{c:?}: {dmg:?}");
            assert!(trickled.starts_with(b"{\"first\":1}\n"), "{c:?}");
            let tail = [big.as_slice(), b"{\"after\":1}\n"].concat();
            assert!(trickled.ends_with(&tail), "{c:?}");
        }
    }

    #[test]
    fn a_failing_input_is_an_error_not_damage() {
        /// A gzip header start, then the connection breaks.
        struct Broken(bool);
        impl Read for Broken {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 = true;
                out[..4].copy_from_slice(&[0x1f, 0x8b, 0x08, 0x00]);
                Ok(4)
            }
        }
        let mut open = |_: u64| Ok(Box::new(Broken(false)) as Box<dyn Read>);
        let mut damaged = 0;
        let r = decode_stream(Compression::Gzip, &mut open, |ev| {
            if let DecodeEvent::Damaged { .. } = ev {
                damaged += 1
            }
            true
        });
        assert!(r.is_err());
        assert_eq!(damaged, 0);
    }
}
