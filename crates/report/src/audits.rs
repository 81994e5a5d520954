//! Audit questions: users, groups, applications, consent and administrators' actions.

use std::collections::{BTreeMap, HashMap};

use entrastream_entra::Record;
use entrastream_entra::kinds::{Audit, Initiator};

use crate::answer::{Answer, Cell, Table};
use crate::classify::{self, AuditKind, PasswordBy};
use crate::names::{Names, SmallCount, bump};
use crate::signins::count_table;

/// Renames and consents are listed one per distinct (old, new) / (app, who, scopes) with a
/// count; beyond this many distinct rows the rest are only counted.
const MAX_DISTINCT_ROWS: usize = 10_000;
const CAP_INITIATOR_ACTIVITIES: usize = 16;

#[derive(Debug, Default)]
struct Activity {
    kind: Option<AuditKind>,
    success: u64,
    failure: u64,
}

#[derive(Debug, Default)]
struct InitiatorStats {
    is_app: bool,
    success: u64,
    failure: u64,
    activities: SmallCount<u32>,
}

/// Success and failure counts.
#[derive(Debug, Default, Clone, Copy)]
struct Sf(u64, u64);

impl Sf {
    fn add(&mut self, ok: bool) {
        if ok { self.0 += 1 } else { self.1 += 1 }
    }
}

#[derive(Debug, Default)]
pub struct Audits {
    activities: HashMap<u32, Activity>,
    user_kinds: BTreeMap<AuditKind, Sf>,
    user_properties: HashMap<u32, u64>,
    users_changed: HashMap<u32, u64>,
    passwords: BTreeMap<(AuditKind, PasswordBy), Sf>,
    initiators: HashMap<u32, InitiatorStats>,
    groups: HashMap<(AuditKind, u32), u64>,
    group_kinds: BTreeMap<AuditKind, Sf>,
    licenses: HashMap<(&'static str, u32), u64>,
    license_kinds: BTreeMap<AuditKind, Sf>,
    apps: HashMap<(AuditKind, u32), u64>,
    sps: HashMap<(AuditKind, u32), u64>,
    renames: HashMap<(&'static str, u32, u32), u64>,
    renames_total: u64,
    consents: HashMap<(u32, &'static str, u32, u32), u64>,
    consent_kinds: BTreeMap<&'static str, u64>,
    consent_failures: u64,
}

fn dec(s: Option<entrastream_entra::json::JsonStr<'_>>) -> Option<String> {
    s.map(|s| s.decode().into_owned())
}

/// A readable initiator name and whether it is an application.
fn initiator(a: &Audit<'_>) -> Option<(String, bool)> {
    match a.initiated_by {
        Initiator::User {
            user_principal_name,
            display_name,
            id,
            ..
        } => dec(user_principal_name.or(display_name).or(id)).map(|n| (n, false)),
        Initiator::App {
            display_name,
            service_principal_name,
            app_id,
            service_principal_id,
        } => dec(display_name
            .or(service_principal_name)
            .or(app_id)
            .or(service_principal_id))
        .map(|n| (n, true)),
        Initiator::Unknown => None,
    }
}

impl Audits {
    pub fn observe(&mut self, names: &mut Names, _r: &Record<'_>, a: &Audit<'_>) {
        let c = classify::classify(a);
        let ok = a.result.is_none_or(|r| r.eq_ignore_case("success"));
        let activity = dec(a.activity_display_name).unwrap_or_else(|| "(no activity name)".into());
        let act_id = names.id(&activity);
        let e = self.activities.entry(act_id).or_default();
        e.kind = Some(c.kind);
        if ok {
            e.success += 1
        } else {
            e.failure += 1
        }
        if let Some((who, is_app)) = initiator(a) {
            let i = self.initiators.entry(names.id(&who)).or_default();
            i.is_app = is_app;
            if ok {
                i.success += 1
            } else {
                i.failure += 1
            }
            i.activities.add(act_id, CAP_INITIATOR_ACTIVITIES);
        }
        let kind = c.kind;
        if kind.is_user_change() {
            self.user_kinds.entry(kind).or_default().add(ok);
            if ok {
                if let Some(u) = classify::target_of(a, "User").and_then(classify::target_name) {
                    bump(&mut self.users_changed, names.id(&u.to_ascii_lowercase()));
                }
                if kind == AuditKind::UserUpdated {
                    for p in classify::changed_properties(a) {
                        bump(&mut self.user_properties, names.id(&p));
                    }
                }
            }
        }
        if let Some(by) = c.password_by {
            self.passwords.entry((kind, by)).or_default().add(ok);
        }
        use AuditKind::*;
        match kind {
            GroupAdded | GroupDeleted | GroupUpdated | GroupMemberAdded | GroupMemberRemoved
            | GroupOwnerAdded | GroupOwnerRemoved => {
                self.group_kinds.entry(kind).or_default().add(ok);
                if ok {
                    let g = classify::group_name(a).unwrap_or_else(|| "(unknown group)".into());
                    bump(&mut self.groups, (kind, names.id(&g)));
                }
            }
            _ => {}
        }
        if matches!(kind, UserLicenseChanged | GroupLicenseAssigned) {
            self.license_kinds.entry(kind).or_default().add(ok);
            if ok {
                let to = if kind == GroupLicenseAssigned {
                    "group"
                } else {
                    "user"
                };
                let skus = classify::assigned_skus(a);
                if skus.is_empty() {
                    bump(&mut self.licenses, (to, names.id("(unspecified)")));
                }
                for s in skus {
                    bump(&mut self.licenses, (to, names.id(&s)));
                }
            }
        }
        if !ok {
            if kind == ConsentGranted {
                self.consent_failures += 1;
            }
            return;
        }
        let app_name = |names: &mut Names, typ: &str| {
            let n = classify::target_of(a, typ)
                .or(a.targets.first())
                .and_then(classify::target_name)
                .unwrap_or_else(|| "(unknown)".into());
            names.id(&n)
        };
        match kind {
            AppAdded | AppUpdated | AppCredentialsChanged | AppRemoved => {
                let n = app_name(names, "Application");
                bump(&mut self.apps, (kind, n));
            }
            k if k.is_service_principal_change() => {
                let n = app_name(names, "ServicePrincipal");
                bump(&mut self.sps, (kind, n));
            }
            _ => {}
        }
        if matches!(kind, AppUpdated | ServicePrincipalUpdated)
            && let Some((old, new)) = classify::rename(a)
        {
            self.renames_total += 1;
            let what = if kind == AppUpdated {
                "application"
            } else {
                "service_principal"
            };
            let key = (what, names.id(&old), names.id(&new));
            if self.renames.len() < MAX_DISTINCT_ROWS || self.renames.contains_key(&key) {
                bump(&mut self.renames, key);
            }
        }
        if kind == ConsentGranted {
            let consent = classify::consent(a);
            let typ = match consent.admin {
                Some(true) => "admin",
                Some(false) => "user",
                None => "unknown",
            };
            *self.consent_kinds.entry(typ).or_insert(0) += 1;
            let app = app_name(names, "ServicePrincipal");
            let who = initiator(a).map_or_else(|| "(unknown)".into(), |(n, _)| n);
            let key = (
                app,
                typ,
                names.id(&who),
                names.id(&consent.permissions.join(" ")),
            );
            if self.consents.len() < MAX_DISTINCT_ROWS || self.consents.contains_key(&key) {
                bump(&mut self.consents, key);
            }
        }
    }

    fn kinds_table(name: &'static str, kinds: &BTreeMap<AuditKind, Sf>) -> Table {
        let mut t = Table::new(name, &["kind", "success", "failure"]);
        for (k, sf) in kinds {
            t.row(vec![k.as_str().into(), sf.0.into(), sf.1.into()]);
        }
        t
    }

    fn activities_where(&self, names: &Names, f: impl Fn(AuditKind) -> bool, top: usize) -> Table {
        let mut v: Vec<(&u32, &Activity)> = self
            .activities
            .iter()
            .filter(|(_, a)| a.kind.is_some_and(&f))
            .collect();
        v.sort_by(|x, y| {
            (y.1.success + y.1.failure)
                .cmp(&(x.1.success + x.1.failure))
                .then_with(|| names.name(*x.0).cmp(names.name(*y.0)))
        });
        let mut t = Table::new("activities", &["activity", "kind", "success", "failure"]);
        for (n, act) in v {
            t.row(vec![
                names.name(*n).into(),
                act.kind.map_or("other", AuditKind::as_str).into(),
                act.success.into(),
                act.failure.into(),
            ]);
        }
        t.truncate(top);
        t
    }

    fn sum(kinds: &BTreeMap<AuditKind, Sf>, k: AuditKind) -> u64 {
        kinds.get(&k).map_or(0, |s| s.0)
    }

    pub fn user_update_types(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.user_kinds.is_empty() {
            return a;
        }
        a.table(Self::kinds_table("by_kind", &self.user_kinds));
        a.table(self.activities_where(names, AuditKind::is_user_change, top));
        let props = self.user_properties.iter().map(|(k, v)| (*k, *v));
        a.table(count_table(
            "updated_properties",
            "property",
            props,
            names,
            top,
        ));
        a
    }

    pub fn users_changed(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.user_kinds.is_empty() {
            return a;
        }
        a.fact("users_changed", self.users_changed.len() as u64);
        a.fact(
            "changes",
            self.user_kinds.values().map(|s| s.0).sum::<u64>(),
        );
        a.fact(
            "failed_changes",
            self.user_kinds.values().map(|s| s.1).sum::<u64>(),
        );
        let users = self.users_changed.iter().map(|(k, v)| (*k, *v));
        let mut t = count_table("most_changed_users", "user", users, names, top);
        t.columns[1] = "changes";
        a.table(t);
        a
    }

    pub fn passwords_changed(&self) -> Answer {
        let mut a = Answer::default();
        if self.passwords.is_empty() {
            return a;
        }
        let total = |k: AuditKind| -> u64 {
            self.passwords
                .iter()
                .filter(|((x, _), _)| *x == k)
                .map(|(_, s)| s.0)
                .sum()
        };
        let by = |b: PasswordBy| -> u64 {
            self.passwords
                .iter()
                .filter(|((_, x), _)| *x == b)
                .map(|(_, s)| s.0)
                .sum()
        };
        a.fact("changes", total(AuditKind::PasswordChanged));
        a.fact("resets", total(AuditKind::PasswordReset));
        a.fact("self_service", by(PasswordBy::SelfService));
        a.fact("by_admin", by(PasswordBy::Admin));
        a.fact("failed", self.passwords.values().map(|s| s.1).sum::<u64>());
        let mut t = Table::new("by_kind", &["operation", "by", "success", "failure"]);
        for ((k, b), sf) in &self.passwords {
            let op = if *k == AuditKind::PasswordChanged {
                "change"
            } else {
                "reset"
            };
            t.row(vec![op.into(), b.as_str().into(), sf.0.into(), sf.1.into()]);
        }
        a.table(t);
        a
    }

    pub fn admin_actions(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.initiators.is_empty() && self.activities.is_empty() {
            return a;
        }
        a.fact("initiators", self.initiators.len() as u64);
        let mut v: Vec<(&u32, &InitiatorStats)> = self.initiators.iter().collect();
        v.sort_by(|x, y| {
            (y.1.success + y.1.failure)
                .cmp(&(x.1.success + x.1.failure))
                .then_with(|| names.name(*x.0).cmp(names.name(*y.0)))
        });
        let mut t = Table::new(
            "initiators",
            &["initiator", "type", "actions", "failures", "top_activities"],
        );
        for (n, s) in v {
            let mut acts = s.activities.items.clone();
            acts.sort_by(|x, y| {
                y.1.cmp(&x.1)
                    .then_with(|| names.name(x.0).cmp(names.name(y.0)))
            });
            let list: Vec<String> = acts
                .iter()
                .take(3)
                .map(|(k, c)| format!("{} ({c})", names.name(*k)))
                .collect();
            t.row(vec![
                names.name(*n).into(),
                if s.is_app { "application" } else { "user" }.into(),
                (s.success + s.failure).into(),
                s.failure.into(),
                list.join("; ").into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a.table(self.activities_where(names, |_| true, top));
        a
    }

    fn group_answer(
        &self,
        names: &Names,
        kinds: &[AuditKind],
        cols: &[&'static str],
        top: usize,
    ) -> Answer {
        let mut a = Answer::default();
        let present: BTreeMap<AuditKind, Sf> = self
            .group_kinds
            .iter()
            .filter(|(k, _)| kinds.contains(k))
            .map(|(k, v)| (*k, *v))
            .collect();
        if present.is_empty() {
            return a;
        }
        for (k, col) in kinds.iter().zip(cols) {
            a.fact(col, Self::sum(&present, *k));
        }
        a.fact("failed", present.values().map(|s| s.1).sum::<u64>());
        let mut per: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for ((k, g), n) in &self.groups {
            if let Some(i) = kinds.iter().position(|x| x == k) {
                per.entry(*g).or_insert_with(|| vec![0; kinds.len()])[i] += n;
            }
        }
        let mut rows: Vec<(u32, Vec<u64>)> = per.into_iter().collect();
        rows.sort_by(|x, y| {
            y.1.iter()
                .sum::<u64>()
                .cmp(&x.1.iter().sum::<u64>())
                .then_with(|| names.name(x.0).cmp(names.name(y.0)))
        });
        let mut columns = vec!["group"];
        columns.extend_from_slice(cols);
        let mut t = Table::new("groups", &columns);
        for (g, counts) in rows {
            let mut row = vec![Cell::text(names.name(g))];
            row.extend(counts.into_iter().map(Cell::Int));
            t.row(row);
        }
        t.truncate(top);
        a.table(t);
        a
    }

    pub fn groups_added(&self, names: &Names, top: usize) -> Answer {
        use AuditKind::*;
        self.group_answer(
            names,
            &[GroupAdded, GroupUpdated, GroupDeleted],
            &["added", "updated", "deleted"],
            top,
        )
    }
    pub fn group_membership_changes(&self, names: &Names, top: usize) -> Answer {
        use AuditKind::*;
        self.group_answer(
            names,
            &[GroupMemberAdded, GroupMemberRemoved],
            &["members_added", "members_removed"],
            top,
        )
    }
    pub fn group_owner_changes(&self, names: &Names, top: usize) -> Answer {
        use AuditKind::*;
        self.group_answer(
            names,
            &[GroupOwnerAdded, GroupOwnerRemoved],
            &["owners_added", "owners_removed"],
            top,
        )
    }

    pub fn licenses_assigned(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.license_kinds.is_empty() {
            return a;
        }
        a.fact(
            "to_users",
            Self::sum(&self.license_kinds, AuditKind::UserLicenseChanged),
        );
        a.fact(
            "to_groups",
            Self::sum(&self.license_kinds, AuditKind::GroupLicenseAssigned),
        );
        a.fact(
            "failed",
            self.license_kinds.values().map(|s| s.1).sum::<u64>(),
        );
        let mut v: Vec<(&(&'static str, u32), &u64)> = self.licenses.iter().collect();
        v.sort_by(|x, y| {
            y.1.cmp(x.1)
                .then_with(|| x.0.0.cmp(y.0.0))
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
        });
        let mut t = Table::new("skus", &["assigned_to", "sku", "count"]);
        for ((to, sku), n) in v {
            t.row(vec![(*to).into(), names.name(*sku).into(), (*n).into()]);
        }
        t.truncate(top);
        a.table(t);
        a
    }

    fn object_answer(
        &self,
        names: &Names,
        map: &HashMap<(AuditKind, u32), u64>,
        kinds: &[AuditKind],
        label: &'static str,
        top: usize,
    ) -> Answer {
        let mut a = Answer::default();
        let mut totals = vec![0u64; kinds.len()];
        let mut per: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for ((k, o), n) in map {
            if let Some(i) = kinds.iter().position(|x| x == k) {
                totals[i] += n;
                per.entry(*o).or_insert_with(|| vec![0; kinds.len()])[i] += n;
            }
        }
        if per.is_empty() {
            return a;
        }
        for (k, n) in kinds.iter().zip(&totals) {
            a.fact(k.as_str(), *n);
        }
        let mut rows: Vec<(u32, Vec<u64>)> = per.into_iter().collect();
        rows.sort_by(|x, y| {
            y.1.iter()
                .sum::<u64>()
                .cmp(&x.1.iter().sum::<u64>())
                .then_with(|| names.name(x.0).cmp(names.name(y.0)))
        });
        let mut columns = vec![label];
        columns.extend(kinds.iter().map(|k| k.as_str()));
        let mut t = Table::new("objects", &columns);
        for (o, counts) in rows {
            let mut row = vec![Cell::text(names.name(o))];
            row.extend(counts.into_iter().map(Cell::Int));
            t.row(row);
        }
        t.truncate(top);
        a.table(t);
        a
    }

    pub fn apps_added_or_updated(&self, names: &Names, top: usize) -> Answer {
        use AuditKind::*;
        self.object_answer(
            names,
            &self.apps,
            &[AppAdded, AppUpdated, AppCredentialsChanged],
            "application",
            top,
        )
    }
    pub fn apps_removed(&self, names: &Names, top: usize) -> Answer {
        self.object_answer(
            names,
            &self.apps,
            &[AuditKind::AppRemoved],
            "application",
            top,
        )
    }
    pub fn service_principal_changes(&self, names: &Names, top: usize) -> Answer {
        use AuditKind::*;
        let kinds = [
            ServicePrincipalAdded,
            ServicePrincipalUpdated,
            ServicePrincipalCredentialsChanged,
            ServicePrincipalRemoved,
            AppRoleAssigned,
            DelegatedPermissionGranted,
            ConsentRevoked,
        ];
        self.object_answer(names, &self.sps, &kinds, "service_principal", top)
    }

    pub fn app_renames(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.renames_total == 0 {
            return a;
        }
        a.fact("renames", self.renames_total);
        let mut v: Vec<(&(&'static str, u32, u32), &u64)> = self.renames.iter().collect();
        v.sort_by(|x, y| {
            y.1.cmp(x.1)
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
                .then_with(|| names.name(x.0.2).cmp(names.name(y.0.2)))
        });
        let mut t = Table::new("renames", &["object", "old_name", "new_name", "count"]);
        for ((what, old, new), n) in v {
            t.row(vec![
                (*what).into(),
                names.name(*old).into(),
                names.name(*new).into(),
                (*n).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a
    }

    pub fn consent_grants(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.consent_kinds.is_empty() && self.consent_failures == 0 {
            return a;
        }
        for typ in ["admin", "user", "unknown"] {
            a.fact(
                match typ {
                    "admin" => "admin_consents",
                    "user" => "user_consents",
                    _ => "unknown_consents",
                },
                *self.consent_kinds.get(typ).unwrap_or(&0),
            );
        }
        a.fact("failed", self.consent_failures);
        let mut v: Vec<_> = self.consents.iter().collect();
        v.sort_by(|x, y| {
            y.1.cmp(x.1)
                .then_with(|| names.name(x.0.0).cmp(names.name(y.0.0)))
                .then_with(|| names.name(x.0.2).cmp(names.name(y.0.2)))
                .then_with(|| names.name(x.0.3).cmp(names.name(y.0.3)))
        });
        let mut t = Table::new(
            "grants",
            &[
                "app",
                "consent_type",
                "consented_by",
                "permissions",
                "count",
            ],
        );
        for ((app, typ, who, perms), n) in v {
            t.row(vec![
                names.name(*app).into(),
                (*typ).into(),
                names.name(*who).into(),
                names.name(*perms).into(),
                (*n).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a
    }
}
