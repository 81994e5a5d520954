//! The command line: the parent's options and the ones it passes to a child (`--child MODE`).

#[derive(Debug, Clone)]
pub struct Args {
    pub records: u64,
    pub partitions: i32,
    pub budget_mib: u64,
    pub backlog_mib: u64,
    pub stall_secs: u64,
    pub fsync: bool,
    pub child: Option<String>,
    pub bootstrap: String,
    pub topic: String,
    pub messages: u64,
    /// Extra `[source.properties]` (librdkafka), `--prop key=value`.
    pub props: Vec<String>,
    /// `[pipeline] batch_linger` of the e2e runs, in ms.
    pub linger_ms: u64,
    /// Also run the Splunk HEC (ack off / on) and Sumo Logic sinks against the testkit peers.
    pub siem: bool,
    /// Peer address for a SIEM child (`--peer-url`), and the HEC token (`--peer-token`).
    pub peer_url: String,
    pub peer_token: String,
    /// Also run the AMQP rows.
    pub amqp: bool,
    /// Connection string of the Event Hubs peer for an AMQP child.
    pub amqp_cs: String,
    /// Seconds of the 32-partition store-traffic run.
    pub idle_secs: u64,
    /// `[source] prefetch` of the AMQP rows (None: the default).
    pub amqp_prefetch: Option<u32>,
    /// Rounds of the SIEM comparison; each runs its own blackhole baseline first.
    pub siem_rounds: usize,
    /// Also run the syslog sink over RELP and over TLS into a real rsyslog writing to a file.
    pub syslog: bool,
    /// Rounds of the syslog comparison; each runs its own blackhole baseline first.
    pub syslog_rounds: usize,
    /// `relp_window` of the syslog RELP rows (`--syslog-relp-window`, default the sink's 128).
    pub syslog_relp_window: usize,
    /// `concurrency` (connections) of the syslog rows (`--syslog-concurrency`, default 1).
    pub syslog_concurrency: usize,
    /// rsyslog as the tests run it (`--syslog-strict`): direct queues, a flush per
    /// transaction, so a RELP acknowledgement means "written to the file". Default: the
    /// throughput setup (`RsyslogOptions::throughput`).
    pub syslog_strict: bool,
    /// imtcp's `workerThreads` for the TLS input (`--syslog-imtcp-workers N`; rsyslog 8.2504
    /// or later, e.g. from `scripts/rsyslog-chroot`). None: rsyslog's default.
    pub syslog_imtcp_workers: Option<usize>,
    /// CA file a syslog TLS child trusts (`--peer-ca`).
    pub peer_ca: String,
    /// Consumer group of a child (empty: `e2e-MODE`). A repeated run needs its own, or it would
    /// resume after the offsets the previous one committed and find nothing to read.
    pub group: String,
    /// The disk-buffer rounds (issue 13): on by default, `--no-buffer` skips them.
    pub buffer: bool,
    /// Only the disk-buffer rounds (`--buffer-only`): no other row.
    pub buffer_only: bool,
    /// The archive rounds (issue 15): `archive_dir` and `azure_blob` into Azurite, each
    /// against its round's blackhole; on by default, `--no-archive` skips them.
    pub archive: bool,
    /// Only the archive rounds (`--archive-only`): no other row.
    pub archive_only: bool,
    /// The pinned-core rows (issue 16): blackhole with the child under `taskset -c 0` and
    /// `taskset -c 0,1`; on by default, `--no-cores` skips them.
    pub cores: bool,
    /// Only the pinned-core rows and the parse + encode baseline (`--cores-only`).
    pub cores_only: bool,
    /// Rounds of the pinned-core rows (`--cores-rounds`, default 3).
    pub cores_rounds: usize,
    /// CPU list the child runs on (`taskset -c LIST`), empty: unpinned. Set per row by the
    /// parent, never passed to a child.
    pub taskset: String,
}

pub fn parse_args() -> Args {
    let mut a = Args {
        records: 200_000,
        partitions: 4,
        budget_mib: 64,
        backlog_mib: 1024,
        stall_secs: 20,
        fsync: true,
        child: None,
        bootstrap: String::new(),
        topic: String::new(),
        messages: 0,
        props: Vec::new(),
        linger_ms: 20,
        siem: true,
        peer_url: String::new(),
        peer_token: String::new(),
        amqp: true,
        amqp_cs: String::new(),
        idle_secs: 60,
        amqp_prefetch: None,
        siem_rounds: 3,
        group: String::new(),
        buffer: true,
        buffer_only: false,
        archive: true,
        archive_only: false,
        cores: true,
        cores_only: false,
        cores_rounds: 3,
        taskset: String::new(),
        syslog: true,
        syslog_rounds: 3,
        syslog_relp_window: 128,
        syslog_concurrency: 1,
        syslog_strict: false,
        syslog_imtcp_workers: None,
        peer_ca: String::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let val = |i: usize| -> String {
        argv.get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{} needs a value", argv[i]))
    };
    while i < argv.len() {
        match argv[i].as_str() {
            "--records" => a.records = val(i).parse().expect("--records N"),
            "--partitions" => a.partitions = val(i).parse().expect("--partitions P"),
            "--budget-mib" => a.budget_mib = val(i).parse().expect("--budget-mib B"),
            "--backlog-mib" => a.backlog_mib = val(i).parse().expect("--backlog-mib M"),
            "--stall-secs" => a.stall_secs = val(i).parse().expect("--stall-secs S"),
            "--child" => a.child = Some(val(i)),
            "--bootstrap" => a.bootstrap = val(i),
            "--topic" => a.topic = val(i),
            "--messages" => a.messages = val(i).parse().expect("--messages N"),
            "--prop" => a.props.push(val(i)),
            "--linger-ms" => a.linger_ms = val(i).parse().expect("--linger-ms MS"),
            "--peer-url" => a.peer_url = val(i),
            "--peer-token" => a.peer_token = val(i),
            "--amqp-cs" => a.amqp_cs = val(i),
            "--idle-secs" => a.idle_secs = val(i).parse().expect("--idle-secs S"),
            "--siem-rounds" => a.siem_rounds = val(i).parse().expect("--siem-rounds N"),
            "--group" => a.group = val(i),
            "--cores-rounds" => a.cores_rounds = val(i).parse().expect("--cores-rounds N"),
            "--syslog-rounds" => a.syslog_rounds = val(i).parse().expect("--syslog-rounds N"),
            "--peer-ca" => a.peer_ca = val(i),
            "--syslog-relp-window" => {
                a.syslog_relp_window = val(i).parse().expect("--syslog-relp-window N")
            }
            "--syslog-concurrency" => {
                a.syslog_concurrency = val(i).parse().expect("--syslog-concurrency N")
            }
            "--syslog-imtcp-workers" => {
                a.syslog_imtcp_workers = Some(val(i).parse().expect("--syslog-imtcp-workers N"))
            }
            "--amqp-prefetch" => a.amqp_prefetch = Some(val(i).parse().expect("--amqp-prefetch N")),
            "--no-amqp" => {
                a.amqp = false;
                i += 1;
                continue;
            }
            "--no-fsync" => {
                a.fsync = false;
                i += 1;
                continue;
            }
            "--no-buffer" => {
                a.buffer = false;
                i += 1;
                continue;
            }
            "--no-cores" => {
                a.cores = false;
                i += 1;
                continue;
            }
            "--cores-only" => {
                a.cores_only = true;
                i += 1;
                continue;
            }
            "--buffer-only" => {
                a.buffer_only = true;
                i += 1;
                continue;
            }
            "--no-archive" => {
                a.archive = false;
                i += 1;
                continue;
            }
            "--archive-only" => {
                a.archive_only = true;
                i += 1;
                continue;
            }
            "--syslog-strict" => {
                a.syslog_strict = true;
                i += 1;
                continue;
            }
            "--no-syslog" => {
                a.syslog = false;
                i += 1;
                continue;
            }
            "--no-siem" => {
                a.siem = false;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}
