//! Sign-in questions: `signin_pattern`, `users_signed_in`, `signin_status`, `app_usage`.

use std::collections::{BTreeMap, HashMap, HashSet};

use entrastream_entra::{Category, Record, Timestamp, kinds::SignIn};

use crate::answer::{Answer, Cell, Table};
use crate::names::{Names, SmallCount, bump, sorted_desc};

/// AADSTS codes where Entra stopped to ask the user for something more (a second factor, MFA
/// registration, a new password, "stay signed in?") rather than refusing. The portal shows
/// such sign-ins as "Interrupted"; they usually continue in a following sign-in. Descriptions
/// from Microsoft's AADSTS error-code reference; see docs/report.md.
pub const INTERRUPT_CODES: &[(i64, &str)] = &[
    (16000, "account selection required"),
    (50055, "password expired"),
    (50072, "user must enroll for second factor"),
    (50074, "strong authentication required"),
    (50076, "MFA required by configuration or location"),
    (50079, "user must enroll for MFA"),
    (50097, "device authentication required"),
    (50125, "interrupted by password reset or registration"),
    (50140, "keep me signed in interrupt"),
    (50144, "Active Directory password expired"),
    (50158, "external security challenge not satisfied"),
    (50199, "user confirmation required for security"),
    (81010, "seamless SSO fell back to another method"),
];

/// How a sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Success,
    Failure,
    Interrupted,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Success,
        Status::Failure,
        Status::Interrupted,
        Status::Unknown,
    ];
    pub fn of(code: Option<i64>) -> Status {
        match code {
            Some(0) => Status::Success,
            Some(c) if INTERRUPT_CODES.iter().any(|(i, _)| *i == c) => Status::Interrupted,
            Some(_) => Status::Failure,
            None => Status::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Interrupted => "interrupted",
            Status::Unknown => "unknown",
        }
    }
}

/// Who signed in. Users are counted as users; the other two never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserKind {
    User,
    ServicePrincipal,
    ManagedIdentity,
}

impl UserKind {
    pub const ALL: [UserKind; 3] = [
        UserKind::User,
        UserKind::ServicePrincipal,
        UserKind::ManagedIdentity,
    ];
    pub fn of(c: Category) -> Option<UserKind> {
        match c {
            _ if c.is_user_sign_in() => Some(UserKind::User),
            Category::ServicePrincipalSignInLogs
            | Category::MicrosoftServicePrincipalSignInLogs => Some(UserKind::ServicePrincipal),
            Category::ManagedIdentitySignInLogs => Some(UserKind::ManagedIdentity),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::User => "user",
            UserKind::ServicePrincipal => "service_principal",
            UserKind::ManagedIdentity => "managed_identity",
        }
    }
}

/// The sign-in's code: `status.errorCode`, else the envelope `resultType`.
pub fn error_code(r: &Record<'_>, s: &SignIn<'_>) -> Option<i64> {
    s.error_code
        .or_else(|| r.envelope().result_type.and_then(|t| t.as_i64()))
}

/// Per-user detail caps: enough to describe a pattern, bounded per user.
const CAP_APPS: usize = 8;
const CAP_PLACES: usize = 6;
const CAP_DEVICES: usize = 4;

#[derive(Debug, Default)]
struct UserStats {
    name: u32,
    signins: u32,
    interactive: u32,
    failures: u32,
    interrupted: u32,
    hours: [u32; 24],
    apps: SmallCount<u32>,
    places: SmallCount<u32>,
    devices: SmallCount<u32>,
    clients: SmallCount<u32>,
    first: Option<i64>,
    last: Option<i64>,
}

#[derive(Debug, Default)]
struct AppStats {
    signins: u64,
    failures: u64,
    users: HashSet<u32>,
}

#[derive(Debug, Default)]
struct ErrorStats {
    count: u64,
    reason: Option<u32>,
    by_kind: [u64; 3],
}

/// Accumulates every sign-in question.
#[derive(Debug, Default)]
pub struct SignIns {
    user_index: HashMap<u32, u32>,
    users: Vec<UserStats>,
    by_day: BTreeMap<i64, (u64, HashSet<u32>)>,
    by_hour: [u64; 24],
    interactive: u64,
    non_interactive: u64,
    apps: HashMap<u32, AppStats>,
    workload_apps: HashMap<(UserKind, u32), (u64, u64)>,
    resources: HashMap<u32, u64>,
    places: HashMap<u32, u64>,
    devices: HashMap<u32, u64>,
    browsers: HashMap<u32, u64>,
    clients: HashMap<u32, u64>,
    status: BTreeMap<(UserKind, Status), u64>,
    errors: HashMap<i64, ErrorStats>,
    ca_status: HashMap<u32, u64>,
    ca_policy_failures: HashMap<u32, u64>,
    auth_requirement: HashMap<u32, u64>,
    mfa_methods: HashMap<u32, u64>,
    risk_levels: HashMap<u32, u64>,
}

fn text<'a>(names: &'a Names) -> impl Fn(u32) -> &'a str {
    move |id| names.name(id)
}

pub fn day_text(day: i64) -> String {
    Timestamp::from_unix(day * 86_400, 0)
        .map(|t| t.to_string().chars().take(10).collect())
        .unwrap_or_default()
}

impl SignIns {
    pub fn observe(&mut self, names: &mut Names, r: &Record<'_>, s: &SignIn<'_>) {
        let Some(kind) = UserKind::of(r.category_enum()) else {
            return;
        };
        let code = error_code(r, s);
        let status = Status::of(code);
        *self.status.entry((kind, status)).or_insert(0) += 1;
        if let Some(c) = code.filter(|c| *c != 0) {
            let e = self.errors.entry(c).or_default();
            e.count += 1;
            e.by_kind[kind as usize] += 1;
            if e.reason.is_none() {
                e.reason = s.failure_reason.map(|f| names.id(&f.decode()));
            }
        }
        let app = s
            .app_display_name
            .or(s.app_id)
            .map(|a| names.id(&a.decode()));
        if kind != UserKind::User {
            let who = s
                .service_principal_name
                .or(s.app_display_name)
                .or(s.service_principal_id)
                .map(|n| names.id(&n.decode()));
            if let Some(w) = who {
                let e = self.workload_apps.entry((kind, w)).or_default();
                e.0 += 1;
                e.1 += u64::from(status == Status::Failure);
            }
            return;
        }
        // From here on: people.
        let user_key = s.user_id.or(s.user_principal_name).map(|u| u.decode());
        let user = user_key.map(|key| {
            let key_id = names.id(&key.to_ascii_lowercase());
            let next = self.users.len() as u32;
            let idx = *self.user_index.entry(key_id).or_insert(next);
            if idx == next {
                let label = s.user_principal_name.or(s.user_id).map(|u| u.decode());
                self.users.push(UserStats {
                    name: names.id(label.as_deref().unwrap_or("")),
                    ..UserStats::default()
                });
            }
            idx
        });
        let interactive = r.category_enum() != Category::NonInteractiveUserSignInLogs;
        if interactive {
            self.interactive += 1;
        } else {
            self.non_interactive += 1;
        }
        let secs = r.event_time().map(|t| t.unix_seconds());
        let hour = secs.map(|t| t.rem_euclid(86_400) / 3600);
        if let Some(t) = secs {
            let day = self.by_day.entry(t.div_euclid(86_400)).or_default();
            day.0 += 1;
            if let Some(u) = user {
                day.1.insert(u);
            }
        }
        if let Some(h) = hour {
            self.by_hour[h as usize] += 1;
        }
        let place = place(names, s);
        let device = s.device.operating_system.map(|o| names.id(&o.decode()));
        let client = s.client_app_used.map(|c| names.id(&c.decode()));
        if let Some(a) = app {
            let e = self.apps.entry(a).or_default();
            e.signins += 1;
            e.failures += u64::from(status == Status::Failure);
            if let Some(u) = user {
                e.users.insert(u);
            }
        }
        if let Some(res) = s.resource_display_name {
            bump(&mut self.resources, names.id(&res.decode()));
        }
        for (map, v) in [
            (&mut self.places, place),
            (&mut self.devices, device),
            (&mut self.clients, client),
            (
                &mut self.browsers,
                s.device.browser.map(|b| names.id(&b.decode())),
            ),
        ] {
            if let Some(v) = v {
                bump(map, v);
            }
        }
        if let Some(ca) = s.conditional_access_status {
            bump(&mut self.ca_status, names.id(&ca.decode()));
        }
        for p in &s.applied_policies {
            if p.result.is_some_and(|r| r.eq_ignore_case("failure"))
                && let Some(n) = p.display_name.or(p.id)
            {
                bump(&mut self.ca_policy_failures, names.id(&n.decode()));
            }
        }
        if let Some(req) = s.authentication_requirement {
            bump(&mut self.auth_requirement, names.id(&req.decode()));
        }
        let mut seen: SmallCount<u32> = SmallCount::default();
        for m in s.auth_methods.iter().chain(s.mfa_auth_method.iter()) {
            let id = names.id(&m.decode());
            if !seen.items.iter().any(|(k, _)| *k == id) {
                seen.add(id, 8);
                bump(&mut self.mfa_methods, id);
            }
        }
        if let Some(risk) = s.risk_level_during_sign_in {
            bump(&mut self.risk_levels, names.id(&risk.decode()));
        }
        if let Some(u) = user {
            let us = &mut self.users[u as usize];
            us.signins += 1;
            us.interactive += u32::from(interactive);
            us.failures += u32::from(status == Status::Failure);
            us.interrupted += u32::from(status == Status::Interrupted);
            if let Some(h) = hour {
                us.hours[h as usize] += 1;
            }
            if let Some(a) = app {
                us.apps.add(a, CAP_APPS);
            }
            if let Some(p) = place {
                us.places.add(p, CAP_PLACES);
            }
            if let Some(d) = device {
                us.devices.add(d, CAP_DEVICES);
            }
            if let Some(c) = client {
                us.clients.add(c, CAP_DEVICES);
            }
            if let Some(t) = secs {
                us.first = Some(us.first.map_or(t, |f| f.min(t)));
                us.last = Some(us.last.map_or(t, |l| l.max(t)));
            }
        }
    }

    /// Distinct users who signed in (user sign-in categories only).
    pub fn distinct_users(&self) -> usize {
        self.users.len()
    }

    pub fn signin_pattern(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.users.is_empty() && self.interactive + self.non_interactive == 0 {
            return a;
        }
        a.fact("user_signins", self.interactive + self.non_interactive);
        a.fact("interactive", self.interactive);
        a.fact("non_interactive", self.non_interactive);
        a.fact("distinct_users", self.users.len() as u64);
        let mut users: Vec<&UserStats> = self.users.iter().collect();
        users.sort_by(|x, y| {
            y.signins
                .cmp(&x.signins)
                .then_with(|| names.name(x.name).cmp(names.name(y.name)))
        });
        let mut t = Table::new(
            "users",
            &[
                "user",
                "signins",
                "interactive",
                "non_interactive",
                "failures",
                "interrupted",
                "apps",
                "top_app",
                "top_location",
                "top_os",
                "top_client_app",
                "busiest_hour_utc",
                "first_seen",
                "last_seen",
            ],
        );
        let n = |id: Option<u32>| -> Cell { id.map_or(Cell::Empty, |i| Cell::text(names.name(i))) };
        for u in &users {
            let busiest = u
                .hours
                .iter()
                .enumerate()
                .max_by_key(|(h, c)| (**c, std::cmp::Reverse(*h)))
                .filter(|(_, c)| **c > 0)
                .map(|(h, _)| format!("{h:02}"));
            let time = |t: Option<i64>| -> Cell {
                t.and_then(|t| Timestamp::from_unix(t, 0))
                    .map_or(Cell::Empty, |t| Cell::text(t.to_string()))
            };
            t.row(vec![
                Cell::text(names.name(u.name)),
                u.signins.into(),
                u.interactive.into(),
                (u.signins - u.interactive).into(),
                u.failures.into(),
                u.interrupted.into(),
                (u.apps.len() as u64 + u64::from(u.apps.other > 0)).into(),
                n(u.apps.top()),
                n(u.places.top()),
                n(u.devices.top()),
                n(u.clients.top()),
                busiest.into(),
                time(u.first),
                time(u.last),
            ]);
        }
        t.truncate(top);
        a.table(t);
        let mut day = Table::new("by_day", &["day", "signins"]).charted(1);
        for (d, (count, _)) in &self.by_day {
            day.row(vec![day_text(*d).into(), (*count).into()]);
        }
        a.table(day);
        let mut hour = Table::new("by_hour_utc", &["hour", "signins"]).charted(1);
        for (h, c) in self.by_hour.iter().enumerate() {
            hour.row(vec![format!("{h:02}").into(), (*c).into()]);
        }
        if self.by_hour.iter().any(|c| *c > 0) {
            a.table(hour);
        }
        let apps = self.apps.iter().map(|(k, v)| (*k, v.signins));
        a.table(count_table("apps", "app", apps, names, top));
        a.table(count_table(
            "locations",
            "location",
            self.places.iter().map(|(k, v)| (*k, *v)),
            names,
            top,
        ));
        a.table(count_table(
            "operating_systems",
            "os",
            self.devices.iter().map(|(k, v)| (*k, *v)),
            names,
            top,
        ));
        a.table(count_table(
            "browsers",
            "browser",
            self.browsers.iter().map(|(k, v)| (*k, *v)),
            names,
            top,
        ));
        a.table(count_table(
            "client_apps",
            "client_app",
            self.clients.iter().map(|(k, v)| (*k, *v)),
            names,
            top,
        ));
        a
    }

    pub fn users_signed_in(&self) -> Answer {
        let mut a = Answer::default();
        if self.users.is_empty() {
            return a;
        }
        a.fact("distinct_users", self.users.len() as u64);
        a.fact("days", self.by_day.len() as u64);
        let mut t = Table::new("by_day", &["day", "distinct_users", "signins"]).charted(1);
        for (d, (count, users)) in &self.by_day {
            t.row(vec![
                day_text(*d).into(),
                (users.len() as u64).into(),
                (*count).into(),
            ]);
        }
        a.table(t);
        a
    }

    pub fn signin_status(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.status.is_empty() {
            return a;
        }
        let total = |s: Status| -> u64 {
            self.status
                .iter()
                .filter(|((_, st), _)| *st == s)
                .map(|(_, n)| *n)
                .sum()
        };
        for s in Status::ALL {
            a.fact(s.as_str(), total(s));
        }
        let mut t = Table::new(
            "by_kind",
            &["kind", "success", "failure", "interrupted", "unknown"],
        );
        for k in UserKind::ALL {
            let get = |s| *self.status.get(&(k, s)).unwrap_or(&0);
            if Status::ALL.iter().all(|s| get(*s) == 0) {
                continue;
            }
            let mut row = vec![Cell::text(k.as_str())];
            row.extend(Status::ALL.iter().map(|s| Cell::Int(get(*s))));
            t.row(row);
        }
        a.table(t);
        let mut errs: Vec<(&i64, &ErrorStats)> = self.errors.iter().collect();
        errs.sort_by(|x, y| y.1.count.cmp(&x.1.count).then(x.0.cmp(y.0)));
        let mut t = Table::new(
            "top_error_codes",
            &[
                "error_code",
                "status",
                "count",
                "users",
                "service_principals",
                "managed_identities",
                "reason",
            ],
        );
        for (code, e) in errs {
            t.row(vec![
                Cell::text(code.to_string()),
                Status::of(Some(*code)).as_str().into(),
                e.count.into(),
                e.by_kind[0].into(),
                e.by_kind[1].into(),
                e.by_kind[2].into(),
                e.reason.map(|r| names.name(r).to_owned()).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        let it = |m: &HashMap<u32, u64>| m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>();
        a.table(count_table(
            "conditional_access",
            "status",
            it(&self.ca_status).into_iter(),
            names,
            top,
        ));
        a.table(count_table(
            "conditional_access_policy_failures",
            "policy",
            it(&self.ca_policy_failures).into_iter(),
            names,
            top,
        ));
        a.table(count_table(
            "authentication_requirement",
            "requirement",
            it(&self.auth_requirement).into_iter(),
            names,
            top,
        ));
        a.table(count_table(
            "authentication_methods",
            "method",
            it(&self.mfa_methods).into_iter(),
            names,
            top,
        ));
        a.table(count_table(
            "risk_level_during_signin",
            "risk_level",
            it(&self.risk_levels).into_iter(),
            names,
            top,
        ));
        a
    }

    pub fn app_usage(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.apps.is_empty() && self.workload_apps.is_empty() {
            return a;
        }
        a.fact("apps_used_by_users", self.apps.len() as u64);
        let mut v: Vec<(&u32, &AppStats)> = self.apps.iter().collect();
        v.sort_by(|x, y| {
            y.1.signins
                .cmp(&x.1.signins)
                .then_with(|| names.name(*x.0).cmp(names.name(*y.0)))
        });
        let mut t = Table::new("apps", &["app", "signins", "distinct_users", "failures"]);
        for (app, s) in v {
            t.row(vec![
                names.name(*app).into(),
                s.signins.into(),
                (s.users.len() as u64).into(),
                s.failures.into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a.table(count_table(
            "resources",
            "resource",
            self.resources.iter().map(|(k, v)| (*k, *v)),
            names,
            top,
        ));
        let mut v: Vec<_> = self.workload_apps.iter().collect();
        v.sort_by(|x, y| {
            y.1.0
                .cmp(&x.1.0)
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
        });
        let mut t = Table::new(
            "workload_identities",
            &["identity", "kind", "signins", "failures"],
        );
        for ((kind, who), (n, f)) in v {
            t.row(vec![
                names.name(*who).into(),
                kind.as_str().into(),
                (*n).into(),
                (*f).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);
        a
    }
}

fn place(names: &mut Names, s: &SignIn<'_>) -> Option<u32> {
    let l = &s.location;
    let text = match (l.city, l.country_or_region) {
        (Some(c), Some(cc)) => format!("{}, {}", c.decode(), cc.decode()),
        (None, Some(cc)) => cc.decode().into_owned(),
        (Some(c), None) => c.decode().into_owned(),
        (None, None) => return None,
    };
    Some(names.id(&text))
}

/// A two-column `<label>, count` table sorted by count, top N.
pub fn count_table(
    name: &'static str,
    label: &'static str,
    items: impl Iterator<Item = (u32, u64)>,
    names: &Names,
    top: usize,
) -> Table {
    let mut t = Table::new(name, &[label, "count"]);
    for (k, n) in sorted_desc(items, text(names)) {
        t.row(vec![names.name(k).into(), n.into()]);
    }
    t.truncate(top);
    t
}
