//! Any bytes as a window of a buffer segment: the reader never panics, accounts for every byte
//! it consumes exactly once, and every record it yields re-verifies on its own
//! (`format::check_parse_invariants`, which the crate's property tests run too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    entrastream_buffer::format::check_parse_invariants(data);
});
