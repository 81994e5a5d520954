use super::*;
use bytes::Bytes;
use entrastream_archive::{DecodeEvent, decode_members};
use entrastream_entra::{ParseOptions, split};
use entrastream_model::PartitionId;
use entrastream_sink::RecordMeta;

const T1: &str = "11111111-1111-1111-1111-111111111111";

pub(crate) fn record(category: &str, tenant: &str, time: &str, id: &str) -> String {
    format!(
        r#"{{"time":"{time}","tenantId":"{tenant}","category":"{category}","operationName":"x","properties":{{"id":"{id}","createdDateTime":"{time}","activityDateTime":"{time}"}}}}"#
    )
}

/// Encodes `bodies` (records or envelopes) as the pipeline would for this sink.
fn batch(sink: &ArchiveDirSink, bodies: &[String]) -> EncodedBatch {
    batch_for(sink.encoder(), bodies)
}

/// Encodes `bodies` with `encoder` as the pipeline would.
pub(crate) fn batch_for(encoder: Arc<dyn RecordEncoder>, bodies: &[String]) -> EncodedBatch {
    let ctx = EncodeContext::default();
    let mut data = Vec::new();
    let mut records = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        for slice in split(body.as_bytes()) {
            let r =
                entrastream_entra::parse_record(slice.unwrap(), &ParseOptions::default()).unwrap();
            let start = data.len();
            encoder.encode(&r, &ctx, &mut data).unwrap();
            records.push(RecordMeta {
                range: start..data.len(),
                partition: PartitionId::new("t", 0),
                offset: n as i64,
                category: r.category().to_owned(),
            });
            data.push(b'\n');
        }
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

fn sink(dir: &Path, compression: Compression) -> ArchiveDirSink {
    ArchiveDirSink::new(
        "archive",
        Schema::Raw,
        &DirConfig {
            path: dir.to_path_buf(),
            layout: Layout::AzureMonitor,
            compression,
            fsync: true,
        },
    )
}

pub(crate) fn read_lines(path: &Path, compression: Compression) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    decode_members(compression, &bytes, |ev| match ev {
        DecodeEvent::Data(d) => out.extend_from_slice(d),
        DecodeEvent::Damaged { offset, error } => panic!("damaged at {offset}: {error}"),
    });
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn records_land_in_their_category_tenant_and_event_hour() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), Compression::None);
    let a = record("SignInLogs", T1, "2024-06-20T05:10:00Z", "a");
    let b = record("AuditLogs", T1, "2024-06-20T06:00:00Z", "b");
    let late = record("SignInLogs", T1, "2024-06-20T02:59:59.9Z", "late");
    let other_tenant = record("SignInLogs", "t2", "2024-06-20T05:20:00Z", "c");
    let a2 = record("SignInLogs", T1, "2024-06-20T05:59:59Z", "a2");
    let envelope = format!("{{\"records\":[{a},{b}]}}");
    let b1 = batch(
        &s,
        &[envelope, late.clone(), other_tenant.clone(), a2.clone()],
    );
    assert_eq!(s.send(&b1).await, Outcome::Delivered);
    let file = |c: &str, tenant: &str, h: &str| {
        dir.path().join(format!(
            "insights-logs-{c}/tenantId={tenant}/y=2024/m=06/d=20/h={h}/m=00/PT1H.json"
        ))
    };
    assert_eq!(
        read_lines(&file("signinlogs", T1, "05"), Compression::None),
        [a, a2]
    );
    assert_eq!(
        read_lines(&file("auditlogs", T1, "06"), Compression::None),
        [b]
    );
    assert_eq!(
        read_lines(&file("signinlogs", T1, "02"), Compression::None),
        [late]
    );
    assert_eq!(
        read_lines(&file("signinlogs", "t2", "05"), Compression::None),
        [other_tenant]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file("auditlogs", T1, "06"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, FILE_MODE);
    }
}

#[tokio::test]
async fn each_write_is_a_whole_member_so_appends_stay_readable() {
    for c in [Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path(), c);
        let mut want = Vec::new();
        for i in 0..3 {
            let r = record("SignInLogs", T1, "2024-06-20T05:10:00Z", &format!("r{i}"));
            want.push(r.clone());
            assert_eq!(s.send(&batch(&s, &[r])).await, Outcome::Delivered);
            // A new sink (a restart) appends to the same file.
            s = sink(dir.path(), c);
        }
        let path = dir.path().join(format!(
            "insights-logs-signinlogs/tenantId={T1}/y=2024/m=06/d=20/h=05/m=00/PT1H.json{}",
            c.suffix()
        ));
        assert_eq!(read_lines(&path, c), want, "{c:?}");
    }
}

#[tokio::test]
async fn a_record_with_line_breaks_stays_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), Compression::None);
    let pretty = "{\n  \"time\": \"2024-06-20T05:10:00Z\",\r\n  \"tenantId\": \"t\",\n  \"category\": \"AuditLogs\",\n  \"properties\": {\"id\": \"x\", \"activityDateTime\": \"2024-06-20T05:10:00Z\"}\n}".to_owned();
    assert_eq!(
        s.send(&batch(&s, std::slice::from_ref(&pretty))).await,
        Outcome::Delivered
    );
    let path = dir
        .path()
        .join("insights-logs-auditlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.json");
    let lines = read_lines(&path, Compression::None);
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["properties"]["id"], "x");
}

#[tokio::test]
async fn a_torn_last_line_is_terminated_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!(
        "insights-logs-signinlogs/tenantId={T1}/y=2024/m=06/d=20/h=05/m=00/PT1H.json"
    ));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{\"torn\":").unwrap();
    let mut s = sink(dir.path(), Compression::None);
    let r = record("SignInLogs", T1, "2024-06-20T05:10:00Z", "a");
    assert_eq!(
        s.send(&batch(&s, std::slice::from_ref(&r))).await,
        Outcome::Delivered
    );
    assert_eq!(
        read_lines(&path, Compression::None),
        ["{\"torn\":".to_owned(), r]
    );
}

#[tokio::test]
async fn an_unwritable_root_is_retryable_and_fails_the_healthcheck() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let mut s = sink(&dir.path().join("file/archive"), Compression::None);
    let r = record("SignInLogs", T1, "2024-06-20T05:10:00Z", "a");
    assert!(s.send(&batch(&s, &[r])).await.is_retryable());
    let e = s.healthcheck().await.unwrap_err().to_string();
    assert!(e.contains("cannot write under"), "{e}");
    let mut ok = sink(&dir.path().join("archive"), Compression::None);
    ok.healthcheck().await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("archive"))
            .unwrap()
            .count(),
        0,
        "probe removed"
    );
}

#[test]
fn split_routed_reads_the_encoders_prefix() {
    let (c, d, json) =
        split_routed(b"insights-logs-x tenantId=t/y=2024/m=01/d=01/h=00/m=00 {\"a\": 1}").unwrap();
    assert_eq!(
        (c, d, json),
        (
            "insights-logs-x",
            "tenantId=t/y=2024/m=01/d=01/h=00/m=00",
            &b"{\"a\": 1}"[..]
        )
    );
    assert!(split_routed(b"{\"a\":1}").is_none());
}
