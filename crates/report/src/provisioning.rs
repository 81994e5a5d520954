//! `provisioning_outcomes`: per source system → target system, object type, action and status.

use std::collections::HashMap;

use entrastream_entra::Record;
use entrastream_entra::kinds::Provisioning as Prov;

use crate::answer::{Answer, Cell, Table};
use crate::names::Names;

/// Example object names kept per outcome row ("which groups were created in ServiceNow?").
const EXAMPLES: usize = 3;

/// The normalised outcome key of one provisioning record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub source: String,
    pub target: String,
    /// `User`, `Group` or the identity type as given.
    pub object: String,
    /// `Create`, `Update`, `Delete`, `Disable`, `StagedDelete`, `Other`…
    pub action: String,
    /// `success`, `failure`, `skipped`, `warning` or `unknown`.
    pub status: String,
}

pub fn key(r: &Record<'_>, p: &Prov<'_>) -> Key {
    let name = |s: Option<entrastream_entra::json::JsonStr<'_>>| {
        s.map_or_else(|| "(unknown)".to_owned(), |s| s.decode().into_owned())
    };
    let action = match (p.action, p.provisioning_action) {
        (Some(a), _) => a.decode().into_owned(),
        (None, Some(a)) => capitalise(&a.decode()),
        (None, None) => "(unknown)".to_owned(),
    };
    let status = p
        .status
        .map(|s| s.decode().to_ascii_lowercase())
        .or_else(|| {
            r.envelope()
                .result_type
                .map(|t| t.raw_text().to_ascii_lowercase())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Key {
        source: name(p.source_system.name),
        target: name(p.target_system.name),
        object: object_type(p),
        action,
        status,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `User` / `Group` from the identity type, which is `User`, `Group` or a SCIM schema URN
/// (`urn:ietf:params:scim:schemas:core:2.0:User`).
fn object_type(p: &Prov<'_>) -> String {
    let t = p
        .target_identity
        .identity_type
        .or(p.source_identity.identity_type)
        .map(|t| t.decode().into_owned());
    match t {
        Some(t) => {
            let last = t.rsplit(':').next().unwrap_or(&t).to_owned();
            let lower = last.to_ascii_lowercase();
            if lower.contains("group") {
                "Group".to_owned()
            } else if lower.contains("user") {
                "User".to_owned()
            } else {
                last
            }
        }
        None => "(unknown)".to_owned(),
    }
}

#[derive(Debug, Default)]
struct Row {
    count: u64,
    examples: Vec<u32>,
}

#[derive(Debug, Default)]
pub struct Provisioning {
    rows: HashMap<Key, Row>,
    errors: HashMap<(u32, u32), (u64, Option<u32>)>,
}

impl Provisioning {
    pub fn observe(&mut self, names: &mut Names, r: &Record<'_>, p: &Prov<'_>) {
        let k = key(r, p);
        let target_name = k.target.clone();
        let object = p
            .target_identity
            .user_principal_name
            .or(p.source_identity.user_principal_name)
            .or(p.target_identity.name)
            .or(p.source_identity.name)
            .map(|n| n.decode().into_owned());
        let row = self.rows.entry(k).or_default();
        row.count += 1;
        if let Some(o) = object {
            let id = names.id(&o);
            if row.examples.len() < EXAMPLES && !row.examples.contains(&id) {
                row.examples.push(id);
            }
        }
        if let Some(code) = p.error_code {
            let key = (names.id(&target_name), names.id(&code.decode()));
            let reason = p.error_reason.map(|r| names.id(&r.decode()));
            let e = self.errors.entry(key).or_insert((0, reason));
            e.0 += 1;
        }
    }

    /// Counts per (source, target, action, status), summed over object types: the shape of the
    /// generator's ground truth.
    pub fn totals(&self) -> HashMap<(String, String, String, String), u64> {
        let mut out = HashMap::new();
        for (k, r) in &self.rows {
            *out.entry((
                k.source.clone(),
                k.target.clone(),
                k.action.clone(),
                k.status.clone(),
            ))
            .or_insert(0) += r.count;
        }
        out
    }

    pub fn answer(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.rows.is_empty() {
            return a;
        }
        let total: u64 = self.rows.values().map(|r| r.count).sum();
        a.fact("actions", total);
        for s in ["success", "failure", "skipped"] {
            let n: u64 = self
                .rows
                .iter()
                .filter(|(k, _)| k.status == s)
                .map(|(_, r)| r.count)
                .sum();
            a.fact(s, n);
        }
        let mut v: Vec<(&Key, &Row)> = self.rows.iter().collect();
        v.sort_by(|x, y| {
            (
                &x.0.source,
                &x.0.target,
                &x.0.object,
                &x.0.action,
                &x.0.status,
            )
                .cmp(&(
                    &y.0.source,
                    &y.0.target,
                    &y.0.object,
                    &y.0.action,
                    &y.0.status,
                ))
        });
        let mut t = Table::new(
            "outcomes",
            &[
                "source_system",
                "target_system",
                "object_type",
                "action",
                "status",
                "count",
                "examples",
            ],
        );
        for (k, r) in v {
            let ex: Vec<&str> = r.examples.iter().map(|e| names.name(*e)).collect();
            t.row(vec![
                k.source.as_str().into(),
                k.target.as_str().into(),
                k.object.as_str().into(),
                k.action.as_str().into(),
                k.status.as_str().into(),
                r.count.into(),
                Cell::text(ex.join(", ")),
            ]);
        }
        // Every outcome row is kept: the rows are bounded by systems × actions × statuses, and
        // each one answers a question of its own.
        a.table(t);
        let mut v: Vec<_> = self.errors.iter().collect();
        v.sort_by(|x, y| {
            y.1.0
                .cmp(&x.1.0)
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
        });
        let mut t = Table::new(
            "top_errors",
            &["target_system", "error_code", "count", "reason"],
        );
        for ((target, code), (n, reason)) in v {
            t.row(vec![
                names.name(*target).into(),
                names.name(*code).into(),
                (*n).into(),
                reason.map(|r| names.name(r).to_owned()).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a
    }
}
