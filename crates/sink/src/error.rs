//! The typed reasons that cross the sink seam: why a batch is retried ([`RetryReason`]), why a
//! record is refused for good ([`RejectReason`]), why a record cannot be encoded
//! ([`EncodeError`]), why a health check failed ([`SinkError`]) and why a sink cannot be built
//! ([`BuildError`]).
//!
//! Design decision: each is a small enum whose variant is the class of the failure, with a
//! stable [`code`](RetryReason::code) (`&'static str`, usable as a metric label), and whose
//! `Display` is the operator's message, word for word what the sinks printed when these were
//! strings: dead-letter lines, health reasons and log lines do not change. Callers decide on
//! the variant, never on the text.

/// Why nothing of a batch was accepted and the pipeline sends it again ([`crate::Outcome`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetryReason {
    /// The peer could not be reached or the connection broke (DNS, connect, TLS, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// The peer answered "not now" (busy, 5xx, 429, a broken answer); retrying fixes it.
    #[error("{0}")]
    Unavailable(String),
    /// The peer refuses until an operator fixes something (token, URL, permissions, a
    /// setting on the peer); the data waits.
    #[error("{0}")]
    Operator(String),
    /// The peer took the data but did not confirm it in time (indexer acknowledgement).
    #[error("{0}")]
    Unconfirmed(String),
    /// Local I/O failed (a file sink's write, fsync or open).
    #[error("{0}")]
    Io(String),
}

impl RetryReason {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            RetryReason::Unreachable(_) => "unreachable",
            RetryReason::Unavailable(_) => "unavailable",
            RetryReason::Operator(_) => "operator",
            RetryReason::Unconfirmed(_) => "unconfirmed",
            RetryReason::Io(_) => "io",
        }
    }

    /// True when only an operator can end the retries (worth an alert, not just a retry).
    pub fn needs_operator(&self) -> bool {
        matches!(self, RetryReason::Operator(_))
    }
}

/// Why a sink refused one record for good ([`crate::Rejection`]); the message goes into the
/// record's dead-letter line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The peer refused the record's content (Splunk's invalid event, a 4xx about the body).
    #[error("{0}")]
    Invalid(String),
    /// The peer said the record alone is larger than it accepts (HTTP 413 for one record).
    #[error("{0}")]
    TooLarge(String),
    /// The record alone is larger than the sink's own request limit; it was never sent.
    #[error("{0}")]
    Oversize(String),
    /// The metadata the record's request needs cannot be sent (not a valid HTTP header value).
    #[error("{0}")]
    InvalidMetadata(String),
}

impl RejectReason {
    /// Stable class name (metric label); the labels `entrastream_sink_dead_lettered_total`
    /// already used for these classes.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Invalid(_) => "invalid_event",
            RejectReason::TooLarge(_) => "too_large",
            RejectReason::Oversize(_) => "oversize",
            RejectReason::InvalidMetadata(_) => "invalid_metadata",
        }
    }
}

/// Why a record cannot be written in a sink's format; the record goes to the dead-letter sink
/// with this message.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The schema cannot represent the record.
    #[error(transparent)]
    Schema(#[from] entrastream_entra::EncodeError),
    /// The encoded record is above the sink's size limit; it is refused, never truncated.
    #[error("{0}")]
    TooLarge(String),
}

impl EncodeError {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            EncodeError::Schema(_) => "not_representable",
            EncodeError::TooLarge(_) => "too_large",
        }
    }
}

/// A health check failure ([`crate::Sink::healthcheck`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The peer could not be reached (network, TLS, DNS).
    #[error("{0}")]
    Unreachable(String),
    /// The peer answered but refuses: credentials, URL, permissions, an unhealthy peer.
    #[error("{0}")]
    Refused(String),
    /// A local resource (file, directory, stdout) cannot be written.
    #[error("{0}")]
    Io(String),
}

impl SinkError {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            SinkError::Unreachable(_) => "unreachable",
            SinkError::Refused(_) => "refused",
            SinkError::Io(_) => "io",
        }
    }
}

/// Why a sink cannot be built from its settings; the message names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// A file the settings name (a CA certificate) cannot be read or parsed.
    #[error("{0}")]
    File(String),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(String),
}

impl BuildError {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            BuildError::Config(_) => "config",
            BuildError::File(_) => "file",
            BuildError::Client(_) => "client",
        }
    }
}

/// The reasons read as their message, as the strings they replaced did: callers and tests
/// that look at the text (`reason.contains("max_content_length")`) keep working, while
/// decisions use the variant.
macro_rules! message_deref {
    ($ty:ident { $($variant:ident),+ }) => {
        impl $ty {
            /// The operator's message (the `Display` text).
            pub fn message(&self) -> &str {
                match self {
                    $($ty::$variant(m))|+ => m,
                }
            }
        }

        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                self.message()
            }
        }
    };
}

message_deref!(RetryReason {
    Unreachable,
    Unavailable,
    Operator,
    Unconfirmed,
    Io
});
message_deref!(RejectReason {
    Invalid,
    TooLarge,
    Oversize,
    InvalidMetadata
});
message_deref!(SinkError {
    Unreachable,
    Refused,
    Io
});
message_deref!(BuildError {
    Config,
    File,
    Client
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_and_code_is_the_class() {
        let r = RetryReason::Unavailable("503 server busy".into());
        assert_eq!(r.to_string(), "503 server busy");
        assert_eq!(r.code(), "unavailable");
        assert!(!r.needs_operator());
        assert!(RetryReason::Operator("token refused".into()).needs_operator());
        let j = RejectReason::Oversize("larger than max_content_length".into());
        assert_eq!(j.to_string(), "larger than max_content_length");
        assert_eq!(j.code(), "oversize");
        assert!(j.contains("max_content_length"), "reads as its message");
        assert_eq!(SinkError::Io("cannot open x".into()).code(), "io");
        assert_eq!(BuildError::File("tls.ca_file".into()).code(), "file");
    }
}
