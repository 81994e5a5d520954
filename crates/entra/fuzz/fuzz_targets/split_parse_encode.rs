//! Any bytes through split → parse → every encoder: nothing may panic, every encoder must
//! write valid JSON, and records plus errors must account for the whole input.
#![no_main]

use entrastream_entra::{EncodeContext, ParseOptions, Schema, Timestamp, encode, parse_record, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = EncodeContext {
        ingest_time: Timestamp::from_unix(1_700_000_000, 0).unwrap(),
    };
    let opts = ParseOptions { max_record_bytes: 64 * 1024 };
    let mut out = Vec::new();
    for item in split(data) {
        match item.and_then(|s| parse_record(s, &opts)) {
            Ok(record) => {
                for schema in Schema::ALL {
                    out.clear();
                    encode(schema, &record, &ctx, &mut out).unwrap();
                    if schema != Schema::Raw {
                        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
                            panic!("{schema} wrote invalid JSON ({e}): {}", String::from_utf8_lossy(&out));
                        }
                    }
                }
                // Native output must parse back into a record of the same category and id.
                out.clear();
                encode(Schema::Native, &record, &ctx, &mut out).unwrap();
                let again = split(&out).next().unwrap().and_then(|s| parse_record(s, &opts));
                let again = again.unwrap_or_else(|e| panic!("native output does not re-parse: {e}"));
                assert_eq!(again.category(), record.category());
                assert_eq!(again.event_id(), record.event_id());
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(!e.raw().is_empty() || data.is_empty());
            }
        }
    }
});
