//! Why a record could not be parsed, where it starts, and the bytes to dead-letter.

use std::fmt;

/// A record (or a part of a body) that could not be split or parsed. The caller dead-letters
/// [`raw`](ParseError::raw) unchanged, so nothing is lost.
#[derive(Clone, PartialEq, Eq)]
pub struct ParseError<'a> {
    offset: usize,
    raw: &'a [u8],
    category: Option<String>,
    kind: ErrorKind,
}

/// The reason, with a stable [`code`](ErrorKind::code) for metric labels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not JSON. `at` is relative to the record's own bytes.
    MalformedJson {
        message: &'static str,
        at: usize,
    },
    /// JSON, but not an envelope, array or record object.
    InvalidEnvelope(&'static str),
    /// A field we interpret has the wrong JSON type.
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    /// No `category` (in any casing): the record cannot be routed or typed.
    MissingCategory,
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// A time field we interpret holds text in no known time format.
    InvalidTime {
        path: String,
        value: String,
    },
    InvalidUtf8 {
        at: usize,
    },
}

impl ErrorKind {
    /// A bounded set of values, safe as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::MalformedJson { .. } => "malformed_json",
            ErrorKind::InvalidEnvelope(_) => "invalid_envelope",
            ErrorKind::WrongType { .. } => "wrong_type",
            ErrorKind::MissingCategory => "missing_category",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::InvalidTime { .. } => "invalid_time",
            ErrorKind::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }
}

impl<'a> ParseError<'a> {
    #[cold]
    pub(crate) fn new(
        offset: usize,
        raw: &'a [u8],
        category: Option<String>,
        kind: ErrorKind,
    ) -> Self {
        ParseError {
            offset,
            raw,
            category,
            kind,
        }
    }

    /// Byte offset of the failing record (or part) within the body given to `split`.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The record's original bytes, to be dead-lettered unchanged.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// The record's category, when it could be read before the failure.
    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
    /// Stable reason code for metrics: see [`ErrorKind::code`].
    pub fn reason_code(&self) -> &'static str {
        self.kind.code()
    }
    /// Detaches the error from the input buffer (the raw bytes are copied).
    pub fn into_owned(self) -> OwnedParseError {
        OwnedParseError {
            message: self.to_string(),
            reason_code: self.reason_code(),
            offset: self.offset,
            category: self.category,
            raw: self.raw.to_vec(),
        }
    }
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::MalformedJson { message, at } => write!(
                f,
                "malformed JSON: {message} (byte {} of the body)",
                self.offset + at
            ),
            ErrorKind::InvalidEnvelope(why) => write!(f, "not an Entra log message: {why}"),
            ErrorKind::WrongType {
                path,
                expected,
                found,
            } => write!(f, "field `{path}` should be {expected}, found {found}"),
            ErrorKind::MissingCategory => write!(
                f,
                "record has no `category` field, so its log type is unknown; \
                 Entra diagnostic settings always set it: check what produces this input"
            ),
            ErrorKind::TooLarge { size, limit } => write!(
                f,
                "record is {size} bytes, above the {limit}-byte limit (raise `max_record_bytes` \
                 if such records are expected)"
            ),
            ErrorKind::InvalidTime { path, value } => {
                write!(
                    f,
                    "field `{path}` holds {value:?}, which is in no known time format"
                )
            }
            ErrorKind::InvalidUtf8 { at } => write!(
                f,
                "record is not valid UTF-8 (byte {} of the body); Entra logs are UTF-8",
                self.offset + at
            ),
        }
    }
}

impl fmt::Debug for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("offset", &self.offset)
            .field("category", &self.category)
            .field("kind", &self.kind)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

impl std::error::Error for ParseError<'_> {}

/// A [`ParseError`] that owns its bytes, for sending across tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedParseError {
    pub message: String,
    pub reason_code: &'static str,
    pub offset: usize,
    pub category: Option<String>,
    pub raw: Vec<u8>,
}

impl fmt::Display for OwnedParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OwnedParseError {}
