//! The severity of a record: what a syslog admin filters on, derived from what happened
//! (a failed sign-in, a risk, an administrative change rank above routine activity).
//!
//! Syslog severities (RFC 5424 §6.2.1) count down (3 = error … 6 = informational); CEF counts
//! 0–10 up and LEEF's `sev` 1–10 up, both derived from the same level by [`Level::cef`].

use entrastream_entra::{Body, Outcome, Record};

/// Four levels are enough to rank Entra activity; each maps to all three scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Routine activity that succeeded.
    Info,
    /// A change to who may do what (roles, policies, credentials, consent), or a low risk.
    Notice,
    /// A failure (sign-in, audit, provisioning) or a medium risk.
    Warning,
    /// A high risk (a risk detection, a risky user, a sign-in with high risk).
    High,
}

impl Level {
    /// Syslog severity: 3 error, 4 warning, 5 notice, 6 informational.
    pub fn syslog(self) -> u8 {
        match self {
            Level::High => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
        }
    }

    /// CEF severity (0–10) and LEEF `sev` (1–10).
    pub fn cef(self) -> u8 {
        match self {
            Level::High => 8,
            Level::Warning => 6,
            Level::Notice => 4,
            Level::Info => 2,
        }
    }
}

fn risk(level: Option<&str>) -> Option<Level> {
    match level?.to_ascii_lowercase().as_str() {
        "high" => Some(Level::High),
        "medium" => Some(Level::Warning),
        "low" => Some(Level::Notice),
        _ => None,
    }
}

/// Audit categories whose changes alter who may do what.
const ADMIN_AUDIT_CATEGORIES: [&str; 6] = [
    "RoleManagement",
    "Policy",
    "ApplicationManagement",
    "DirectoryManagement",
    "PermissionGrantPolicy",
    "Authorization",
];

/// The level of one record.
pub fn level(record: &Record<'_>) -> Level {
    let failed = record.outcome() == Outcome::Failure;
    match record.body() {
        Body::SignIn(s) => {
            let risk = [s.risk_level_during_sign_in, s.risk_level_aggregated]
                .into_iter()
                .flatten()
                .filter_map(|l| risk(Some(&l.decode())))
                .max();
            let fail = failed.then_some(Level::Warning);
            risk.max(fail).unwrap_or(Level::Info)
        }
        Body::Risk(r) => r
            .risk_level
            .and_then(|l| risk(Some(&l.decode())))
            .unwrap_or(Level::Notice),
        Body::Audit(a) => {
            let admin = a
                .category
                .is_some_and(|c| ADMIN_AUDIT_CATEGORIES.iter().any(|k| c.eq_str(k)));
            if failed {
                Level::Warning
            } else if admin {
                Level::Notice
            } else {
                Level::Info
            }
        }
        Body::Provisioning(_) | Body::GraphActivity(_) | Body::Generic => {
            if failed {
                Level::Warning
            } else {
                Level::Info
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_records::parse;

    #[test]
    fn failures_risks_and_admin_changes_rank_higher() {
        let ok = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","properties":{"status":{"errorCode":0}}}"#,
        );
        assert_eq!(level(&ok.record()), Level::Info);
        let failed = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","resultType":"50126","properties":{"status":{"errorCode":50126}}}"#,
        );
        assert_eq!(level(&failed.record()), Level::Warning);
        let risky = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","properties":{"status":{"errorCode":0},"riskLevelDuringSignIn":"high"}}"#,
        );
        assert_eq!(level(&risky.record()), Level::High);
        let detection = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"UserRiskEvents","properties":{"riskLevel":"medium"}}"#,
        );
        assert_eq!(level(&detection.record()), Level::Warning);
        let role = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","properties":{"category":"RoleManagement","result":"success","activityDisplayName":"Add member to role"}}"#,
        );
        assert_eq!(level(&role.record()), Level::Notice);
        let routine = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","properties":{"category":"UserManagement","result":"success"}}"#,
        );
        assert_eq!(level(&routine.record()), Level::Info);
        assert_eq!(Level::High.syslog(), 3);
        assert!(Level::Warning.cef() > Level::Notice.cef());
    }
}
