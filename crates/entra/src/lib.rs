//! Owns the meaning of Entra ID diagnostic logs: splitting an Event Hubs message body into
//! records, parsing each record into a typed view without copying, and encoding it as `raw`,
//! `native`, `ecs` or `ocsf`.
//!
//! The main design decision: records are parsed into a borrowed tree whose strings stay in their
//! escaped wire form ([`json::JsonStr`]). Nothing is copied unless a field must be interpreted
//! (times, codes), every field survives for lossless output, and writing a string back out is a
//! copy of its input bytes. One malformed record fails alone while the other records of its
//! message are delivered: [`split`] is a structural scan that finds each record's bytes and
//! [`parse_record`] parses one; [`parse_records`] gives the same results in one pass (each record
//! parsed where it lies), falling back to the two-pass path for anything but plain input.
//!
//! ```
//! use entrastream_entra::{parse_records, encode, EncodeContext, ParseOptions, Schema};
//!
//! let body = br#"{"records":[{"category":"AuditLogs","time":"2024-05-01T10:00:00Z",
//!   "properties":{"activityDisplayName":"Add user","result":"success"}}, 42]}"#;
//! let mut out = Vec::new();
//! let mut failed = 0;
//! for item in parse_records(body, &ParseOptions::default()) {
//!     match item {
//!         Ok(record) => {
//!             encode(Schema::Native, &record, &EncodeContext::default(), &mut out).unwrap();
//!             out.push(b'\n');
//!         }
//!         Err(_) => failed += 1, // dead-letter err.raw() with err.to_string()
//!     }
//! }
//! assert_eq!(failed, 1);
//! assert!(out.starts_with(br#"{"schema_version":"1""#));
//! ```
#![forbid(unsafe_code)]

pub mod category;
pub mod encode;
pub mod error;
mod fields;
pub mod json;
pub mod kinds;
pub mod principal;
pub mod record;
pub mod records;
mod scan;
pub mod split;
pub mod time;

pub use category::{Category, Kind};
pub use encode::{EncodeContext, EncodeError, Schema, UnknownSchema, encode};
pub use error::{ErrorKind, OwnedParseError, ParseError};
pub use fields::Scalar;
pub use principal::{Principal, PrincipalKind};
pub use record::{
    Body, Envelope, EventId, Outcome, ParseOptions, Record, TenantSource, parse_record,
};
pub use records::{Records, parse_records};
pub use split::{RecordSlice, Split, split};
pub use time::Timestamp;
