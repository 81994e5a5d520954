//! A daemon under test as a child process: its stderr in a log file the test reads, stopped
//! with SIGKILL or SIGTERM, waited for with a deadline, and killed when dropped so a failing
//! test leaves no process behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::wait::poll_until;

/// A child process whose stderr goes to a log file; killed on drop if still running.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    log: PathBuf,
}

impl ChildProcess {
    /// Spawns `cmd` with stdout discarded and stderr written to `log` (created or truncated).
    pub fn spawn(cmd: Command, log: &Path) -> ChildProcess {
        let stderr = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("create log file {}: {e}", log.display()));
        Self::spawn_to(cmd, log, stderr)
    }

    /// Like [`ChildProcess::spawn`], appending to `log` instead of truncating it: one log for
    /// every run of a process that is killed and restarted.
    pub fn spawn_appending(cmd: Command, log: &Path) -> ChildProcess {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open log file {}: {e}", log.display()));
        Self::spawn_to(cmd, log, stderr)
    }

    fn spawn_to(mut cmd: Command, log: &Path, stderr: std::fs::File) -> ChildProcess {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        ChildProcess {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Its peak resident memory so far (`VmHWM` of `/proc/PID/status`) in KiB; None once it
    /// was reaped, or where `/proc` does not say.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Where its stderr goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its log so far (empty when none yet).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// kill -9, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (through kill(1): the test crates forbid unsafe code).
    pub fn term(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Waits for its exit up to `timeout`; None while it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        poll_until(timeout, Duration::from_millis(20), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill9();
        }
    }
}

/// Runs `cmd` to its end like [`Command::output`], but kills it and panics, with what it
/// printed, when it is still running after `timeout`: a daemon stuck retrying then fails the
/// test instead of hanging it (and CI) for good. Output goes through files, so a child that
/// prints a lot cannot block on a full pipe.
pub fn output_within(mut cmd: Command, timeout: Duration) -> Output {
    let dir = tempfile::tempdir().expect("temp dir for the child's output");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let create = |p: &Path| std::fs::File::create(p).expect("child output file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(create(&out_path)))
        .stderr(Stdio::from(create(&err_path)))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let mut status = None;
    poll_until(timeout, Duration::from_millis(20), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{:?} {:?} still ran after {timeout:?}; killed. stderr:\n{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&read(&err_path))
        );
    };
    Output {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// Like [`crate::wait_until`], printing the child's log on timeout.
pub fn wait_for_child(
    child: &ChildProcess,
    what: &str,
    timeout: Duration,
    cond: impl FnMut() -> bool,
) {
    if !poll_until(timeout, Duration::from_millis(100), cond) {
        panic!(
            "timed out waiting for {what}; daemon log:\n{}",
            child.log_text()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_within_returns_what_a_quick_child_printed_and_kills_a_stuck_one() {
        let mut quick = Command::new("sh");
        quick.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = output_within(quick, Duration::from_secs(10));
        assert_eq!(
            (o.status.code(), &o.stdout[..], &o.stderr[..]),
            (Some(3), &b"out\n"[..], &b"err\n"[..])
        );

        let mut stuck = Command::new("sh");
        stuck.args(["-c", "echo retrying >&2; exec sleep 60"]);
        let started = std::time::Instant::now();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            output_within(stuck, Duration::from_millis(300))
        }))
        .expect_err("a child still running at the deadline fails the test");
        assert!(started.elapsed() < Duration::from_secs(10));
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("still ran after") && message.contains("retrying"),
            "{message}"
        );
    }

    fn sh(script: &str, log: &Path) -> ChildProcess {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        ChildProcess::spawn(cmd, log)
    }

    #[test]
    fn stderr_goes_to_the_log_and_exit_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        let mut c = sh("echo hello >&2; exit 3", &log);
        let status = c.wait_timeout(Duration::from_secs(10)).expect("exits");
        assert_eq!(status.code(), Some(3));
        assert_eq!(c.log_text().trim(), "hello");
    }

    #[test]
    fn an_appending_log_keeps_every_run_and_peak_rss_is_read_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs.log");
        for run in ["first", "second"] {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &format!("echo {run} >&2; sleep 0.3")]);
            let mut c = ChildProcess::spawn_appending(cmd, &log);
            assert!(c.peak_rss_kib().is_some_and(|k| k > 0));
            c.wait_timeout(Duration::from_secs(10)).expect("exits");
            assert_eq!(c.peak_rss_kib(), None, "reaped");
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\nsecond\n");
    }

    #[test]
    fn term_stops_a_running_child_and_drop_kills_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = sh("sleep 30", &dir.path().join("a.log"));
        assert!(c.wait_timeout(Duration::from_millis(50)).is_none());
        c.term();
        assert!(c.wait_timeout(Duration::from_secs(10)).is_some());
        let c = sh("sleep 30", &dir.path().join("b.log"));
        let pid = c.id();
        drop(c);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
