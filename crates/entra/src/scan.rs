//! Finding the end of a JSON string's plain run, eight bytes at a time.
//!
//! Entra records are mostly short strings (keys, GUIDs, names): a SIMD search has a set-up cost
//! larger than these strings, and a byte loop costs a branch per byte. Testing eight bytes per
//! step with word arithmetic ("SWAR") is cheaper than either for runs of 5–100 bytes.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `v` that is zero (exact for the lowest such byte, which is all
/// we use: borrows can only create false positives above a true one).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Position of the first `"` or `\` at or after `pos`, and also of the first control character
/// when `controls` is set; `bytes.len()` when there is none.
#[inline]
pub(crate) fn string_stop(bytes: &[u8], mut pos: usize, controls: bool) -> usize {
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let mut hits =
            zero_bytes(x ^ (LO * u64::from(b'"'))) | zero_bytes(x ^ (LO * u64::from(b'\\')));
        if controls {
            // Bytes below 0x20: subtracting 0x20 borrows into the high bit only for them
            // (bytes >= 0x80 are excluded by `!x`).
            hits |= x.wrapping_sub(LO * 0x20) & !x & HI;
        }
        if hits != 0 {
            return pos + (hits.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&b) = bytes.get(pos) {
        if b == b'"' || b == b'\\' || (controls && b < 0x20) {
            return pos;
        }
        pos += 1;
    }
    pos
}

/// Whether `bytes` holds a `"`, a `\` or a control character, i.e. whether JSON needs any of
/// it escaped. For the encoders' own short keys and values: the last step loads the final
/// eight (or four and four) bytes overlapping the one before, so no byte-by-byte tail runs.
#[inline]
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 8 {
        let mut pos = 0;
        while pos + 8 < n {
            if stops(word_at(bytes, pos)) != 0 {
                return true;
            }
            pos += 8;
        }
        return stops(word_at(bytes, n - 8)) != 0;
    }
    if n >= 4 {
        let lo = u64::from(u32::from_le_bytes(
            *bytes.first_chunk::<4>().unwrap_or(&[0; 4]),
        ));
        let hi = u64::from(u32::from_le_bytes(
            *bytes.last_chunk::<4>().unwrap_or(&[0; 4]),
        ));
        return stops(lo | hi << 32) != 0;
    }
    bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        Some(w) => u64::from_le_bytes(*w),
        None => 0,
    }
}

/// High bit set in bytes of `x` that are a quote, a backslash or a control character (exact
/// for "any", which is all `needs_escape` asks: false positives only sit above a true one).
#[inline(always)]
fn stops(x: u64) -> u64 {
    zero_bytes(x ^ (LO * u64::from(b'"')))
        | zero_bytes(x ^ (LO * u64::from(b'\\')))
        | (x.wrapping_sub(LO * 0x20) & !x & HI)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bytes: &[u8], pos: usize, controls: bool) -> usize {
        (pos..bytes.len())
            .find(|&i| bytes[i] == b'"' || bytes[i] == b'\\' || (controls && bytes[i] < 0x20))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn agrees_with_a_byte_loop() {
        let samples: [&[u8]; 6] = [
            b"plain text without stops at all here",
            b"ab\"cd",
            b"0123456789\\n",
            b"tab\there and a quote\" later",
            "é–😀 non-ascii then \" quote".as_bytes(),
            b"\x7f\x80\xff\x1f\"",
        ];
        for s in samples {
            for start in 0..s.len() {
                for controls in [false, true] {
                    assert_eq!(
                        string_stop(s, start, controls),
                        naive(s, start, controls),
                        "{s:?} {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn needs_escape_agrees_with_a_byte_loop() {
        // Every length up to 20 and every position of every byte value: the overlapping last
        // steps must see each byte once at least.
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    assert_eq!(needs_escape(&s), naive(&s, 0, true) < len, "{len} {at} {b}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("é–😀 plain".as_bytes()));
    }

    #[test]
    fn every_byte_value_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut s = vec![b'a'; 16];
                s[lane] = b;
                for controls in [false, true] {
                    assert_eq!(
                        string_stop(&s, 0, controls),
                        naive(&s, 0, controls),
                        "{b} {lane}"
                    );
                }
            }
        }
    }
}
