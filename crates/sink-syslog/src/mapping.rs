//! Which record fields become which CEF and LEEF keys, per record kind: one table for both
//! formats, so `docs/sinks.md` documents one mapping. Sources: ArcSight "Implementing
//! ArcSight CEF" (rev. 25) for the CEF dictionary, IBM "Log Event Extended Format (LEEF)
//! Version 2" for LEEF's predefined keys, and Microsoft's CEF field list for Sentinel's
//! `CommonSecurityLog` (which CEF keys it keeps in named columns).
//!
//! A key that is absent from a record is left out (never written empty: empty values are
//! ambiguous to CEF parsers).

use std::borrow::Cow;

use entrastream_entra::json::JsonStr;
use entrastream_entra::kinds::audit::Initiator;
use entrastream_entra::{Body, Record};

use crate::rfc5424::correlation_id;

/// A key in both formats. CEF custom keys (`cs1`…, `cn1`…) carry their label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// CEF extension key.
    pub cef: &'static str,
    /// CEF label written as `<cef>Label=` for custom keys.
    pub cef_label: Option<&'static str>,
    /// LEEF 2.0 attribute.
    pub leef: &'static str,
}

const fn key(cef: &'static str, leef: &'static str) -> Key {
    Key {
        cef,
        cef_label: None,
        leef,
    }
}

const fn custom(cef: &'static str, label: &'static str, leef: &'static str) -> Key {
    Key {
        cef,
        cef_label: Some(label),
        leef,
    }
}

/// Every key written, by meaning. The same custom slot never carries two meanings in one
/// record kind.
pub mod keys {
    use super::*;
    pub const CATEGORY: Key = key("cat", "cat");
    pub const RECORD_ID: Key = key("externalId", "externalId");
    pub const EVENT_ID: Key = custom("cs6", "EventId", "eventId");
    pub const TENANT: Key = custom("cs5", "TenantId", "tenantId");
    pub const CORRELATION: Key = custom("cs4", "CorrelationId", "correlationId");
    pub const ACTOR: Key = key("suser", "usrName");
    pub const ACTOR_ID: Key = key("suid", "userId");
    pub const SOURCE_IP: Key = key("src", "src");
    pub const OUTCOME: Key = key("outcome", "outcome");
    pub const CLIENT_APP: Key = key("app", "app");
    pub const USER_AGENT: Key = key("requestClientApplication", "userAgent");
    pub const REASON: Key = key("reason", "reason");
    pub const TARGET_APP: Key = key("destinationServiceName", "resource");
    pub const ERROR_CODE: Key = custom("cn1", "ErrorCode", "errorCode");
    pub const RISK_LEVEL: Key = custom("cs3", "RiskLevel", "riskLevel");
    pub const CA_STATUS: Key = custom("cs2", "ConditionalAccessStatus", "conditionalAccessStatus");
    pub const ACTION: Key = key("act", "action");
    pub const TARGET: Key = key("duser", "targetUser");
    pub const TARGET_ID: Key = key("duid", "targetId");
    pub const TARGET_TYPE: Key = custom("cs2", "TargetType", "targetType");
    pub const AUDIT_CATEGORY: Key = custom("cs1", "AuditCategory", "auditCategory");
    pub const SOURCE_SYSTEM: Key = custom("cs1", "SourceSystem", "sourceSystem");
    pub const TARGET_SYSTEM: Key = custom("cs2", "TargetSystem", "targetSystem");
    pub const JOB_ID: Key = custom("cs3", "JobId", "jobId");
    pub const RISK_STATE: Key = custom("cs2", "RiskState", "riskState");
    pub const METHOD: Key = key("requestMethod", "requestMethod");
    pub const URL: Key = key("request", "url");
    pub const HTTP_STATUS: Key = custom("cn2", "HttpStatus", "httpStatus");
}

/// A record reduced to what CEF and LEEF carry.
#[derive(Debug, Default)]
pub struct Mapped<'a> {
    /// CEF Name / LEEF has none (it goes into the `name` attribute): what happened.
    pub name: Cow<'a, str>,
    /// Mapped fields in writing order.
    pub fields: Vec<(Key, Cow<'a, str>)>,
}

impl<'a> Mapped<'a> {
    fn put(&mut self, key: Key, value: Option<JsonStr<'a>>) {
        if let Some(v) = value {
            self.put_text(key, v.decode());
        }
    }

    fn put_text(&mut self, key: Key, value: Cow<'a, str>) {
        if !value.is_empty() {
            self.fields.push((key, value));
        }
    }

    /// The value written for `key`, if any (tests and docs).
    pub fn get(&self, key: Key) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// Maps one record.
pub fn map<'a>(record: &Record<'a>) -> Mapped<'a> {
    use keys::*;
    let env = record.envelope();
    let mut m = Mapped {
        name: Cow::Owned(record.category().to_owned()),
        fields: Vec::with_capacity(16),
    };
    m.put_text(CATEGORY, Cow::Owned(record.category().to_owned()));
    let outcome = record.outcome();
    let outcome_text =
        (outcome != entrastream_entra::Outcome::Unknown).then(|| Cow::Borrowed(outcome.as_str()));
    let actor = record.actor();
    let target = record.target();
    match record.body() {
        Body::SignIn(s) => {
            m.name = Cow::Borrowed("Sign-in");
            if let Some(op) = env.operation_name {
                m.name = op.decode();
            }
            m.put(RECORD_ID, s.id);
            m.put(ACTOR, actor.name.or(actor.display_name));
            m.put(ACTOR_ID, actor.id);
            m.put(SOURCE_IP, actor.ip);
            if let Some(o) = outcome_text {
                m.put_text(OUTCOME, o);
            }
            m.put(CLIENT_APP, s.client_app_used);
            m.put(USER_AGENT, s.user_agent);
            m.put(TARGET_APP, s.app_display_name.or(s.resource_display_name));
            if let Some(code) = s.error_code {
                m.put_text(ERROR_CODE, Cow::Owned(code.to_string()));
            }
            if outcome == entrastream_entra::Outcome::Failure {
                m.put(REASON, s.failure_reason);
            }
            m.put(
                RISK_LEVEL,
                s.risk_level_aggregated.or(s.risk_level_during_sign_in),
            );
            m.put(CA_STATUS, s.conditional_access_status);
        }
        Body::Audit(a) => {
            if let Some(n) = a.activity_display_name.or(env.operation_name) {
                m.name = n.decode();
            }
            m.put(RECORD_ID, a.id);
            let actor_name = match a.initiated_by {
                Initiator::User {
                    user_principal_name,
                    display_name,
                    ..
                } => user_principal_name.or(display_name),
                Initiator::App {
                    display_name,
                    service_principal_name,
                    ..
                } => service_principal_name.or(display_name),
                Initiator::Unknown => None,
            };
            m.put(ACTOR, actor_name);
            m.put(ACTOR_ID, actor.id);
            m.put(SOURCE_IP, actor.ip);
            m.put(TARGET, target.name.or(target.display_name));
            m.put(TARGET_ID, target.id);
            if let Some(k) = a.targets.first().and_then(|t| t.kind) {
                m.put(TARGET_TYPE, Some(k));
            }
            m.put(ACTION, a.activity_display_name);
            if let Some(o) = outcome_text {
                m.put_text(OUTCOME, o);
            }
            m.put(REASON, a.result_reason);
            m.put(AUDIT_CATEGORY, a.category);
        }
        Body::Provisioning(p) => {
            let action = p.provisioning_action.or(p.action);
            m.name = match action {
                Some(a) => Cow::Owned(format!("Provisioning {}", a.decode())),
                None => Cow::Borrowed("Provisioning"),
            };
            m.put(RECORD_ID, p.id);
            m.put(ACTION, action);
            m.put(SOURCE_SYSTEM, p.source_system.name);
            m.put(TARGET_SYSTEM, p.target_system.name);
            m.put(
                ACTOR,
                p.source_identity
                    .user_principal_name
                    .or(p.source_identity.name),
            );
            m.put(ACTOR_ID, p.source_identity.id);
            m.put(
                TARGET,
                p.target_identity
                    .user_principal_name
                    .or(p.target_identity.name),
            );
            m.put(TARGET_ID, p.target_identity.id);
            m.put(OUTCOME, p.status);
            m.put(REASON, p.error_reason);
            m.put(JOB_ID, p.job_id);
        }
        Body::Risk(r) => {
            if let Some(t) = r.risk_event_type {
                m.name = t.decode();
            }
            m.put(RECORD_ID, r.id);
            m.put(ACTOR, actor.name.or(actor.display_name));
            m.put(ACTOR_ID, actor.id);
            m.put(SOURCE_IP, actor.ip);
            m.put(ACTION, r.risk_event_type);
            m.put(RISK_LEVEL, r.risk_level);
            m.put(RISK_STATE, r.risk_state);
            m.put(REASON, r.risk_detail);
        }
        Body::GraphActivity(g) => {
            if let Some(method) = g.request_method {
                m.name = Cow::Owned(format!("{} request", method.decode()));
            }
            m.put(RECORD_ID, g.request_id);
            m.put(ACTOR_ID, actor.id);
            m.put(SOURCE_IP, actor.ip);
            m.put(METHOD, g.request_method);
            m.put(URL, g.request_uri);
            m.put(USER_AGENT, g.user_agent);
            if let Some(code) = g.status_code {
                m.put_text(HTTP_STATUS, Cow::Owned(code.to_string()));
            }
            if let Some(o) = outcome_text {
                m.put_text(OUTCOME, o);
            }
        }
        Body::Generic => {
            if let Some(op) = env.operation_name {
                m.name = op.decode();
            }
            m.put(ACTOR, actor.name);
            m.put(SOURCE_IP, actor.ip);
            m.put(ACTION, env.operation_name);
            if let Some(o) = outcome_text {
                m.put_text(OUTCOME, o);
            }
        }
    }
    if let Some(t) = record.tenant_id() {
        m.put_text(TENANT, Cow::Owned(t.to_owned()));
    }
    m.put(CORRELATION, correlation_id(record));
    m.put_text(EVENT_ID, Cow::Owned(record.event_id().to_string()));
    m
}

#[cfg(test)]
mod tests {
    use super::keys::*;
    use super::*;
    use crate::test_records::parse;

    #[test]
    fn signin_maps_user_ip_outcome_apps_and_reason() {
        let r = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","operationName":"Sign-in activity","tenantId":"t1","resultType":"50126","properties":{"id":"s1","userPrincipalName":"a@b.c","userId":"u1","ipAddress":"10.0.0.1","clientAppUsed":"Browser","userAgent":"Mozilla/5.0","appDisplayName":"Office 365","status":{"errorCode":50126,"failureReason":"Invalid username or password."},"riskLevelAggregated":"high"}}"#,
        );
        let rec = r.record();
        let m = map(&rec);
        assert_eq!(m.name, "Sign-in activity");
        assert_eq!(m.get(ACTOR), Some("a@b.c"));
        assert_eq!(m.get(ACTOR_ID), Some("u1"));
        assert_eq!(m.get(SOURCE_IP), Some("10.0.0.1"));
        assert_eq!(m.get(OUTCOME), Some("failure"));
        assert_eq!(m.get(CLIENT_APP), Some("Browser"));
        assert_eq!(m.get(USER_AGENT), Some("Mozilla/5.0"));
        assert_eq!(m.get(TARGET_APP), Some("Office 365"));
        assert_eq!(m.get(REASON), Some("Invalid username or password."));
        assert_eq!(m.get(ERROR_CODE), Some("50126"));
        assert_eq!(m.get(RISK_LEVEL), Some("high"));
        assert_eq!(m.get(TENANT), Some("t1"));
        assert_eq!(m.get(RECORD_ID), Some("s1"));
    }

    #[test]
    fn audit_maps_actor_target_and_act() {
        let r = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","properties":{"id":"a1","category":"RoleManagement","activityDisplayName":"Add member to role","result":"success","initiatedBy":{"user":{"id":"u1","userPrincipalName":"admin@b.c","ipAddress":"10.1.1.1"}},"targetResources":[{"id":"u2","type":"User","userPrincipalName":"bob@b.c","displayName":"Bob"}]}}"#,
        );
        let rec = r.record();
        let m = map(&rec);
        assert_eq!(m.name, "Add member to role");
        assert_eq!(m.get(ACTOR), Some("admin@b.c"));
        assert_eq!(m.get(SOURCE_IP), Some("10.1.1.1"));
        assert_eq!(m.get(TARGET), Some("bob@b.c"));
        assert_eq!(m.get(TARGET_ID), Some("u2"));
        assert_eq!(m.get(TARGET_TYPE), Some("User"));
        assert_eq!(m.get(ACTION), Some("Add member to role"));
        assert_eq!(m.get(OUTCOME), Some("success"));
        assert_eq!(m.get(AUDIT_CATEGORY), Some("RoleManagement"));
    }

    #[test]
    fn provisioning_maps_systems_action_and_status() {
        let r = parse(
            r#"{"time":"2024-05-01T10:00:00Z","category":"ProvisioningLogs","properties":{"id":"p1","jobId":"j1","provisioningAction":"create","provisioningStatusInfo":{"status":"failure","errorInformation":{"reason":"quota"}},"sourceSystem":{"id":"s","displayName":"Azure Active Directory"},"targetSystem":{"id":"t","displayName":"ServiceNow"},"sourceIdentity":{"id":"i1","displayName":"Ann"},"targetIdentity":{"id":"i2","displayName":"ann.sn"}}}"#,
        );
        let rec = r.record();
        let m = map(&rec);
        assert_eq!(m.get(ACTION), Some("create"));
        assert_eq!(m.get(SOURCE_SYSTEM), Some("Azure Active Directory"));
        assert_eq!(m.get(TARGET_SYSTEM), Some("ServiceNow"));
        assert_eq!(m.get(OUTCOME), Some("failure"));
        assert_eq!(m.get(ACTOR), Some("Ann"));
        assert_eq!(m.get(TARGET), Some("ann.sn"));
        assert_eq!(m.get(JOB_ID), Some("j1"));
        assert_eq!(m.name, "Provisioning create");
    }

    #[test]
    fn custom_slots_are_unique_per_kind() {
        use std::collections::HashSet;
        let kinds: [&[Key]; 5] = [
            &[
                ERROR_CODE,
                RISK_LEVEL,
                CA_STATUS,
                TENANT,
                CORRELATION,
                EVENT_ID,
            ],
            &[TARGET_TYPE, AUDIT_CATEGORY, TENANT, CORRELATION, EVENT_ID],
            &[
                SOURCE_SYSTEM,
                TARGET_SYSTEM,
                JOB_ID,
                TENANT,
                CORRELATION,
                EVENT_ID,
            ],
            &[RISK_LEVEL, RISK_STATE, TENANT, CORRELATION, EVENT_ID],
            &[HTTP_STATUS, TENANT, CORRELATION, EVENT_ID],
        ];
        for keys in kinds {
            let slots: HashSet<_> = keys.iter().map(|k| k.cef).collect();
            assert_eq!(slots.len(), keys.len(), "{keys:?}");
        }
    }
}
