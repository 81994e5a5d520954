//! Sign-ins of workload identities: application service principals, managed identities and
//! Microsoft first-party service principals. No user, no Conditional Access, credentials instead.

use super::{kv, write_location};
use crate::data::{self, CITIES};
use crate::json::{self, arr, bool as jbool, close, int, null, obj, s, s_raw};
use crate::time;
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

impl State {
    pub(crate) fn workload_signin(&mut self, cat: Cat, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let correlation = self.rguid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let tenant = &pop.tenant;
        // (name, app id, service principal id, key id, credential, resource, ip, city, ua, msi)
        let (name, app_id, sp_id, key_id, credential, resource, ip, city, ua, msi, owner) =
            match cat {
                Cat::ManagedIdentity => {
                    let w = &pop.mis[pop.mi_skew.sample(rng)];
                    let r = data::SP_RESOURCES[w.resources[rng.idx(2)]];
                    (
                        w.name.as_str(),
                        w.app_id.as_str(),
                        w.sp_id.as_str(),
                        "",
                        w.credential,
                        r,
                        "",
                        w.city,
                        w.user_agent,
                        w.msi.as_ref(),
                        tenant.id.as_str(),
                    )
                }
                Cat::MicrosoftSp => {
                    let (n, app) = *rng.pick(data::MS_SPS);
                    let r = *rng.pick(data::SP_RESOURCES);
                    (
                        n,
                        app,
                        "",
                        "",
                        "none",
                        r,
                        "",
                        CITIES.len() - 1,
                        "",
                        None,
                        data::MICROSOFT_SERVICES_TENANT,
                    )
                }
                _ => {
                    let w = &pop.sps[pop.sp_skew.sample(rng)];
                    let r = data::SP_RESOURCES[w.resources[rng.idx(2)]];
                    (
                        w.name.as_str(),
                        w.app_id.as_str(),
                        w.sp_id.as_str(),
                        w.key_id.as_str(),
                        w.credential,
                        r,
                        w.ip.as_str(),
                        w.city,
                        w.user_agent,
                        None,
                        tenant.id.as_str(),
                    )
                }
            };
        let failure = match cat {
            Cat::ServicePrincipal if rng.chance(35) => Some(rng.weighted(data::SP_FAILURES)),
            Cat::ManagedIdentity if rng.chance(8) => Some(rng.weighted(data::MI_FAILURES)),
            _ => None,
        };
        let code = failure.map_or(0, |f| f.0);
        let mut code_buf = itoa::Buffer::new();
        let city_ref = &CITIES[city];
        let location = if city_ref.country.is_empty() {
            None
        } else {
            Some(city_ref.country)
        };
        self.head(
            out,
            &Head {
                time: TimeStyle::Iso,
                resource: ResourceStyle::Normal,
                operation_name: "Sign-in activity",
                operation_version: "1.0",
                category: cat.name(),
                result_type: Some(code_buf.format(code)),
                result_signature: Some("None"),
                result_description: failure.map(|f| f.1),
                duration_ms: Some((0, false)),
                caller_ip: if ip.is_empty() { None } else { Some(ip) },
                correlation_id: Some(&correlation),
                identity: Some(name),
                location,
            },
        );
        let t = self.t;
        let rng = &mut self.rng;
        s_raw(out, "id", &id);
        json::key(out, "createdDateTime");
        out.push(b'"');
        time::iso_offset(out, t);
        out.extend_from_slice(b"\",");
        null(out, "userId");
        s(out, "userPrincipalName", "");
        s(out, "userDisplayName", "");
        s(out, "appId", app_id);
        s(out, "appDisplayName", name);
        s(out, "ipAddress", ip);
        obj(out, "status");
        int(out, "errorCode", code);
        if let Some(f) = failure {
            s(out, "failureReason", f.1);
            s(out, "additionalDetails", f.2);
        }
        close(out, b'}');
        write_location(out, city_ref);
        s_raw(out, "correlationId", &correlation);
        s(out, "conditionalAccessStatus", "notApplied");
        arr(out, "appliedConditionalAccessPolicies");
        close(out, b']');
        arr(out, "conditionalAccessAudiences");
        close(out, b']');
        s_raw(out, "originalRequestId", &id);
        jbool(out, "isInteractive", false);
        s(out, "tokenIssuerName", "");
        s(out, "tokenIssuerType", "AzureAD");
        arr(out, "authenticationProcessingDetails");
        kv(
            out,
            "Azure AD App Authentication Library",
            rng.pick_copy(&[
                "",
                "Family: MSAL Library: MSAL.NET 4.61.3 Platform: .NET",
                "Family: MSAL Library: MSAL.Python 1.28.0 Platform: Python",
            ]),
        );
        kv(out, "IsCAEToken", "False");
        close(out, b']');
        arr(out, "networkLocationDetails");
        close(out, b']');
        int(
            out,
            "processingTimeInMilliseconds",
            rng.range(0, 120) as i64,
        );
        s(out, "riskDetail", "none");
        s(out, "riskLevelAggregated", "low");
        s(out, "riskLevelDuringSignIn", "low");
        s(out, "riskState", "none");
        arr(out, "riskEventTypes");
        close(out, b']');
        arr(out, "riskEventTypes_v2");
        close(out, b']');
        s(out, "resourceDisplayName", resource.0);
        s(out, "resourceId", resource.1);
        s(out, "resourceTenantId", &tenant.id);
        s(out, "resourceServicePrincipalId", resource.1);
        s(out, "homeTenantId", &tenant.id);
        arr(out, "authenticationDetails");
        close(out, b']');
        arr(out, "authenticationRequirementPolicies");
        close(out, b']');
        s(
            out,
            "authenticationRequirement",
            "singleFactorAuthentication",
        );
        s(out, "servicePrincipalName", name);
        s(out, "servicePrincipalId", sp_id);
        s(out, "servicePrincipalCredentialKeyId", key_id);
        s(out, "servicePrincipalCredentialThumbprint", "");
        s(out, "clientCredentialType", credential);
        jbool(out, "flaggedForReview", false);
        jbool(out, "isTenantRestricted", false);
        s(out, "crossTenantAccessType", "none");
        obj(out, "privateLinkDetails");
        close(out, b'}');
        json::key(out, "uniqueTokenIdentifier");
        out.push(b'"');
        json::b64_token(out, rng.u64(), rng.u64());
        out.extend_from_slice(b"\",");
        s(out, "incomingTokenType", "none");
        s(out, "authenticationProtocol", "none");
        null(out, "appServicePrincipalId");
        s(out, "appOwnerTenantId", owner);
        s(
            out,
            "resourceOwnerTenantId",
            data::MICROSOFT_SERVICES_TENANT,
        );
        s(out, "userAgent", ua);
        s(out, "sessionId", "");
        s(out, "signInTokenProtectionStatus", "none");
        s(out, "originalTransferMethod", "none");
        jbool(out, "isThroughGlobalSecureAccess", false);
        s(out, "globalSecureAccessIpAddress", "");
        s(out, "ipAddressFromResourceProvider", "");
        s(out, "sourceAppClientId", "");
        if let Some((kind, resource_id)) = msi {
            obj(out, "managedServiceIdentity");
            s(out, "msiType", kind);
            s(out, "associatedResourceId", resource_id);
            s(out, "federatedTokenId", "");
            s(out, "federatedTokenIssuer", "");
            close(out, b'}');
        }
        out.extend_from_slice(
            b"\"agent\":{\"agentType\":\"notAgentic\",\"agentSubjectType\":\"notAgentic\"},",
        );
        json::str_list(
            out,
            "signInEventTypes",
            &[if cat == Cat::ManagedIdentity {
                "managedIdentity"
            } else {
                "servicePrincipal"
            }],
        );
        Self::end(out);
        self.truth.signin(code, None, false);
    }
}
