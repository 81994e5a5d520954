//! Compression of archive files: each write is one complete gzip member or zstd frame.
//!
//! Why members/frames: an hourly blob grows by appends (one block per sink flush), and several
//! replicas may append to the same blob. A concatenation of complete members is itself a valid
//! gzip file (RFC 1952 §2.2) and a concatenation of frames a valid zstd stream, so every append
//! leaves a readable file and the reader ([`decode_members`]) can step over one damaged member
//! (a torn write, a truncated upload) to the next.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// `compression = "none" | "gzip" | "zstd"` (Azure itself writes uncompressed `PT1H.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The file-name suffix: `""`, `".gz"`, `".zst"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// The compression a file name's suffix says.
    pub fn from_name(name: &str) -> Compression {
        if name.ends_with(".gz") {
            Compression::Gzip
        } else if name.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The bytes every member / frame starts with (empty for `None`): where a reader
    /// resynchronises after damage.
    pub fn magic(self) -> &'static [u8] {
        match self {
            Compression::None => b"",
            Compression::Gzip => &[0x1f, 0x8b, 0x08],
            Compression::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
        }
    }
}

/// Appends `data` to `out` as one complete member / frame (as is for `None`).
pub fn encode_member(compression: Compression, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    match compression {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            // Level 1: an archive is written once and read rarely; CPU belongs to delivery.
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            e.write_all(data)?;
            e.finish()?;
        }
        Compression::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(out, 1)?;
            e.write_all(data)?;
            e.finish()?;
        }
    }
    Ok(())
}

/// What [`decode_members`] hands its caller, in file order.
#[derive(Debug)]
pub enum DecodeEvent<'a> {
    /// Decompressed bytes (at most [`DECODE_CHUNK`] at a time).
    Data(&'a [u8]),
    /// A member could not be decoded from this compressed offset on. Bytes it yielded before
    /// the damage were already handed over; decoding resumes at the next member header.
    Damaged {
        /// Byte offset of the damaged member in the compressed file.
        offset: u64,
        /// Why (the decoder's message).
        error: String,
    },
}

/// Largest [`DecodeEvent::Data`] slice.
pub const DECODE_CHUNK: usize = 1 << 20;

/// Decodes `compressed` member by member, calling `each` with the data and with every
/// damaged member; never fails as a whole. `None` hands the input over as is.
pub fn decode_members(
    compression: Compression,
    compressed: &[u8],
    mut each: impl FnMut(DecodeEvent<'_>),
) {
    if compression == Compression::None {
        for chunk in compressed.chunks(DECODE_CHUNK) {
            each(DecodeEvent::Data(chunk));
        }
        return;
    }
    let magic = compression.magic();
    let mut buf = vec![0u8; DECODE_CHUNK];
    let mut pos = 0usize;
    while pos < compressed.len() {
        let mut rest = &compressed[pos..];
        let result = if rest.starts_with(magic) {
            read_member(compression, &mut rest, &mut buf, &mut each)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no member header here",
            ))
        };
        match result {
            Ok(()) => {
                let used = compressed.len() - pos - rest.len();
                // A member that consumed nothing would loop forever; treat it as damage.
                if used == 0 {
                    each(DecodeEvent::Damaged {
                        offset: pos as u64,
                        error: "empty member".into(),
                    });
                    pos = next_magic(compressed, pos + 1, magic);
                } else {
                    pos += used;
                }
            }
            Err(e) => {
                each(DecodeEvent::Damaged {
                    offset: pos as u64,
                    error: e.to_string(),
                });
                pos = next_magic(compressed, pos + 1, magic);
            }
        }
    }
}

fn read_member(
    compression: Compression,
    rest: &mut &[u8],
    buf: &mut [u8],
    each: &mut impl FnMut(DecodeEvent<'_>),
) -> io::Result<()> {
    let mut reader: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::GzDecoder::new(rest)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(rest)?.single_frame())
        }
        Compression::None => return Ok(()),
    };
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => each(DecodeEvent::Data(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn next_magic(data: &[u8], from: usize, magic: &[u8]) -> usize {
    if from >= data.len() {
        return data.len();
    }
    data[from..]
        .windows(magic.len())
        .position(|w| w == magic)
        .map_or(data.len(), |i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(c: Compression, data: &[u8]) -> (Vec<u8>, Vec<u64>) {
        let (mut out, mut damaged) = (Vec::new(), Vec::new());
        decode_members(c, data, |ev| match ev {
            DecodeEvent::Data(d) => out.extend_from_slice(d),
            DecodeEvent::Damaged { offset, .. } => damaged.push(offset),
        });
        (out, damaged)
    }

    #[test]
    fn appended_members_read_back_as_one_stream() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut file = Vec::new();
            encode_member(c, b"{\"a\":1}\n", &mut file).unwrap();
            encode_member(c, b"{\"b\":2}\n{\"c\":3}\n", &mut file).unwrap();
            let (out, damaged) = decode(c, &file);
            assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", "{c:?}");
            assert!(damaged.is_empty(), "{c:?}");
        }
    }

    #[test]
    fn a_truncated_member_is_reported_and_the_next_one_read() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let big: Vec<u8> = (0..5000)
                .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
                .collect();
            let mut first = Vec::new();
            encode_member(c, &big, &mut first).unwrap();
            let mut file = first[..first.len() / 2].to_vec(); // torn write
            let second_at = file.len();
            encode_member(c, b"{\"after\":1}\n", &mut file).unwrap();
            let (out, damaged) = decode(c, &file);
            assert_eq!(damaged, [0], "{c:?}");
            assert!(out.ends_with(b"{\"after\":1}\n"), "{c:?}");
            // How much of the torn member comes out before the damage depends on the inflate
            // backend (zlib-rs buffers more than miniz): not part of the contract.
            assert!(second_at > 0);
            // A file cut inside its last member: the data before is kept, the cut is reported.
            let mut cut = Vec::new();
            encode_member(c, b"{\"a\":1}\n", &mut cut).unwrap();
            let tail_at = cut.len() as u64;
            encode_member(c, &big, &mut cut).unwrap();
            cut.truncate(cut.len() - 7);
            let (out, damaged) = decode(c, &cut);
            assert!(out.starts_with(b"{\"a\":1}\n"));
            assert_eq!(damaged, [tail_at], "{c:?}");
        }
    }

    #[test]
    fn garbage_between_members_is_skipped() {
        let mut file = Vec::new();
        encode_member(Compression::Gzip, b"x\n", &mut file).unwrap();
        file.extend_from_slice(b"garbage");
        encode_member(Compression::Gzip, b"y\n", &mut file).unwrap();
        let (out, damaged) = decode(Compression::Gzip, &file);
        assert_eq!(out, b"x\ny\n");
        assert_eq!(damaged.len(), 1);
    }
}
