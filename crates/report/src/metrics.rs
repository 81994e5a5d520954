//! IAM-health metrics: bounded-cardinality counters of what the records say about the tenant
//! (not about the pipeline), updated as records flow.
//!
//! Every label value comes from a fixed enum or from a capped first-come set with an `other`
//! bucket, so the series count has a ceiling that no input can exceed:
//!
//! | metric | labels | series at most |
//! |---|---|---|
//! | `entrastream_iam_signins_total` | `user_kind` (3) × `outcome` (4) | 12 |
//! | `entrastream_iam_signin_failures_total` | `error_code` ([`MAX_ERROR_CODES`] + `other`) | 33 |
//! | `entrastream_iam_risky_signins_total` | `risk_level` (low, medium, high, hidden, other) | 5 |
//! | `entrastream_iam_conditional_access_failures_total` | — | 1 |
//! | `entrastream_iam_audit_changes_total` | `kind` ([`AuditKind::ALL`]) | 33 |
//! | `entrastream_iam_consent_grants_total` | `consent_type` (admin, user, unknown) | 3 |
//! | `entrastream_iam_provisioning_actions_total` | `target_system` ([`MAX_TARGET_SYSTEMS`] + `other`) × `action` (6) × `status` (5) | 630 |
//!
//! Total ceiling: [`SERIES_CEILING`].

use std::collections::HashSet;
use std::sync::Mutex;

use entrastream_entra::{Body, Record};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use crate::classify::{self, AuditKind};
use crate::signins::{Status, UserKind, error_code};

/// Distinct error codes that get their own label; later codes count as `other`.
pub const MAX_ERROR_CODES: usize = 32;
/// Distinct provisioning target systems that get their own label.
pub const MAX_TARGET_SYSTEMS: usize = 20;
/// Upper bound on the number of series these metrics can ever export (see the module table).
pub const SERIES_CEILING: usize =
    12 + (MAX_ERROR_CODES + 1) + 5 + 1 + 33 + 3 + (MAX_TARGET_SYSTEMS + 1) * 6 * 5;

const PROVISIONING_ACTIONS: [&str; 6] = [
    "create",
    "update",
    "delete",
    "disable",
    "staged_delete",
    "other",
];
const PROVISIONING_STATUSES: [&str; 5] = ["success", "failure", "skipped", "warning", "other"];

/// A first-come set of at most `cap` label values; the rest map to `other`.
#[derive(Debug)]
struct Capped {
    cap: usize,
    seen: Mutex<HashSet<String>>,
}

impl Capped {
    fn new(cap: usize) -> Capped {
        Capped {
            cap,
            seen: Mutex::new(HashSet::new()),
        }
    }
    fn label(&self, value: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return "other".into();
        };
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.cap && value != "other" {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        "other".into()
    }
}

/// The IAM-health counters. Cheap to clone handles inside; register once per registry.
#[derive(Debug)]
pub struct IamMetrics {
    signins: IntCounterVec,
    failures: IntCounterVec,
    risky: IntCounterVec,
    ca_failures: IntCounter,
    audit: IntCounterVec,
    consent: IntCounterVec,
    provisioning: IntCounterVec,
    codes: Capped,
    targets: Capped,
}

impl IamMetrics {
    /// Creates and registers the counters. Registering twice in one registry fails inside
    /// prometheus; the second set then still counts but is not exported.
    pub fn register(registry: &Registry) -> IamMetrics {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable_counter(name));
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let ca_failures = IntCounter::new(
            "entrastream_iam_conditional_access_failures_total",
            "User sign-ins whose conditional access status is failure",
        )
        .unwrap_or_else(|_| {
            IntCounter::new("entrastream_iam_invalid", "invalid").expect("static name")
        });
        let _ = registry.register(Box::new(ca_failures.clone()));
        IamMetrics {
            signins: vec(
                "entrastream_iam_signins_total",
                "Sign-ins by who signed in (user, service_principal, managed_identity) and outcome (success, failure, interrupted, unknown)",
                &["user_kind", "outcome"],
            ),
            failures: vec(
                "entrastream_iam_signin_failures_total",
                "Failed and interrupted sign-ins by AADSTS error code (first codes seen, the rest as other)",
                &["error_code"],
            ),
            risky: vec(
                "entrastream_iam_risky_signins_total",
                "Sign-ins with a risk level during sign-in other than none",
                &["risk_level"],
            ),
            ca_failures,
            audit: vec(
                "entrastream_iam_audit_changes_total",
                "Directory audit records by kind of change",
                &["kind"],
            ),
            consent: vec(
                "entrastream_iam_consent_grants_total",
                "Successful consents to applications by consent type (admin, user, unknown)",
                &["consent_type"],
            ),
            provisioning: vec(
                "entrastream_iam_provisioning_actions_total",
                "Provisioning actions by target system (first systems seen, the rest as other), action and status",
                &["target_system", "action", "status"],
            ),
            codes: Capped::new(MAX_ERROR_CODES),
            targets: Capped::new(MAX_TARGET_SYSTEMS),
        }
    }

    pub fn observe(&self, r: &Record<'_>) {
        match r.body() {
            Body::SignIn(s) => {
                let Some(kind) = UserKind::of(r.category_enum()) else {
                    return;
                };
                let code = error_code(r, s);
                let status = Status::of(code);
                self.signins
                    .with_label_values(&[kind.as_str(), status.as_str()])
                    .inc();
                if let Some(c) = code.filter(|c| *c != 0) {
                    let label = self.codes.label(&c.to_string());
                    self.failures.with_label_values(&[label.as_str()]).inc();
                }
                if let Some(level) = s.risk_level_during_sign_in {
                    let level = ["low", "medium", "high", "hidden", "none"]
                        .into_iter()
                        .find(|l| level.eq_ignore_case(l))
                        .unwrap_or("other");
                    if level != "none" {
                        self.risky.with_label_values(&[level]).inc();
                    }
                }
                if s.conditional_access_status
                    .is_some_and(|c| c.eq_ignore_case("failure"))
                {
                    self.ca_failures.inc();
                }
            }
            Body::Audit(a) => {
                let c = classify::classify(a);
                self.audit.with_label_values(&[c.kind.as_str()]).inc();
                let ok = a.result.is_none_or(|r| r.eq_ignore_case("success"));
                if c.kind == AuditKind::ConsentGranted && ok {
                    let t = match classify::consent(a).admin {
                        Some(true) => "admin",
                        Some(false) => "user",
                        None => "unknown",
                    };
                    self.consent.with_label_values(&[t]).inc();
                }
            }
            Body::Provisioning(p) => {
                let k = crate::provisioning::key(r, p);
                let target = self.targets.label(&k.target);
                let action = k.action.to_ascii_lowercase().replace(' ', "_");
                let action = PROVISIONING_ACTIONS
                    .into_iter()
                    .find(|a| a.replace('_', "") == action.replace('_', ""))
                    .unwrap_or("other");
                let status = PROVISIONING_STATUSES
                    .into_iter()
                    .find(|s| *s == k.status)
                    .unwrap_or("other");
                self.provisioning
                    .with_label_values(&[target.as_str(), action, status])
                    .inc();
            }
            _ => {}
        }
    }
}

/// The names above are static and valid; this only exists so construction cannot panic.
#[cold]
fn unreachable_counter(name: &str) -> IntCounterVec {
    IntCounterVec::new(Opts::new("entrastream_iam_invalid", name), &["x"]).unwrap_or_else(|_| {
        IntCounterVec::new(Opts::new("entrastream_iam_invalid2", "invalid"), &["x"])
            .expect("static name")
    })
}

#[cfg(test)]
mod tests;
