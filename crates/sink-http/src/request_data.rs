//! Values taken from the data (a record's category) that end up in a request's headers, and
//! what to do when a request is refused for its content.
//!
//! Design decision: a header value is checked by the HTTP client when the request is built,
//! and one byte it refuses (a newline, a control character) fails every retry of that request
//! the same way: the sink would stall on one record forever. So every value that reaches a
//! header from the data goes through [`header_value`], an allow-list with a fallback, and what
//! is still refused for its content is split down to one record and dead-lettered
//! ([`split_refused`]), never retried unchanged.

/// Characters a data-derived header value keeps: ASCII letters and digits and `/ _ - . : @ +`.
/// Everything else (spaces, controls, non-ASCII, `,` and `=` which separate `X-Sumo-Fields`)
/// becomes `_`, one `_` per run.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | ':' | '@' | '+')
}

/// Longest data-derived header value, in bytes (all kept characters are ASCII). Collectors and
/// proxies limit header sizes (8 KiB for a whole header block is common), and a category is a
/// name, not a payload.
pub const MAX_HEADER_VALUE: usize = 128;

/// `value` made safe for a header: characters outside the allow-list replaced (a run of them by
/// one `_`), cut to [`MAX_HEADER_VALUE`] bytes. When nothing of the value is kept (empty, or
/// only replaced characters), `fallback` is used instead.
///
/// ```
/// use entrastream_sink_http::header_value;
/// assert_eq!(header_value("azure/entra/signin", "x"), "azure/entra/signin");
/// assert_eq!(header_value("azure/entra/bad\r\nname", "x"), "azure/entra/bad_name");
/// assert_eq!(header_value("\u{7}", "azure/entra/other"), "azure/entra/other");
/// ```
pub fn header_value(value: &str, fallback: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_HEADER_VALUE));
    let mut kept = false;
    for c in value.chars() {
        if out.len() >= MAX_HEADER_VALUE {
            break;
        }
        if allowed(c) {
            out.push(c);
            kept |= c != '_';
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if kept { out } else { fallback.to_string() }
}

/// HTTP statuses that say "this request's content is refused" rather than "try later" or
/// "fix the configuration": 400 Bad Request, 413 Content Too Large, 431 Request Header Fields
/// Too Large. A request answered with one of them is split until the record it is about is
/// alone, and that record is dead-lettered.
pub fn is_content_refusal(status: u16) -> bool {
    matches!(status, 400 | 413 | 431)
}

/// What to do with the records of a request refused for its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Several records: send each half on its own (the others were not refused).
    Halves(Vec<usize>, Vec<usize>),
    /// One record: it is the one refused; dead-letter it with the reason.
    One(usize),
    /// No record (an empty request): nothing to do.
    Nothing,
}

/// [`Refused`] for a request of these records (batch indices, in order).
pub fn split_refused(indices: &[usize]) -> Refused {
    match indices {
        [] => Refused::Nothing,
        [one] => Refused::One(*one),
        _ => {
            let mid = indices.len() / 2;
            Refused::Halves(indices[..mid].to_vec(), indices[mid..].to_vec())
        }
    }
}

/// The reason for a 3xx answer: HTTP sinks follow no redirects, since only the collector's own
/// answer proves acceptance (a proxy or login page behind a redirect answers 200 to anything).
pub fn redirect_reason(status: u16, peer: &str) -> String {
    format!(
        "HTTP {status}: {peer} answered with a redirect, which is not followed (only the collector's own answer counts as acceptance): the endpoint URL is probably wrong (http instead of https, a missing path) or a proxy intercepts the request; configure the final URL"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_keep_the_allow_list_and_replace_the_rest() {
        assert_eq!(
            header_value("azure/entra/signin", "f"),
            "azure/entra/signin"
        );
        assert_eq!(header_value("a b\tc\nd", "f"), "a_b_c_d");
        assert_eq!(header_value("x\r\n\r\ny", "f"), "x_y");
        assert_eq!(
            header_value("azure/entra/sïgnïn", "f"),
            "azure/entra/s_gn_n"
        );
        assert_eq!(header_value("k=v,k2=v2", "f"), "k_v_k2_v2");
        // Nothing kept: the fallback.
        for v in ["", "\n", "ü", "   ", "_", "\u{0}\u{1}"] {
            assert_eq!(
                header_value(v, "azure/entra/other"),
                "azure/entra/other",
                "{v:?}"
            );
        }
        // 10 KB of category: cut, and still only allowed bytes.
        let long = "a\u{1}é".repeat(4_000);
        let v = header_value(&long, "f");
        assert!(v.len() <= MAX_HEADER_VALUE, "{}", v.len());
        assert!(v.chars().all(allowed));
        // Every result is a valid header value for the HTTP client.
        for v in [&long[..], "\n", "a\u{7f}b", "ok"] {
            let h = header_value(v, "fallback");
            assert!(reqwest::header::HeaderValue::from_str(&h).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn refused_requests_split_down_to_one_record() {
        assert_eq!(split_refused(&[]), Refused::Nothing);
        assert_eq!(split_refused(&[4]), Refused::One(4));
        assert_eq!(
            split_refused(&[1, 2, 3]),
            Refused::Halves(vec![1], vec![2, 3])
        );
        assert!(is_content_refusal(400) && is_content_refusal(413) && is_content_refusal(431));
        assert!(!is_content_refusal(401) && !is_content_refusal(429) && !is_content_refusal(503));
    }
}
