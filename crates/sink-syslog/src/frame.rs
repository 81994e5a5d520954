//! Framing of messages on a TCP or TLS stream (RFC 6587): octet counting (`LEN SP MSG`, any
//! byte may appear in MSG; RFC 5425 makes it the only framing over TLS) or a trailing line
//! feed (`MSG LF`, for receivers that need it).
//!
//! With newline framing a line break inside a message would split it in two at the receiver,
//! so [`escape_line_breaks`] runs first (in the encoder, so the size limit applies to what is
//! sent). After CEF/LEEF escaping and JSON encoding the only raw line breaks left are JSON
//! whitespace between tokens (the raw schema keeps pretty-printed input as it came), and a
//! space there means the same JSON.

/// Replaces each raw LF or CR in `msg` by a space; returns how many were replaced.
pub fn escape_line_breaks(msg: &mut [u8]) -> usize {
    let mut n = 0;
    for b in msg.iter_mut() {
        if matches!(*b, b'\n' | b'\r') {
            *b = b' ';
            n += 1;
        }
    }
    n
}

/// Appends one framed message.
pub fn push_frame(out: &mut Vec<u8>, msg: &[u8], octet_counting: bool) {
    if octet_counting {
        out.extend_from_slice(itoa::Buffer::new().format(msg.len()).as_bytes());
        out.push(b' ');
        out.extend_from_slice(msg);
    } else {
        out.extend_from_slice(msg);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        let mut out = Vec::new();
        push_frame(&mut out, "<14>1 ü\nx".as_bytes(), true);
        push_frame(&mut out, b"ab", true);
        assert_eq!(out, "10 <14>1 ü\nx2 ab".as_bytes());
    }

    #[test]
    fn newline_framing_terminates_and_escaping_removes_breaks() {
        let mut msg = b"{\n\"a\":\r\n1}".to_vec();
        assert_eq!(escape_line_breaks(&mut msg), 3);
        let mut out = Vec::new();
        push_frame(&mut out, &msg, false);
        assert_eq!(out, b"{ \"a\":  1}\n");
        let v: serde_json::Value = serde_json::from_slice(&msg).unwrap();
        assert_eq!(v["a"], 1);
    }
}
