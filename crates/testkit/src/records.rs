//! What generated traffic carried and what a sink wrote, by record id: the generator gives
//! every record a unique `properties.id` (or `requestId`), so loss and duplicates are counted by
//! id, not by line or message counts that a duplicate and a loss could cancel out.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What was produced: per partition, per message (offset order), the record ids it carries.
#[derive(Debug, Default)]
pub struct Traffic {
    /// `messages[p][offset]` = ids of the good records in that message.
    pub messages: Vec<Vec<Vec<String>>>,
    /// Generated records.
    pub records: usize,
    /// Largest message.
    pub max_message: usize,
    /// Malformed messages.
    pub poison: usize,
}

impl Traffic {
    /// Every generated id.
    pub fn ids(&self) -> HashSet<String> {
        self.messages.iter().flatten().flatten().cloned().collect()
    }

    /// Ids of the messages below the given exclusive offsets.
    pub fn ids_below(&self, committed: &[i64]) -> HashSet<String> {
        let mut out = HashSet::new();
        for (p, msgs) in self.messages.iter().enumerate() {
            let end = committed.get(p).copied().unwrap_or(0).max(0) as usize;
            for m in msgs.iter().take(end) {
                out.extend(m.iter().cloned());
            }
        }
        out
    }

    /// Messages per partition (= the end offset of a fresh topic).
    pub fn end_offsets(&self) -> Vec<i64> {
        self.messages.iter().map(|m| m.len() as i64).collect()
    }

    /// Which partition carried an id.
    pub fn partition_of(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for (p, msgs) in self.messages.iter().enumerate() {
            for id in msgs.iter().flatten() {
                out.insert(id.clone(), p);
            }
        }
        out
    }
}

/// Ids of the generated records in an envelope.
pub fn record_ids(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).expect("generator output is JSON");
    v["records"]
        .as_array()
        .map(|records| records.iter().filter_map(record_id).collect())
        .unwrap_or_default()
}

/// The generator's id of one record (`properties.id`, else `properties.requestId`).
pub fn record_id(r: &serde_json::Value) -> Option<String> {
    let p = &r["properties"];
    p["id"]
        .as_str()
        .or(p["requestId"].as_str())
        .map(str::to_owned)
}

/// Ids found in an NDJSON file (and its rotated siblings), with their number of occurrences.
/// Torn lines (from kill -9) are skipped.
pub fn ids_in(path: &Path) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let Some(dir) = path.parent() else { return out };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let fname = e.file_name().to_string_lossy().to_string();
        if !fname.starts_with(&name) {
            continue;
        }
        count_ids(
            &std::fs::read_to_string(e.path()).unwrap_or_default(),
            &mut out,
        );
    }
    out
}

/// Adds the record ids of NDJSON `text` to `out`; torn or foreign lines are skipped.
pub fn count_ids(text: &str, out: &mut HashMap<String, usize>) {
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(id) = record_id(&v)
        {
            *out.entry(id).or_insert(0) += 1;
        }
    }
}

/// Lines in a file (cheap progress probe).
pub fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}
