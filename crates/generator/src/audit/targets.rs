//! `targetResources` of audit records: the objects an activity touched and their modified
//! properties, whose old and new values are JSON texts inside strings.

use super::{Init, K};
use crate::data;
use crate::json::{self, arr, close, null, s};
use crate::population::{Population, User};
use crate::rng::Rng;

/// Appends one modified property. `old`/`new` are JSON texts that get encoded into strings.
fn mp(out: &mut Vec<u8>, name: &str, old: Option<&[u8]>, new: Option<&[u8]>) {
    out.push(b'{');
    s(out, "displayName", name);
    match old {
        Some(v) => json::double_encoded(out, "oldValue", v),
        None => null(out, "oldValue"),
    }
    match new {
        Some(v) => json::double_encoded(out, "newValue", v),
        None => null(out, "newValue"),
    }
    close(out, b'}');
}

/// JSON text of a string: `"value"`.
fn jstr(tmp: &mut Vec<u8>, v: &str) -> Vec<u8> {
    tmp.clear();
    tmp.push(b'"');
    json::esc(tmp, v);
    tmp.push(b'"');
    tmp.clone()
}

/// JSON text of a string list: `["a","b"]`.
fn jlist(tmp: &mut Vec<u8>, items: &[&str]) -> Vec<u8> {
    tmp.clear();
    tmp.push(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            tmp.push(b',');
        }
        tmp.push(b'"');
        json::esc(tmp, v);
        tmp.push(b'"');
    }
    tmp.push(b']');
    tmp.clone()
}

fn target_start(out: &mut Vec<u8>, id: &str, display: Option<&str>, typ: &str, upn: Option<&str>) {
    out.push(b'{');
    s(out, "id", id);
    json::opt_s(out, "displayName", display);
    s(out, "type", typ);
    if let Some(u) = upn {
        s(out, "userPrincipalName", u);
    }
    arr(out, "modifiedProperties");
}

fn target_end(out: &mut Vec<u8>) {
    close(out, b']');
    arr(out, "administrativeUnits");
    close(out, b']');
    close(out, b'}');
}

fn user_target(out: &mut Vec<u8>, u: &User) {
    target_start(out, &u.id, None, "User", Some(&u.upn));
}

/// Writes the members of `targetResources` for `kind`; returns (admin consent, app renamed).
pub(super) fn write(
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
    rng: &mut Rng,
    pop: &Population,
    kind: K,
    subject: &User,
    init: &Init<'_>,
) -> (bool, bool) {
    let mut admin_consent = false;
    let mut renamed = false;
    match kind {
        K::AddUser | K::InviteUser => {
            user_target(out, subject);
            mp(out, "AccountEnabled", Some(b"[]"), Some(b"[true]"));
            mp(
                out,
                "DisplayName",
                Some(b"[]"),
                Some(&jlist(tmp, &[&subject.display])),
            );
            mp(
                out,
                "UserPrincipalName",
                Some(b"[]"),
                Some(&jlist(tmp, &[&subject.upn])),
            );
            let typ = if kind == K::InviteUser {
                "Guest"
            } else {
                "Member"
            };
            mp(out, "UserType", Some(b"[]"), Some(&jlist(tmp, &[typ])));
            mp(
                out,
                "Included Updated Properties",
                None,
                Some(b"\"AccountEnabled, DisplayName, UserPrincipalName, UserType\""),
            );
            target_end(out);
        }
        K::UpdateUser => {
            user_target(out, subject);
            match rng.below(3) {
                0 => {
                    let new_dept = rng.pick(data::DEPARTMENTS);
                    mp(
                        out,
                        "Department",
                        Some(&jlist(tmp, &[subject.department])),
                        Some(&jlist(tmp, &[new_dept])),
                    );
                    let new_title = rng.pick(data::JOB_TITLES);
                    mp(
                        out,
                        "JobTitle",
                        Some(&jlist(tmp, &[subject.title])),
                        Some(&jlist(tmp, &[new_title])),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"Department, JobTitle\""),
                    );
                }
                1 => {
                    mp(out, "StrongAuthenticationMethod", Some(b"[]"), Some(b"[{\"MethodType\":6,\"Default\":true},{\"MethodType\":7,\"Default\":false}]"));
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"StrongAuthenticationMethod\""),
                    );
                }
                _ => {
                    mp(out, "AccountEnabled", Some(b"[true]"), Some(b"[false]"));
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AccountEnabled\""),
                    );
                }
            }
            target_end(out);
        }
        K::DeleteUser
        | K::ResetUserPassword
        | K::ChangeUserPassword
        | K::SsprReset
        | K::SsprChange
        | K::AdminReset => {
            user_target(out, subject);
            target_end(out);
        }
        K::AddMember | K::RemoveMember | K::AddOwner | K::RemoveOwner => {
            let g = rng.pick(&pop.groups);
            let add = matches!(kind, K::AddMember | K::AddOwner);
            user_target(out, subject);
            let gid = jstr(tmp, &g.id);
            let gname = jstr(tmp, g.name);
            let (old_id, new_id) = if add {
                (None, Some(&gid[..]))
            } else {
                (Some(&gid[..]), None)
            };
            let (old_n, new_n) = if add {
                (None, Some(&gname[..]))
            } else {
                (Some(&gname[..]), None)
            };
            mp(out, "Group.ObjectID", old_id, new_id);
            mp(out, "Group.DisplayName", old_n, new_n);
            target_end(out);
            target_start(out, &g.id, Some(g.name), "Group", None);
            target_end(out);
        }
        K::AddGroup | K::DeleteGroup | K::UpdateGroup | K::GroupLicense => {
            let g = rng.pick(&pop.groups);
            target_start(out, &g.id, Some(g.name), "Group", None);
            match kind {
                K::AddGroup => {
                    mp(
                        out,
                        "DisplayName",
                        Some(b"[]"),
                        Some(&jlist(tmp, &[g.name])),
                    );
                    mp(out, "SecurityEnabled", Some(b"[]"), Some(b"[true]"));
                    mp(out, "MailEnabled", Some(b"[]"), Some(b"[false]"));
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"DisplayName, SecurityEnabled, MailEnabled\""),
                    );
                }
                K::UpdateGroup => {
                    mp(
                        out,
                        "Description",
                        Some(b"[]"),
                        Some(&jlist(tmp, &[&format!("Members of {}", g.name)])),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"Description\""),
                    );
                }
                K::GroupLicense => {
                    let (sku, sku_id) = *rng.pick(data::SKUS);
                    let lic = format!(
                        "[SkuName={sku}, AccountId={}, SkuId={sku_id}, DisabledPlans=[]]",
                        pop.tenant.id
                    );
                    mp(
                        out,
                        "AssignedLicense",
                        Some(b"[]"),
                        Some(&jlist(tmp, &[&lic])),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AssignedLicense\""),
                    );
                }
                _ => {}
            }
            target_end(out);
        }
        K::AddApp
        | K::UpdateApp
        | K::DeleteApp
        | K::AppSecrets
        | K::AddSp
        | K::RemoveSp
        | K::UpdateSp
        | K::SpCredentials => {
            let w = rng.pick(&pop.sps);
            let sp_like = matches!(
                kind,
                K::AddSp | K::RemoveSp | K::UpdateSp | K::SpCredentials
            );
            let typ = if sp_like {
                "ServicePrincipal"
            } else {
                "Application"
            };
            target_start(out, &w.sp_id, Some(&w.name), typ, None);
            match kind {
                K::AddApp | K::AddSp => {
                    mp(out, "AppId", Some(b"[]"), Some(&jlist(tmp, &[&w.app_id])));
                    mp(
                        out,
                        "DisplayName",
                        Some(b"[]"),
                        Some(&jlist(tmp, &[&w.name])),
                    );
                    mp(
                        out,
                        "AvailableToOtherTenants",
                        Some(b"[]"),
                        Some(b"[false]"),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AppId, DisplayName, AvailableToOtherTenants\""),
                    );
                }
                K::UpdateApp if rng.chance(450) => {
                    renamed = true;
                    let new_name = format!("{} (v{})", w.name, 2 + rng.below(4));
                    mp(
                        out,
                        "DisplayName",
                        Some(&jlist(tmp, &[&w.name])),
                        Some(&jlist(tmp, &[&new_name])),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"DisplayName\""),
                    );
                }
                K::UpdateApp => {
                    let uri = format!(
                        "https://{}.{}/auth/callback",
                        w.name.to_ascii_lowercase().replace(' ', "-"),
                        pop.tenant.domain
                    );
                    let addr = format!(
                        "[{{\"AddressType\":0,\"Address\":\"{uri}\",\"ReplyAddressClientType\":1,\"ReplyAddressIndex\":null,\"IsReplyAddressDefault\":false}}]"
                    );
                    mp(out, "AppAddress", Some(b"[]"), Some(addr.as_bytes()));
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AppAddress\""),
                    );
                }
                K::AppSecrets | K::SpCredentials => {
                    let kt = if kind == K::AppSecrets {
                        "Password"
                    } else {
                        "AsymmetricX509Cert"
                    };
                    let old = format!(
                        "[KeyIdentifier={},KeyType={kt},KeyUsage=Verify,DisplayName=rotation-{}]",
                        w.key_id,
                        rng.range(2023, 2024)
                    );
                    let new = format!(
                        "[KeyIdentifier={},KeyType={kt},KeyUsage=Verify,DisplayName=rotation-2025]",
                        crate::population::random_guid(rng)
                    );
                    mp(
                        out,
                        "KeyDescription",
                        Some(&jlist(tmp, &[&old])),
                        Some(&jlist(tmp, &[&old, &new])),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"KeyDescription\""),
                    );
                }
                K::UpdateSp => {
                    mp(out, "AccountEnabled", Some(b"[true]"), Some(b"[true]"));
                    mp(
                        out,
                        "Tags",
                        Some(b"[]"),
                        Some(b"[\"WindowsAzureActiveDirectoryIntegratedApp\"]"),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AccountEnabled, Tags\""),
                    );
                }
                _ => {}
            }
            if sp_like {
                let spn = format!(
                    "{};https://{}/{}",
                    w.app_id,
                    pop.tenant.onmicrosoft,
                    w.name.replace(' ', "")
                );
                mp(
                    out,
                    "TargetId.ServicePrincipalNames",
                    None,
                    Some(&jstr(tmp, &spn)),
                );
            }
            target_end(out);
        }
        K::Consent | K::DelegatedGrant => {
            let w = rng.pick(&pop.sps);
            let scope = rng.pick(data::DELEGATED_SCOPES);
            target_start(out, &w.sp_id, Some(&w.name), "ServicePrincipal", None);
            if kind == K::Consent {
                admin_consent = matches!(init, Init::User(u) if u.role.is_some());
                let flag = if admin_consent { "True" } else { "False" };
                mp(
                    out,
                    "ConsentContext.IsAdminConsent",
                    None,
                    Some(&jstr(tmp, flag)),
                );
                mp(out, "ConsentContext.IsAppOnly", None, Some(b"\"False\""));
                mp(
                    out,
                    "ConsentContext.OnBehalfOfAll",
                    None,
                    Some(&jstr(tmp, flag)),
                );
                mp(
                    out,
                    "ConsentContext.Tags",
                    None,
                    Some(b"\"WindowsAzureActiveDirectoryIntegratedApp\""),
                );
                let ctype = if admin_consent {
                    "AllPrincipals"
                } else {
                    "Principal"
                };
                let perms = format!(
                    "[] => [[Id: {}, ClientId: {}, PrincipalId: {}, ResourceId: {}, ConsentType: {ctype}, Scope: {scope}, CreatedDateTime: , LastModifiedDateTime ]]; ",
                    crate::population::random_guid(rng),
                    w.sp_id,
                    if admin_consent {
                        ""
                    } else {
                        subject.id.as_str()
                    },
                    pop.app_ids[4].1,
                );
                mp(
                    out,
                    "ConsentAction.Permissions",
                    None,
                    Some(&jstr(tmp, &perms)),
                );
                mp(
                    out,
                    "TargetId.ServicePrincipalNames",
                    None,
                    Some(&jstr(tmp, &w.app_id)),
                );
            } else {
                mp(
                    out,
                    "DelegatedPermissionGrant.Scope",
                    None,
                    Some(&jstr(tmp, &format!(" {scope}"))),
                );
                mp(
                    out,
                    "DelegatedPermissionGrant.ConsentType",
                    None,
                    Some(b"\"AllPrincipals\""),
                );
                mp(
                    out,
                    "ServicePrincipal.ObjectID",
                    None,
                    Some(&jstr(tmp, &w.sp_id)),
                );
            }
            target_end(out);
        }
        K::AppRoleAssignment => {
            let w = rng.pick(&pop.sps);
            let (role, role_id) = *rng.pick(data::APP_ROLES);
            target_start(
                out,
                &w.sp_id,
                Some("Microsoft Graph"),
                "ServicePrincipal",
                None,
            );
            mp(out, "AppRole.Id", None, Some(&jstr(tmp, role_id)));
            mp(out, "AppRole.Value", None, Some(&jstr(tmp, role)));
            mp(
                out,
                "AppRole.DisplayName",
                None,
                Some(&jstr(tmp, &format!("{role} (application permission)"))),
            );
            mp(
                out,
                "ServicePrincipal.DisplayName",
                None,
                Some(&jstr(tmp, &w.name)),
            );
            mp(
                out,
                "ServicePrincipal.ObjectID",
                None,
                Some(&jstr(tmp, &w.sp_id)),
            );
            target_end(out);
        }
        K::AddRoleMember | K::RemoveRoleMember => {
            let r = rng.idx(data::ROLES.len());
            let (role, template) = data::ROLES[r];
            let add = kind == K::AddRoleMember;
            user_target(out, subject);
            let (rid, rname, rtemplate) = (
                jstr(tmp, &pop.role_ids[r]),
                jstr(tmp, role),
                jstr(tmp, template),
            );
            let pick = |v: &[u8]| -> (Option<Vec<u8>>, Option<Vec<u8>>) {
                if add {
                    (None, Some(v.to_vec()))
                } else {
                    (Some(v.to_vec()), None)
                }
            };
            for (name, v) in [
                ("Role.ObjectID", &rid),
                ("Role.DisplayName", &rname),
                ("Role.TemplateId", &rtemplate),
            ] {
                let (o, n) = pick(v);
                mp(out, name, o.as_deref(), n.as_deref());
            }
            target_end(out);
            target_start(out, &pop.role_ids[r], Some(role), "Role", None);
            target_end(out);
        }
        K::ChangeLicense => {
            user_target(out, subject);
            let (sku, sku_id) = *rng.pick(data::SKUS);
            let lic = format!(
                "[SkuName={sku}, AccountId={}, SkuId={sku_id}, DisabledPlans=[]]",
                pop.tenant.id
            );
            mp(
                out,
                "AssignedLicense",
                Some(b"[]"),
                Some(&jlist(tmp, &[&lic])),
            );
            let plan = format!(
                "[SubscribedPlanId={}, ServiceInstance=exchange/{}, CapabilityStatus=Enabled, AssignedTimestamp=, InitialState=, Capability=, ServicePlanId=efb87545-963c-4e0d-99df-69c6916d9eb0]",
                crate::population::random_guid(rng),
                pop.tenant.onmicrosoft
            );
            mp(
                out,
                "AssignedPlan",
                Some(b"[]"),
                Some(&jlist(tmp, &[&plan])),
            );
            mp(
                out,
                "Included Updated Properties",
                None,
                Some(b"\"AssignedLicense, AssignedPlan\""),
            );
            target_end(out);
        }
        K::AddCaPolicy | K::UpdateCaPolicy | K::UpdatePolicy => {
            let p = rng.pick(&pop.ca);
            let (pname, _, _) = data::CA_POLICIES[p.index];
            target_start(out, &p.id, Some(pname), "Policy", None);
            let policy = |state: &str| {
                format!(
                    "{{\"id\":\"{}\",\"displayName\":\"{pname}\",\"state\":\"{state}\",\"conditions\":{{\"applications\":{{\"includeApplications\":[\"All\"]}},\"users\":{{\"includeUsers\":[\"All\"],\"excludeGroups\":[\"{}\"]}}}}}}",
                    p.id, pop.groups[12].id
                )
            };
            let name = if kind == K::UpdatePolicy {
                "AuthorizationPolicy"
            } else {
                "ConditionalAccessPolicy"
            };
            let old = (kind != K::AddCaPolicy)
                .then(|| jstr(tmp, &policy("enabledForReportingButNotEnforced")));
            let new = jstr(tmp, &policy("enabled"));
            mp(out, name, old.as_deref(), Some(&new));
            target_end(out);
        }
        K::AddDevice | K::UpdateDevice | K::DeleteDevice | K::AddDeviceOwner => {
            let d = subject.devices.iter().find(|d| !d.id.is_empty());
            let (did, dname, os) = match d {
                Some(d) => (d.id.as_str(), d.name.as_str(), d.kind.os),
                None => ("00000000-0000-0000-0000-000000000000", "", "Windows10"),
            };
            target_start(out, did, Some(dname), "Device", None);
            match kind {
                K::AddDevice => {
                    mp(out, "AccountEnabled", Some(b"[]"), Some(b"[true]"));
                    mp(out, "DeviceOSType", Some(b"[]"), Some(&jlist(tmp, &[os])));
                    mp(out, "DisplayName", Some(b"[]"), Some(&jlist(tmp, &[dname])));
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"AccountEnabled, DeviceOSType, DisplayName\""),
                    );
                }
                K::UpdateDevice => {
                    mp(
                        out,
                        "ApproximateLastLogonTimestamp",
                        Some(b"[\"2025-01-01T08:00:00Z\"]"),
                        Some(b"[\"2025-01-06T08:00:00Z\"]"),
                    );
                    mp(
                        out,
                        "Included Updated Properties",
                        None,
                        Some(b"\"ApproximateLastLogonTimestamp\""),
                    );
                }
                _ => {}
            }
            target_end(out);
            if kind == K::AddDeviceOwner {
                user_target(out, subject);
                target_end(out);
            }
        }
    }
    (admin_consent, renamed)
}
