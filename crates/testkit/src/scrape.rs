//! Plain HTTP/1.1 GETs against the daemon's admin server (`/metrics`, `/readyz`, `/status`).

use std::io::{Read, Write};
use std::net::TcpStream;

/// GET `path` from `addr`; None while nothing listens there (a daemon still starting) or the
/// connection breaks. The answer includes the status line and headers.
pub fn try_http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// [`try_http_get`] that panics when the server does not answer.
pub fn http_get(addr: &str, path: &str) -> String {
    try_http_get(addr, path).unwrap_or_else(|| panic!("GET {path} from {addr}: no answer"))
}

/// The largest value of the samples of `name` (any labels) in a Prometheus text scrape.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_value_takes_the_largest_sample_of_a_family() {
        let text = "# HELP a_total x\na_total{p=\"0\"} 2\na_total{p=\"1\"} 5\nb 9\n";
        assert_eq!(metric_value(text, "a_total"), Some(5.0));
        assert_eq!(metric_value(text, "c"), None);
    }

    #[test]
    fn nothing_listening_is_none() {
        assert!(try_http_get(&format!("127.0.0.1:{}", crate::free_port()), "/").is_none());
    }
}
