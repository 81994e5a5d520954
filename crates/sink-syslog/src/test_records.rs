//! Parsed records for unit tests: the input text is owned here, records borrow it.

use entrastream_entra::{ParseOptions, Record, RecordSlice, parse_record};

/// One record's JSON text.
pub(crate) struct Owned(String);

/// Wraps `json` (checked to parse).
pub(crate) fn parse(json: &str) -> Owned {
    let o = Owned(json.to_owned());
    let _ = o.record();
    o
}

impl Owned {
    pub(crate) fn record(&self) -> Record<'_> {
        parse_record(
            RecordSlice {
                bytes: self.0.as_bytes(),
                offset: 0,
            },
            &ParseOptions::default(),
        )
        .expect("test record parses")
    }
}
