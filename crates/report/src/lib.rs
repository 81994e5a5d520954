//! Owns `entrastream report` and the daemon's IAM-health metrics: the answers an Entra
//! administrator asks of activity logs (who signs in and how, what changed, what provisioning
//! did, who is at risk, which apps call which Graph endpoints), computed from typed records of
//! any input entrastream reads.
//!
//! Main design decision: one streaming accumulator ([`Report`]) observes each record once and
//! keeps only counters keyed by interned names, so memory grows with distinct users, apps and
//! groups, never with records; every answer is then built into one table model
//! ([`answer::Answer`]) that all renderers (text, markdown, csv, json) print, so the formats
//! cannot disagree. Audit activities are classified once, in [`classify`], and both the report
//! and the [`metrics`] use that one mapping.
#![forbid(unsafe_code)]

pub mod answer;
mod audits;
pub mod classify;
pub mod graph;
pub mod metrics;
mod names;
mod provisioning;
pub mod questions;
pub mod render;
mod risk;
pub mod signins;

use std::collections::BTreeMap;

use entrastream_entra::kinds::Initiator;
use entrastream_entra::{Body, Record, Timestamp};
use serde::Serialize;

pub use answer::{Answer, Cell, Table};
pub use metrics::IamMetrics;
pub use questions::{QUESTIONS, Question};

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Only records whose event time is at or after this instant.
    pub since: Option<Timestamp>,
    /// Only records whose event time is before this instant.
    pub until: Option<Timestamp>,
    /// Only records that involve this user (UPN or object id, case-insensitive): as the one
    /// signing in, the initiator or a target of a change, or the provisioned identity.
    pub user: Option<String>,
    /// Only records that involve this application (display name or app id, case-insensitive).
    pub app: Option<String>,
    /// Rows per table.
    pub top_n: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            since: None,
            until: None,
            user: None,
            app: None,
            top_n: 10,
        }
    }
}

/// The streaming accumulator behind every answer.
#[derive(Debug)]
pub struct Report {
    opts: ReportOptions,
    names: names::Names,
    signins: signins::SignIns,
    audits: audits::Audits,
    provisioning: provisioning::Provisioning,
    risk: risk::Risk,
    graph: graph::Graph,
    read: u64,
    in_scope: u64,
    outside_window: u64,
    not_matching: u64,
    without_time: u64,
    unparsed: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// The time window and input accounting of a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub user: Option<String>,
    pub app: Option<String>,
    /// Records parsed from the input.
    pub records_read: u64,
    /// Records outside `--since`/`--until` (or without a time while a window is set).
    pub records_outside_window: u64,
    /// Records left out by `--user` / `--app`.
    pub records_not_matching: u64,
    /// Records that could not be parsed, by reason code: counted, never silently skipped.
    pub records_unparsed: u64,
    pub unparsed_by_reason: BTreeMap<String, u64>,
    pub records_by_category: BTreeMap<String, u64>,
}

/// One question and its answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuestionAnswer {
    pub id: &'static str,
    pub question: &'static str,
    pub answer: Answer,
}

/// Every question answered: `{"window", "records", "questions"}` when serialised.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportOutput {
    pub window: Window,
    /// Records the answers were computed from (after the window and filters).
    pub records: u64,
    pub questions: Vec<QuestionAnswer>,
}

impl ReportOutput {
    pub fn answer(&self, id: &str) -> Option<&Answer> {
        self.questions
            .iter()
            .find(|q| q.id == id)
            .map(|q| &q.answer)
    }
}

fn matches(s: Option<entrastream_entra::json::JsonStr<'_>>, want: &str) -> bool {
    s.is_some_and(|s| s.decode().eq_ignore_ascii_case(want))
}

/// Whether the record involves the user `u` (UPN or object id).
fn involves_user(r: &Record<'_>, u: &str) -> bool {
    match r.body() {
        Body::SignIn(s) => matches(s.user_principal_name, u) || matches(s.user_id, u),
        Body::Audit(a) => {
            let by = match a.initiated_by {
                Initiator::User {
                    id,
                    user_principal_name,
                    ..
                } => matches(user_principal_name, u) || matches(id, u),
                _ => false,
            };
            by || a.targets.iter().any(|t| {
                matches(t.user_principal_name, u)
                    || (t.kind.is_some_and(|k| k.eq_ignore_case("User")) && matches(t.id, u))
            })
        }
        Body::Provisioning(p) => [p.source_identity, p.target_identity]
            .iter()
            .any(|i| matches(i.user_principal_name, u) || matches(i.name, u) || matches(i.id, u)),
        Body::Risk(k) => matches(k.user_principal_name, u) || matches(k.user_id, u),
        Body::GraphActivity(g) => matches(g.user_id, u),
        Body::Generic => false,
    }
}

/// Whether the record involves the application `app` (display name or app id).
fn involves_app(r: &Record<'_>, app: &str) -> bool {
    match r.body() {
        Body::SignIn(s) => [
            s.app_display_name,
            s.app_id,
            s.resource_display_name,
            s.service_principal_name,
        ]
        .into_iter()
        .any(|x| matches(x, app)),
        Body::Audit(a) => {
            let by = match a.initiated_by {
                Initiator::App {
                    app_id,
                    display_name,
                    service_principal_name,
                    ..
                } => {
                    matches(app_id, app)
                        || matches(display_name, app)
                        || matches(service_principal_name, app)
                }
                _ => false,
            };
            by || a.targets.iter().any(|t| {
                t.kind.is_some_and(|k| {
                    k.eq_ignore_case("Application") || k.eq_ignore_case("ServicePrincipal")
                }) && (matches(t.display_name, app) || matches(t.id, app))
            })
        }
        Body::Provisioning(p) => [
            p.service_principal.name,
            p.source_system.name,
            p.target_system.name,
        ]
        .into_iter()
        .any(|x| matches(x, app)),
        Body::Risk(k) => matches(k.display_name, app) || matches(k.app_id, app),
        Body::GraphActivity(g) => matches(g.app_id, app),
        Body::Generic => false,
    }
}

impl Report {
    pub fn new(opts: ReportOptions) -> Report {
        Report {
            opts,
            names: names::Names::default(),
            signins: Default::default(),
            audits: Default::default(),
            provisioning: Default::default(),
            risk: Default::default(),
            graph: Default::default(),
            read: 0,
            in_scope: 0,
            outside_window: 0,
            not_matching: 0,
            without_time: 0,
            unparsed: BTreeMap::new(),
            by_category: BTreeMap::new(),
            first: None,
            last: None,
        }
    }

    pub fn options(&self) -> &ReportOptions {
        &self.opts
    }

    /// Counts one record that could not be parsed, by its reason code (`malformed_json`, …).
    pub fn observe_dead_letter(&mut self, reason_code: &str) {
        *self.unparsed.entry(reason_code.to_owned()).or_insert(0) += 1;
    }

    /// Adds one record to every answer it concerns (after the window and filters).
    pub fn observe(&mut self, r: &Record<'_>) {
        self.read += 1;
        let t = r.event_time();
        let windowed = self.opts.since.is_some() || self.opts.until.is_some();
        match t {
            Some(t) => {
                if self.opts.since.is_some_and(|s| t < s) || self.opts.until.is_some_and(|u| t >= u)
                {
                    self.outside_window += 1;
                    return;
                }
            }
            None if windowed => {
                self.outside_window += 1;
                return;
            }
            None => self.without_time += 1,
        }
        let user_ok = self
            .opts
            .user
            .as_deref()
            .is_none_or(|u| involves_user(r, u));
        let app_ok = self.opts.app.as_deref().is_none_or(|a| involves_app(r, a));
        if !(user_ok && app_ok) {
            self.not_matching += 1;
            return;
        }
        self.in_scope += 1;
        if let Some(t) = t {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        match self.by_category.get_mut(r.category()) {
            Some(n) => *n += 1,
            None => {
                self.by_category.insert(r.category().to_owned(), 1);
            }
        }
        match r.body() {
            Body::SignIn(s) => self.signins.observe(&mut self.names, r, s),
            Body::Audit(a) => self.audits.observe(&mut self.names, r, a),
            Body::Provisioning(p) => self.provisioning.observe(&mut self.names, r, p),
            Body::Risk(k) => self
                .risk
                .observe(&mut self.names, r, k, self.opts.top_n.max(1)),
            Body::GraphActivity(g) => self.graph.observe(&mut self.names, r, g),
            Body::Generic => {}
        }
    }

    /// Distinct users who signed in so far.
    pub fn distinct_users(&self) -> usize {
        self.signins.distinct_users()
    }

    /// Provisioning counts per (source, target, action, status), summed over object types.
    pub fn provisioning_totals(
        &self,
    ) -> std::collections::HashMap<(String, String, String, String), u64> {
        self.provisioning.totals()
    }

    /// Every question with its answer, in the order.
    pub fn finish(&self) -> ReportOutput {
        let n = &self.names;
        let top = self.opts.top_n.max(1);
        let questions = QUESTIONS
            .iter()
            .map(|q| {
                let answer = match q.id {
                    "signin_pattern" => self.signins.signin_pattern(n, top),
                    "users_signed_in" => self.signins.users_signed_in(),
                    "signin_status" => self.signins.signin_status(n, top),
                    "app_usage" => self.signins.app_usage(n, top),
                    "user_update_types" => self.audits.user_update_types(n, top),
                    "users_changed" => self.audits.users_changed(n, top),
                    "passwords_changed" => self.audits.passwords_changed(),
                    "admin_actions" => self.audits.admin_actions(n, top),
                    "groups_added" => self.audits.groups_added(n, top),
                    "group_membership_changes" => self.audits.group_membership_changes(n, top),
                    "group_owner_changes" => self.audits.group_owner_changes(n, top),
                    "licenses_assigned" => self.audits.licenses_assigned(n, top),
                    "apps_added_or_updated" => self.audits.apps_added_or_updated(n, top),
                    "apps_removed" => self.audits.apps_removed(n, top),
                    "service_principal_changes" => self.audits.service_principal_changes(n, top),
                    "app_renames" => self.audits.app_renames(n, top),
                    "consent_grants" => self.audits.consent_grants(n, top),
                    "provisioning_outcomes" => self.provisioning.answer(n, top),
                    "risk" => self.risk.answer(n, top),
                    "graph_activity" => self.graph.answer(n, top),
                    _ => Answer::default(),
                };
                QuestionAnswer {
                    id: q.id,
                    question: q.text,
                    answer,
                }
            })
            .collect();
        let ts = |t: Option<Timestamp>| t.map(|t| t.to_string());
        ReportOutput {
            window: Window {
                since: ts(self.opts.since),
                until: ts(self.opts.until),
                first_event: ts(self.first),
                last_event: ts(self.last),
                user: self.opts.user.clone(),
                app: self.opts.app.clone(),
                records_read: self.read,
                records_outside_window: self.outside_window,
                records_not_matching: self.not_matching,
                records_unparsed: self.unparsed.values().sum(),
                unparsed_by_reason: self.unparsed.clone(),
                records_by_category: self.by_category.clone(),
            },
            records: self.in_scope,
            questions,
        }
    }
}

#[cfg(test)]
mod tests;
