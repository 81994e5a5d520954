//! The syslog sink wired into the daemon: Kafka (nisshi) → entrastream → a real rsyslog over
//! RELP, next to a file sink. Every record reaches rsyslog's output once, as RFC 5424 with the
//! record as MSG, and the checkpoint reaches the end of every partition.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_testkit::{Rsyslog, RsyslogOptions};

use crate::support::*;

/// The record id of one rsyslog output line: the JSON after the header's UTF-8 BOM.
fn id_of_line(line: &[u8]) -> Option<String> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let at = line.windows(BOM.len()).position(|w| w == BOM)?;
    record_id_in(&line[at + BOM.len()..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn syslog_sink_over_relp_delivers_every_record_to_rsyslog() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let Some(rsyslog) = Rsyslog::start(RsyslogOptions {
        relp: true,
        ..Default::default()
    }) else {
        return;
    };
    let relp_port = rsyslog.relp_port.expect("RELP input");
    let traffic = produce_topic(&broker, "syslog", 3, 6_000, 91).await;
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "y",
        &broker.bootstrap,
        "syslog",
        "syslog-group",
        "batch_max_bytes = \"128KiB\"\nretry_max = \"500ms\"",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sink = format!(
        "[[sinks]]\nname = \"qradar\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{relp_port}\"\n\
         transport = \"relp\"\nformat = \"rfc5424_json\"\nschema = \"raw\"\nfacility = \"authpriv\"\n\n"
    );
    let text = add_sinks(&text, &sink);
    let env = Env::from_pairs([("E2E_SASL_PASSWORD", SECRET.to_string())]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "not every message was delivered to rsyslog in time\n{}",
            rsyslog.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();

    let out = rsyslog.output("relp");
    let mut got: HashMap<String, usize> = HashMap::new();
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let id = id_of_line(line).unwrap_or_else(|| {
            panic!(
                "an rsyslog line without a JSON record: {}",
                String::from_utf8_lossy(line)
            )
        });
        // facility authpriv (10): PRI 80 + a severity of 0–7 derived from the record.
        assert!(
            line.len() > 6 && line.starts_with(b"<8") && (b'0'..=b'7').contains(&line[2]),
            "not an authpriv RFC 5424 header: {}",
            String::from_utf8_lossy(&line[..40.min(line.len())])
        );
        assert_eq!(&line[3..6], b">1 ", "RFC 5424 VERSION 1");
        *got.entry(id).or_insert(0) += 1;
    }
    let want = traffic.ids();
    let lost = want.iter().filter(|id| !got.contains_key(*id)).count();
    assert_eq!(lost, 0, "records missing from rsyslog's output");
    assert_eq!(
        broker.committed("syslog-group", "syslog", 3),
        traffic.end_offsets(),
        "the checkpoint reaches the end of every partition"
    );
    eprintln!(
        "syslog e2e: {} records, {} lines in rsyslog's RELP output",
        want.len(),
        got.values().sum::<usize>()
    );
}
