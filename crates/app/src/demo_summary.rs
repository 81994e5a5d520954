//! The demo's closing summary: what an Entra administrator asks of a day of logs. Counted from
//! the typed records as they pass through the pipeline, by a tap sink that writes nothing.
//!
//! Interim: this is replaced by the report crate (issue 7) once it exists.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entrastream_entra::{EncodeContext, Outcome as RecordOutcome, Record};
use entrastream_sink::{EncodedBatch, Outcome, RecordEncoder, Sink, SinkError};

/// Counters of the summary.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Sign-ins by outcome (success / failure / unknown).
    pub signin_status: HashMap<String, u64>,
    /// Failed sign-ins by reason.
    pub failure_reasons: HashMap<String, u64>,
    /// Sign-ins per user.
    pub users: HashMap<String, u64>,
    /// Sign-ins per application.
    pub apps: HashMap<String, u64>,
    /// Audit events by kind of change.
    pub audit_kinds: HashMap<String, u64>,
    /// Provisioning outcomes per target system: (system, status) → count.
    pub provisioning: HashMap<(String, String), u64>,
    /// Records per category.
    pub categories: HashMap<String, u64>,
}

fn bump(map: &mut HashMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else {
        map.insert(key.to_string(), 1);
    }
}

/// Classifies an audit activity name into the kinds administrators ask about.
pub fn audit_kind(activity: &str) -> &'static str {
    let a = activity.to_ascii_lowercase();
    if a.contains("password") {
        "password changes"
    } else if a.contains("member") && a.contains("group") {
        "group membership"
    } else if a.contains("consent") {
        "app consent"
    } else if a.contains("role") {
        "role assignments"
    } else if a.contains("license") {
        "license assignments"
    } else {
        "other"
    }
}

impl Tally {
    fn add(&mut self, r: &Record<'_>) {
        bump(&mut self.categories, r.category());
        if let Some(s) = r.signin() {
            let outcome = r.outcome();
            bump(&mut self.signin_status, outcome.as_str());
            if outcome == RecordOutcome::Failure {
                let reason = match (&s.failure_reason, s.error_code) {
                    (Some(f), Some(c)) => format!("{c}: {}", f.decode()),
                    (Some(f), None) => f.decode().into_owned(),
                    (None, Some(c)) => format!("error {c}"),
                    (None, None) => "unknown".into(),
                };
                bump(&mut self.failure_reasons, &reason);
            }
            if let Some(u) = &s.user_principal_name {
                bump(&mut self.users, &u.decode());
            }
            if let Some(a) = &s.app_display_name {
                bump(&mut self.apps, &a.decode());
            }
        } else if let Some(a) = r.audit() {
            let name = a
                .activity_display_name
                .as_ref()
                .map(|n| n.decode())
                .unwrap_or_default();
            bump(&mut self.audit_kinds, audit_kind(&name));
        } else if let Some(p) = r.provisioning() {
            let system = p
                .target_system
                .name
                .as_ref()
                .map(|n| n.decode().into_owned())
                .unwrap_or_else(|| "unknown".into());
            let status = p
                .status
                .as_ref()
                .map(|n| n.decode().to_ascii_lowercase())
                .unwrap_or_else(|| "unknown".into());
            *self.provisioning.entry((system, status)).or_insert(0) += 1;
        }
    }

    /// The printable summary (no trailing newline).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let top = |m: &HashMap<String, u64>, n: usize| {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.into_iter()
                .take(n)
                .map(|(k, c)| (k.clone(), *c))
                .collect::<Vec<_>>()
        };
        let total_signins: u64 = self.signin_status.values().sum();
        let _ = writeln!(out, "Sign-ins: {total_signins}");
        for (k, c) in top(&self.signin_status, 5) {
            let _ = writeln!(out, "  {k:<10} {c:>9}");
        }
        let _ = writeln!(out, "Top failure reasons:");
        for (k, c) in top(&self.failure_reasons, 5) {
            let _ = writeln!(out, "  {c:>9}  {}", truncate(&k, 90));
        }
        let _ = writeln!(out, "Most active users:");
        for (k, c) in top(&self.users, 5) {
            let _ = writeln!(out, "  {c:>9}  {k}");
        }
        let _ = writeln!(out, "Most used apps:");
        for (k, c) in top(&self.apps, 5) {
            let _ = writeln!(out, "  {c:>9}  {k}");
        }
        let _ = writeln!(out, "Audit activities by kind:");
        for (k, c) in top(&self.audit_kinds, 10) {
            let _ = writeln!(out, "  {k:<20} {c:>9}");
        }
        let _ = writeln!(out, "Provisioning outcomes per target system:");
        let mut prov: Vec<_> = self.provisioning.iter().collect();
        prov.sort_by(|a, b| a.0.cmp(b.0));
        for ((system, status), c) in prov {
            let _ = writeln!(out, "  {:<28} {status:<10} {c:>9}", truncate(system, 28));
        }
        let _ = write!(out, "Records by category:");
        for (k, c) in top(&self.categories, 20) {
            let _ = write!(out, "\n  {k:<36} {c:>9}");
        }
        out
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// An encoder that counts records into a [`Tally`] and writes nothing.
#[derive(Debug, Default)]
pub struct TallyEncoder {
    /// The counts so far.
    pub tally: Mutex<Tally>,
}

impl RecordEncoder for TallyEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        _ctx: &EncodeContext,
        _out: &mut Vec<u8>,
    ) -> Result<(), String> {
        if let Ok(mut t) = self.tally.lock() {
            t.add(record);
        }
        Ok(())
    }

    fn separator(&self) -> &'static [u8] {
        b""
    }
}

/// The tap sink that carries a [`TallyEncoder`].
#[derive(Debug, Clone, Default)]
pub struct TallySink {
    /// Shared with the caller, who renders it at the end.
    pub encoder: Arc<TallyEncoder>,
}

#[async_trait]
impl Sink for TallySink {
    fn name(&self) -> &str {
        "demo_summary"
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, _batch: &EncodedBatch) -> Outcome {
        Outcome::Delivered
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_audit_activities() {
        assert_eq!(audit_kind("Reset user password"), "password changes");
        assert_eq!(audit_kind("Add member to group"), "group membership");
        assert_eq!(audit_kind("Consent to application"), "app consent");
        assert_eq!(audit_kind("Add member to role"), "role assignments");
        assert_eq!(audit_kind("Change user license"), "license assignments");
    }
}
