//! Provisioning (Graph `provisioningObjectSummary`): what the provisioning service did to which
//! identity, from which source system into which target system.

use crate::error::ErrorKind;
use crate::fields::*;
use crate::json::{JsonStr, Object};
use crate::time::Timestamp;

const P: &str = "properties";

#[derive(Debug, Clone, Default)]
pub struct Provisioning<'a> {
    pub id: Option<JsonStr<'a>>,
    pub activity_time: Option<Timestamp>,
    pub job_id: Option<JsonStr<'a>>,
    pub cycle_id: Option<JsonStr<'a>>,
    pub change_id: Option<JsonStr<'a>>,
    /// Legacy capitalised action (`Create`); `provisioning_action` is the Graph enum (`create`).
    pub action: Option<JsonStr<'a>>,
    pub provisioning_action: Option<JsonStr<'a>>,
    /// `provisioningStatusInfo.Status`: `success`, `skipped`, `failure`, `warning`.
    pub status: Option<JsonStr<'a>>,
    pub error_code: Option<JsonStr<'a>>,
    pub error_reason: Option<JsonStr<'a>>,
    pub error_category: Option<JsonStr<'a>>,
    pub service_principal: Party<'a>,
    pub source_system: Party<'a>,
    pub target_system: Party<'a>,
    pub initiated_by: Party<'a>,
    pub source_identity: Identity<'a>,
    pub target_identity: Identity<'a>,
    pub duration_ms: Option<i64>,
}

/// A system or service principal as provisioning writes it: PascalCase `Id`, `Name`, `Type`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Party<'a> {
    pub id: Option<JsonStr<'a>>,
    pub name: Option<JsonStr<'a>>,
    pub kind: Option<JsonStr<'a>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// `User`, `Group`, or a SCIM schema URN.
    pub identity_type: Option<JsonStr<'a>>,
    pub id: Option<JsonStr<'a>>,
    pub name: Option<JsonStr<'a>>,
    pub user_principal_name: Option<JsonStr<'a>>,
}

/// Reads `key` in PascalCase or Graph camelCase (`Id`/`id`, `Name`/`displayName`).
fn get_either<'v, 'a>(o: &'v Object<'a>, keys: &[&str]) -> Option<&'v crate::json::Value<'a>> {
    keys.iter().find_map(|k| o.get(k))
}

impl<'a> Party<'a> {
    fn read(o: &Object<'a>, path: &str) -> Result<Self, ErrorKind> {
        let get = |keys: &[&str]| {
            get_either(o, keys).map_or(Ok(None), |v| opt_str(v, path, keys[0]).map(non_empty))
        };
        Ok(Party {
            id: get(&["Id", "id"])?,
            name: get(&["Name", "displayName", "name"])?,
            kind: get(&["Type", "type"])?,
        })
    }
}

impl<'a> Identity<'a> {
    fn read(o: &Object<'a>, path: &str) -> Result<Self, ErrorKind> {
        let get = |keys: &[&str]| {
            get_either(o, keys).map_or(Ok(None), |v| opt_str(v, path, keys[0]).map(non_empty))
        };
        let mut id = Identity {
            identity_type: get(&["identityType"])?,
            id: get(&["Id", "id"])?,
            name: get(&["Name", "displayName"])?,
            user_principal_name: None,
        };
        if let Some(d) = o.get("details").map(|d| opt_obj(d, path, "details"))
            && let Some(d) = d?
        {
            let dpath = format!("{path}.details");
            let dget = |keys: &[&str]| {
                get_either(d, keys).map_or(Ok(None), |v| opt_str(v, &dpath, keys[0]).map(non_empty))
            };
            id.user_principal_name = dget(&["UserPrincipalName", "userPrincipalName"])?;
            if id.name.is_none() {
                id.name = dget(&["DisplayName", "displayName"])?;
            }
        }
        Ok(id)
    }
}

impl<'a> Provisioning<'a> {
    pub(crate) fn read(props: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut p = Provisioning::default();
        for (key, v) in props.iter() {
            match key.raw() {
                "id" => p.id = non_empty(opt_str(v, P, "id")?),
                "activityDateTime" => p.activity_time = opt_time(v, P, "activityDateTime")?,
                "jobId" => p.job_id = non_empty(opt_str(v, P, "jobId")?),
                "cycleId" => p.cycle_id = non_empty(opt_str(v, P, "cycleId")?),
                "changeId" => p.change_id = non_empty(opt_str(v, P, "changeId")?),
                "action" => p.action = non_empty(opt_str(v, P, "action")?),
                "provisioningAction" => {
                    p.provisioning_action = non_empty(opt_str(v, P, "provisioningAction")?)
                }
                "durationInMilliseconds" => {
                    p.duration_ms = opt_int(v, P, "durationInMilliseconds")?
                }
                "provisioningStatusInfo" => {
                    if let Some(o) = opt_obj(v, P, "provisioningStatusInfo")? {
                        p.read_status(o)?;
                    }
                }
                "servicePrincipal" | "sourceSystem" | "targetSystem" | "initiatedBy" => {
                    let name = key.raw();
                    if let Some(o) = opt_obj(v, P, name)? {
                        let party = Party::read(o, &format!("properties.{name}"))?;
                        match name {
                            "servicePrincipal" => p.service_principal = party,
                            "sourceSystem" => p.source_system = party,
                            "targetSystem" => p.target_system = party,
                            _ => p.initiated_by = party,
                        }
                    }
                }
                "sourceIdentity" | "targetIdentity" => {
                    let name = key.raw();
                    if let Some(o) = opt_obj(v, P, name)? {
                        let ident = Identity::read(o, &format!("properties.{name}"))?;
                        if name == "sourceIdentity" {
                            p.source_identity = ident;
                        } else {
                            p.target_identity = ident;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(p)
    }

    fn read_status(&mut self, o: &Object<'a>) -> Result<(), ErrorKind> {
        const S: &str = "properties.provisioningStatusInfo";
        if let Some(v) = get_either(o, &["Status", "status"]) {
            self.status = non_empty(opt_str(v, S, "Status")?);
        }
        if let Some(e) = o.get("errorInformation")
            && let Some(e) = opt_obj(e, S, "errorInformation")?
        {
            const E: &str = "properties.provisioningStatusInfo.errorInformation";
            let get = |k: &str| {
                e.get(k)
                    .map_or(Ok(None), |v| opt_str(v, E, k).map(non_empty))
            };
            self.error_code = get("errorCode")?;
            self.error_reason = get("reason")?;
            self.error_category = get("errorCategory")?;
        }
        Ok(())
    }
}
