//! Directory audits → an IAM class chosen from the activity (table in
//! `docs/schema-ecs-ocsf.md`): Account Change for changes to a user account, Group Management for
//! group membership, User Access Management for roles, consent, app role and permission grants
//! and licences, Entity Management for everything else (applications, devices, policies…).

use super::*;
use crate::kinds::audit::{Audit, Initiator, Target};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Choice {
    Account(u32),
    Group(u32),
    Access(u32),
    Entity(u32),
}

fn classify(a: &Audit<'_>) -> Choice {
    let name = a
        .activity_display_name
        .map(|n| n.decode().to_ascii_lowercase())
        .unwrap_or_default();
    let has = |s: &str| name.contains(s);
    let category = |c: &str| a.category.is_some_and(|x| x.eq_ignore_case(c));
    let removal = has("remove") || has("delete") || has("revoke");
    if category("RoleManagement") || has("member to role") || has("member from role") {
        return Choice::Access(if removal { 2 } else { 1 });
    }
    if has("consent to application") {
        return Choice::Access(1);
    }
    if has("app role assignment") || has("permission grant") || has("license") {
        return Choice::Access(if removal { 2 } else { 1 });
    }
    if has("member to group") || has("owner to group") {
        return Choice::Group(3);
    }
    if has("member from group") || has("owner from group") {
        return Choice::Group(4);
    }
    let user_target = a
        .targets
        .first()
        .and_then(|t| t.kind)
        .is_some_and(|k| k.eq_ignore_case("User"));
    if category("UserManagement") || (category("") && user_target) {
        let activity = if has("password") && has("reset") {
            4
        } else if has("password") {
            3
        } else if has("security info") {
            if removal { 11 } else { 10 }
        } else if name == "add user" || has("create user") {
            1
        } else if has("delete user") {
            6
        } else if has("enable account") {
            2
        } else if has("disable account") {
            5
        } else {
            99
        };
        return Choice::Account(activity);
    }
    let op = a.operation_type;
    let is = |s: &str| op.is_some_and(|o| o.eq_ignore_case(s));
    Choice::Entity(if is("Add") || is("Create") {
        1
    } else if is("Update") {
        3
    } else if is("Delete") {
        4
    } else {
        99
    })
}

pub(super) fn encode(record: &Record<'_>, a: &Audit<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let outcome = record.outcome();
    let mut choice = classify(a);
    let group_target = a
        .targets
        .iter()
        .find(|t| t.kind.is_some_and(|k| k.eq_ignore_case("Group")));
    let group_id = a
        .modified_property("Group.ObjectID")
        .and_then(|m| m.new_text().or(m.old_text()));
    let group_name = a
        .modified_property("Group.DisplayName")
        .and_then(|m| m.new_text().or(m.old_text()));
    if matches!(choice, Choice::Group(_))
        && group_target.is_none()
        && group_id.is_none()
        && group_name.is_none()
    {
        // Membership of something we cannot name as a group: record it as an entity change.
        choice = Choice::Entity(3);
    }
    let (class, act) = match choice {
        Choice::Account(x) => (&ACCOUNT_CHANGE, x),
        Choice::Group(x) => (&GROUP_MANAGEMENT, x),
        Choice::Access(x) => (&USER_ACCESS, x),
        Choice::Entity(x) => (&ENTITY_MANAGEMENT, x),
    };
    let activity = if act == 99 {
        Activity::Other(a.activity_display_name)
    } else {
        Activity::Id(act)
    };
    let mut o = ObjectWriter::new(out);
    write_header(&mut o, record, ctx, class, activity, severity_for(outcome));
    write_status(&mut o, outcome);
    o.opt_str_nonempty("status_detail", a.result_reason);
    o.opt_str_nonempty("message", a.activity_display_name);

    let initiator = initiator_user(&a.initiated_by);
    let member = a.targets.iter().find(|t| {
        !t.kind
            .is_some_and(|k| k.eq_ignore_case("Group") || k.eq_ignore_case("Role"))
    });
    match choice {
        Choice::Account(_) => {
            let target = a
                .targets
                .iter()
                .find(|t| t.kind.is_some_and(|k| k.eq_ignore_case("User")))
                .or(a.targets.first());
            let user = target.map(target_user).unwrap_or(initiator);
            write_user(&mut o, "user", &user, Some("unknown"));
        }
        Choice::Group(_) => {
            write_user(
                &mut o,
                "user",
                &member.map(target_user).unwrap_or_default(),
                Some("unknown"),
            );
            o.object("group", |g| match group_target {
                Some(t) => {
                    g.opt_str_nonempty("name", t.display_name);
                    g.opt_str_nonempty("uid", t.id);
                }
                None => {
                    if let Some(n) = &group_name {
                        g.str("name", n);
                    }
                    if let Some(id) = &group_id {
                        g.str("uid", id);
                    }
                }
            });
        }
        Choice::Access(_) => {
            let consent = a
                .activity_display_name
                .is_some_and(|n| n.decode().to_ascii_lowercase().contains("consent"));
            let user = if consent && !initiator.is_empty() {
                initiator
            } else {
                member.map(target_user).unwrap_or(initiator)
            };
            write_user(&mut o, "user", &user, Some("unknown"));
            write_privileges(&mut o, a, act == 2);
        }
        Choice::Entity(_) => write_entity(&mut o, a),
    }
    match a.initiated_by {
        Initiator::User { .. } => o.object("actor", |w| write_user(w, "user", &initiator, None)),
        Initiator::App {
            app_id,
            display_name,
            service_principal_id,
            ..
        } => o.object("actor", |w| {
            w.opt_str_nonempty("app_name", display_name);
            w.opt_str_nonempty("app_uid", app_id.or(service_principal_id));
        }),
        Initiator::Unknown => false,
    };
    let ip = match a.initiated_by {
        Initiator::User { ip_address, .. } => ip_address,
        _ => None,
    };
    write_endpoint(
        &mut o,
        "src_endpoint",
        ip.or(record.envelope().caller_ip_address),
        None,
        false,
    );
    let props = record.properties();
    write_unmapped(&mut o, record, |u| {
        u.opt_str_nonempty("audit_category", a.category);
        u.opt_str_nonempty("operation_type", a.operation_type);
        u.opt_str_nonempty("logged_by_service", a.logged_by_service);
        copy_prop(u, props, "targetResources", "target_resources");
        copy_prop(u, props, "additionalDetails", "additional_details");
    });
    o.finish();
}

fn initiator_user<'a>(i: &Initiator<'a>) -> User<'a> {
    match *i {
        Initiator::User {
            id,
            user_principal_name,
            display_name,
            ..
        } => User {
            uid: id,
            name: user_principal_name,
            full_name: display_name,
            type_id: 1,
            type_name: None,
        },
        _ => User::default(),
    }
}

fn target_user<'a>(t: &Target<'a>) -> User<'a> {
    let kind = t.kind;
    let is_user = kind.is_none_or(|k| k.eq_ignore_case("User"));
    User {
        uid: t.id,
        name: t.user_principal_name.or(t.display_name),
        full_name: t.display_name,
        type_id: if is_user { 1 } else { 99 },
        type_name: match kind {
            _ if is_user => None,
            Some(k) if k.eq_ignore_case("ServicePrincipal") => Some("Service Principal"),
            Some(k) if k.eq_ignore_case("Device") => Some("Device"),
            _ => Some("Other"),
        },
    }
}

/// `privileges`: the role, app role, permission scopes or licence the change is about, taken
/// from its modified properties, else the role target's name, else the activity.
fn write_privileges(o: &mut ObjectWriter<'_>, a: &Audit<'_>, removed: bool) {
    const NAMES: [&str; 6] = [
        "Role.DisplayName",
        "AppRole.Value",
        "AppRole.DisplayName",
        "DelegatedPermissionGrant.Scope",
        "ConsentAction.Permissions",
        "AssignedLicense",
    ];
    let from_props = NAMES.iter().find_map(|n| {
        let m = a.modified_property(n)?;
        if removed {
            m.old_text().or(m.new_text())
        } else {
            m.new_text().or(m.old_text())
        }
    });
    let out = o.key("privileges");
    out.push(b'[');
    match from_props {
        Some(p) => write_str(out, &p),
        None => {
            let role = a
                .targets
                .iter()
                .find(|t| t.kind.is_some_and(|k| k.eq_ignore_case("Role")))
                .and_then(|t| t.display_name);
            match role.or(a.activity_display_name) {
                Some(r) => write_json_str(out, r),
                None => write_str(out, "unknown"),
            }
        }
    }
    out.push(b']');
}

/// `entity`: the first target (id, name, type), else the activity's name.
fn write_entity(o: &mut ObjectWriter<'_>, a: &Audit<'_>) {
    let t = a.targets.first();
    o.object("entity", |e| {
        let name = t.and_then(|t| t.display_name.or(t.user_principal_name));
        let uid = t.and_then(|t| t.id);
        if name.is_none() && uid.is_none() {
            match a.activity_display_name {
                Some(n) => e.opt_json_str("name", Some(n)),
                None => e.str("name", "unknown"),
            }
        }
        e.opt_str_nonempty("name", name);
        e.opt_str_nonempty("uid", uid);
        let kind = t.and_then(|t| t.kind);
        let type_id = match kind {
            Some(k) if k.eq_ignore_case("Device") => 1,
            Some(k) if k.eq_ignore_case("User") => 2,
            Some(k) if k.eq_ignore_case("Group") => 3,
            Some(k) if k.eq_ignore_case("Policy") => 5,
            Some(_) => 99,
            None => 0,
        };
        e.u64("type_id", type_id);
        e.opt_str_nonempty("type", kind);
    });
}
