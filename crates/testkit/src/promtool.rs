//! `promtool check metrics` (Debian package `prometheus`) over a `/metrics` scrape: the lint
//! Prometheus applies to names, types, help texts and units.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::{find_tool, peer_missing};

/// What promtool said about a scrape.
#[derive(Debug)]
pub struct PromtoolCheck {
    /// Whether it accepted the text.
    pub success: bool,
    /// Its stdout and stderr, for the assertion message.
    pub output: String,
}

/// Runs `promtool check metrics` on `text`; None (after [`peer_missing`]) when promtool is not
/// installed.
pub fn check_metrics(text: &str) -> Option<PromtoolCheck> {
    let Some(promtool) = find_tool("promtool") else {
        peer_missing("promtool (Debian package prometheus)");
        return None;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    // promtool reads all of stdin before it answers, so writing first cannot deadlock.
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    Some(PromtoolCheck {
        success: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_text_and_rejects_a_counter_without_total() {
        let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n";
        let Some(ok) = check_metrics(good) else {
            return;
        };
        assert!(ok.success, "{}", ok.output);
        let bad = "# HELP x Things.\n# TYPE x counter\nx 1\n";
        let no = check_metrics(bad).expect("promtool was found above");
        assert!(!no.success, "promtool accepted a counter without _total");
    }
}
