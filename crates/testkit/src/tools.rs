//! Finding the peers' executables, loopback ports, and what a test does when a peer is missing.

use std::net::TcpListener;
use std::path::PathBuf;

/// In CI a missing peer fails the test; elsewhere the test is skipped with a visible message.
pub fn peer_missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{what} is required in CI but was not found (scripts/test installs it)");
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and a
    // skip must be visible.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {what} not found; run scripts/test to install it"
    );
}

/// Finds an executable on PATH or in ~/.cargo/bin (where `cargo install nisshi` puts it).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A free loopback port (free when asked: the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tool_on_path_and_not_a_made_up_one() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("no-such-tool-entrastream-testkit").is_none());
    }

    #[test]
    fn free_ports_can_be_bound() {
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
