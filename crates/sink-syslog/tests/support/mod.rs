//! What the rsyslog tests share: records (generated, 30 KB sign-ins, line breaks, non-ASCII,
//! the public sample corpus), encoding them into a batch with the sink's own encoder, and
//! reading rsyslog's output back.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use entrastream_entra::{EncodeContext, ParseOptions, RecordSlice, parse_record, split};
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_model::PartitionId;
use entrastream_sink::{EncodedBatch, RecordEncoder, RecordMeta};

/// `n` generated records (every category of the generator's mix), one JSON text each.
pub fn generated(n: usize, seed: u64) -> Vec<String> {
    let mut g = Generator::new(GeneratorConfig {
        seed,
        ..GeneratorConfig::default()
    })
    .expect("generator");
    let mut out = Vec::with_capacity(n);
    let mut body = Vec::new();
    while out.len() < n {
        body.clear();
        g.next_envelope(&mut body);
        for slice in split(&body) {
            let s = slice.expect("generated record splits");
            out.push(String::from_utf8(s.bytes.to_vec()).expect("utf-8"));
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// Records that break careless forwarders: 30 KB sign-ins (with escaped line breaks and
/// non-ASCII text in their strings), a pretty-printed record with raw line breaks between
/// its tokens, and short records in several scripts.
pub fn hard_records(count_30k: usize) -> Vec<String> {
    let mut out = Vec::new();
    let filler = "Zürich → 東京 🙂 line\\nbreak \\\"quoted\\\" tab\\t ".repeat(700);
    for i in 0..count_30k {
        out.push(format!(
            r#"{{"time":"2024-05-01T10:00:{:02}.1234567Z","category":"SignInLogs","tenantId":"t-1","resultType":"50126","correlationId":"c-{i}","properties":{{"id":"big-{i}","userPrincipalName":"ünïcødé{i}@example.com","ipAddress":"10.0.0.{}","userAgent":"{filler}","status":{{"errorCode":50126,"failureReason":"Invalid = password\nsecond line"}}}}}}"#,
            i % 60,
            i % 250
        ));
    }
    out.push("{\n  \"time\": \"2024-05-01T10:00:00Z\",\n  \"category\": \"AuditLogs\",\n  \"properties\": {\n    \"id\": \"pretty-1\",\n    \"activityDisplayName\": \"Update user\"\n  }\n}".to_string());
    for (i, text) in ["Ελληνικά", "العربية", "עברית", "हिन्दी", "中文", "😀 emoji"]
        .iter()
        .enumerate()
    {
        out.push(format!(
            r#"{{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","properties":{{"id":"intl-{i}","activityDisplayName":"{text}","result":"success"}}}}"#
        ));
    }
    out
}

/// Encodes `texts` with `encoder` into one batch, as the pipeline does.
pub fn batch(encoder: &dyn RecordEncoder, texts: &[String]) -> EncodedBatch {
    let ctx = EncodeContext::default();
    let p = PartitionId::new("t", 0);
    let mut data = Vec::new();
    let mut records = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let rec = parse_record(
            RecordSlice {
                bytes: t.as_bytes(),
                offset: 0,
            },
            &ParseOptions::default(),
        )
        .expect("test record parses");
        let start = data.len();
        encoder
            .encode(&rec, &ctx, &mut data)
            .expect("test record encodes");
        let end = data.len();
        data.extend_from_slice(encoder.separator());
        records.push(RecordMeta {
            range: start..end,
            partition: p.clone(),
            offset: i as i64,
            category: rec.category().to_owned(),
        });
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

/// The messages of `b`, in order.
pub fn messages(b: &EncodedBatch) -> Vec<Vec<u8>> {
    (0..b.records.len())
        .map(|i| b.record(i).unwrap().to_vec())
        .collect()
}

/// The public sample corpus (`../shared/samples`): every record text of its input files.
/// `None` (after a visible skip, or a panic in CI) when the folder is absent.
pub fn corpus() -> Option<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples");
    if !dir.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!(
                "{} is missing: CI must have ../shared/samples",
                dir.display()
            );
        }
        eprintln!("SKIPPED: sample corpus not found at {}", dir.display());
        return None;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if (name.ends_with(".log") || name.ends_with(".json"))
                && !name.ends_with("-expected.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let body = std::fs::read(&f).unwrap();
        for s in split(&body).flatten() {
            let ok = parse_record(s, &ParseOptions::default()).is_ok();
            if ok {
                out.push(String::from_utf8_lossy(s.bytes).into_owned());
            }
        }
    }
    Some(out)
}

/// Splits rsyslog's output (`%rawmsg%\n` per message) into messages, given that none of
/// them holds a raw line feed.
pub fn lines(output: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = output.split(|&b| b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// The resident set size of this process in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
