//! Ground truth: counters of everything generated, for tests of reports and metrics.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

/// One provisioning outcome bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProvisioningKey {
    /// `sourceSystem.Name`, e.g. `Workday`.
    pub source: String,
    /// `targetSystem.Name`, e.g. `Active Directory`.
    pub target: String,
    /// `properties.action`: `Create`, `Update`, `Delete`, `Disable` or `Other`.
    pub action: String,
    /// `provisioningStatusInfo.Status`: `success`, `skipped` or `failure`.
    pub status: String,
}

/// Counters of what was generated so far.
///
/// Every counter can be recomputed from the emitted JSON alone (the crate's tests do exactly
/// that). The "semantic" audit counters (`password_changes`, `group_member_adds`, …) count only
/// audit records with `result == "success"`; `audit_by_activity` counts every audit record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Truth {
    pub envelopes: u64,
    pub records: u64,
    /// Bytes of envelope JSON produced.
    pub bytes: u64,
    pub records_by_category: BTreeMap<String, u64>,
    /// Sign-ins of every sign-in category by `success` / `failure` (`status.errorCode != 0`).
    pub signins_by_outcome: BTreeMap<String, u64>,
    /// Sign-ins by `status.errorCode` (0 = success).
    pub signins_by_error_code: BTreeMap<i64, u64>,
    /// Distinct `userId`s in user sign-ins (SignInLogs, NonInteractiveUserSignInLogs,
    /// ADFSSignInLogs).
    pub distinct_users_signed_in: u64,
    /// Sign-ins with `riskLevelDuringSignIn` `medium` or `high`.
    pub risky_signins: u64,
    pub audit_by_activity: BTreeMap<String, u64>,
    /// Audit records with `result == "failure"`.
    pub audit_failures: u64,
    /// `Change user password`, `Change password (self-service)`.
    pub password_changes: u64,
    /// `Reset user password`, `Reset password (self-service)`, `Reset password (by admin)`.
    pub password_resets: u64,
    /// `Add member to group`.
    pub group_member_adds: u64,
    /// `Remove member from group`.
    pub group_member_removes: u64,
    /// `Consent to application` with `ConsentContext.IsAdminConsent` true.
    pub admin_consents: u64,
    /// `Consent to application` with `ConsentContext.IsAdminConsent` false.
    pub user_consents: u64,
    /// `Add member to role`.
    pub role_assignments: u64,
    /// `Remove member from role`.
    pub role_removals: u64,
    /// `Change user license`, `Assign license to group`.
    pub license_assignments: u64,
    /// `Update application` records whose modified properties include `DisplayName`.
    pub app_renames: u64,
    #[serde(serialize_with = "provisioning_as_list")]
    pub provisioning: BTreeMap<ProvisioningKey, u64>,
    /// UserRiskEvents and ServicePrincipalRiskEvents by `riskEventType`.
    pub risk_detections_by_type: BTreeMap<String, u64>,
    /// Graph activity (both kinds) by HTTP status.
    pub graph_requests_by_status: BTreeMap<i64, u64>,
    /// Wrapping sum of [`crate::id_digest`] over every record's unique id: a sink that saw
    /// every record exactly once computes the same value.
    pub id_digest_sum: u64,
    #[serde(skip)]
    pub(crate) users_seen: Vec<bool>,
}

fn provisioning_as_list<S: Serializer>(
    map: &BTreeMap<ProvisioningKey, u64>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Debug, Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        key: &'a ProvisioningKey,
        count: u64,
    }
    ser.collect_seq(map.iter().map(|(key, &count)| Row { key, count }))
}

pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(v) => *v += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

impl Truth {
    pub(crate) fn new(users: usize) -> Self {
        Self {
            users_seen: vec![false; users],
            ..Self::default()
        }
    }

    pub(crate) fn signin(&mut self, code: i64, user: Option<usize>, risky: bool) {
        bump(
            &mut self.signins_by_outcome,
            if code == 0 { "success" } else { "failure" },
        );
        *self.signins_by_error_code.entry(code).or_insert(0) += 1;
        if let Some(u) = user
            && let Some(seen) = self.users_seen.get_mut(u)
            && !*seen
        {
            *seen = true;
            self.distinct_users_signed_in += 1;
        }
        if risky {
            self.risky_signins += 1;
        }
    }

    pub(crate) fn note_id(&mut self, id: &[u8]) {
        self.id_digest_sum = self.id_digest_sum.wrapping_add(crate::rng::fnv1a(id));
    }
}
