//! Per-record encoding (the parse path, no I/O): the RFC 5424 header, then MSG in the chosen
//! format. The output is the syslog message without framing; the transport frames it.
//!
//! MSG and the BOM (RFC 5424 §6.4): a JSON MSG is UTF-8 and starts with the BOM, as the RFC
//! requires for a MSG known to be UTF-8. A CEF or LEEF MSG goes without it (MSG-ANY): their
//! parsers (ArcSight, QRadar's DSMs, Sentinel's CEF connector) expect the MSG to begin with
//! `CEF:` / `LEEF:`, and a BOM would hide the event from them.
//!
//! A message longer than `max_message_bytes` is refused here with the reason, so the pipeline
//! dead-letters the record: it is never truncated.

use entrastream_entra::{EncodeContext, Record, Schema};
use entrastream_sink::{EncodeError, RecordEncoder};

use crate::config::{Config, Facility, Format, Framing, Transport};
use crate::rfc5424::{BOM, Header};
use crate::{cef, frame, leef, mapping, severity};

/// Turns records into RFC 5424 messages.
#[derive(Debug, Clone)]
pub struct SyslogEncoder {
    header: Header,
    format: Format,
    schema: Schema,
    escape_line_breaks: bool,
    max_message_bytes: usize,
}

/// The reason a too-large record is dead-lettered (prefix; the sizes follow).
pub const TOO_LARGE: &str = "syslog message too large";

impl SyslogEncoder {
    /// The encoder for these settings; `schema` is the sink's schema (used by `rfc5424_json`).
    pub fn new(cfg: &Config, schema: Schema, hostname: &str) -> Self {
        SyslogEncoder {
            header: Header::new(cfg.facility, hostname, &cfg.app_name, &cfg.sd_id),
            format: cfg.format,
            schema,
            escape_line_breaks: cfg.framing == Framing::Newline && cfg.transport != Transport::Relp,
            max_message_bytes: usize::try_from(cfg.max_message_bytes).unwrap_or(usize::MAX),
        }
    }

    /// Facility, host name, app name and SD-ID explicitly (tests).
    pub fn with_header(
        format: Format,
        schema: Schema,
        facility: Facility,
        hostname: &str,
        max_message_bytes: usize,
    ) -> Self {
        SyslogEncoder {
            header: Header::new(facility, hostname, "entrastream", "entrastream@32473"),
            format,
            schema,
            escape_line_breaks: false,
            max_message_bytes,
        }
    }
}

impl RecordEncoder for SyslogEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let level = severity::level(record);
        self.header.write(record, ctx, level.syslog(), out);
        let time = record.event_time().unwrap_or(ctx.ingest_time);
        match self.format {
            Format::Rfc5424Json => {
                out.extend_from_slice(BOM);
                entrastream_entra::encode(self.schema, record, ctx, out)?;
            }
            Format::Cef => {
                let m = mapping::map(record);
                cef::write(out, &m, record.category(), level.cef(), time.unix_millis());
            }
            Format::Leef => {
                let m = mapping::map(record);
                let mut dev_time = Vec::with_capacity(24);
                time.write_millis_bytes(&mut dev_time);
                leef::write(out, &m, record.category(), level.cef(), &dev_time);
            }
        }
        if self.escape_line_breaks {
            frame::escape_line_breaks(&mut out[start..]);
        }
        let len = out.len() - start;
        if len > self.max_message_bytes {
            return Err(EncodeError::TooLarge(format!(
                "{TOO_LARGE}: {len} bytes is above max_message_bytes = {} (the record is not truncated; raise max_message_bytes together with the receiver's limit, e.g. rsyslog's maxMessageSize, to deliver it)",
                self.max_message_bytes
            )));
        }
        Ok(())
    }

    /// Nothing: the transport frames each message (octet count, line feed or RELP frame).
    fn separator(&self) -> &'static [u8] {
        b""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_records::parse;

    const SIGNIN: &str = r#"{"time":"2024-05-01T10:00:00.123Z","category":"SignInLogs","tenantId":"t1","resultType":"50126","properties":{"id":"s1","userPrincipalName":"a@b.c","ipAddress":"10.0.0.1","userAgent":"line1\nline2","status":{"errorCode":50126,"failureReason":"bad = password"}}}"#;

    fn encode(enc: &SyslogEncoder, json: &str) -> Result<Vec<u8>, String> {
        let r = parse(json);
        let mut out = b"previous".to_vec();
        enc.encode(&r.record(), &EncodeContext::default(), &mut out)
            .map_err(|e| e.to_string())?;
        assert!(out.starts_with(b"previous"));
        Ok(out[8..].to_vec())
    }

    fn enc(format: Format, max: usize) -> SyslogEncoder {
        SyslogEncoder::with_header(format, Schema::Raw, Facility::Authpriv, "h", max)
    }

    #[test]
    fn json_msg_starts_with_bom_and_is_the_record() {
        let out = encode(&enc(Format::Rfc5424Json, 65536), SIGNIN).unwrap();
        let at = out.windows(3).position(|w| w == BOM).unwrap();
        assert!(out.starts_with(b"<84>1 2024-05-01T10:00:00.123Z h entrastream "));
        assert_eq!(
            &out[at + 3..],
            SIGNIN.as_bytes(),
            "raw schema: MSG is the record"
        );
    }

    #[test]
    fn cef_msg_has_no_bom_and_escapes() {
        let out = String::from_utf8(encode(&enc(Format::Cef, 65536), SIGNIN).unwrap()).unwrap();
        let msg = &out[out.find("] CEF:0|").unwrap() + 2..];
        assert!(msg.starts_with("CEF:0|Microsoft|Entra ID|"), "{msg}");
        assert!(msg.contains("|SignInLogs|"));
        assert!(msg.contains("|6|rt=1714557600123 "), "{msg}");
        assert!(msg.contains(r"requestClientApplication=line1\nline2"));
        assert!(msg.contains(r"reason=bad \= password"));
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn leef_msg_has_tab_separated_attributes() {
        let out = String::from_utf8(encode(&enc(Format::Leef, 65536), SIGNIN).unwrap()).unwrap();
        let msg = &out[out.find("] LEEF:2.0|").unwrap() + 2..];
        assert!(msg.contains("|SignInLogs|x09|devTime=2024-05-01T10:00:00.123Z\t"));
        assert!(msg.contains("\tusrName=a@b.c\t"));
        assert!(msg.contains("\tuserAgent=line1\\nline2"));
        assert!(msg.contains("\treason=bad = password"));
    }

    #[test]
    fn too_large_is_refused_with_the_reason_never_truncated() {
        let e = enc(Format::Rfc5424Json, 480);
        let big = SIGNIN.replace("a@b.c", &"x".repeat(600));
        let err = encode(&e, &big).unwrap_err();
        assert!(err.starts_with(TOO_LARGE), "{err}");
        assert!(err.contains("max_message_bytes = 480"));
    }

    #[test]
    fn newline_framing_escapes_raw_line_breaks_of_pretty_json() {
        let mut cfg = Config::new("h:1");
        cfg.framing = Framing::Newline;
        let e = SyslogEncoder::new(&cfg, Schema::Raw, "h");
        let pretty = "{\n  \"time\": \"2024-05-01T10:00:00Z\",\n  \"category\": \"AuditLogs\",\n  \"properties\": {}\n}";
        let out = encode(&e, pretty).unwrap();
        assert!(!out.contains(&b'\n'));
        let at = out.windows(3).position(|w| w == BOM).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[at + 3..]).unwrap();
        assert_eq!(v["category"], "AuditLogs");
        cfg.framing = Framing::OctetCounting;
        let e = SyslogEncoder::new(&cfg, Schema::Raw, "h");
        let out = encode(&e, pretty).unwrap();
        assert!(
            out.ends_with(pretty.as_bytes()),
            "octet counting keeps the bytes"
        );
    }
}
