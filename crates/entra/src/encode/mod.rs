//! Encoders: each writes one record as one JSON object straight into an output buffer, with no
//! intermediate tree.

pub mod ecs;
pub mod native;
pub mod ocsf;
pub mod raw;
pub mod writer;

use std::fmt;
use std::str::FromStr;

use crate::record::Record;
use crate::time::Timestamp;

/// The output schemas a sink can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// The record's original bytes.
    Raw,
    /// entrastream's own schema (`docs/schema.md`).
    Native,
    /// Elastic Common Schema, as Elastic's Azure integration writes it.
    Ecs,
    /// Open Cybersecurity Schema Framework 1.x.
    Ocsf,
}

impl Schema {
    pub const ALL: [Schema; 4] = [Schema::Raw, Schema::Native, Schema::Ecs, Schema::Ocsf];
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Raw => "raw",
            Schema::Native => "native",
            Schema::Ecs => "ecs",
            Schema::Ocsf => "ocsf",
        }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown schema name; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown schema {0:?}: expected one of raw, native, ecs, ocsf")]
pub struct UnknownSchema(pub String);

impl FromStr for Schema {
    type Err = UnknownSchema;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schema::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSchema(s.to_owned()))
    }
}

/// What encoders need besides the record.
#[derive(Debug, Clone, Copy)]
pub struct EncodeContext {
    /// When entrastream received the record; written as `ingest_time` / `event.ingested`.
    pub ingest_time: Timestamp,
}

impl Default for EncodeContext {
    fn default() -> Self {
        EncodeContext {
            ingest_time: Timestamp::now(),
        }
    }
}

/// Encoding cannot fail for records that parsed; the type exists so that a future schema with
/// stricter rules can refuse a record without changing every caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("record cannot be written as {schema}: {reason}")]
    NotRepresentable { schema: Schema, reason: String },
}

/// Appends `record` in `schema` to `out`: exactly one JSON value, no trailing newline.
pub fn encode(
    schema: Schema,
    record: &Record<'_>,
    ctx: &EncodeContext,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match schema {
        Schema::Raw => raw::encode(record, out),
        Schema::Native => native::encode(record, ctx, out),
        Schema::Ecs => ecs::encode(record, ctx, out),
        Schema::Ocsf => ocsf::encode(record, ctx, out),
    }
    Ok(())
}
