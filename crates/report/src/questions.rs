//! The questions `report` answers. Ids are a contract (issue 7): never rename or drop one.

/// One question: its stable id and its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub id: &'static str,
    pub text: &'static str,
}

const fn q(id: &'static str, text: &'static str) -> Question {
    Question { id, text }
}

/// Every question, in the order the issue lists them. The first four and the password and
/// administrator questions carry the issue's own wording; the others, which the issue names
/// only by id, are worded in the same style. The last two (issue 16) cover Identity Protection
/// and Graph activity.
pub const QUESTIONS: [Question; 20] = [
    q("signin_pattern", "What is the sign-in pattern of a user?"),
    q(
        "users_signed_in",
        "How many users have signed in over a week?",
    ),
    q("signin_status", "What's the status of these sign-ins?"),
    q("app_usage", "How often are apps and services used?"),
    q(
        "user_update_types",
        "What types of updates have been applied to users?",
    ),
    q("users_changed", "How many users were changed?"),
    q("passwords_changed", "How many passwords were changed?"),
    q(
        "admin_actions",
        "What has an administrator done in a directory?",
    ),
    q("groups_added", "What groups have been added?"),
    q(
        "group_membership_changes",
        "Are there groups with membership changes?",
    ),
    q(
        "group_owner_changes",
        "Have the owners of a group been changed?",
    ),
    q(
        "licenses_assigned",
        "What licenses have been assigned to a group or a user?",
    ),
    q(
        "apps_added_or_updated",
        "What applications have been added or updated?",
    ),
    q("apps_removed", "What applications have been removed?"),
    q(
        "service_principal_changes",
        "Has a service principal for an application changed?",
    ),
    q(
        "app_renames",
        "Have the names of applications been changed?",
    ),
    q(
        "consent_grants",
        "Who gave consent to an application, and with which permissions?",
    ),
    q(
        "provisioning_outcomes",
        "What did provisioning do, from which source system to which target system, with what result?",
    ),
    q(
        "risk",
        "Which users and service principals are at risk, and which risk detections were raised (who, level, state, detection type, when)?",
    ),
    q(
        "graph_activity",
        "Which applications call which Graph API endpoints, and which requests fail, by status?",
    ),
];
