//! `raw`: the record's original bytes, byte-exact. A pretty-printed record keeps its line breaks,
//! so line-oriented sinks should prefer `native` for such input.

use crate::record::Record;

pub fn encode(record: &Record<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(record.raw());
}
