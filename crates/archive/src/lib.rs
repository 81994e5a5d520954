//! Azure Monitor's storage-export layout and the archive codecs, shared by the archive sinks
//! (`entrastream-sink-archive`) and `entrastream replay` (`entrastream-replay`).
//!
//! Design decision: one module owns every name Azure's own diagnostic-setting export uses
//! ([`layout`]: container `insights-logs-<category>`, hourly blob
//! `tenantId=<tenant>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`, one JSON record per line), and the
//! reader of that layout parses names with the same module, so an archive Azure wrote and one
//! entrastream wrote are read the same way. The sources for every detail are in
//! `docs/archive.md`. Compression is an entrastream extension ([`codec`]): each write is one
//! complete gzip member or zstd frame, so an append never leaves the file unreadable and a
//! reader can skip a damaged member and go on with the next.
#![forbid(unsafe_code)]

pub mod codec;
pub mod layout;

pub use codec::{Compression, DecodeEvent, decode_members, encode_member};
pub use layout::{BlobName, HourKey, blob_path, container_for, hour_file_name, parse_blob_path};
