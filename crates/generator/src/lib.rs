//! Deterministic generator of realistic Entra ID diagnostic traffic: Azure Monitor envelopes
//! (`{"records":[…]}`) of sign-in, audit, provisioning, risk and Graph-activity records, as
//! Entra diagnostic settings deliver them to Event Hubs. Tests, benchmarks, `entrastream
//! generate` and the demo use it; [`poison_message`] supplies malformed inputs.
//!
//! Main design decision: records are written as JSON bytes straight into the caller's buffer
//! from a population (tenant, users, apps, workloads) that is built once and stored
//! pre-escaped, with every random choice drawn from one seeded PCG stream through integer-only
//! helpers. That makes output byte-identical for a given [`GeneratorConfig`] on any machine and
//! keeps generation well above 100 MB/s per core (no `serde_json::Value` trees).
//!
//! Unique record ids (derived from the seed and a record counter, see [`id_digest`]):
//! `properties.id` for sign-ins, audits, provisioning and risk records; `properties.requestId`
//! for both Graph-activity categories. Risky-user and risky-service-principal records therefore
//! carry a fresh id per record rather than the user's object id that real ones repeat.

#![forbid(unsafe_code)]

mod audit;
mod data;
mod graph;
mod json;
mod poison;
mod population;
mod provisioning;
mod risk;
mod rng;
mod signin;
mod time;
mod truth;

#[cfg(test)]
mod tests;

pub use poison::{POISON_KINDS, poison_kind_name, poison_message};
pub use truth::{ProvisioningKey, Truth};

use population::Population;
use rng::Rng;
use time::{TICKS_PER_MS, TICKS_PER_SECOND, Ticks};

/// Event Hubs' maximum message size; no envelope is larger.
pub const MAX_ENVELOPE_BYTES: usize = 1_000_000;

/// Upper bound on one record's size. Records are built from bounded tables, so none exceeds it
/// (tests check the largest seen stays far below); the envelope writer stops adding records
/// when one more of this size could overflow [`MAX_ENVELOPE_BYTES`].
const MAX_RECORD_BYTES: usize = 32 * 1024;

/// Every category the generator can produce with its share of records in the default mix, in
/// parts per 10,000.
pub const CATEGORY_MIX: &[(&str, u32)] = &[
    ("NonInteractiveUserSignInLogs", 4500),
    ("SignInLogs", 1500),
    ("ServicePrincipalSignInLogs", 1000),
    ("MicrosoftGraphActivityLogs", 1000),
    ("ManagedIdentitySignInLogs", 800),
    ("AuditLogs", 600),
    ("MicrosoftServicePrincipalSignInLogs", 200),
    ("ProvisioningLogs", 150),
    ("AzureADGraphActivityLogs", 100),
    ("ADFSSignInLogs", 50),
    ("UserRiskEvents", 40),
    ("RiskyUsers", 30),
    ("RiskyServicePrincipals", 15),
    ("ServicePrincipalRiskEvents", 15),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cat {
    NonInteractive,
    SignIn,
    ServicePrincipal,
    GraphActivity,
    ManagedIdentity,
    Audit,
    MicrosoftSp,
    Provisioning,
    AadGraph,
    Adfs,
    UserRiskEvents,
    RiskyUsers,
    RiskySps,
    SpRiskEvents,
}

/// Same order as [`CATEGORY_MIX`].
const CATS: [Cat; 14] = [
    Cat::NonInteractive,
    Cat::SignIn,
    Cat::ServicePrincipal,
    Cat::GraphActivity,
    Cat::ManagedIdentity,
    Cat::Audit,
    Cat::MicrosoftSp,
    Cat::Provisioning,
    Cat::AadGraph,
    Cat::Adfs,
    Cat::UserRiskEvents,
    Cat::RiskyUsers,
    Cat::RiskySps,
    Cat::SpRiskEvents,
];

impl Cat {
    fn index(self) -> usize {
        CATS.iter().position(|&c| c == self).unwrap_or(0)
    }

    pub(crate) fn name(self) -> &'static str {
        CATEGORY_MIX[self.index()].0
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Same config and seed give byte-identical output.
    pub seed: u64,
    /// Restrict the mix to these categories (exact names, case-insensitive). `None`: all of
    /// [`CATEGORY_MIX`].
    pub categories: Option<Vec<String>>,
    /// Size of the simulated user population (at least 1).
    pub users: usize,
    /// Most records [`Generator::next_envelope`] puts in one envelope (at least 1). Common
    /// categories get between a fifth of this and this; rare ones up to a fifth.
    pub max_records_per_envelope: usize,
    /// Event time of the first record, in Unix milliseconds.
    pub start_time_unix_ms: i64,
    /// Simulated event rate: record times advance by `1 / records_per_second` on average and
    /// never go backwards. At least 1.
    pub records_per_second: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            categories: None,
            users: 2000,
            max_records_per_envelope: 50,
            // 2025-01-06T08:00:00Z
            start_time_unix_ms: 1_736_150_400_000,
            records_per_second: 200,
        }
    }
}

/// Why a [`GeneratorConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeneratorError {
    #[error("unknown category {name:?}; valid categories: {valid}")]
    UnknownCategory { name: String, valid: String },
    #[error("the category filter is empty; valid categories: {valid}")]
    NoCategories { valid: String },
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
}

/// What one call put into the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeInfo {
    pub category: &'static str,
    pub records: usize,
    pub bytes: usize,
}

/// The hash behind [`Truth::id_digest_sum`]: 64-bit FNV-1a of a record's unique id string
/// (`properties.id`, or `properties.requestId` for Graph activity; see [`unique_id_field`]).
pub fn id_digest(id: &str) -> u64 {
    rng::fnv1a(id.as_bytes())
}

/// Every audit `activityDisplayName` the generator emits (each appears within a few thousand
/// records of the default mix).
pub fn audit_activity_names() -> impl Iterator<Item = &'static str> {
    audit::activity_names()
}

/// The `properties` member holding a record's unique id for `category`.
pub fn unique_id_field(category: &str) -> &'static str {
    match category {
        "MicrosoftGraphActivityLogs" | "AzureADGraphActivityLogs" => "requestId",
        _ => "id",
    }
}

/// Mutable generation state shared by the record writers.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) pop: Population,
    pub(crate) rng: Rng,
    pub(crate) truth: Truth,
    pub(crate) seed: u64,
    /// Number of the record being written (0-based, over the generator's life).
    pub(crate) seq: u64,
    /// Event time of the record being written.
    pub(crate) t: Ticks,
    pub(crate) scratch: Vec<u8>,
}

/// The generator. Not `Sync`-shared: give each thread its own (with its own seed).
#[derive(Debug)]
pub struct Generator {
    state: State,
    /// Categories allowed, with record weights and envelope weights.
    mix: Vec<(Cat, u64, u64)>,
    max_per_envelope: usize,
    start: Ticks,
    step: Ticks,
}

fn valid_list() -> String {
    CATEGORY_MIX
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Result<Self, GeneratorError> {
        if config.users == 0 {
            return Err(GeneratorError::Zero { field: "users" });
        }
        if config.max_records_per_envelope == 0 {
            return Err(GeneratorError::Zero {
                field: "max_records_per_envelope",
            });
        }
        if config.records_per_second == 0 {
            return Err(GeneratorError::Zero {
                field: "records_per_second",
            });
        }
        let allowed: Vec<Cat> = match &config.categories {
            None => CATS.to_vec(),
            Some(names) => {
                if names.is_empty() {
                    return Err(GeneratorError::NoCategories {
                        valid: valid_list(),
                    });
                }
                let mut cats = Vec::new();
                for name in names {
                    let i = CATEGORY_MIX
                        .iter()
                        .position(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
                        .ok_or_else(|| GeneratorError::UnknownCategory {
                            name: name.clone(),
                            valid: valid_list(),
                        })?;
                    if !cats.contains(&CATS[i]) {
                        cats.push(CATS[i]);
                    }
                }
                // Keep the canonical order so the filter's order does not change the output.
                cats.sort_by_key(|c| c.index());
                cats
            }
        };
        let max = config.max_records_per_envelope;
        let mix = allowed
            .into_iter()
            .map(|c| {
                let w = u64::from(CATEGORY_MIX[c.index()].1);
                let (lo, hi) = envelope_size_range(w, max);
                (c, w, w * 1_000_000 / (lo + hi) as u64)
            })
            .collect();
        let step = (TICKS_PER_SECOND / i64::from(config.records_per_second)).max(1);
        Ok(Self {
            state: State {
                pop: Population::build(config.seed, config.users),
                rng: Rng::new(config.seed),
                truth: Truth::new(config.users),
                seed: config.seed,
                seq: 0,
                t: 0,
                scratch: Vec::with_capacity(4096),
            },
            mix,
            max_per_envelope: max,
            start: config.start_time_unix_ms.saturating_mul(TICKS_PER_MS),
            step,
        })
    }

    /// Appends one envelope `{"records":[...]}` (no trailing newline) to `out`; returns what it
    /// put there. The category is drawn from the mix; the record count from the category's
    /// usual envelope sizes (see [`GeneratorConfig::max_records_per_envelope`]).
    pub fn next_envelope(&mut self, out: &mut Vec<u8>) -> EnvelopeInfo {
        let cat = self.pick(|&(_, _, envelope_weight)| envelope_weight);
        let w = u64::from(CATEGORY_MIX[cat.index()].1);
        let (lo, hi) = envelope_size_range(w, self.max_per_envelope);
        let n = self.state.rng.range(lo as u64, hi as u64) as usize;
        self.write_envelope(cat, n, out)
    }

    /// Appends one envelope holding exactly `n` records (`n` of 0 is taken as 1), fewer only if
    /// the 1 MB cap would be hit. The category is drawn by record share, so category
    /// proportions match [`CATEGORY_MIX`] for any fixed `n`.
    pub fn next_envelope_with(&mut self, n: usize, out: &mut Vec<u8>) -> EnvelopeInfo {
        let cat = self.pick(|&(_, record_weight, _)| record_weight);
        self.write_envelope(cat, n.max(1), out)
    }

    /// Ground truth accumulated over everything generated so far.
    pub fn truth(&self) -> &Truth {
        &self.state.truth
    }

    /// The generated tenant's id.
    pub fn tenant_id(&self) -> &str {
        &self.state.pop.tenant.id
    }

    /// Records generated so far.
    pub fn records_generated(&self) -> u64 {
        self.state.seq
    }

    fn pick(&mut self, weight: impl Fn(&(Cat, u64, u64)) -> u64) -> Cat {
        let total: u64 = self.mix.iter().map(&weight).sum();
        let mut x = self.state.rng.below(total);
        for entry in &self.mix {
            let w = weight(entry);
            if x < w {
                return entry.0;
            }
            x -= w;
        }
        self.mix[self.mix.len() - 1].0
    }

    fn write_envelope(&mut self, cat: Cat, n: usize, out: &mut Vec<u8>) -> EnvelopeInfo {
        let start = out.len();
        out.reserve(n.min(256) * 4096);
        out.extend_from_slice(b"{\"records\":[");
        let mut written = 0;
        while written < n {
            if written > 0 {
                if out.len() - start + MAX_RECORD_BYTES + 2 > MAX_ENVELOPE_BYTES {
                    break;
                }
                out.push(b',');
            }
            self.write_record(cat, out);
            written += 1;
        }
        out.extend_from_slice(b"]}");
        let bytes = out.len() - start;
        let truth = &mut self.state.truth;
        truth.envelopes += 1;
        truth.bytes += bytes as u64;
        EnvelopeInfo {
            category: cat.name(),
            records: written,
            bytes,
        }
    }

    fn write_record(&mut self, cat: Cat, out: &mut Vec<u8>) {
        let s = &mut self.state;
        let jitter = s.rng.below(self.step as u64) as i64;
        s.t = self.start + (s.seq as i64) * self.step + jitter;
        match cat {
            Cat::SignIn | Cat::NonInteractive | Cat::Adfs => s.user_signin(cat, out),
            Cat::ServicePrincipal | Cat::ManagedIdentity | Cat::MicrosoftSp => {
                s.workload_signin(cat, out)
            }
            Cat::Audit => s.audit(out),
            Cat::Provisioning => s.provisioning(out),
            Cat::RiskyUsers => s.risky_user(out),
            Cat::UserRiskEvents => s.user_risk_event(out),
            Cat::RiskySps => s.risky_sp(out),
            Cat::SpRiskEvents => s.sp_risk_event(out),
            Cat::GraphActivity => s.graph_activity(out),
            Cat::AadGraph => s.aad_graph_activity(out),
        }
        s.seq += 1;
        s.truth.records += 1;
        truth::bump(&mut s.truth.records_by_category, cat.name());
    }
}

/// Record-count range for an envelope of a category with record weight `w` (per 10,000):
/// rare categories arrive in small batches, common ones in large ones.
fn envelope_size_range(w: u64, max: usize) -> (usize, usize) {
    let fifth = (max / 5).max(1);
    if w < 100 { (1, fifth) } else { (fifth, max) }
}

/// How the envelope `time` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeStyle {
    Iso,
    Us,
    Absent,
}

/// How the envelope `resourceId` is cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceStyle {
    Normal,
    Lower,
    Upper,
    Absent,
}

/// The Azure Monitor envelope fields of one record.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    pub time: TimeStyle,
    pub resource: ResourceStyle,
    pub operation_name: &'a str,
    pub operation_version: &'a str,
    pub category: &'static str,
    pub result_type: Option<&'a str>,
    pub result_signature: Option<&'a str>,
    pub result_description: Option<&'a str>,
    /// `Some((ms, as_string))`.
    pub duration_ms: Option<(i64, bool)>,
    pub caller_ip: Option<&'a str>,
    pub correlation_id: Option<&'a [u8]>,
    pub identity: Option<&'a str>,
    pub location: Option<&'a str>,
}

impl State {
    /// Writes `{` and the envelope fields up to and including `"properties":{`.
    pub(crate) fn head(&self, out: &mut Vec<u8>, h: &Head<'_>) {
        out.push(b'{');
        match h.time {
            TimeStyle::Iso => {
                out.extend_from_slice(b"\"time\":\"");
                time::iso7z(out, self.t);
                out.extend_from_slice(b"\",");
            }
            TimeStyle::Us => {
                out.extend_from_slice(b"\"time\":\"");
                time::us(out, self.t);
                out.extend_from_slice(b"\",");
            }
            TimeStyle::Absent => {}
        }
        let tid = self.pop.tenant.id.as_bytes();
        match h.resource {
            ResourceStyle::Normal | ResourceStyle::Lower => {
                out.extend_from_slice(b"\"resourceId\":\"/tenants/");
                out.extend_from_slice(tid);
                out.extend_from_slice(if h.resource == ResourceStyle::Normal {
                    b"/providers/Microsoft.aadiam\","
                } else {
                    b"/providers/microsoft.aadiam\","
                });
            }
            ResourceStyle::Upper => {
                out.extend_from_slice(b"\"resourceId\":\"/TENANTS/");
                out.extend(tid.iter().map(u8::to_ascii_uppercase));
                out.extend_from_slice(b"/PROVIDERS/MICROSOFT.AADIAM\",");
            }
            ResourceStyle::Absent => {}
        }
        json::s(out, "operationName", h.operation_name);
        json::s(out, "operationVersion", h.operation_version);
        json::s(out, "category", h.category);
        json::s_raw(out, "tenantId", tid);
        if let Some(v) = h.result_type {
            json::s(out, "resultType", v);
        }
        if let Some(v) = h.result_signature {
            json::s(out, "resultSignature", v);
        }
        if let Some(v) = h.result_description {
            json::s(out, "resultDescription", v);
        }
        match h.duration_ms {
            Some((ms, false)) => json::int(out, "durationMs", ms),
            Some((ms, true)) => {
                json::key(out, "durationMs");
                out.push(b'"');
                json::num(out, ms);
                out.extend_from_slice(b"\",");
            }
            None => {}
        }
        if let Some(v) = h.caller_ip {
            json::s(out, "callerIpAddress", v);
        }
        if let Some(v) = h.correlation_id {
            json::s_raw(out, "correlationId", v);
        }
        if let Some(v) = h.identity {
            json::s(out, "identity", v);
        }
        out.extend_from_slice(b"\"Level\":4,");
        if let Some(v) = h.location {
            json::s(out, "location", v);
        }
        json::obj(out, "properties");
    }

    /// Closes `properties` and the record.
    pub(crate) fn end(out: &mut Vec<u8>) {
        json::close(out, b'}');
        json::close_last(out, b'}');
    }

    /// The unique GUID of the current record, as text.
    pub(crate) fn uid(&self) -> [u8; 36] {
        let (hi, lo) = rng::unique_guid(self.seed, self.seq);
        guid_arr(hi, lo)
    }

    /// A fresh random GUID.
    pub(crate) fn rguid(&mut self) -> [u8; 36] {
        let (hi, lo) = (self.rng.u64(), self.rng.u64());
        guid_arr(hi, lo)
    }
}

pub(crate) fn guid_arr(hi: u64, lo: u64) -> [u8; 36] {
    json::guid_bytes(hi, lo)
}
