//! Syslog sink: RFC 5424 messages whose MSG is the record as JSON in the sink's schema, an
//! ArcSight CEF event or an IBM LEEF 2.0 event, sent over TCP, TLS or RELP to a SIEM or a
//! syslog relay (rsyslog, syslog-ng).
//!
//! Design decision: records are never truncated and acceptance is stated per transport. A
//! message larger than `max_message_bytes` is refused by the encoder and dead-lettered with
//! the reason. Over RELP a record counts as delivered only when the receiver acknowledged it
//! (`rsp 200`); over TCP/TLS when it is written and flushed, and after any connection error
//! everything not yet confirmed in the batch is resent on a new connection (duplicates are
//! counted, never gaps). What plain TCP cannot promise: bytes the kernel accepted but the
//! receiver never read are lost if the receiver dies before reading them and the connection
//! closes cleanly afterwards; only RELP closes that gap.
//! Layout: [`config`] → [`encoder`] ([`rfc5424`], [`severity`], [`mapping`], [`cef`],
//! [`leef`]) → [`frame`].
#![forbid(unsafe_code)]

pub mod cef;
pub mod config;
pub mod encoder;
pub mod frame;
pub mod leef;
pub mod mapping;
pub mod rfc5424;
pub mod severity;
#[cfg(test)]
mod test_records;

pub use config::{Config, ConfigError, Facility, Format, Framing, TlsConfig, Transport};
pub use encoder::SyslogEncoder;
