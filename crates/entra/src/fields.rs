//! Typed reads of JSON members with errors that name the field's path.
//!
//! Entra mixes `null`, `""` and absent for "no value", and writes some numbers as strings, so each
//! reader accepts every spelling seen in the wild and refuses only what cannot be meant (an object
//! where a string belongs). The path is built only on the error path, so reads cost nothing extra.

use crate::error::ErrorKind;
use crate::json::{JsonStr, Number, Object, Value};
use crate::time::Timestamp;

#[cold]
pub(crate) fn wrong_type(
    path: &str,
    key: &str,
    expected: &'static str,
    v: &Value<'_>,
) -> ErrorKind {
    ErrorKind::WrongType {
        path: join(path, key),
        expected,
        found: v.type_name(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A string member; `null` is absent. Numbers and booleans are refused.
pub(crate) fn opt_str<'a>(
    v: &Value<'a>,
    path: &str,
    key: &str,
) -> Result<Option<JsonStr<'a>>, ErrorKind> {
    match v {
        Value::String(s) => Ok(Some(*s)),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "a string", other)),
    }
}

/// A member that is text in any scalar form: Entra writes codes such as `clientAuthMethod` as
/// `"0"` in one record and `0` in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar<'a> {
    Str(JsonStr<'a>),
    Num(Number<'a>),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    /// The value as JSON-escaped text (numbers and booleans need no escaping).
    pub fn raw_text(&self) -> &'a str {
        match self {
            Scalar::Str(s) => s.raw(),
            Scalar::Num(n) => n.text(),
            Scalar::Bool(true) => "true",
            Scalar::Bool(false) => "false",
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Str(s) => s.decode().trim().parse().ok(),
            Scalar::Num(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Scalar::Bool(_) => None,
        }
    }
}

pub(crate) fn opt_scalar<'a>(
    v: &Value<'a>,
    path: &str,
    key: &str,
) -> Result<Option<Scalar<'a>>, ErrorKind> {
    match v {
        Value::String(s) => Ok(Some(Scalar::Str(*s))),
        Value::Number(n) => Ok(Some(Scalar::Num(*n))),
        Value::Bool(b) => Ok(Some(Scalar::Bool(*b))),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "a string or number", other)),
    }
}

/// An integer written as a number or as a numeric string (`durationMs: "828"`). An empty string
/// is absent; other text is a wrong type.
pub(crate) fn opt_int(v: &Value<'_>, path: &str, key: &str) -> Result<Option<i64>, ErrorKind> {
    match v {
        Value::Number(n) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
            Some(i) => Ok(Some(i)),
            None => Err(wrong_type(path, key, "an integer", v)),
        },
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => s
            .decode()
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ErrorKind::WrongType {
                path: join(path, key),
                expected: "an integer",
                found: "non-numeric text",
            }),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "an integer", other)),
    }
}

/// A boolean, also as the strings `"true"`/`"false"` in any case.
pub(crate) fn opt_bool(v: &Value<'_>, path: &str, key: &str) -> Result<Option<bool>, ErrorKind> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_case("false") => Ok(Some(false)),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "a boolean", other)),
    }
}

pub(crate) fn opt_f64(v: &Value<'_>, path: &str, key: &str) -> Result<Option<f64>, ErrorKind> {
    match v {
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(s.decode().trim().parse().ok()),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "a number", other)),
    }
}

pub(crate) fn opt_obj<'v, 'a>(
    v: &'v Value<'a>,
    path: &str,
    key: &str,
) -> Result<Option<&'v Object<'a>>, ErrorKind> {
    match v {
        Value::Object(o) => Ok(Some(o)),
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "an object", other)),
    }
}

pub(crate) fn opt_arr<'v, 'a>(
    v: &'v Value<'a>,
    path: &str,
    key: &str,
) -> Result<&'v [Value<'a>], ErrorKind> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(&[]),
        other => Err(wrong_type(path, key, "an array", other)),
    }
}

/// A time string in any supported syntax. Empty is absent; unparseable text is an error, since a
/// record placed at the wrong time misleads every timeline built on it.
pub(crate) fn opt_time(
    v: &Value<'_>,
    path: &str,
    key: &str,
) -> Result<Option<Timestamp>, ErrorKind> {
    match v {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => {
            let text = s.decode();
            Timestamp::parse(&text)
                .map(Some)
                .ok_or_else(|| ErrorKind::InvalidTime {
                    path: join(path, key),
                    value: text.chars().take(64).collect(),
                })
        }
        Value::Null => Ok(None),
        other => Err(wrong_type(path, key, "a time string", other)),
    }
}

/// A string that is empty counts as absent (Entra writes `""` for "not applicable").
pub(crate) fn non_empty(s: Option<JsonStr<'_>>) -> Option<JsonStr<'_>> {
    s.filter(|s| !s.is_empty())
}
