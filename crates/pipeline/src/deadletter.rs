//! The dead-letter line: one JSON object per refused record or unsplittable message part.

use entrastream_model::PartitionId;
use serde::Serialize;

/// One dead-letter entry as written to the dead-letter sink.
#[derive(Debug, Serialize)]
pub struct DeadLetterLine<'a> {
    /// Human-readable reason (parser message, or the sink's refusal).
    pub error: &'a str,
    /// Bounded reason code (`malformed_json`, `sink_rejected`, …), also the metric label.
    pub reason: &'a str,
    /// Who refused it: `parser` or the sink name.
    pub source: &'a str,
    /// Topic of the message.
    pub topic: &'a str,
    /// Partition of the message.
    pub partition: i32,
    /// Offset of the message.
    pub offset: i64,
    /// Byte offset of the part inside the message body, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_offset: Option<usize>,
    /// Diagnostic category, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'a str>,
    /// The refused bytes (lossy UTF-8: invalid sequences become U+FFFD).
    pub raw: &'a str,
}

/// Appends one dead-letter line (with trailing newline) to `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_line(
    out: &mut Vec<u8>,
    error: &str,
    reason: &str,
    source: &str,
    partition: &PartitionId,
    offset: i64,
    body_offset: Option<usize>,
    category: Option<&str>,
    raw: &[u8],
) {
    let raw = String::from_utf8_lossy(raw);
    let line = DeadLetterLine {
        error,
        reason,
        source,
        topic: &partition.topic,
        partition: partition.partition,
        offset,
        body_offset,
        category,
        raw: &raw,
    };
    // Serializing a struct of strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_every_field() {
        let mut out = Vec::new();
        write_line(
            &mut out,
            "bad json",
            "malformed_json",
            "parser",
            &PartitionId::new("hub", 2),
            41,
            Some(7),
            None,
            b"{x\xff",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["partition"], 2);
        assert_eq!(v["offset"], 41);
        assert_eq!(v["reason"], "malformed_json");
        assert_eq!(v["raw"], "{x\u{fffd}");
        assert!(v.get("category").is_none());
        assert_eq!(*out.last().unwrap(), b'\n');
    }
}
