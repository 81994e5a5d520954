//! `risk`: risky users and service principals (their latest state) and risk detections (who,
//! level, state, detection type, when), from the four Identity Protection categories.
//!
//! Risky-user records are state snapshots, so only the newest per user counts; detections are
//! events, counted each. Memory is bounded by distinct users and detection types, plus the
//! `top` most recent detections.

use std::collections::HashMap;

use entrastream_entra::json::JsonStr;
use entrastream_entra::kinds::Risk as RiskRecord;
use entrastream_entra::{Category, Record, Timestamp};

use crate::answer::{Answer, Cell, Table};
use crate::names::Names;

/// The risk levels Microsoft uses, most severe first (`hidden` when the tenant lacks a licence
/// to see it).
const LEVELS: [&str; 5] = ["high", "medium", "low", "hidden", "none"];

/// The latest known state of one risky user or service principal.
#[derive(Debug, Clone)]
struct State {
    /// When the state was last updated (`riskLastUpdatedDateTime`, else the event time).
    at: Option<Timestamp>,
    level: Option<u32>,
    state: Option<u32>,
    detail: Option<u32>,
}

#[derive(Debug, Default)]
struct TypeRow {
    count: u64,
    by_level: [u64; LEVELS.len()],
    users: std::collections::HashSet<u32>,
    last: Option<Timestamp>,
}

/// One detection kept for the "most recent" table.
#[derive(Debug, Clone)]
struct Detection {
    at: Option<Timestamp>,
    who: Option<u32>,
    kind: Option<u32>,
    level: Option<u32>,
    state: Option<u32>,
    ip: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Risk {
    /// Keyed by (is service principal, who).
    states: HashMap<(bool, u32), State>,
    types: HashMap<u32, TypeRow>,
    detections: u64,
    detections_by_level: [u64; LEVELS.len()],
    recent: Vec<Detection>,
}

fn level_index(level: Option<JsonStr<'_>>) -> Option<usize> {
    let l = level?;
    LEVELS.iter().position(|x| l.eq_ignore_case(x))
}

fn id(names: &mut Names, s: Option<JsonStr<'_>>) -> Option<u32> {
    s.filter(|s| !s.is_empty()).map(|s| names.id(&s.decode()))
}

impl Risk {
    pub fn observe(&mut self, names: &mut Names, r: &Record<'_>, k: &RiskRecord<'_>, top: usize) {
        let category = r.category_enum();
        let service_principal = matches!(
            category,
            Category::RiskyServicePrincipals | Category::ServicePrincipalRiskEvents
        );
        // Who: a user's UPN (else id); a service principal's name (else id, else app id).
        let who = if service_principal {
            let own = (category == Category::RiskyServicePrincipals)
                .then_some(k.id)
                .flatten();
            k.display_name
                .or(k.service_principal_id)
                .or(own)
                .or(k.app_id)
        } else {
            let own = (category == Category::RiskyUsers).then_some(k.id).flatten();
            k.user_principal_name.or(k.user_id).or(own)
        };
        let who = id(names, who);
        match category {
            Category::RiskyUsers | Category::RiskyServicePrincipals => {
                let Some(w) = who else { return };
                let at = k.risk_last_updated.or(r.event_time());
                let new = State {
                    at,
                    level: id(names, k.risk_level),
                    state: id(names, k.risk_state),
                    detail: id(names, k.risk_detail),
                };
                match self.states.get_mut(&(service_principal, w)) {
                    // A snapshot older than the one kept does not replace it.
                    Some(old) if old.at > at => {}
                    Some(old) => *old = new,
                    None => {
                        self.states.insert((service_principal, w), new);
                    }
                }
            }
            _ => {
                let at = k.detected_time.or(k.activity_time).or(r.event_time());
                let level = level_index(k.risk_level);
                self.detections += 1;
                if let Some(l) = level {
                    self.detections_by_level[l] += 1;
                }
                let kind = id(names, k.risk_event_type);
                let row = self
                    .types
                    .entry(kind.unwrap_or_else(|| names.id("(unknown)")))
                    .or_default();
                row.count += 1;
                if let Some(l) = level {
                    row.by_level[l] += 1;
                }
                if let Some(w) = who {
                    row.users.insert(w);
                }
                row.last = row.last.max(at);
                let d = Detection {
                    at,
                    who,
                    kind,
                    level: id(names, k.risk_level),
                    state: id(names, k.risk_state),
                    ip: id(names, k.ip_address),
                };
                keep_recent(&mut self.recent, d, top);
            }
        }
    }

    pub fn answer(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        if self.states.is_empty() && self.detections == 0 {
            return a;
        }
        let name = |id: Option<u32>| id.map(|i| names.name(i).to_owned());
        let at_risk = |sp: bool| {
            self.states
                .iter()
                .filter(|((s, _), st)| {
                    *s == sp
                        && st.state.is_some_and(|x| {
                            let x = names.name(x);
                            x.eq_ignore_ascii_case("atRisk")
                                || x.eq_ignore_ascii_case("confirmedCompromised")
                        })
                })
                .count() as u64
        };
        let count = |sp: bool| self.states.keys().filter(|(s, _)| *s == sp).count() as u64;
        a.fact("risky_users", count(false));
        a.fact("users_at_risk", at_risk(false));
        a.fact("risky_service_principals", count(true));
        a.fact("service_principals_at_risk", at_risk(true));
        a.fact("detections", self.detections);
        for (fact, i) in [
            ("high_detections", 0),
            ("medium_detections", 1),
            ("low_detections", 2),
        ] {
            a.fact(fact, self.detections_by_level[i]);
        }

        // Latest state per user / service principal: most severe first, then most recent.
        for (sp, table) in [(false, "risky_users"), (true, "risky_service_principals")] {
            let mut v: Vec<(&u32, &State)> = self
                .states
                .iter()
                .filter(|((s, _), _)| *s == sp)
                .map(|((_, w), st)| (w, st))
                .collect();
            let severity = |st: &State| {
                st.level
                    .and_then(|l| {
                        LEVELS
                            .iter()
                            .position(|x| names.name(l).eq_ignore_ascii_case(x))
                    })
                    .unwrap_or(LEVELS.len())
            };
            v.sort_by(|x, y| {
                severity(x.1)
                    .cmp(&severity(y.1))
                    .then_with(|| y.1.at.cmp(&x.1.at))
                    .then_with(|| names.name(*x.0).cmp(names.name(*y.0)))
            });
            let who = if sp { "service_principal" } else { "user" };
            let mut t = Table::new(
                table,
                &[
                    who,
                    "risk_level",
                    "risk_state",
                    "risk_detail",
                    "last_updated",
                ],
            );
            for (w, st) in v {
                t.row(vec![
                    names.name(*w).into(),
                    name(st.level).into(),
                    name(st.state).into(),
                    name(st.detail).into(),
                    st.at.map(|t| t.to_string()).into(),
                ]);
            }
            t.truncate(top);
            a.table(t);
        }

        let mut v: Vec<(&u32, &TypeRow)> = self.types.iter().collect();
        v.sort_by(|x, y| {
            y.1.count
                .cmp(&x.1.count)
                .then_with(|| names.name(*x.0).cmp(names.name(*y.0)))
        });
        let mut t = Table::new(
            "detections_by_type",
            &[
                "detection_type",
                "count",
                "high",
                "medium",
                "low",
                "distinct_identities",
                "last_detected",
            ],
        )
        .charted(1);
        for (kind, row) in v {
            t.row(vec![
                names.name(*kind).into(),
                row.count.into(),
                row.by_level[0].into(),
                row.by_level[1].into(),
                row.by_level[2].into(),
                (row.users.len() as u64).into(),
                row.last.map(|t| t.to_string()).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);

        let mut t = Table::new(
            "recent_detections",
            &[
                "detected",
                "who",
                "detection_type",
                "risk_level",
                "risk_state",
                "ip_address",
            ],
        );
        for d in &self.recent {
            t.row(vec![
                d.at.map(|t| t.to_string()).into(),
                name(d.who).into(),
                name(d.kind).into(),
                name(d.level).into(),
                name(d.state).into(),
                name(d.ip).map_or(Cell::Empty, Cell::Text),
            ]);
        }
        a.table(t);
        a
    }
}

/// Keeps the `top` most recent detections, newest first (a detection without a time sorts last).
fn keep_recent(recent: &mut Vec<Detection>, d: Detection, top: usize) {
    let top = top.max(1);
    let pos = recent.partition_point(|x| x.at >= d.at);
    if pos >= top {
        return;
    }
    recent.insert(pos, d);
    recent.truncate(top);
}
