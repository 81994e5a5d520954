//! rsyslog (Debian's `rsyslog`, `rsyslog-relp`, `rsyslog-gnutls`) as a real syslog peer:
//! started in the foreground with a generated config, its work directory in a temp dir, its
//! inputs on free loopback ports; every message written raw (`%rawmsg%`) and one per line to a
//! file per input. Killed on drop; [`Rsyslog::kill`] and [`Rsyslog::restart`] for outages.
//!
//! The config makes acknowledgements mean something for the restart tests: the main queue is
//! direct and `omfile` flushes each transaction, so what imrelp acknowledged is already in
//! the output file (the OS's page cache) when rsyslog is killed.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{find_tool, free_port, peer_missing};

/// Certificates for a TLS input (PEM files).
#[derive(Debug, Clone)]
pub struct RsyslogTls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Require a client certificate signed by `ca_file` (`x509/certvalid`).
    pub require_client_cert: bool,
}

/// Which inputs to open.
#[derive(Debug, Clone, Default)]
pub struct RsyslogOptions {
    /// Plain TCP (imtcp; octet counting or newline framing, detected per message).
    pub tcp: bool,
    /// RELP (imrelp).
    pub relp: bool,
    /// TCP with TLS (imtcp with the gtls driver).
    pub tls: Option<RsyslogTls>,
    /// rsyslog's `maxMessageSize` (default 256 KiB).
    pub max_message_size: Option<usize>,
    /// Write only the raw messages, not rsyslog's parse of each header as well (benchmarks:
    /// one file action per message, as a relay writing to disk does).
    pub raw_only: bool,
    /// A receiver tuned for throughput, as an administrator of a busy relay would set it up
    /// (benchmarks): `omfile` writes asynchronously in 1 MiB buffers, flushed every second,
    /// instead of once per transaction; the TCP/TLS inputs' rulesets get an in-memory queue
    /// of their own (bounded to [`THROUGHPUT_QUEUE`] messages, so a sender is held back
    /// rather than buffered without end) with one worker thread that parses and writes, while
    /// the input thread reads, decrypts and frames (two threads instead of one). RELP keeps
    /// a direct queue (imrelp submits one message at a time). What this changes: a RELP
    /// acknowledgement then means "in rsyslog's memory", not "in the file", so the restart
    /// tests keep the default (direct queues, flush per transaction).
    pub throughput: bool,
    /// imtcp's worker pool for the TCP and TLS inputs (`workerThreads`, rsyslog 8.2504 and
    /// later: up to this many threads read, decrypt and frame sessions). None leaves
    /// rsyslog's default (8.2504's is 2 workers; older releases have no pool). Benchmarks
    /// only: [`Rsyslog::start`] refuses it for an rsyslogd older than
    /// [`IMTCP_WORKERS_SINCE`] (Debian 12's 8.2302), which would only log the parameter as
    /// unknown and run without it.
    pub imtcp_worker_threads: Option<usize>,
}

/// The first rsyslog release with imtcp's `workerThreads` (major, minor): 8.2504.
pub const IMTCP_WORKERS_SINCE: (u32, u32) = (8, 2504);

/// The release of an rsyslogd binary as (major, minor), e.g. (8, 2504), from the first line
/// of `rsyslogd -v` (`rsyslogd  8.2504.0 (aka 2025.04) compiled with:`); None when it cannot
/// be run or says something else.
pub fn rsyslogd_release(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin)
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    parse_release(String::from_utf8_lossy(&out.stdout).lines().next()?)
}

fn parse_release(first_line: &str) -> Option<(u32, u32)> {
    let mut words = first_line.split_whitespace();
    if words.next()? != "rsyslogd" {
        return None;
    }
    let mut parts = words.next()?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Messages a [`RsyslogOptions::throughput`] ruleset queue holds at most (~9 MB of 4.4 KB
/// sign-ins; about 2% of the benchmark's 50,000 records).
pub const THROUGHPUT_QUEUE: usize = 2000;

/// A running rsyslogd; killed on drop.
#[derive(Debug)]
pub struct Rsyslog {
    bin: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Port of the plain TCP input.
    pub tcp_port: Option<u16>,
    /// Port of the RELP input.
    pub relp_port: Option<u16>,
    /// Port of the TLS input.
    pub tls_port: Option<u16>,
}

fn conf(dir: &Path, o: &RsyslogOptions, ports: (Option<u16>, Option<u16>, Option<u16>)) -> String {
    let d = dir.display();
    let size = o.max_message_size.unwrap_or(256 * 1024);
    let mut c = String::new();
    // Before any module: maxMessageSize must be known when the inputs are created.
    c += &format!(
        "global(workDirectory=\"{d}\" maxMessageSize=\"{size}\" parser.escapeControlCharactersOnReceive=\"off\""
    );
    if let Some(t) = &o.tls {
        c += &format!(
            " defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
            t.ca_file.display(),
            t.cert_file.display(),
            t.key_file.display()
        );
    }
    c += ")\n";
    c += "main_queue(queue.type=\"Direct\")\n";
    c += "template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n";
    // rsyslog's own RFC 5424 parse of each header, for checking the header independently.
    c += "template(name=\"fields\" type=\"string\" string=\"%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%\\n\")\n";
    let (tcp, relp, tls) = ports;
    let workers = o
        .imtcp_worker_threads
        .map(|n| format!(" workerThreads=\"{n}\""))
        .unwrap_or_default();
    if let Some(t) = &o.tls {
        let auth = if t.require_client_cert {
            "x509/certvalid"
        } else {
            "anon"
        };
        c += &format!(
            "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"{auth}\"{workers})\n"
        );
    } else if tcp.is_some() {
        c += &format!("module(load=\"imtcp\"{workers})\n");
    }
    if relp.is_some() {
        c += "module(load=\"imrelp\")\n";
    }
    for (name, port) in [("tcp", tcp), ("relp", relp), ("tls", tls)] {
        let Some(port) = port else { continue };
        let (queue, writing) = if o.throughput && name == "relp" {
            // imrelp submits one message per transaction: a queue would cost a hand-off per
            // message (measured: rsyslog 2.3 instead of 1.8 CPU-s per 220 MB), so only the
            // file writes are taken off the input thread.
            (
                "queue.type=\"Direct\"".to_owned(),
                "flushOnTXEnd=\"off\" asyncWriting=\"on\" ioBufferSize=\"1m\" flushInterval=\"1\"",
            )
        } else if o.throughput {
            (
                format!(
                    "queue.type=\"LinkedList\" queue.size=\"{THROUGHPUT_QUEUE}\" queue.dequeueBatchSize=\"512\" queue.workerThreads=\"1\""
                ),
                "flushOnTXEnd=\"off\" asyncWriting=\"on\" ioBufferSize=\"1m\" flushInterval=\"1\"",
            )
        } else {
            (
                "queue.type=\"Direct\"".to_owned(),
                "flushOnTXEnd=\"on\" asyncWriting=\"off\"",
            )
        };
        c += &format!(
            "ruleset(name=\"{name}\" {queue}) {{ action(type=\"omfile\" file=\"{d}/{name}.log\" template=\"raw\" {writing}) {fields}}}\n",
            fields = if o.raw_only {
                String::new()
            } else {
                format!("action(type=\"omfile\" file=\"{d}/{name}.fields\" template=\"fields\") ")
            }
        );
        c += &match name {
            "relp" => format!(
                "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"relp\" maxDataSize=\"{size}\")\n"
            ),
            _ => format!(
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"{name}\")\n"
            ),
        };
    }
    c
}

impl Rsyslog {
    /// Starts rsyslogd, or returns None (after [`peer_missing`]) when it is not installed.
    pub fn start(options: RsyslogOptions) -> Option<Rsyslog> {
        let Some(bin) = find_tool("rsyslogd").or_else(|| {
            let p = PathBuf::from("/usr/sbin/rsyslogd");
            p.is_file().then_some(p)
        }) else {
            peer_missing("rsyslogd (apt-get install rsyslog rsyslog-relp rsyslog-gnutls)");
            return None;
        };
        if options.imtcp_worker_threads.is_some() {
            let release = rsyslogd_release(&bin);
            assert!(
                release.is_some_and(|r| r >= IMTCP_WORKERS_SINCE),
                "imtcp workerThreads needs rsyslog {}.{} or later; {} is {release:?}: leave the \
                 option unset, or put a newer rsyslogd first on PATH (scripts/rsyslog-chroot)",
                IMTCP_WORKERS_SINCE.0,
                IMTCP_WORKERS_SINCE.1,
                bin.display()
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = (
            options.tcp.then(free_port),
            options.relp.then(free_port),
            options.tls.as_ref().map(|_| free_port()),
        );
        std::fs::write(
            dir.path().join("rsyslog.conf"),
            conf(dir.path(), &options, ports),
        )
        .expect("write rsyslog.conf");
        let mut r = Rsyslog {
            bin,
            child: None,
            dir,
            tcp_port: ports.0,
            relp_port: ports.1,
            tls_port: ports.2,
        };
        r.launch();
        Some(r)
    }

    fn launch(&mut self) {
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("rsyslog.pid"));
        let log = std::fs::File::create(d.join("rsyslogd.stderr")).expect("stderr file");
        let child = Command::new(&self.bin)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslog.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in [self.tcp_port, self.relp_port, self.tls_port]
            .into_iter()
            .flatten()
        {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(c) = self.child.as_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    panic!(
                        "rsyslogd exited with {status} before listening: {}",
                        self.diagnostics()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not listen on {port} within 30 s: {}",
                    self.diagnostics()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// rsyslogd's own messages (stderr), for assertion failures.
    pub fn diagnostics(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rsyslogd.stderr")).unwrap_or_default()
    }

    /// Kills rsyslogd at once (SIGKILL): whatever it acknowledged is in the output file.
    ///
    /// A kill can land between two `write` calls of one message (omfile writes through a
    /// 4 KiB buffer, and a sign-in record is larger), leaving a line without its line feed.
    /// That message was never acknowledged (the flush comes before the RELP answer), so the
    /// sender sends it again; left in place, the restarted rsyslog would glue its first line
    /// onto the torn one. The torn tail is moved to `<file>.torn` (kept, not hidden) so each
    /// output file holds whole lines only.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            set_torn_tails_aside(self.dir.path());
        }
    }

    /// The bytes of messages cut short by [`Rsyslog::kill`] on input `name` (never
    /// acknowledged, so sent again after the restart).
    pub fn torn_output(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("{name}.log.torn"))).unwrap_or_default()
    }

    /// Freezes rsyslogd (SIGSTOP): connections stay open, nothing is read or answered, so a
    /// sender's window fills up and stays unacknowledged. [`Rsyslog::kill`] ends it.
    pub fn freeze(&mut self) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .arg("-STOP")
                .arg(c.id().to_string())
                .status()
                .expect("run kill -STOP");
            assert!(status.success(), "kill -STOP failed");
        }
    }

    /// Starts rsyslogd again with the same config and ports (output files are appended to).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The running rsyslogd's process id (its CPU time for benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The first line of `rsyslogd -v` of the binary this peer runs (which release, for
    /// benchmark reports).
    pub fn version(&self) -> String {
        Command::new(&self.bin)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    }

    /// The directory holding the config and the output files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// rsyslog's parse of each header received on input `name`, one line per message:
    /// `PRI|TIMESTAMP|HOSTNAME|APP-NAME|PROCID|MSGID|STRUCTURED-DATA`.
    pub fn parsed_headers(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("{name}.fields"))).unwrap_or_default()
    }

    /// Everything written so far for input `name` (`tcp`, `relp` or `tls`).
    pub fn output(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until the output of `name` holds at least `lines` line feeds, or `timeout`
    /// passes; returns the output.
    pub fn wait_for_lines(&self, name: &str, lines: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output(name);
            let n = out.iter().filter(|&&b| b == b'\n').count();
            if n >= lines || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Moves the unterminated last line of each output file (`*.log`, `*.fields`) in `dir` to
/// `<file>.torn`; see [`Rsyslog::kill`].
fn set_torn_tails_aside(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let is_output = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("log" | "fields")
        );
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if !is_output || bytes.last().is_none_or(|b| *b == b'\n') {
            continue;
        }
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut torn_name = path.clone().into_os_string();
        torn_name.push(".torn");
        let mut torn = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(torn_name)
            .expect("open the torn-tail file");
        std::io::Write::write_all(&mut torn, &bytes[whole..]).expect("keep the torn tail");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(whole as u64))
            .expect("cut the torn tail off the output file");
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_read_from_the_first_line_of_rsyslogd_v() {
        assert_eq!(
            parse_release("rsyslogd  8.2302.0 (aka 2023.02) compiled with:"),
            Some((8, 2302))
        );
        assert_eq!(
            parse_release("rsyslogd  8.2504.0 (aka 2025.04) compiled with:"),
            Some((8, 2504))
        );
        assert!(parse_release("rsyslogd  8.2302.0 (aka 2023.02)").unwrap() < IMTCP_WORKERS_SINCE);
        assert_eq!(parse_release("syslog-ng 4.8.1"), None);
        assert_eq!(parse_release(""), None);
    }

    #[test]
    fn imtcp_worker_threads_only_when_asked() {
        let dir = Path::new("/tmp/x");
        let tls = RsyslogTls {
            ca_file: "/tmp/ca.pem".into(),
            cert_file: "/tmp/c.pem".into(),
            key_file: "/tmp/k.pem".into(),
            require_client_cert: false,
        };
        let ports = (Some(1), None, Some(2));
        let mut o = RsyslogOptions {
            tcp: true,
            tls: Some(tls),
            ..Default::default()
        };
        let plain = conf(dir, &o, ports);
        assert!(!plain.contains("workerThreads"), "{plain}");
        o.imtcp_worker_threads = Some(3);
        let pooled = conf(dir, &o, ports);
        assert!(
            pooled.contains("module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\" workerThreads=\"3\")"),
            "{pooled}"
        );
        o.tls = None;
        assert!(conf(dir, &o, ports).contains("module(load=\"imtcp\" workerThreads=\"3\")"));
    }

    #[test]
    fn a_torn_last_line_is_set_aside_and_whole_lines_stay() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("relp.log");
        std::fs::write(&log, b"one\ntwo\nthr").unwrap();
        std::fs::write(dir.path().join("tcp.log"), b"whole\n").unwrap();
        std::fs::write(dir.path().join("rsyslog.conf"), b"no newline").unwrap();
        set_torn_tails_aside(dir.path());
        assert_eq!(std::fs::read(&log).unwrap(), b"one\ntwo\n");
        assert_eq!(
            std::fs::read(dir.path().join("relp.log.torn")).unwrap(),
            b"thr"
        );
        assert_eq!(
            std::fs::read(dir.path().join("tcp.log")).unwrap(),
            b"whole\n"
        );
        assert!(!dir.path().join("tcp.log.torn").exists());
        assert_eq!(
            std::fs::read(dir.path().join("rsyslog.conf")).unwrap(),
            b"no newline",
            "only output files are touched"
        );
    }
}
