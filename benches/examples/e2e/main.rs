//! End-to-end benchmark (issue 3): the real pipeline (`entrastream_app::start`, Kafka source on
//! rdkafka) consuming a pre-produced backlog from the nisshi broker into a blackhole sink and a
//! native file sink, next to single-threaded parse + native encode of exactly the same bodies;
//! then a stalled sink (`file` sink on `/dev/full`: every write fails with ENOSPC, which the file
//! sink classifies as retryable, so nothing is ever acknowledged) against a ~1 GB backlog, to
//! check that peak RSS stays within the byte budget + 64 MiB.
//!
//! With AMQP (default on; `--no-amqp` skips it): the same bodies preloaded into the in-repo
//! Event Hubs peer, read through the AMQP source (official SDK client) into a blackhole sink,
//! next to the Kafka figure of the same run; then the checkpoint-store traffic of one replica
//! owning 32 partitions with the default intervals, counted over `--idle-secs` (default 60).
//!
//! With the SIEM sinks (default on; `--no-siem` skips them): Splunk HEC (ack off, ack on) and
//! Sumo Logic against the testkit peers in this process, in `--siem-rounds` rounds (default 3),
//! each preceded by its own blackhole run; the table shows each sink's median round.
//!
//! With the syslog sink (default on; `--no-syslog` skips it): RELP and TLS into a real rsyslog
//! (its own process, writing each input to a file), in `--syslog-rounds` rounds (default 3),
//! each preceded by its own blackhole run, as the SIEM rows are. rsyslog is set up for
//! throughput (`RsyslogOptions::throughput`: a bounded in-memory queue per input, asynchronous
//! 1 MiB file writes); `--syslog-strict` runs it as the tests do (direct queues, a flush per
//! transaction: a RELP acknowledgement means the record is in the file). The rsyslogd is the
//! first on PATH (`scripts/rsyslog-chroot` makes Debian 13's 8.2504 one without touching the
//! system's); `--syslog-imtcp-workers N` sets imtcp's `workerThreads` (8.2504 or later).
//!
//! Each pipeline run is a child process (this binary with `--child MODE`) so that its peak RSS
//! (`VmHWM`) is the pipeline's alone: no input copy, no producer, no broker in that process.
//!
//! The HTTP sinks gzip with ISA-L when this is built with `--features isal` (as the container
//! image is), else with zlib-rs; the SIEM table's heading names which.
//!
//! Usage: cargo run --release -p entrastream-benches --features isal --example e2e -- \
//!          [--records N] [--partitions P] [--budget-mib B] [--backlog-mib M] [--stall-secs S]
//!          [--no-fsync] [--linger-ms MS] [--prop librdkafka.key=value]...
//!          [--no-siem] [--siem-rounds N] [--no-amqp] [--idle-secs S] [--amqp-prefetch N]
//!          [--no-buffer] [--buffer-only] [--no-syslog] [--syslog-rounds N]
//!          [--syslog-relp-window N] [--syslog-concurrency N] [--syslog-strict]
//!          [--syslog-imtcp-workers N]
//!          [--no-archive] [--archive-only]
//!          [--no-cores] [--cores-only] [--cores-rounds N]
//!
//! With the archive sinks (default on; `--no-archive` skips them, `--archive-only` runs
//! nothing else): per round (`--siem-rounds`), a blackhole baseline, then `archive_dir` (hour
//! files on local disk) and `azure_blob` into a fresh Azurite, each compared with its round's
//! blackhole (issue 15).
//!
//! The pinned-core rows (default on; `--no-cores` skips them, `--cores-only` runs nothing else
//! besides the parse + encode baseline): per round (`--cores-rounds`, default 3), the blackhole
//! child under `taskset -c 0` and then `taskset -c 0,1` (its `parse_threads = "auto"` follows
//! the affinity mask), next to the single-thread parse + encode of the same bodies.
//!
//! With the disk buffer (default on; `--no-buffer` skips it, `--buffer-only` runs nothing
//! else): per round (`--siem-rounds`), the blackhole and Splunk HEC (indexer ack on) rows
//! without and then with `buffer = { type = "disk", … }` in front of the sink; a buffered run
//! ends when its buffer has drained into the sink, and the table compares it with the
//! unbuffered run of the same round.
//!
//! Modules by job: [`args`] (the command line), [`broker`] (the peers), [`producers`] (input
//! and backlogs), [`children`] and [`child_config`] (one pipeline run per child process),
//! [`measure`] (CPU and memory figures), [`runs`] (the rows, parent side) and [`report`] (the
//! tables).

mod args;
mod broker;
mod child_config;
mod children;
mod measure;
mod producers;
mod report;
mod runs;

const MIB: u64 = 1 << 20;

fn main() {
    let args = args::parse_args();
    if let Some(mode) = args.child.clone() {
        children::run_child(&args, &mode);
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Naming the benches crate links it, and with it the global allocator its
    // `alloc-mimalloc` / `alloc-jemalloc` feature picks (the children are this binary).
    eprintln!(
        "e2e: {} records, {} partitions, allocator {}, load average at start: {}",
        args.records,
        args.partitions,
        entrastream_benches::ALLOCATOR,
        load.trim()
    );

    // 1. input, once
    let (bodies, input_bytes) = producers::input(args.records);

    // 2. parse + native encode, one thread
    let cpu_before = measure::rusage_self();
    let (pe_secs, pe_rps, pe_mbs) = measure::parse_encode(&bodies, args.records, input_bytes);
    let cpu_after = measure::rusage_self();
    // Nothing else runs in this process yet: its CPU time is the parse + encode's.
    let pe_cpu_s = cpu_after.0 - cpu_before.0 + cpu_after.1 - cpu_before.1;
    let pe_mb_per_cpu_s = input_bytes as f64 / 1e6 / pe_cpu_s;

    // 3. backlog in nisshi
    let broker = broker::nisshi();
    let (messages, produced) = producers::into_nisshi(&broker, &bodies, args.partitions);
    // 3b. the same bodies in the Event Hubs peer (same partition spread), for the AMQP row
    let amqp_rt = broker::peer_runtime(2);
    let amqp_peer = if args.amqp && !args.buffer_only && !args.archive_only && !args.cores_only {
        let peer = broker::event_hubs(&amqp_rt, "e2e", args.partitions as u32);
        producers::into_event_hubs(&peer, &bodies, args.partitions);
        Some(peer)
    } else {
        None
    };
    drop(bodies);

    // `--cores-only`: the pinned-core rows alone (issue 16), then stop.
    if args.cores_only {
        let runs = runs::cores_rounds(&args, &broker.bootstrap, messages);
        println!(
            "e2e --cores-only: {} records, {} partitions, load average at start: {}",
            args.records,
            args.partitions,
            load.trim()
        );
        println!(
            "{}",
            report::cores_table(&runs, (pe_rps, pe_mbs, pe_mb_per_cpu_s), args.records)
        );
        return;
    }

    // `--buffer-only`: the disk-buffer rounds alone (issue 13), then stop.
    if args.buffer_only {
        let runs = runs::buffer_rounds(&args, &broker.bootstrap, messages);
        println!(
            "e2e --buffer-only: {} records, {} partitions, load average at start: {}",
            args.records,
            args.partitions,
            load.trim()
        );
        println!("{}", report::buffer_table(&runs, args.records));
        return;
    }

    // `--archive-only`: the archive rounds alone (issue 15), then stop.
    if args.archive_only {
        let (baselines, rows) = runs::archive_rounds(&args, &broker.bootstrap, messages);
        println!(
            "e2e --archive-only: {} records, {} partitions, load average at start: {}",
            args.records,
            args.partitions,
            load.trim()
        );
        println!("{}", report::archive_table(&baselines, &rows, args.records));
        return;
    }

    // 4. end to end, one child per sink
    let rows = runs::kafka_rows(&args, &broker.bootstrap, messages);

    // 4a. the pinned-core rows (issue 16): blackhole on 1 and on 2 cores
    let cores_runs = if args.cores {
        runs::cores_rounds(&args, &broker.bootstrap, messages)
    } else {
        Vec::new()
    };

    // 4b. the SIEM sinks against the testkit peers (in this process, on loopback)
    let (siem_baselines, siem_rows) = if args.siem {
        runs::siem_rounds(&args, &broker.bootstrap, messages)
    } else {
        (Vec::new(), Vec::new())
    };

    // 4d. the disk buffer (issue 13): blackhole and HEC with ack, without and with a buffer
    let buffer_runs = if args.buffer {
        runs::buffer_rounds(&args, &broker.bootstrap, messages)
    } else {
        Vec::new()
    };

    // 4b. (cont.) the syslog sink over RELP and TLS into rsyslog (its own process, on loopback)
    let (syslog_baselines, syslog_rows) = if args.syslog {
        runs::syslog_rounds(&args, &broker.bootstrap, messages)
    } else {
        (Vec::new(), Vec::new())
    };

    // 4e. the archive sinks (issue 15): archive_dir and azure_blob into Azurite
    let (archive_baselines, archive_rows) = if args.archive {
        runs::archive_rounds(&args, &broker.bootstrap, messages)
    } else {
        (Vec::new(), Vec::new())
    };

    // 4c. AMQP: the preloaded peer → AMQP source → blackhole; then store traffic at 32
    // partitions with a trickle of events so that checkpoints keep moving.
    let (amqp_row, idle_row) = match &amqp_peer {
        Some(peer) => {
            let (a, i) = runs::amqp_rows(&args, &amqp_rt, peer, messages);
            (Some(a), Some(i))
        }
        None => (None, None),
    };
    drop(amqp_peer);
    drop(amqp_rt);

    // 5. stalled sink over a >= backlog-mib backlog
    let (stall_topic, stall_bytes) = producers::stall_backlog(&broker, &args, produced);
    let raw = children::spawn_child(&args, "raw", &broker.bootstrap, "e2e", messages);
    eprintln!(
        "bare rdkafka consumer: {:.2}s, {:.1} MB/s, {} messages",
        raw.get("secs"),
        raw.get("bytes_in") / 1e6 / raw.get("secs"),
        raw.get("messages_done")
    );
    let stalled =
        children::spawn_child(&args, "stalled", &broker.bootstrap, &stall_topic, u64::MAX);
    drop(broker);

    let summary = report::Summary {
        args: &args,
        messages,
        input_bytes,
        pe_secs,
        pe_rps,
        pe_mbs,
        rows,
        raw,
        amqp_row,
        idle_row,
        siem_baselines,
        siem_rows,
        buffer_runs,
        syslog_baselines,
        syslog_rows,
        stalled,
        stall_bytes,
    };
    println!("{}", summary.render());
    println!(
        "{}",
        report::archive_table(&archive_baselines, &archive_rows, args.records)
    );
    println!(
        "{}",
        report::cores_table(&cores_runs, (pe_rps, pe_mbs, pe_mb_per_cpu_s), args.records)
    );
}
