//! AuditLogs records (Graph directoryAudit) with real activity names and modified properties.

mod targets;

use crate::json::{self, arr, close, null, obj, s, s_raw};
use crate::population::User;
use crate::rng::mix;
use crate::time;
use crate::truth::bump;
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum K {
    AddUser,
    UpdateUser,
    DeleteUser,
    ResetUserPassword,
    ChangeUserPassword,
    SsprReset,
    SsprChange,
    AdminReset,
    AddMember,
    RemoveMember,
    AddOwner,
    RemoveOwner,
    AddGroup,
    DeleteGroup,
    UpdateGroup,
    GroupLicense,
    AddApp,
    UpdateApp,
    DeleteApp,
    AppSecrets,
    AddSp,
    RemoveSp,
    UpdateSp,
    SpCredentials,
    Consent,
    DelegatedGrant,
    AppRoleAssignment,
    AddRoleMember,
    RemoveRoleMember,
    ChangeLicense,
    InviteUser,
    AddCaPolicy,
    UpdateCaPolicy,
    UpdatePolicy,
    AddDevice,
    UpdateDevice,
    DeleteDevice,
    AddDeviceOwner,
}

const CORE: &str = "Core Directory";
const SSPR: &str = "Self-service Password Management";

/// (weight, kind, activityDisplayName, category, operationType, loggedByService)
type KindRow = (
    u32,
    K,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// Every audit activity the generator emits, with its relative frequency.
/// (kind, activityDisplayName, category, operationType, loggedByService)
type Kind = (K, &'static str, &'static str, &'static str, &'static str);

#[rustfmt::skip]
const KINDS: &[(u32, Kind)] = &{
    const fn row(
        r: KindRow,
    ) -> (
        u32,
        (K, &'static str, &'static str, &'static str, &'static str),
    ) {
        (r.0, (r.1, r.2, r.3, r.4, r.5))
    }
    [
        row((30, K::AddUser, "Add user", "UserManagement", "Add", CORE)),
        row((
            120,
            K::UpdateUser,
            "Update user",
            "UserManagement",
            "Update",
            CORE,
        )),
        row((
            15,
            K::DeleteUser,
            "Delete user",
            "UserManagement",
            "Delete",
            CORE,
        )),
        row((
            25,
            K::ResetUserPassword,
            "Reset user password",
            "UserManagement",
            "Update",
            CORE,
        )),
        row((
            20,
            K::ChangeUserPassword,
            "Change user password",
            "UserManagement",
            "Update",
            CORE,
        )),
        row((
            30,
            K::SsprReset,
            "Reset password (self-service)",
            "UserManagement",
            "Update",
            SSPR,
        )),
        row((
            20,
            K::SsprChange,
            "Change password (self-service)",
            "UserManagement",
            "Update",
            SSPR,
        )),
        row((
            15,
            K::AdminReset,
            "Reset password (by admin)",
            "UserManagement",
            "Update",
            SSPR,
        )),
        row((
            110,
            K::AddMember,
            "Add member to group",
            "GroupManagement",
            "Assign",
            CORE,
        )),
        row((
            45,
            K::RemoveMember,
            "Remove member from group",
            "GroupManagement",
            "Unassign",
            CORE,
        )),
        row((
            15,
            K::AddOwner,
            "Add owner to group",
            "GroupManagement",
            "Assign",
            CORE,
        )),
        row((
            10,
            K::RemoveOwner,
            "Remove owner from group",
            "GroupManagement",
            "Unassign",
            CORE,
        )),
        row((15, K::AddGroup, "Add group", "GroupManagement", "Add", CORE)),
        row((
            10,
            K::DeleteGroup,
            "Delete group",
            "GroupManagement",
            "Delete",
            CORE,
        )),
        row((
            25,
            K::UpdateGroup,
            "Update group",
            "GroupManagement",
            "Update",
            CORE,
        )),
        row((
            12,
            K::GroupLicense,
            "Assign license to group",
            "GroupManagement",
            "Assign",
            CORE,
        )),
        row((
            12,
            K::AddApp,
            "Add application",
            "ApplicationManagement",
            "Add",
            CORE,
        )),
        row((
            35,
            K::UpdateApp,
            "Update application",
            "ApplicationManagement",
            "Update",
            CORE,
        )),
        row((
            10,
            K::DeleteApp,
            "Delete application",
            "ApplicationManagement",
            "Delete",
            CORE,
        )),
        row((
            25,
            K::AppSecrets,
            "Update application – Certificates and secrets management",
            "ApplicationManagement",
            "Update",
            CORE,
        )),
        row((
            15,
            K::AddSp,
            "Add service principal",
            "ApplicationManagement",
            "Add",
            CORE,
        )),
        row((
            10,
            K::RemoveSp,
            "Remove service principal",
            "ApplicationManagement",
            "Delete",
            CORE,
        )),
        row((
            40,
            K::UpdateSp,
            "Update service principal",
            "ApplicationManagement",
            "Update",
            CORE,
        )),
        row((
            12,
            K::SpCredentials,
            "Add service principal credentials",
            "ApplicationManagement",
            "Update",
            CORE,
        )),
        row((
            30,
            K::Consent,
            "Consent to application",
            "ApplicationManagement",
            "Assign",
            CORE,
        )),
        row((
            20,
            K::DelegatedGrant,
            "Add delegated permission grant",
            "ApplicationManagement",
            "Assign",
            CORE,
        )),
        row((
            15,
            K::AppRoleAssignment,
            "Add app role assignment to service principal",
            "ApplicationManagement",
            "Assign",
            CORE,
        )),
        row((
            20,
            K::AddRoleMember,
            "Add member to role",
            "RoleManagement",
            "Assign",
            CORE,
        )),
        row((
            12,
            K::RemoveRoleMember,
            "Remove member from role",
            "RoleManagement",
            "Unassign",
            CORE,
        )),
        row((
            30,
            K::ChangeLicense,
            "Change user license",
            "UserManagement",
            "Update",
            CORE,
        )),
        row((
            12,
            K::InviteUser,
            "Invite external user",
            "UserManagement",
            "Add",
            "Invited Users",
        )),
        row((
            10,
            K::AddCaPolicy,
            "Add conditional access policy",
            "Policy",
            "Add",
            "Conditional Access",
        )),
        row((
            15,
            K::UpdateCaPolicy,
            "Update conditional access policy",
            "Policy",
            "Update",
            "Conditional Access",
        )),
        row((
            12,
            K::UpdatePolicy,
            "Update policy",
            "Policy",
            "Update",
            CORE,
        )),
        row((30, K::AddDevice, "Add device", "Device", "Add", CORE)),
        row((
            45,
            K::UpdateDevice,
            "Update device",
            "Device",
            "Update",
            CORE,
        )),
        row((
            12,
            K::DeleteDevice,
            "Delete device",
            "Device",
            "Delete",
            CORE,
        )),
        row((
            15,
            K::AddDeviceOwner,
            "Add registered owner to device",
            "Device",
            "Assign",
            CORE,
        )),
    ]
};

/// Every `activityDisplayName` the generator emits.
pub(crate) fn activity_names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|(_, (_, name, ..))| *name)
}

/// Application initiators: display name, whether the app id is known.
const APP_INITIATORS: &[(&str, bool)] = &[
    ("Azure AD Cloud Sync", true),
    ("Microsoft Azure AD Group-Based Licensing", true),
    ("Device Registration Service", true),
    ("Managed Service Identity", false),
    ("Azure AD Identity Governance", true),
];

#[derive(Debug)]
pub(super) enum Init<'a> {
    User(&'a User),
    App(usize),
}

impl State {
    pub(crate) fn audit(&mut self, out: &mut Vec<u8>) {
        let &(kind, name, category, op_type, service) = self.rng.weighted(KINDS);
        let corr = self.uid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let admin = &pop.users[pop.admins[pop.admin_skew.sample(rng)]];
        let subject = &pop.users[pop.user_skew.sample(rng)];
        let init = match kind {
            K::SsprReset | K::SsprChange | K::ChangeUserPassword => Init::User(subject),
            K::Consent if rng.chance(550) => Init::User(subject),
            K::UpdateUser | K::AddUser if rng.chance(300) => Init::App(0),
            K::ChangeLicense | K::GroupLicense if rng.chance(400) => Init::App(1),
            K::AddDevice | K::UpdateDevice if rng.chance(600) => Init::App(2),
            K::UpdateSp | K::SpCredentials if rng.chance(400) => Init::App(3),
            K::AddMember | K::RemoveMember if rng.chance(300) => Init::App(4),
            _ => Init::User(admin),
        };
        let fail_per_mille = match kind {
            K::SsprReset | K::SsprChange => 150,
            _ => 25,
        };
        let failed = rng.chance(fail_per_mille);
        let (identity, caller_ip) = match &init {
            Init::User(u) => (u.display.as_str(), Some(u.ip.as_str())),
            Init::App(i) => (APP_INITIATORS[*i].0, None),
        };
        self.head(
            out,
            &Head {
                time: TimeStyle::Iso,
                resource: ResourceStyle::Normal,
                operation_name: name,
                operation_version: "1.0",
                category: Cat::Audit.name(),
                result_type: None,
                result_signature: Some("None"),
                result_description: None,
                duration_ms: Some((0, false)),
                caller_ip,
                correlation_id: Some(&corr),
                identity: Some(identity),
                location: None,
            },
        );
        let rng = &mut self.rng;
        // id: Directory_<correlation>_<5 chars>_<number>
        json::key(out, "id");
        out.extend_from_slice(b"\"Directory_");
        out.extend_from_slice(&corr);
        out.push(b'_');
        for _ in 0..5 {
            out.push(*rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
        }
        out.push(b'_');
        json::num(out, 100_000_000 + rng.below(900_000_000) as i64);
        out.extend_from_slice(b"\",");
        let id_end = out.len() - 2;
        let id_start = id_end - (10 + 36 + 1 + 5 + 1 + 9);
        self.truth.note_id(&out[id_start..id_end]);

        s(out, "category", category);
        s_raw(out, "correlationId", &corr);
        s(out, "result", if failed { "failure" } else { "success" });
        s(
            out,
            "resultReason",
            if failed { failure_reason(kind) } else { "" },
        );
        s(out, "activityDisplayName", name);
        json::key(out, "activityDateTime");
        out.push(b'"');
        time::iso_offset(out, self.t);
        out.extend_from_slice(b"\",");
        s(out, "loggedByService", service);
        s(out, "operationType", op_type);
        null(out, "userAgent");
        obj(out, "initiatedBy");
        match &init {
            Init::User(u) => {
                obj(out, "user");
                s(out, "id", &u.id);
                s(out, "displayName", &u.display);
                s(out, "userPrincipalName", &u.upn);
                s(out, "ipAddress", &u.ip);
                arr(out, "roles");
                close(out, b']');
                close(out, b'}');
            }
            Init::App(i) => {
                let (app_name, has_app_id) = APP_INITIATORS[*i];
                let h = mix(self.seed ^ (*i as u64 + 1));
                obj(out, "app");
                if has_app_id {
                    json::key(out, "appId");
                    out.push(b'"');
                    json::guid(out, h, mix(h ^ 1));
                    out.extend_from_slice(b"\",");
                } else {
                    null(out, "appId");
                }
                s(out, "displayName", app_name);
                json::key(out, "servicePrincipalId");
                out.push(b'"');
                json::guid(out, mix(h ^ 2), mix(h ^ 3));
                out.extend_from_slice(b"\",");
                if has_app_id {
                    s(out, "servicePrincipalName", app_name);
                } else {
                    null(out, "servicePrincipalName");
                }
                close(out, b'}');
            }
        }
        close(out, b'}');

        let pop = &self.pop;
        arr(out, "targetResources");
        let (admin_consent, renamed) = targets::write(
            out,
            &mut self.scratch,
            &mut self.rng,
            pop,
            kind,
            subject,
            &init,
        );
        close(out, b']');
        arr(out, "additionalDetails");
        match &init {
            Init::User(_) => {
                out.extend_from_slice(b"{\"key\":\"User-Agent\",\"value\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0\"},");
            }
            Init::App(_) => {
                out.extend_from_slice(b"{\"key\":\"User-Agent\",\"value\":\"Microsoft Azure Graph Client Library 2.1.17-internal\"},");
            }
        }
        if kind == K::Consent || kind == K::DelegatedGrant {
            out.extend_from_slice(b"{\"key\":\"AppId\",\"value\":\"");
            out.extend_from_slice(pop.sps[0].app_id.as_bytes());
            out.extend_from_slice(b"\"},");
        }
        close(out, b']');
        Self::end(out);

        let truth = &mut self.truth;
        bump(&mut truth.audit_by_activity, name);
        if failed {
            truth.audit_failures += 1;
            return;
        }
        match kind {
            K::ChangeUserPassword | K::SsprChange => truth.password_changes += 1,
            K::ResetUserPassword | K::SsprReset | K::AdminReset => truth.password_resets += 1,
            K::AddMember => truth.group_member_adds += 1,
            K::RemoveMember => truth.group_member_removes += 1,
            K::Consent if admin_consent => truth.admin_consents += 1,
            K::Consent => truth.user_consents += 1,
            K::AddRoleMember => truth.role_assignments += 1,
            K::RemoveRoleMember => truth.role_removals += 1,
            K::ChangeLicense | K::GroupLicense => truth.license_assignments += 1,
            K::UpdateApp if renamed => truth.app_renames += 1,
            _ => {}
        }
    }
}

fn failure_reason(kind: K) -> &'static str {
    match kind {
        K::SsprReset | K::SsprChange => {
            "User submitted a new password that does not comply with the password policy"
        }
        K::AdminReset | K::ResetUserPassword => {
            "The user's account is synchronized from on-premises and password writeback is disabled"
        }
        K::AddUser | K::AddGroup | K::AddApp | K::AddSp | K::InviteUser => {
            "Microsoft.Online.Workflows.ObjectAlreadyExistsException"
        }
        K::AddMember | K::AddOwner => {
            "One or more added object references already exist for the following modified properties: 'members'."
        }
        _ => "Insufficient privileges to complete the operation.",
    }
}
