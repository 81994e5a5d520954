//! Per-record encoding for the event endpoint: the HEC JSON envelope around the record in the
//! chosen schema. Runs on the parse path (no I/O).

use entrastream_entra::{EncodeContext, Record, Schema};
use entrastream_sink::{EncodeError, RecordEncoder};

/// Encodes `{"time":S.mmm,"host":…,"source":…,"sourcetype":…,"index":…,
/// "fields":{"category":…,"tenant":…},"event":<record>}`.
#[derive(Debug, Clone)]
pub struct HecEventEncoder {
    schema: Schema,
    /// `,"host":…,"sourcetype":…` etc., rendered once.
    metadata: Vec<u8>,
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `millis` as epoch seconds with three decimals (`1714557600.123`, `-0.500`), without the
/// allocation `format!` costs: this runs once per record on the pipeline's parse thread.
fn push_seconds_with_millis(out: &mut Vec<u8>, millis: i64) {
    if millis < 0 {
        out.push(b'-');
    }
    let abs = millis.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(abs / 1000).as_bytes());
    let frac = abs % 1000;
    out.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

impl HecEventEncoder {
    /// An encoder with these envelope fields (`None` = let the token's defaults apply).
    pub fn new(
        schema: Schema,
        host: Option<&str>,
        source: Option<&str>,
        sourcetype: &str,
        index: Option<&str>,
    ) -> Self {
        let mut metadata = Vec::new();
        for (k, v) in [
            ("host", host),
            ("source", source),
            ("sourcetype", Some(sourcetype)),
            ("index", index),
        ] {
            if let Some(v) = v {
                metadata.extend_from_slice(b",\"");
                metadata.extend_from_slice(k.as_bytes());
                metadata.extend_from_slice(b"\":");
                push_str(&mut metadata, v);
            }
        }
        HecEventEncoder { schema, metadata }
    }
}

impl RecordEncoder for HecEventEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let t = record.event_time().unwrap_or(ctx.ingest_time);
        let millis = t.unix_millis();
        out.extend_from_slice(b"{\"time\":");
        push_seconds_with_millis(out, millis);
        out.extend_from_slice(&self.metadata);
        out.extend_from_slice(b",\"fields\":{\"category\":");
        push_str(out, record.category());
        if let Some(tenant) = record.tenant_id() {
            out.extend_from_slice(b",\"tenant\":");
            push_str(out, tenant);
        }
        out.extend_from_slice(b"},\"event\":");
        entrastream_entra::encode(self.schema, record, ctx, out)?;
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_entra::{ParseOptions, RecordSlice, parse_record};

    const SIGNIN: &str = r#"{"time":"2024-05-01T10:00:00.1234567Z","resourceId":"/tenants/aaaa-1/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","tenantId":"aaaa-1","resultType":"0","properties":{"id":"x1","createdDateTime":"2024-05-01T10:00:00.123Z","userPrincipalName":"a@b.c","status":{"errorCode":0}}}"#;

    #[test]
    fn time_is_seconds_with_three_decimals() {
        for (millis, text) in [
            (1_714_557_600_123, "1714557600.123"),
            (1_714_557_600_005, "1714557600.005"),
            (0, "0.000"),
            (-500, "-0.500"),
            (-1_001, "-1.001"),
        ] {
            let mut out = Vec::new();
            push_seconds_with_millis(&mut out, millis);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn envelope_has_time_with_millis_fields_and_raw_event() {
        let rec = parse_record(
            RecordSlice {
                bytes: SIGNIN.as_bytes(),
                offset: 0,
            },
            &ParseOptions::default(),
        )
        .expect("parses");
        let enc = HecEventEncoder::new(
            Schema::Raw,
            Some("h1"),
            None,
            "azure:monitor:aad",
            Some("entra"),
        );
        let mut out = Vec::new();
        enc.encode(&rec, &EncodeContext::default(), &mut out)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let t = v["time"].as_f64().unwrap();
        assert!((t - 1_714_557_600.123).abs() < 0.0005, "{t}");
        assert_eq!(v["sourcetype"], "azure:monitor:aad");
        assert_eq!(v["index"], "entra");
        assert_eq!(v["host"], "h1");
        assert!(v.get("source").is_none());
        assert_eq!(v["fields"]["category"], "SignInLogs");
        assert_eq!(v["fields"]["tenant"], "aaaa-1");
        assert_eq!(v["event"]["properties"]["userPrincipalName"], "a@b.c");
    }
}
