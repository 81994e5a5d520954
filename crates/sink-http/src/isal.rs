//! ISA-L's one-shot gzip (igzip level 1) over `isal-sys`'s raw bindings: the only unsafe code
//! of this crate, three FFI calls on memory this module owns for the length of each call.
//!
//! Why not the `isal-rs` wrapper: it calls `assume_init` on ISA-L structs that ISA-L has not
//! fully written (undefined behaviour by Rust's rules, however harmless today), and it moves the
//! 82 KB stream struct by value on every call.
#![allow(unsafe_code)]

use std::cell::RefCell;

use isal_sys::igzip_lib as ffi;

/// Level 1's working memory (hash table and token buffer), ISA-L's default size for it.
const LEVEL_BUF_BYTES: usize = ffi::ISAL_DEF_LVL1_DEFAULT as usize;

thread_local! {
    /// One per thread (the sinks compress on tokio's blocking pool), reused across requests:
    /// ISA-L resets the hash table at the start of every stateless call.
    static LEVEL_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; LEVEL_BUF_BYTES]);
}

/// An output size that always fits `len` input bytes: when the compressed stream does not fit,
/// ISA-L writes stored blocks instead, which take the input plus 5 bytes per block of up to
/// 65,535 and the gzip header and trailer (18); 64 leaves room to spare.
pub(crate) fn stored_bound(len: usize) -> usize {
    len + 5 * len.div_ceil(65_535) + 64
}

/// `data` as one gzip member written to the start of `out`: the number of bytes written, or
/// None when it does not fit in `out` (ISA-L's `STATELESS_OVERFLOW`) or ISA-L refuses. An `out`
/// of [`stored_bound`] always fits.
pub(crate) fn gzip_level1_into(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let avail_in = u32::try_from(data.len()).ok()?;
    let avail_out = u32::try_from(out.len()).ok()?;
    LEVEL_BUF.with(|level_buf| {
        let mut level_buf = level_buf.borrow_mut();
        // SAFETY: `isal_zstream` is plain C data (integers, raw pointers and arrays of them), for
        // which all-zero bytes are a valid value; allocated zeroed on the heap, never moved.
        let mut stream: Box<ffi::isal_zstream> = unsafe { Box::new_zeroed().assume_init() };
        // SAFETY: `stream` is a valid isal_zstream, borrowed exclusively for the call.
        unsafe { ffi::isal_deflate_stateless_init(&mut *stream) };
        stream.level = 1;
        stream.level_buf = level_buf.as_mut_ptr();
        stream.level_buf_size = LEVEL_BUF_BYTES as u32;
        stream.gzip_flag = ffi::IGZIP_GZIP as u16;
        stream.flush = ffi::NO_FLUSH as u16;
        stream.end_of_stream = 1;
        // ISA-L only reads through `next_in`; the C field is not const.
        stream.next_in = data.as_ptr().cast_mut();
        stream.avail_in = avail_in;
        stream.next_out = out.as_mut_ptr();
        stream.avail_out = avail_out;
        // SAFETY: `next_in`/`avail_in` and `next_out`/`avail_out` describe live buffers of those
        // lengths (`data` borrowed, `out` borrowed mutably), `level_buf` is LEVEL_BUF_BYTES
        // bytes borrowed mutably for the whole call, and ISA-L keeps no pointer past its return.
        let rc = unsafe { ffi::isal_deflate_stateless(&mut *stream) };
        let written = stream.total_out as usize;
        (rc == ffi::COMP_OK as i32 && written <= out.len()).then_some(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_an_output_is_none_and_the_stored_bound_always_fits() {
        let data = b"0123456789abcdef".repeat(10_000);
        assert_eq!(gzip_level1_into(&data, &mut [0u8; 16]), None);
        let mut out = vec![0u8; stored_bound(data.len())];
        let n = gzip_level1_into(&data, &mut out).expect("fits");
        assert!(n < data.len() / 10, "{n}");
        // The same thread's level buffer, reused: the second member is identical.
        let mut again = vec![0u8; out.len()];
        assert_eq!(gzip_level1_into(&data, &mut again), Some(n));
        assert_eq!(out[..n], again[..n]);
    }
}
