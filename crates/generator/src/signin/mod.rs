//! Sign-in records: interactive, non-interactive and AD FS user sign-ins; service-principal,
//! managed-identity and Microsoft service-principal sign-ins.

use crate::data::{self, CITIES, Failure, HOME_CITIES, USER_APPS};
use crate::json::{self, arr, bool as jbool, close, int, null, obj, s, s_raw};
use crate::population::{self, Device};
use crate::time::{self, TICKS_PER_SECOND};
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

mod workload;

const RISK_EVENT_TYPES: &[&str] = &[
    "unfamiliarFeatures",
    "anonymizedIPAddress",
    "unlikelyTravel",
    "maliciousIPAddress",
    "passwordSpray",
];

/// Choices made for one user sign-in before writing it.
#[derive(Debug)]
struct UserSignIn {
    user_index: usize,
    app: usize,
    /// Index into the user's devices; `None` for an unknown device.
    device: Option<usize>,
    ip: String,
    city: usize,
    user_agent: &'static str,
    client_app: &'static str,
    failure: Option<&'static Failure>,
    mfa: Option<&'static (&'static str, &'static str)>,
    /// MFA satisfied earlier (claim in token).
    mfa_by_claim: bool,
    risk: Option<(&'static str, &'static str)>,
}

impl State {
    pub(crate) fn user_signin(&mut self, cat: Cat, out: &mut Vec<u8>) {
        let pop = &self.pop;
        let rng = &mut self.rng;
        let ui = pop.user_skew.sample(rng);
        let user = &pop.users[ui];
        let interactive = cat != Cat::NonInteractive;
        let attack = cat == Cat::SignIn && rng.chance(30);
        let device = if attack || user.devices.is_empty() {
            None
        } else {
            Some(rng.idx(user.devices.len()))
        };
        let (ip, city) = if attack {
            (
                population::ipv4(rng, data::IPV4_FIRST_OCTETS),
                HOME_CITIES + rng.idx(CITIES.len() - HOME_CITIES - 1),
            )
        } else if rng.chance(80) {
            // Roaming: mobile network or travel within the usual region.
            (
                population::ipv4(rng, data::IPV4_FIRST_OCTETS),
                rng.idx(HOME_CITIES),
            )
        } else {
            (user.ip.clone(), user.city)
        };
        let (user_agent, client_app) = match device {
            Some(d) => (
                user.devices[d].kind.user_agent,
                user.devices[d].kind.client_app,
            ),
            None => {
                let k = rng.pick(data::DEVICE_KINDS);
                (k.user_agent, k.client_app)
            }
        };
        let fail_per_mille = match (cat, attack) {
            (_, true) => 850,
            (Cat::SignIn, _) => 150,
            (Cat::Adfs, _) => 80,
            _ => 110,
        };
        let failure = rng.chance(fail_per_mille).then(|| match cat {
            Cat::NonInteractive => rng.weighted(data::NON_INTERACTIVE_FAILURES),
            Cat::Adfs => rng.weighted(data::ADFS_FAILURES),
            _ if attack => rng.weighted(&data::INTERACTIVE_FAILURES[..4]),
            _ => rng.weighted(data::INTERACTIVE_FAILURES),
        });
        let needs_mfa = user.role.is_some() || rng.chance(450);
        let mfa_now = interactive
            && cat != Cat::Adfs
            && needs_mfa
            && !rng.chance(350)
            && failure.is_none_or(|f| f.0 == 500121);
        let mfa = mfa_now.then(|| rng.pick(data::MFA_METHODS));
        // AD FS sign-ins report risk as `hidden` (no Identity Protection signal).
        let risk = if cat != Cat::Adfs && ((attack && rng.chance(600)) || rng.chance(6)) {
            Some((
                if rng.chance(350) { "high" } else { "medium" },
                *rng.pick(RISK_EVENT_TYPES),
            ))
        } else {
            None
        };
        let sign_in = UserSignIn {
            user_index: ui,
            app: pop.app_skew.sample(rng),
            device,
            ip,
            city,
            user_agent,
            client_app,
            failure,
            mfa,
            mfa_by_claim: needs_mfa && !mfa_now,
            risk,
        };
        self.write_user_signin(cat, &sign_in, out);
        let code = sign_in.failure.map_or(0, |f| f.0);
        self.truth
            .signin(code, Some(sign_in.user_index), sign_in.risk.is_some());
    }

    fn write_user_signin(&mut self, cat: Cat, si: &UserSignIn, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let correlation = self.rguid();
        let code = si.failure.map_or(0, |f| f.0);
        let mut code_buf = itoa::Buffer::new();
        let adfs = cat == Cat::Adfs;
        let city = self.pop.city_of(si.city);
        self.head(
            out,
            &Head {
                time: if adfs { TimeStyle::Us } else { TimeStyle::Iso },
                resource: ResourceStyle::Normal,
                operation_name: "Sign-in activity",
                operation_version: "1.0",
                category: cat.name(),
                result_type: Some(code_buf.format(code)),
                result_signature: Some(if adfs { "SUCCESS" } else { "None" }),
                result_description: si.failure.map(|f| f.1),
                duration_ms: Some((0, adfs)),
                caller_ip: Some(&si.ip),
                correlation_id: Some(&correlation),
                identity: Some(&self.pop.users[si.user_index].display),
                location: Some(city.country),
            },
        );
        let pop = &self.pop;
        let rng = &mut self.rng;
        let user = &pop.users[si.user_index];
        let device: Option<&Device> = si.device.map(|d| &user.devices[d]);
        let app = &USER_APPS[si.app];
        let (app_id, resource_id) = &pop.app_ids[si.app];
        let tenant = &pop.tenant;
        let t = self.t;

        s_raw(out, "id", &id);
        json::key(out, "createdDateTime");
        out.push(b'"');
        time::iso_offset(out, t);
        out.extend_from_slice(b"\",");
        s(out, "userDisplayName", &user.display);
        s(out, "userPrincipalName", &user.upn);
        s(out, "userId", &user.id);
        s(out, "appId", app_id);
        s(out, "appDisplayName", app.name);
        s(out, "ipAddress", &si.ip);
        obj(out, "status");
        int(out, "errorCode", code);
        match si.failure {
            Some(f) => {
                s(out, "failureReason", f.1);
                s(out, "additionalDetails", f.2);
            }
            None if si.mfa_by_claim => {
                s(
                    out,
                    "additionalDetails",
                    "MFA requirement satisfied by claim in the token",
                );
            }
            None => {}
        }
        close(out, b'}');
        s(out, "clientAppUsed", si.client_app);
        s(out, "userAgent", si.user_agent);
        write_device(out, device, si.user_agent);
        write_location(out, city);
        obj(out, "mfaDetail");
        if let Some((method, detail)) = si.mfa {
            s(out, "authMethod", method);
            if detail.is_empty() {
                null(out, "authDetail");
            } else {
                s(out, "authDetail", detail);
            }
        }
        close(out, b'}');
        s_raw(out, "correlationId", &correlation);
        // Conditional Access.
        let blocked = si.failure.is_some_and(|f| f.0 == 53003);
        let ca_status = if adfs {
            "notApplied"
        } else if blocked {
            "failure"
        } else if si.failure.is_some() {
            "notApplied"
        } else {
            "success"
        };
        s(out, "conditionalAccessStatus", ca_status);
        arr(out, "appliedConditionalAccessPolicies");
        if !adfs {
            let mut blocked_written = false;
            for p in &pop.ca {
                let (name, grants, sessions) = data::CA_POLICIES[p.index];
                let applies = rng.chance(450);
                let result = match p.state {
                    "disabled" => "notEnabled",
                    "reportOnly" if applies => *rng.pick(&[
                        "reportOnlySuccess",
                        "reportOnlyFailure",
                        "reportOnlyInterrupted",
                    ]),
                    "reportOnly" => "reportOnlyNotApplied",
                    _ if blocked && !blocked_written && grants.contains(&"Block") => {
                        blocked_written = true;
                        "failure"
                    }
                    _ if applies && si.failure.is_none() => "success",
                    _ => "notApplied",
                };
                out.push(b'{');
                s(out, "id", &p.id);
                s(out, "displayName", name);
                json::str_list(out, "enforcedGrantControls", grants);
                json::str_list(out, "enforcedSessionControls", sessions);
                s(out, "result", result);
                int(
                    out,
                    "conditionsSatisfied",
                    if applies { 3 + rng.below(17) as i64 } else { 1 },
                );
                int(
                    out,
                    "conditionsNotSatisfied",
                    if applies { 0 } else { 2 + rng.below(15) as i64 },
                );
                close(out, b'}');
            }
        }
        close(out, b']');
        arr(out, "authenticationContextClassReferences");
        close(out, b']');
        s_raw(out, "originalRequestId", &id);
        jbool(out, "isInteractive", cat != Cat::NonInteractive);
        if adfs {
            self.scratch.clear();
            self.scratch.extend_from_slice(b"sts.");
            self.scratch.extend_from_slice(tenant.domain.as_bytes());
            s_raw(out, "tokenIssuerName", &self.scratch);
            s(out, "tokenIssuerType", "ADFederationServices");
        } else {
            s(out, "tokenIssuerName", "");
            s(out, "tokenIssuerType", "AzureAD");
        }
        arr(out, "authenticationProcessingDetails");
        if cat == Cat::SignIn {
            kv(
                out,
                "Login Hint Present",
                if rng.chance(600) { "True" } else { "False" },
            );
        }
        kv(out, "Legacy TLS (TLS 1.0, 1.1, 3DES)", "False");
        if !adfs {
            kv(out, "Oauth Scope Info", app.scopes);
        } else {
            kv(out, "Server name", "ADFS-PROD-02");
        }
        let cae = if rng.chance(300) { "True" } else { "False" };
        kv(
            out,
            if rng.chance(100) {
                "IsCAEToken"
            } else {
                "Is CAE Token"
            },
            cae,
        );
        close(out, b']');
        arr(out, "networkLocationDetails");
        if si.ip == user.ip && si.city == user.city && !si.ip.contains(':') {
            out.extend_from_slice(
                b"{\"networkType\":\"namedNetwork\",\"networkNames\":[\"Corporate Egress\"]},",
            );
        }
        close(out, b']');
        s(out, "clientCredentialType", "none");
        let processing = if cat == Cat::NonInteractive {
            rng.range(8, 220)
        } else {
            rng.range(40, 900) + if rng.chance(50) { rng.below(6000) } else { 0 }
        };
        int(out, "processingTimeInMilliseconds", processing as i64);
        let (risk_level, risk_type) = si.risk.unwrap_or(("none", ""));
        if adfs {
            s(out, "riskDetail", "hidden");
            s(out, "riskLevelAggregated", "hidden");
            s(out, "riskLevelDuringSignIn", "hidden");
        } else {
            s(out, "riskDetail", "none");
            s(out, "riskLevelAggregated", risk_level);
            s(out, "riskLevelDuringSignIn", risk_level);
        }
        s(
            out,
            "riskState",
            if si.risk.is_some() { "atRisk" } else { "none" },
        );
        let risk_types: &[&str] = if si.risk.is_some() { &[risk_type] } else { &[] };
        json::str_list(out, "riskEventTypes", risk_types);
        json::str_list(out, "riskEventTypes_v2", risk_types);
        s(out, "resourceDisplayName", app.resource);
        s(out, "resourceId", resource_id);
        s(out, "resourceTenantId", &tenant.id);
        s(out, "homeTenantId", &tenant.id);
        s(out, "homeTenantName", tenant.name);
        arr(out, "authenticationDetails");
        write_auth_details(out, rng, cat, si, t);
        close(out, b']');
        arr(out, "authenticationRequirementPolicies");
        if si.mfa.is_some() || si.mfa_by_claim {
            out.extend_from_slice(
                b"{\"requirementProvider\":\"multiConditionalAccess\",\"detail\":\"Conditional Access\"},",
            );
        }
        close(out, b']');
        arr(out, "sessionLifetimePolicies");
        close(out, b']');
        s(
            out,
            "authenticationRequirement",
            if si.mfa.is_some() || si.mfa_by_claim {
                "multiFactorAuthentication"
            } else {
                "singleFactorAuthentication"
            },
        );
        s(out, "alternateSignInName", &user.upn);
        s(out, "signInIdentifier", &user.upn);
        s(out, "servicePrincipalId", "");
        s(out, "userType", if user.guest { "Guest" } else { "Member" });
        jbool(out, "flaggedForReview", false);
        jbool(out, "isTenantRestricted", false);
        int(out, "autonomousSystemNumber", user.asn);
        s(
            out,
            "crossTenantAccessType",
            if user.guest {
                "b2bCollaboration"
            } else {
                "none"
            },
        );
        obj(out, "privateLinkDetails");
        close(out, b'}');
        s(out, "ssoExtensionVersion", "");
        json::key(out, "uniqueTokenIdentifier");
        out.push(b'"');
        json::b64_token(out, rng.u64(), rng.u64());
        out.extend_from_slice(b"\",");
        arr(out, "authenticationStrengths");
        close(out, b']');
        let incoming = match cat {
            Cat::NonInteractive => *rng.pick(&["refreshToken", "primaryRefreshToken", "none"]),
            _ if device.is_some_and(|d| !d.id.is_empty()) && rng.chance(300) => {
                "primaryRefreshToken"
            }
            _ => "none",
        };
        s(out, "incomingTokenType", incoming);
        s(
            out,
            "authenticationProtocol",
            if adfs { "wsFederation" } else { "none" },
        );
        null(out, "appServicePrincipalId");
        s(out, "resourceServicePrincipalId", resource_id);
        s(out, "signInTokenProtectionStatus", "none");
        out.extend_from_slice(
            b"\"tokenProtectionStatusDetails\":{\"signInSessionStatus\":\"unbound\",\"signInSessionStatusCode\":1002},",
        );
        s(out, "originalTransferMethod", "none");
        jbool(out, "isThroughGlobalSecureAccess", false);
        s(out, "globalSecureAccessIpAddress", "");
        json::str_list(out, "conditionalAccessAudiences", &[resource_id]);
        // Sessions last a few hours per user and device.
        let session = crate::rng::mix(
            self.seed ^ (si.user_index as u64) << 20 ^ (t / (4 * 3600 * TICKS_PER_SECOND)) as u64,
        );
        json::key(out, "sessionId");
        out.push(b'"');
        json::guid(out, session, crate::rng::mix(session));
        out.extend_from_slice(b"\",");
        s(
            out,
            "appOwnerTenantId",
            if app.app_id.is_empty() {
                &tenant.id
            } else {
                data::MICROSOFT_SERVICES_TENANT
            },
        );
        s(
            out,
            "resourceOwnerTenantId",
            if app.app_id.is_empty() {
                &tenant.id
            } else {
                data::MICROSOFT_SERVICES_TENANT
            },
        );
        out.extend_from_slice(
            b"\"agent\":{\"agentType\":\"notAgentic\",\"agentSubjectType\":\"notAgentic\"},",
        );
        json::str_list(
            out,
            "signInEventTypes",
            &[if cat == Cat::NonInteractive {
                "nonInteractiveUser"
            } else {
                "interactiveUser"
            }],
        );
        Self::end(out);
    }
}

pub(super) fn kv(out: &mut Vec<u8>, k: &str, v: &str) {
    out.push(b'{');
    s(out, "key", k);
    s(out, "value", v);
    close(out, b'}');
}

fn write_device(out: &mut Vec<u8>, d: Option<&Device>, user_agent: &str) {
    obj(out, "deviceDetail");
    match d {
        Some(d) => {
            s(out, "deviceId", &d.id);
            s(out, "displayName", &d.name);
            s(out, "operatingSystem", d.kind.os);
            s(out, "browser", d.kind.browser);
            if !d.id.is_empty() {
                jbool(out, "isCompliant", d.compliant);
                jbool(out, "isManaged", d.managed);
                s(out, "trustType", d.trust);
            }
        }
        None => {
            let kind = data::DEVICE_KINDS
                .iter()
                .find(|k| k.user_agent == user_agent)
                .unwrap_or(&data::DEVICE_KINDS[0]);
            s(out, "deviceId", "");
            s(out, "operatingSystem", kind.os);
            s(out, "browser", kind.browser);
        }
    }
    close(out, b'}');
}

pub(crate) fn write_location(out: &mut Vec<u8>, c: &data::City) {
    obj(out, "location");
    s(out, "city", c.city);
    s(out, "state", c.state);
    s(out, "countryOrRegion", c.country);
    obj(out, "geoCoordinates");
    json::raw(out, "latitude", c.lat.as_bytes());
    json::raw(out, "longitude", c.lon.as_bytes());
    close(out, b'}');
    close(out, b'}');
}

fn write_auth_details(
    out: &mut Vec<u8>,
    rng: &mut crate::rng::Rng,
    cat: Cat,
    si: &UserSignIn,
    t: time::Ticks,
) {
    let step = |out: &mut Vec<u8>,
                method: &str,
                detail: Option<&str>,
                ok: bool,
                result: &str,
                requirement: &str,
                seq: i64| {
        out.push(b'{');
        json::key(out, "authenticationStepDateTime");
        out.push(b'"');
        time::iso_offset(out, t);
        out.extend_from_slice(b"\",");
        s(out, "authenticationMethod", method);
        if let Some(d) = detail {
            s(out, "authenticationMethodDetail", d);
        }
        jbool(out, "succeeded", ok);
        s(out, "authenticationStepResultDetail", result);
        s(out, "authenticationStepRequirement", requirement);
        int(out, "StatusSequence", seq);
        int(out, "RequestSequence", seq);
        close(out, b'}');
    };
    let code = si.failure.map_or(0, |f| f.0);
    if cat == Cat::NonInteractive {
        let (result, requirement) = if si.mfa_by_claim {
            (
                "MFA requirement satisfied by claim in the token",
                "Multi-factor authentication",
            )
        } else {
            (
                "First factor requirement satisfied by claim in the token",
                "Primary authentication",
            )
        };
        step(
            out,
            "Previously satisfied",
            None,
            code == 0,
            result,
            requirement,
            0,
        );
        return;
    }
    if cat == Cat::Adfs {
        let ok = code == 0;
        step(
            out,
            "Password",
            Some("Forms Authentication"),
            ok,
            if ok {
                "Correct password"
            } else {
                "Invalid username or password"
            },
            "",
            1,
        );
        return;
    }
    let password_ok = !matches!(code, 50126 | 50053 | 50057 | 50055);
    step(
        out,
        "Password",
        Some("Password Hash Sync"),
        password_ok,
        if password_ok {
            "Correct password"
        } else {
            "Invalid username or password or Invalid on-premise username or password."
        },
        "Primary authentication",
        0,
    );
    if let Some((method, detail)) = si.mfa {
        let seq = 1_700_000_000 + rng.below(99_999_999) as i64;
        let ok = code == 0;
        step(
            out,
            method,
            if detail.is_empty() {
                None
            } else {
                Some(detail)
            },
            ok,
            if ok {
                "MFA successfully completed"
            } else {
                "MFA denied; user did not respond to mobile app notification"
            },
            "Multi-factor authentication",
            seq,
        );
    } else if si.mfa_by_claim && password_ok {
        step(
            out,
            "Previously satisfied",
            None,
            true,
            "MFA requirement satisfied by claim in the token",
            "Multi-factor authentication",
            0,
        );
    }
}
