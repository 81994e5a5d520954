//! ProvisioningLogs records (Graph provisioningObjectSummary in the Event Hubs wire shape:
//! PascalCase `Id`/`Name`/`Type`, numeric step enums, plain-string modified values).

use crate::json::{self, arr, close, int, null, obj, s, s_raw};
use crate::rng::mix;
use crate::time;
use crate::truth::ProvisioningKey;
use crate::{Cat, Head, ResourceStyle, State, TimeStyle};

/// A provisioning job: source, target, service principal, job-id template prefix, SCIM target.
#[derive(Debug)]
struct Flow {
    source: &'static str,
    target: &'static str,
    service_principal: &'static str,
    job: &'static str,
    scim: bool,
    groups: bool,
}

const FLOWS: &[(u32, Flow)] = &[
    (
        30,
        Flow {
            source: "Workday",
            target: "Active Directory",
            service_principal: "Workday to Active Directory User Provisioning",
            job: "Workday2AD",
            scim: false,
            groups: false,
        },
    ),
    (
        20,
        Flow {
            source: "Azure Active Directory",
            target: "ServiceNow",
            service_principal: "ServiceNow",
            job: "ServiceNowOutDelta",
            scim: false,
            groups: true,
        },
    ),
    (
        15,
        Flow {
            source: "Azure Active Directory",
            target: "Adobe Identity Management",
            service_principal: "Adobe Identity Management",
            job: "AdobeIdentityManagementOutDelta",
            scim: true,
            groups: true,
        },
    ),
    (
        15,
        Flow {
            source: "Azure Active Directory",
            target: "Dropbox",
            service_principal: "Dropbox Business",
            job: "DropboxSCIMOutDelta",
            scim: true,
            groups: true,
        },
    ),
    (
        20,
        Flow {
            source: "Azure Active Directory",
            target: "Salesforce",
            service_principal: "Salesforce",
            job: "SalesForceOutDelta",
            scim: false,
            groups: false,
        },
    ),
];

/// action, provisioningAction, import change type
const ACTIONS: &[(u32, (&str, &str, &str))] = &[
    (25, ("Create", "create", "Add")),
    (50, ("Update", "update", "Update")),
    (5, ("Delete", "delete", "Delete")),
    (8, ("Disable", "disable", "Update")),
    (12, ("Other", "other", "Update")),
];

const ERRORS: &[(&str, &str, &str)] = &[
    (
        "SystemForCrossDomainIdentityManagementBadRequest",
        "The target application rejected the request as malformed (HTTP 400).",
        "Check the attribute mappings for values the application does not accept.",
    ),
    (
        "DuplicateTargetEntries",
        "More than one object in the target system matched the source object.",
        "Remove the duplicate objects in the target system or refine the matching attribute.",
    ),
    (
        "AdDirectoryInsufficientAccessRights",
        "The provisioning agent's account lacks permission to update the object in Active Directory.",
        "Grant the gMSA write access to the target OU.",
    ),
    (
        "SystemForCrossDomainIdentityManagementServiceIncompatible",
        "The target application returned an unexpected response (HTTP 500).",
        "Retry later; contact the application vendor if the error persists.",
    ),
];

fn flow_guid(seed: u64, flow: usize, salt: u64) -> (u64, u64) {
    let h = mix(seed ^ ((flow as u64 + 1) << 32) ^ salt);
    (h, mix(h ^ salt))
}

impl State {
    pub(crate) fn provisioning(&mut self, out: &mut Vec<u8>) {
        let id = self.uid();
        self.truth.note_id(&id);
        let change = self.rguid();
        let rng = &mut self.rng;
        let fi = {
            let total: u64 = FLOWS.iter().map(|f| u64::from(f.0)).sum();
            let mut x = rng.below(total);
            FLOWS
                .iter()
                .position(|f| {
                    let hit = x < u64::from(f.0);
                    x = x.saturating_sub(u64::from(f.0));
                    hit
                })
                .unwrap_or(0)
        };
        let flow = &FLOWS[fi].1;
        let &(action, prov_action, change_type) = rng.weighted(ACTIONS);
        let status = if action == "Other" {
            if rng.chance(800) {
                "skipped"
            } else {
                "success"
            }
        } else {
            *rng.weighted(&[(80, "success"), (15, "skipped"), (5, "failure")])
        };
        let result_type = match status {
            "success" => "Success",
            "skipped" => "Skipped",
            _ => "Failure",
        };
        let group = flow.groups && rng.chance(200);
        let duration = rng.range(150, 6000) as i64;
        self.head(
            out,
            &Head {
                time: TimeStyle::Iso,
                resource: ResourceStyle::Normal,
                operation_name: "Provisioning activity",
                operation_version: "1.0",
                category: Cat::Provisioning.name(),
                result_type: Some(result_type),
                result_signature: None,
                result_description: None,
                duration_ms: Some((duration, false)),
                caller_ip: None,
                correlation_id: Some(&change),
                identity: Some(std::str::from_utf8(&id).unwrap_or_default()),
                location: None,
            },
        );
        let pop = &self.pop;
        let rng = &mut self.rng;
        let tenant = &pop.tenant;
        let user = &pop.users[pop.user_skew.sample(rng)];
        let g = rng.pick(&pop.groups);
        let (obj_id, obj_name, upn) = if group {
            (g.id.as_str(), g.name, g.name)
        } else {
            (user.id.as_str(), user.display.as_str(), user.upn.as_str())
        };

        s_raw(out, "id", &id);
        json::key(out, "activityDateTime");
        out.push(b'"');
        time::iso7z(out, self.t);
        out.extend_from_slice(b"\",");
        s(out, "tenantId", &tenant.id);
        let (jh, jl) = flow_guid(self.seed, fi, 1);
        json::key(out, "jobId");
        out.push(b'"');
        out.extend_from_slice(flow.job.as_bytes());
        out.push(b'.');
        out.extend_from_slice(tenant.id_nodash.as_bytes());
        out.push(b'.');
        json::guid(out, jh, jl);
        out.extend_from_slice(b"\",");
        // A sync cycle runs every 40 minutes.
        let (ch, cl) = flow_guid(
            self.seed,
            fi,
            2 + (self.t / (40 * 60 * time::TICKS_PER_SECOND)) as u64,
        );
        json::key(out, "cycleId");
        out.push(b'"');
        json::guid(out, ch, cl);
        out.extend_from_slice(b"\",");
        s_raw(out, "changeId", &change);
        s(out, "action", action);
        s(out, "provisioningAction", prov_action);
        let (sph, spl) = flow_guid(self.seed, fi, 3);
        let sp_id = crate::guid_arr(sph, spl);
        obj(out, "servicePrincipal");
        s_raw(out, "Id", &sp_id);
        s(out, "Name", flow.service_principal);
        close(out, b'}');
        let system = |out: &mut Vec<u8>, key: &str, name: &str, salt: u64, details: bool| {
            obj(out, key);
            obj(out, "details");
            if details {
                let (ah, al) = flow_guid(self.seed, fi, 4);
                json::key(out, "ApplicationId");
                out.push(b'"');
                json::guid(out, ah, al);
                out.extend_from_slice(b"\",");
                s_raw(out, "ServicePrincipalId", &sp_id);
                s(out, "ServicePrincipalDisplayName", flow.service_principal);
            }
            close(out, b'}');
            let (h, l) = flow_guid(self.seed, fi, salt);
            json::key(out, "Id");
            out.push(b'"');
            json::guid(out, h, l);
            out.extend_from_slice(b"\",");
            s(out, "Name", name);
            close(out, b'}');
        };
        let inbound = flow.source != "Azure Active Directory";
        system(out, "sourceSystem", flow.source, 5, inbound);
        system(out, "targetSystem", flow.target, 6, !inbound);
        out.extend_from_slice(b"\"initiatedBy\":{\"Type\":\"system\",\"Id\":\"\",\"Name\":\"Azure AD Provisioning Service\"},");
        let kind = if group { "Group" } else { "User" };
        obj(out, "sourceIdentity");
        s(out, "identityType", kind);
        obj(out, "details");
        s(out, "id", obj_id);
        s(out, "odatatype", kind);
        s(out, "DisplayName", obj_name);
        if !group {
            s(out, "UserPrincipalName", upn);
        }
        close(out, b'}');
        s(out, "Id", obj_id);
        s(out, "Name", obj_name);
        close(out, b'}');
        let target_type = match (flow.scim, group) {
            (true, true) => "urn:ietf:params:scim:schemas:core:2.0:Group",
            (true, false) => "urn:ietf:params:scim:schemas:core:2.0:User",
            (false, true) => "Group",
            (false, false) => "User",
        };
        obj(out, "targetIdentity");
        s(out, "identityType", target_type);
        obj(out, "details");
        close(out, b'}');
        let exists = action != "Create";
        if exists || status == "success" {
            let tid = rng.u64();
            json::key(out, "Id");
            out.push(b'"');
            json::hex(out, tid, 16);
            out.extend_from_slice(b"\",");
            s(out, "Name", upn);
        } else {
            s(out, "Id", "");
            s(out, "Name", "");
        }
        close(out, b'}');
        obj(out, "provisioningStatusInfo");
        s(out, "Status", status);
        if status == "failure" {
            let (code, reason, recommended) = *rng.pick(ERRORS);
            obj(out, "errorInformation");
            s(out, "errorCode", code);
            s(out, "reason", reason);
            s(out, "additionalDetails", "");
            s(out, "errorCategory", "nonServiceFailure");
            s(out, "recommendedAction", recommended);
            close(out, b'}');
        } else {
            null(out, "errorInformation");
        }
        close(out, b'}');
        obj(out, "statusInfo");
        int(
            out,
            "Status",
            match status {
                "success" => 0,
                "failure" => 1,
                _ => 2,
            },
        );
        close(out, b'}');

        arr(out, "provisioningSteps");
        let step = |out: &mut Vec<u8>,
                    name: &str,
                    typ: i64,
                    st: i64,
                    desc: &str,
                    details: &[(&str, &str)]| {
            out.push(b'{');
            s(out, "name", name);
            int(out, "provisioningStepType", typ);
            int(out, "status", st);
            s(out, "description", desc);
            obj(out, "details");
            for (k, v) in details {
                s(out, k, v);
            }
            close(out, b'}');
            close(out, b'}');
        };
        let tmp = &mut self.scratch;
        tmp.clear();
        let desc = format!(
            "Received {kind} '{upn}' change of type ({change_type}) from {}",
            flow.source
        );
        step(
            out,
            &format!("EntryImport{change_type}"),
            0,
            0,
            &desc,
            &[
                ("objectId", obj_id),
                (
                    "accountEnabled",
                    if action == "Disable" { "False" } else { "True" },
                ),
                ("displayName", obj_name),
                (
                    "IsSoftDeleted",
                    if action == "Delete" { "True" } else { "False" },
                ),
                ("department", user.department),
            ],
        );
        step(
            out,
            "EntrySynchronizationScoping",
            1,
            0,
            &format!("Determine if {kind} in scope by evaluating against each scoping filter"),
            &[
                ("Active in the source system", "True"),
                ("Assigned to the application", "True"),
                ("User has the required role", "True"),
                ("Scoping filter evaluation passed", "True"),
                ("ScopeEvaluationResult", "{}"),
            ],
        );
        let sync_name = format!("EntrySynchronization{change_type}");
        step(
            out,
            &sync_name,
            2,
            0,
            &format!(
                "{kind} '{upn}' will be {} in {}",
                match action {
                    "Create" => "created",
                    "Delete" => "deleted",
                    "Disable" => "disabled",
                    _ => "updated",
                },
                flow.target
            ),
            &[],
        );
        if status == "skipped" {
            step(
                out,
                "EntrySynchronizationSkip",
                3,
                2,
                &format!(
                    "{kind} '{upn}' was skipped because no attribute that the target system tracks changed."
                ),
                &[
                    ("SkipReason", "RedundantExport"),
                    ("ReportableIdentifier", upn),
                ],
            );
        } else {
            let export = format!("EntryExport{change_type}");
            let st = if status == "failure" { 1 } else { 0 };
            let d = if st == 0 {
                format!(
                    "{kind} '{upn}' was {} in {}",
                    match action {
                        "Create" => "created",
                        "Delete" => "deleted",
                        _ => "updated",
                    },
                    flow.target
                )
            } else {
                format!("Failed to export {kind} '{upn}' to {}", flow.target)
            };
            step(out, &export, 5, st, &d, &[("ReportableIdentifier", upn)]);
        }
        close(out, b']');

        arr(out, "modifiedProperties");
        if status != "skipped" && action != "Delete" {
            let props: &[(&str, &str)] = if inbound {
                &[
                    ("sAMAccountName", upn),
                    ("displayName", obj_name),
                    ("department", user.department),
                    ("title", user.title),
                ]
            } else if group {
                &[("displayName", obj_name), ("externalId", obj_id)]
            } else {
                &[
                    ("userName", upn),
                    ("active", if action == "Disable" { "False" } else { "True" }),
                    ("displayName", obj_name),
                    ("emails[type eq \"work\"].value", upn),
                ]
            };
            for (k, v) in props {
                out.push(b'{');
                s(out, "displayName", k);
                null(out, "oldValue");
                s(out, "newValue", v);
                close(out, b'}');
            }
        }
        close(out, b']');
        int(out, "durationInMilliseconds", duration);
        Self::end(out);

        let key = ProvisioningKey {
            source: flow.source.to_string(),
            target: flow.target.to_string(),
            action: action.to_string(),
            status: status.to_string(),
        };
        *self.truth.provisioning.entry(key).or_insert(0) += 1;
    }
}
