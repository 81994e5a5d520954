//! Sign-ins: interactive and non-interactive user, service principal, managed identity,
//! Microsoft service principal and ADFS records all share the Graph `signIn` shape.

use crate::error::ErrorKind;
use crate::fields::*;
use crate::json::{JsonStr, Object};
use crate::time::Timestamp;

const P: &str = "properties";

/// The sign-in fields entrastream interprets; every other field stays in the record's tree.
#[derive(Debug, Clone, Default)]
pub struct SignIn<'a> {
    pub id: Option<JsonStr<'a>>,
    pub created: Option<Timestamp>,
    pub user_id: Option<JsonStr<'a>>,
    pub user_principal_name: Option<JsonStr<'a>>,
    pub user_display_name: Option<JsonStr<'a>>,
    pub user_type: Option<JsonStr<'a>>,
    pub app_id: Option<JsonStr<'a>>,
    pub app_display_name: Option<JsonStr<'a>>,
    pub resource_id: Option<JsonStr<'a>>,
    pub resource_display_name: Option<JsonStr<'a>>,
    pub service_principal_id: Option<JsonStr<'a>>,
    pub service_principal_name: Option<JsonStr<'a>>,
    pub ip_address: Option<JsonStr<'a>>,
    pub client_app_used: Option<JsonStr<'a>>,
    pub user_agent: Option<JsonStr<'a>>,
    pub is_interactive: Option<bool>,
    pub correlation_id: Option<JsonStr<'a>>,
    /// `status.errorCode`: 0 is success.
    pub error_code: Option<i64>,
    pub failure_reason: Option<JsonStr<'a>>,
    pub additional_details: Option<JsonStr<'a>>,
    pub conditional_access_status: Option<JsonStr<'a>>,
    pub applied_policies: Vec<ConditionalAccessPolicy<'a>>,
    pub authentication_requirement: Option<JsonStr<'a>>,
    /// Methods of the successful authentication steps, in order (`Password`, `Mobile app notification`…).
    pub auth_methods: Vec<JsonStr<'a>>,
    pub mfa_auth_method: Option<JsonStr<'a>>,
    pub risk_level_during_sign_in: Option<JsonStr<'a>>,
    pub risk_level_aggregated: Option<JsonStr<'a>>,
    pub risk_state: Option<JsonStr<'a>>,
    pub risk_detail: Option<JsonStr<'a>>,
    pub device: Device<'a>,
    pub location: Location<'a>,
    pub token_issuer_type: Option<JsonStr<'a>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ConditionalAccessPolicy<'a> {
    pub id: Option<JsonStr<'a>>,
    pub display_name: Option<JsonStr<'a>>,
    pub result: Option<JsonStr<'a>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Device<'a> {
    pub id: Option<JsonStr<'a>>,
    pub display_name: Option<JsonStr<'a>>,
    pub operating_system: Option<JsonStr<'a>>,
    pub browser: Option<JsonStr<'a>>,
    pub is_compliant: Option<bool>,
    pub is_managed: Option<bool>,
    pub trust_type: Option<JsonStr<'a>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Location<'a> {
    pub city: Option<JsonStr<'a>>,
    pub state: Option<JsonStr<'a>>,
    pub country_or_region: Option<JsonStr<'a>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl<'a> SignIn<'a> {
    pub(crate) fn read(props: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut s = SignIn::default();
        for (key, v) in props.iter() {
            match key.raw() {
                "id" => s.id = opt_str(v, P, "id")?,
                "createdDateTime" => s.created = opt_time(v, P, "createdDateTime")?,
                "userId" => s.user_id = non_empty(opt_str(v, P, "userId")?),
                "userPrincipalName" => {
                    s.user_principal_name = non_empty(opt_str(v, P, "userPrincipalName")?)
                }
                "userDisplayName" => {
                    s.user_display_name = non_empty(opt_str(v, P, "userDisplayName")?)
                }
                "userType" => s.user_type = non_empty(opt_str(v, P, "userType")?),
                "appId" => s.app_id = non_empty(opt_str(v, P, "appId")?),
                "appDisplayName" => {
                    s.app_display_name = non_empty(opt_str(v, P, "appDisplayName")?)
                }
                "resourceId" => s.resource_id = non_empty(opt_str(v, P, "resourceId")?),
                "resourceDisplayName" => {
                    s.resource_display_name = non_empty(opt_str(v, P, "resourceDisplayName")?)
                }
                "servicePrincipalId" => {
                    s.service_principal_id = non_empty(opt_str(v, P, "servicePrincipalId")?)
                }
                "servicePrincipalName" => {
                    s.service_principal_name = non_empty(opt_str(v, P, "servicePrincipalName")?)
                }
                "ipAddress" => s.ip_address = non_empty(opt_str(v, P, "ipAddress")?),
                "clientAppUsed" => s.client_app_used = non_empty(opt_str(v, P, "clientAppUsed")?),
                "userAgent" => s.user_agent = non_empty(opt_str(v, P, "userAgent")?),
                "isInteractive" => s.is_interactive = opt_bool(v, P, "isInteractive")?,
                "correlationId" => s.correlation_id = non_empty(opt_str(v, P, "correlationId")?),
                "status" => {
                    if let Some(st) = opt_obj(v, P, "status")? {
                        s.read_status(st)?;
                    }
                }
                "conditionalAccessStatus" => {
                    s.conditional_access_status =
                        non_empty(opt_str(v, P, "conditionalAccessStatus")?)
                }
                "appliedConditionalAccessPolicies" => {
                    let policies = opt_arr(v, P, "appliedConditionalAccessPolicies")?;
                    s.applied_policies.reserve_exact(policies.len());
                    for p in policies {
                        if let Some(o) = opt_obj(p, P, "appliedConditionalAccessPolicies[]")? {
                            s.applied_policies.push(ConditionalAccessPolicy::read(o)?);
                        }
                    }
                }
                "authenticationRequirement" => {
                    s.authentication_requirement =
                        non_empty(opt_str(v, P, "authenticationRequirement")?)
                }
                "authenticationDetails" => {
                    for step in opt_arr(v, P, "authenticationDetails")? {
                        if let Some(o) = opt_obj(step, P, "authenticationDetails[]")? {
                            let ok = o.get("succeeded").map_or(Ok(None), |b| {
                                opt_bool(b, "properties.authenticationDetails[]", "succeeded")
                            })?;
                            let method = o.get("authenticationMethod").map_or(Ok(None), |m| {
                                opt_str(
                                    m,
                                    "properties.authenticationDetails[]",
                                    "authenticationMethod",
                                )
                            })?;
                            if let (Some(true), Some(m)) = (ok, non_empty(method)) {
                                s.auth_methods.push(m);
                            }
                        }
                    }
                }
                "mfaDetail" => {
                    if let Some(o) = opt_obj(v, P, "mfaDetail")?
                        && let Some(m) = o.get("authMethod")
                    {
                        s.mfa_auth_method =
                            non_empty(opt_str(m, "properties.mfaDetail", "authMethod")?);
                    }
                }
                "riskLevelDuringSignIn" => {
                    s.risk_level_during_sign_in = non_empty(opt_str(v, P, "riskLevelDuringSignIn")?)
                }
                "riskLevelAggregated" => {
                    s.risk_level_aggregated = non_empty(opt_str(v, P, "riskLevelAggregated")?)
                }
                "riskState" => s.risk_state = non_empty(opt_str(v, P, "riskState")?),
                "riskDetail" => s.risk_detail = non_empty(opt_str(v, P, "riskDetail")?),
                "deviceDetail" => {
                    if let Some(o) = opt_obj(v, P, "deviceDetail")? {
                        s.device = Device::read(o)?;
                    }
                }
                "location" => {
                    if let Some(o) = opt_obj(v, P, "location")? {
                        s.location = Location::read(o)?;
                    }
                }
                "tokenIssuerType" => {
                    s.token_issuer_type = non_empty(opt_str(v, P, "tokenIssuerType")?)
                }
                _ => {}
            }
        }
        Ok(s)
    }

    fn read_status(&mut self, st: &Object<'a>) -> Result<(), ErrorKind> {
        const S: &str = "properties.status";
        for (key, v) in st.iter() {
            match key.raw() {
                "errorCode" => self.error_code = opt_int(v, S, "errorCode")?,
                "failureReason" => self.failure_reason = non_empty(opt_str(v, S, "failureReason")?),
                "additionalDetails" => {
                    self.additional_details = non_empty(opt_str(v, S, "additionalDetails")?)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a user (rather than an application or identity) signed in.
    pub fn is_user(&self) -> bool {
        self.service_principal_id.is_none() || self.user_id.is_some()
    }
}

impl<'a> ConditionalAccessPolicy<'a> {
    fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        const Q: &str = "properties.appliedConditionalAccessPolicies[]";
        let get = |k: &str| o.get(k).map_or(Ok(None), |v| opt_str(v, Q, k));
        Ok(ConditionalAccessPolicy {
            id: get("id")?,
            display_name: get("displayName")?,
            result: get("result")?,
        })
    }
}

impl<'a> Device<'a> {
    fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        const Q: &str = "properties.deviceDetail";
        let mut d = Device::default();
        for (key, v) in o.iter() {
            match key.raw() {
                "deviceId" => d.id = non_empty(opt_str(v, Q, "deviceId")?),
                "displayName" => d.display_name = non_empty(opt_str(v, Q, "displayName")?),
                "operatingSystem" => {
                    d.operating_system = non_empty(opt_str(v, Q, "operatingSystem")?)
                }
                "browser" => d.browser = non_empty(opt_str(v, Q, "browser")?),
                "isCompliant" => d.is_compliant = opt_bool(v, Q, "isCompliant")?,
                "isManaged" => d.is_managed = opt_bool(v, Q, "isManaged")?,
                "trustType" => d.trust_type = non_empty(opt_str(v, Q, "trustType")?),
                _ => {}
            }
        }
        Ok(d)
    }
}

impl<'a> Location<'a> {
    pub(crate) fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        const Q: &str = "properties.location";
        let mut l = Location::default();
        for (key, v) in o.iter() {
            match key.raw() {
                "city" => l.city = non_empty(opt_str(v, Q, "city")?),
                "state" => l.state = non_empty(opt_str(v, Q, "state")?),
                "countryOrRegion" => {
                    l.country_or_region = non_empty(opt_str(v, Q, "countryOrRegion")?)
                }
                "geoCoordinates" => {
                    if let Some(g) = opt_obj(v, Q, "geoCoordinates")? {
                        const G: &str = "properties.location.geoCoordinates";
                        if let Some(x) = g.get("latitude") {
                            l.latitude = opt_f64(x, G, "latitude")?;
                        }
                        if let Some(x) = g.get("longitude") {
                            l.longitude = opt_f64(x, G, "longitude")?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(l)
    }
}
