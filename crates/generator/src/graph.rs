//! MicrosoftGraphActivityLogs and AzureADGraphActivityLogs records.

use crate::data::{self, CITIES};
use crate::json::{self, int, null, s, s_raw};
use crate::time::{self, DOTNET_EPOCH_TICKS, TICKS_PER_SECOND};
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

/// (weight, method, path after the version; `{u}` = a user id, `{g}` = a group id)
const REQUESTS: &[(u32, (&str, &str))] = &[
    (20, ("GET", "/me")),
    (
        12,
        (
            "GET",
            "/me/messages?$top=50&$select=subject,from,receivedDateTime",
        ),
    ),
    (
        10,
        (
            "GET",
            "/users?$select=id,displayName,userPrincipalName,accountEnabled&$top=999",
        ),
    ),
    (8, ("GET", "/users/{u}/memberOf")),
    (6, ("GET", "/groups/{g}/members?$select=id,displayName")),
    (6, ("GET", "/me/photos/48x48/$value")),
    (
        5,
        (
            "GET",
            "/auditLogs/signIns?$filter=createdDateTime ge 2025-01-05T00:00:00Z",
        ),
    ),
    (5, ("GET", "/organization")),
    (
        4,
        (
            "GET",
            "/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'",
        ),
    ),
    (4, ("GET", "/deviceManagement/managedDevices?$top=100")),
    (4, ("GET", "/security/alerts_v2?$top=50")),
    (3, ("GET", "/users/{u}/authentication/methods")),
    (3, ("GET", "/subscribedSkus")),
    (3, ("GET", "/sites/root/drive/root/children")),
    (3, ("POST", "/me/sendMail")),
    (2, ("POST", "/groups/{g}/members/$ref")),
    (2, ("PATCH", "/users/{u}")),
    (1, ("DELETE", "/groups/{g}/members/{u}/$ref")),
    (2, ("POST", "/$batch")),
];

const AAD_REQUESTS: &[&str] = &[
    "users",
    "groups",
    "tenantDetails",
    "servicePrincipals",
    "applications",
    "me",
    "directoryRoles",
];

fn status_for(rng: &mut crate::rng::Rng, method: &str) -> i64 {
    let ok = match method {
        "POST" => 201,
        "PATCH" | "DELETE" => 204,
        _ => 200,
    };
    *rng.weighted(&[
        (900, ok),
        (35, 404),
        (25, 403),
        (15, 429),
        (12, 400),
        (8, 401),
        (5, 500),
    ])
}

impl State {
    pub(crate) fn graph_activity(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let client_request = self.rguid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let &(method, path) = rng.weighted(REQUESTS);
        let status = status_for(rng, method);
        let beta = rng.chance(150);
        // Delegated (a user through an app) or app-only (a workload).
        let delegated = rng.chance(600);
        let u = &pop.users[pop.user_skew.sample(rng)];
        let w = &pop.sps[pop.sp_skew.sample(rng)];
        let app = pop.app_skew.sample(rng);
        let (ip, city) = if delegated {
            (u.ip.as_str(), u.city)
        } else {
            (w.ip.as_str(), w.city)
        };
        let region = CITIES[city].region;
        let duration = rng.range(20_000, 2_500_000) as i64;
        let mut status_buf = itoa::Buffer::new();
        self.head(
            out,
            &Head {
                time: TimeStyle::Iso,
                resource: ResourceStyle::Upper,
                operation_name: "Microsoft Graph Activity",
                operation_version: if beta { "beta" } else { "v1.0" },
                category: Cat::GraphActivity.name(),
                result_type: None,
                result_signature: Some(status_buf.format(status)),
                result_description: None,
                duration_ms: Some((duration, false)),
                caller_ip: Some(ip),
                correlation_id: Some(&id),
                identity: None,
                location: Some(region),
            },
        );
        let rng = &mut self.rng;
        let tmp = &mut self.scratch;
        let t = self.t;
        json::key(out, "timeGenerated");
        out.push(b'"');
        time::iso7z(out, t);
        out.extend_from_slice(b"\",");
        s(out, "location", region);
        s_raw(out, "requestId", &id);
        s_raw(out, "operationId", &id);
        s_raw(out, "clientRequestId", &client_request);
        s(out, "apiVersion", if beta { "beta" } else { "v1.0" });
        s(out, "requestMethod", method);
        int(out, "responseStatusCode", status);
        s(out, "tenantId", &pop.tenant.id);
        int(out, "durationMs", duration);
        let size = if status >= 400 {
            rng.range(150, 400)
        } else if method == "GET" {
            rng.range(300, 250_000)
        } else {
            0
        };
        int(out, "responseSizeBytes", size as i64);
        json::key(out, "signInActivityId");
        out.push(b'"');
        json::b64_token(out, rng.u64(), rng.u64());
        out.extend_from_slice(b"\",");
        if delegated {
            null(out, "roles");
            s(
                out,
                "scopes",
                "openid profile email User.Read Mail.Read Directory.Read.All",
            );
            match u.role {
                Some(r) => s(
                    out,
                    "wids",
                    &format!("{} b79fbf4d-3ef9-4689-8143-76b194e85509", data::ROLES[r].1),
                ),
                None => s(out, "wids", "b79fbf4d-3ef9-4689-8143-76b194e85509"),
            }
        } else {
            s(
                out,
                "roles",
                "User.Read.All Group.Read.All AuditLog.Read.All",
            );
            null(out, "scopes");
            s(out, "wids", "0997a1d0-0d1d-4acb-b408-d5ca73121e90");
        }
        s(out, "ipAddress", ip);
        s(
            out,
            "userAgent",
            if delegated {
                data::DEVICE_KINDS[0].user_agent
            } else {
                w.user_agent
            },
        );
        // requestUri with ids substituted.
        tmp.clear();
        tmp.extend_from_slice(b"https://graph.microsoft.com/");
        tmp.extend_from_slice(if beta { b"beta" } else { b"v1.0" });
        let target_user = &pop.users[rng.idx(pop.users.len())];
        let group = &pop.groups[rng.idx(pop.groups.len())];
        let path = path
            .replace("{u}", &target_user.id)
            .replace("{g}", &group.id);
        tmp.extend_from_slice(path.as_bytes());
        json::key(out, "requestUri");
        out.push(b'"');
        json::esc_bytes(out, tmp);
        out.extend_from_slice(b"\",");
        if delegated {
            s(out, "appId", &pop.app_ids[app].0);
            s(out, "userId", &u.id);
            null(out, "servicePrincipalId");
        } else {
            s(out, "appId", &w.app_id);
            null(out, "userId");
            s(out, "servicePrincipalId", &w.sp_id);
        }
        json::key(out, "tokenIssuedAt");
        out.push(b'"');
        time::iso0z(out, t - rng.range(60, 3500) as i64 * TICKS_PER_SECOND);
        out.extend_from_slice(b"\",");
        s(
            out,
            "identityProvider",
            &format!("https://sts.windows.net/{}/", pop.tenant.id),
        );
        s(
            out,
            "clientAuthMethod",
            if delegated {
                "0"
            } else {
                rng.pick_copy(&["1", "2"])
            },
        );
        s(out, "atContent", "");
        if delegated && u.devices.first().is_some_and(|d| !d.id.is_empty()) {
            s(out, "deviceId", &u.devices[0].id);
        } else {
            null(out, "deviceId");
        }
        s(out, "sessionId", "");
        Self::end(out);
        *self
            .truth
            .graph_requests_by_status
            .entry(status)
            .or_insert(0) += 1;
    }

    pub(crate) fn aad_graph_activity(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let session = self.rguid();
        let pop = &self.pop;
        let rng = &mut self.rng;
        let delegated = rng.chance(500);
        let u = &pop.users[pop.user_skew.sample(rng)];
        let w = &pop.sps[pop.sp_skew.sample(rng)];
        let status = *rng.weighted(&[(880, 200i64), (50, 403), (40, 404), (20, 400), (10, 500)]);
        let resource = *rng.pick(AAD_REQUESTS);
        let region = *rng.pick(&["WestUS", "SouthCentralUS", "NorthEurope", "WestEurope"]);
        let t = self.t;
        self.head(
            out,
            &Head {
                time: TimeStyle::Absent,
                resource: ResourceStyle::Absent,
                operation_name: "AAD Graph Activity",
                operation_version: "1.0",
                category: Cat::AadGraph.name(),
                result_type: None,
                result_signature: None,
                result_description: None,
                duration_ms: None,
                caller_ip: None,
                correlation_id: None,
                identity: None,
                location: Some(region),
            },
        );
        let rng = &mut self.rng;
        int(
            out,
            "__UDI_RequiredFields_EventTime",
            DOTNET_EPOCH_TICKS + t,
        );
        s(
            out,
            "__UDI_RequiredFields_RegionScope",
            if region.contains("Europe") {
                "EU"
            } else {
                "NA"
            },
        );
        s(out, "__UDI_RequiredFields_TenantId", &pop.tenant.id);
        s_raw(out, "__UDI_RequiredFields_UniqueId", &id);
        s(
            out,
            "actorType",
            if delegated {
                "User"
            } else {
                "ServicePrincipal"
            },
        );
        s(
            out,
            "apiVersion",
            rng.pick_copy(&["1.6", "1.61-internal", "2.0"]),
        );
        s(
            out,
            "appId",
            if delegated {
                &pop.app_ids[13].0
            } else {
                &w.app_id
            },
        );
        s(
            out,
            "callerIpAddress",
            if delegated { &u.ip } else { &w.ip },
        );
        int(out, "clientAuthMethod", if delegated { 0 } else { 1 });
        s(out, "deviceId", "");
        s(out, "directAccessSource", "Gateway");
        int(out, "durationMs", rng.range(5, 900) as i64);
        s(out, "env_cloud_role", "restdirectoryservice");
        s(out, "httpMethod", "GET");
        int(out, "httpStatusCode", status);
        s(
            out,
            "identityProvider",
            &format!("https://sts.windows.net/{}/", pop.tenant.id),
        );
        json::key(out, "issuedAt");
        out.push(b'"');
        time::us(out, t - rng.range(60, 3500) as i64 * TICKS_PER_SECOND);
        out.extend_from_slice(b"\",");
        s(out, "location", region);
        s_raw(out, "requestId", &id);
        let uri = if resource == "users" && rng.chance(300) {
            format!("/v2/{}/users/<pii>{}</pii>", pop.tenant.id, u.upn)
        } else {
            format!("/v2/{}/{resource}", pop.tenant.id)
        };
        s(out, "requestUri", &uri);
        int(
            out,
            "responseSizeBytes",
            if status == 200 {
                rng.range(200, 90_000) as i64
            } else {
                -1
            },
        );
        s(
            out,
            "roles",
            if delegated {
                ""
            } else {
                " Directory.Read.All,Group.Read.All,"
            },
        );
        s(
            out,
            "scopes",
            if delegated { "user_impersonation" } else { "" },
        );
        s(
            out,
            "servicePrincipalId",
            if delegated { "" } else { &w.sp_id },
        );
        s_raw(out, "sessionId", &session);
        json::key(out, "signInActivityId");
        out.push(b'"');
        json::b64_token(out, rng.u64(), rng.u64());
        out.extend_from_slice(b"\",");
        s(out, "tenantId", &pop.tenant.id);
        json::key(out, "timeGenerated");
        out.push(b'"');
        time::iso7z(out, t);
        out.extend_from_slice(b"\",");
        s(
            out,
            "userAgent",
            if delegated {
                "Microsoft Azure Graph Client Library 2.1.17"
            } else {
                w.user_agent
            },
        );
        s(out, "userId", if delegated { &u.id } else { "" });
        s(out, "wids", "");
        Self::end(out);
        *self
            .truth
            .graph_requests_by_status
            .entry(status)
            .or_insert(0) += 1;
    }
}
