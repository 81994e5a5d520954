//! Waiting for a condition, a listener or a child process, with a deadline: the one polling
//! loop the tests, the peers' launchers and the benchmarks share.

use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// Polls `cond` every `every` until it holds (true) or `timeout` has passed (false).
pub fn poll_until(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Waits until `cond` holds, polling every 100 ms, or panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, Duration::from_millis(100), cond),
        "timed out waiting for {what}"
    );
}

/// Waits until something accepts TCP connections on `addr`, or panics naming `what` after
/// `timeout`, or as soon as `child` (the process that should listen) exits.
pub fn wait_listening(what: &str, addr: &str, timeout: Duration, mut child: Option<&mut Child>) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(addr).is_err() {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            panic!("{what} exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_until_reports_success_and_timeout() {
        let mut n = 0;
        assert!(poll_until(Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            n == 3
        }));
        assert!(!poll_until(
            Duration::from_millis(30),
            Duration::from_millis(5),
            || false
        ));
    }

    #[test]
    fn wait_listening_returns_once_a_listener_accepts() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        wait_listening("test listener", &addr, Duration::from_secs(5), None);
    }

    #[test]
    #[should_panic(expected = "exited early")]
    fn wait_listening_fails_at_once_when_the_child_exits() {
        let port = crate::free_port();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        wait_listening(
            "true(1)",
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(30),
            Some(&mut child),
        );
    }
}
