//! Identity Protection records: RiskyUsers, UserRiskEvents, RiskyServicePrincipals,
//! ServicePrincipalRiskEvents. Real risk logs use the US `M/d/yyyy h:mm:ss AM` envelope time and
//! a lowercase provider in `resourceId`; the generator does the same for all four.

use crate::data::{self, CITIES, HOME_CITIES};
use crate::json::{self, arr, bool as jbool, close, null, obj, s, s_raw};
use crate::population;
use crate::signin::write_location;
use crate::time::{self, TICKS_PER_SECOND};
use crate::truth::bump;
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

/// riskEventType, legacy riskType, source, timing
/// riskEventType, legacy riskType, source, detectionTimingType
type Detection = (&'static str, &'static str, &'static str, &'static str);

const USER_DETECTIONS: &[(u32, Detection)] = &[
    (
        25,
        (
            "unfamiliarFeatures",
            "unfamiliarFeatures",
            "IdentityProtection",
            "realtime",
        ),
    ),
    (
        20,
        (
            "anonymizedIPAddress",
            "anonymizedIPAddress",
            "IdentityProtection",
            "realtime",
        ),
    ),
    (
        12,
        ("passwordSpray", "generic", "IdentityProtection", "offline"),
    ),
    (
        10,
        (
            "leakedCredentials",
            "leakedCredentials",
            "IdentityProtection",
            "offline",
        ),
    ),
    (
        10,
        (
            "unlikelyTravel",
            "unlikelyTravel",
            "IdentityProtection",
            "offline",
        ),
    ),
    (
        8,
        (
            "maliciousIPAddress",
            "maliciousIPAddress",
            "IdentityProtection",
            "offline",
        ),
    ),
    (
        5,
        (
            "suspiciousBrowser",
            "generic",
            "IdentityProtection",
            "offline",
        ),
    ),
    (
        5,
        (
            "investigationsThreatIntelligence",
            "investigationsThreatIntelligence",
            "IdentityProtection",
            "offline",
        ),
    ),
    (
        5,
        (
            "mcasImpossibleTravel",
            "generic",
            "MicrosoftCloudAppSecurity",
            "offline",
        ),
    ),
];

const SP_DETECTIONS: &[(u32, &str)] = &[
    (40, "suspiciousSignins"),
    (25, "investigationsThreatIntelligence"),
    (20, "leakedCredentials"),
    (15, "anomalousServicePrincipalActivity"),
];

fn level(rng: &mut crate::rng::Rng) -> &'static str {
    rng.weighted_copy(&[(35, "low"), (45, "medium"), (20, "high")])
}

fn state_detail(rng: &mut crate::rng::Rng) -> (&'static str, &'static str) {
    *rng.weighted(&[
        (70, ("atRisk", "none")),
        (15, ("remediated", "userPerformedSecuredPasswordChange")),
        (10, ("dismissed", "adminDismissedAllRiskForUser")),
        (5, ("confirmedCompromised", "adminConfirmedUserCompromised")),
    ])
}

impl State {
    fn risk_head(
        &self,
        out: &mut Vec<u8>,
        cat: Cat,
        ip: Option<&str>,
        corr: &[u8],
        identity: &str,
        region: &str,
    ) {
        self.head(
            out,
            &Head {
                time: TimeStyle::Us,
                resource: ResourceStyle::Lower,
                operation_name: match cat {
                    Cat::RiskyUsers => "Risky user",
                    Cat::UserRiskEvents => "User Risk Detection",
                    Cat::RiskySps => "Risky service principal",
                    _ => "Service Principal Risk Detection",
                },
                operation_version: "1.0",
                category: cat.name(),
                result_type: None,
                result_signature: Some("None"),
                result_description: None,
                duration_ms: Some((0, false)),
                caller_ip: ip,
                correlation_id: Some(corr),
                identity: Some(identity),
                location: Some(region),
            },
        );
    }

    pub(crate) fn risky_user(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let pop = &self.pop;
        let rng = &mut self.rng;
        let u = &pop.users[pop.user_skew.sample(rng)];
        let region = CITIES[u.city].short_region;
        let (state, detail) = state_detail(rng);
        let lvl = if state == "atRisk" {
            level(rng)
        } else {
            "none"
        };
        let deleted = rng.chance(20);
        self.risk_head(
            out,
            Cat::RiskyUsers,
            None,
            u.id.as_bytes(),
            &u.display,
            region,
        );
        s_raw(out, "id", &id);
        s(out, "userDisplayName", &u.display);
        s(out, "userPrincipalName", &u.upn);
        json::key(out, "riskLastUpdatedDateTime");
        out.push(b'"');
        time::iso3z(out, self.t);
        out.extend_from_slice(b"\",");
        s(out, "riskState", state);
        s(out, "riskDetail", detail);
        s(out, "riskLevel", lvl);
        jbool(out, "isGuest", u.guest);
        jbool(out, "isDeleted", deleted);
        jbool(out, "isProcessing", false);
        Self::end(out);
    }

    pub(crate) fn user_risk_event(&mut self, out: &mut Vec<u8>) {
        // 64-hex id: 16 hex of the unique part, then random.
        let (uh, ul) = crate::rng::unique_guid(self.seed, self.seq);
        let mut id = Vec::with_capacity(64);
        json::hex(&mut id, uh, 16);
        json::hex(&mut id, ul, 16);
        json::hex(&mut id, self.rng.u64(), 16);
        json::hex(&mut id, self.rng.u64(), 16);
        self.truth.note_id(&id);
        let request = self.rguid();
        let correlation = self.rguid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let u = &pop.users[pop.user_skew.sample(rng)];
        let &(event, risk_type, source, timing) = rng.weighted(USER_DETECTIONS);
        let leaked = event == "leakedCredentials";
        let city = if leaked {
            CITIES.len() - 1
        } else {
            HOME_CITIES + rng.idx(CITIES.len() - HOME_CITIES - 1)
        };
        let ip = if leaked {
            String::new()
        } else {
            population::ipv4(rng, data::IPV4_FIRST_OCTETS)
        };
        let c = &CITIES[city];
        let (state, detail) = state_detail(rng);
        let lvl = level(rng);
        let ua = rng.pick(data::DEVICE_KINDS).user_agent;
        let ip_opt = (!ip.is_empty()).then_some(ip.as_str());
        self.risk_head(
            out,
            Cat::UserRiskEvents,
            ip_opt,
            &id,
            &u.display,
            c.short_region,
        );
        let rng = &mut self.rng;
        s_raw(out, "id", &id);
        s_raw(out, "requestId", &request);
        s_raw(out, "correlationId", &correlation);
        s(out, "riskType", risk_type);
        s(out, "riskEventType", event);
        s(out, "riskState", state);
        s(out, "riskLevel", lvl);
        s(out, "riskDetail", detail);
        s(out, "source", source);
        s(out, "detectionTimingType", timing);
        s(out, "activity", if leaked { "user" } else { "signin" });
        s(out, "ipAddress", &ip);
        obj(out, "location");
        s(out, "city", c.city);
        s(out, "state", c.state);
        s(out, "countryOrRegion", c.country);
        obj(out, "geoCoordinates");
        json::raw(out, "altitude", b"0");
        json::raw(out, "latitude", c.lat.as_bytes());
        json::raw(out, "longitude", c.lon.as_bytes());
        close(out, b'}');
        close(out, b'}');
        let delay = if timing == "realtime" {
            rng.range(1, 30)
        } else {
            rng.range(600, 86_400)
        } as i64;
        let activity = self.t - delay * TICKS_PER_SECOND;
        for k in ["activityDateTime", "detectedDateTime"] {
            json::key(out, k);
            out.push(b'"');
            time::iso3z(out, activity);
            out.extend_from_slice(b"\",");
        }
        json::key(out, "lastUpdatedDateTime");
        out.push(b'"');
        time::iso3z(out, self.t);
        out.extend_from_slice(b"\",");
        s(out, "userId", &u.id);
        s(out, "userDisplayName", &u.display);
        s(out, "userPrincipalName", &u.upn);
        let info = format!("[{{\"Key\":\"userAgent\",\"Value\":\"{ua}\"}}]");
        s(out, "additionalInfo", &info);
        s(out, "tokenIssuerType", "AzureAD");
        null(out, "resourceTenantId");
        s(out, "homeTenantId", &pop.tenant.id);
        s(out, "userType", if u.guest { "guest" } else { "member" });
        s(out, "crossTenantAccessType", "none");
        Self::end(out);
        bump(&mut self.truth.risk_detections_by_type, event);
    }

    pub(crate) fn risky_sp(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let pop = &self.pop;
        let rng = &mut self.rng;
        let w = &pop.sps[pop.sp_skew.sample(rng)];
        let (state, detail) = *rng.weighted(&[
            (75, ("atRisk", "none")),
            (
                15,
                ("dismissed", "adminDismissedAllRiskForServicePrincipal"),
            ),
            (
                10,
                (
                    "confirmedCompromised",
                    "adminConfirmedServicePrincipalCompromised",
                ),
            ),
        ]);
        let lvl = level(rng);
        self.risk_head(
            out,
            Cat::RiskySps,
            None,
            w.sp_id.as_bytes(),
            &w.name,
            CITIES[w.city].short_region,
        );
        s_raw(out, "id", &id);
        s(out, "appId", &w.app_id);
        s(out, "servicePrincipalId", &w.sp_id);
        s(out, "displayName", &w.name);
        s(out, "servicePrincipalType", "Application");
        jbool(out, "isEnabled", true);
        jbool(out, "isProcessing", false);
        json::key(out, "riskLastUpdatedDateTime");
        out.push(b'"');
        time::iso3z(out, self.t);
        out.extend_from_slice(b"\",");
        s(out, "riskLevel", lvl);
        s(out, "riskState", state);
        s(out, "riskDetail", detail);
        Self::end(out);
    }

    pub(crate) fn sp_risk_event(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let request = self.rguid();
        let correlation = self.rguid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let w = &pop.sps[pop.sp_skew.sample(rng)];
        let event = *rng.weighted(SP_DETECTIONS);
        let city = HOME_CITIES + rng.idx(CITIES.len() - HOME_CITIES - 1);
        let ip = population::ipv4(rng, data::IPV4_FIRST_OCTETS);
        let lvl = level(rng);
        let c = &CITIES[city];
        self.risk_head(
            out,
            Cat::SpRiskEvents,
            Some(&ip),
            &id,
            &w.name,
            c.short_region,
        );
        let rng = &mut self.rng;
        s_raw(out, "id", &id);
        s_raw(out, "requestId", &request);
        s_raw(out, "correlationId", &correlation);
        s(out, "riskEventType", event);
        s(out, "riskState", "atRisk");
        s(out, "riskLevel", lvl);
        s(out, "riskDetail", "none");
        s(out, "source", "IdentityProtection");
        s(out, "detectionTimingType", "offline");
        s(out, "activity", "servicePrincipal");
        s(out, "ipAddress", &ip);
        write_location(out, c);
        let activity = self.t - rng.range(3600, 86_400) as i64 * TICKS_PER_SECOND;
        for (k, t) in [
            ("activityDateTime", activity),
            ("detectedDateTime", activity),
            ("lastUpdatedDateTime", self.t),
        ] {
            json::key(out, k);
            out.push(b'"');
            time::iso3z(out, t);
            out.extend_from_slice(b"\",");
        }
        s(out, "appId", &w.app_id);
        s(out, "servicePrincipalId", &w.sp_id);
        s(out, "servicePrincipalDisplayName", &w.name);
        json::str_list(out, "keyIds", &[&w.key_id]);
        arr(out, "mitreTechniqueId");
        close(out, b']');
        s(out, "tokenIssuerType", "AzureAD");
        let info = format!(
            "[{{\"Key\":\"clientCredentialType\",\"Value\":\"{}\"}}]",
            w.credential
        );
        s(out, "additionalInfo", &info);
        Self::end(out);
        bump(&mut self.truth.risk_detections_by_type, event);
    }
}
