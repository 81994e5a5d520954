//! The vocabulary every component's `Config` is written in, so that a sink or source crate can
//! own its keys without depending on `entrastream-config` (which depends on the components):
//! durations and sizes in config syntax ([`units`]), values that also accept strings (what
//! `ENTRASTREAM__…` environment overrides are), and [`InvalidKey`], the error of a
//! component's `validate()`.
//!
//! Design decision: a component's `validate()` names the key *relative to its own table*
//! (`concurrency`, `tls.ca_file`); `entrastream-config` prefixes where the table sits
//! (`sinks[2].`, `source.`), so the same component validates the same way wherever it is
//! configured.
#![forbid(unsafe_code)]

pub mod units;

/// A setting a component refuses, with the key relative to the component's table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidKey {
    /// The key, e.g. `concurrency` or `tls.ca_file`.
    pub key: String,
    /// What is wrong and what to write instead. Never a secret's value.
    pub message: String,
}

impl InvalidKey {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidKey {
            key: key.into(),
            message: message.into(),
        }
    }
}
