//! The one-pass `parse_records` against the two-pass `split` + `parse_record` it is defined to
//! equal: for any bytes, the same records and errors, in the same order, with the same offsets,
//! bytes, categories, ids and reasons. Run twice per input, with the default record limit and
//! with one small enough to refuse some records, so the size check is compared too.
#![no_main]

use entrastream_entra::{ParseError, ParseOptions, Record, parse_record, parse_records, split};
use libfuzzer_sys::fuzz_target;

fn show(item: Result<Record<'_>, ParseError<'_>>) -> String {
    match item {
        Ok(r) => format!("ok {:?} {:?}", r, r.raw()),
        Err(e) => format!(
            "err {} {} {:?} {:?} {}",
            e.offset(),
            e.reason_code(),
            e.category(),
            e.raw(),
            e
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    for max_record_bytes in [64 * 1024, data.len() / 3 + 1] {
        let opts = ParseOptions { max_record_bytes };
        let fast: Vec<String> = parse_records(data, &opts).map(show).collect();
        let slow: Vec<String> = split(data)
            .map(|s| s.and_then(|s| parse_record(s, &opts)))
            .map(show)
            .collect();
        assert_eq!(fast, slow, "input {:?}", String::from_utf8_lossy(data));
    }
});
