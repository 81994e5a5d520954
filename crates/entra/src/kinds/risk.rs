//! Identity Protection: risky users and service principals (state), and risk detections
//! (events) for users and service principals.

use crate::error::ErrorKind;
use crate::fields::*;
use crate::json::{JsonStr, Object};
use crate::kinds::signin::Location;
use crate::time::Timestamp;

const P: &str = "properties";

/// One shape for the four risk categories; fields absent from a category stay `None`.
#[derive(Debug, Clone, Default)]
pub struct Risk<'a> {
    pub id: Option<JsonStr<'a>>,
    /// Detection type (`anonymizedIPAddress`, `passwordSpray`…): risk events only.
    pub risk_event_type: Option<JsonStr<'a>>,
    pub risk_level: Option<JsonStr<'a>>,
    pub risk_state: Option<JsonStr<'a>>,
    pub risk_detail: Option<JsonStr<'a>>,
    pub source: Option<JsonStr<'a>>,
    pub detection_timing_type: Option<JsonStr<'a>>,
    pub activity: Option<JsonStr<'a>>,
    pub ip_address: Option<JsonStr<'a>>,
    pub user_id: Option<JsonStr<'a>>,
    pub user_principal_name: Option<JsonStr<'a>>,
    pub user_display_name: Option<JsonStr<'a>>,
    pub service_principal_id: Option<JsonStr<'a>>,
    pub app_id: Option<JsonStr<'a>>,
    pub display_name: Option<JsonStr<'a>>,
    pub activity_time: Option<Timestamp>,
    pub detected_time: Option<Timestamp>,
    pub last_updated_time: Option<Timestamp>,
    /// `riskLastUpdatedDateTime` of risky users and service principals.
    pub risk_last_updated: Option<Timestamp>,
    pub location: Location<'a>,
}

impl<'a> Risk<'a> {
    pub(crate) fn read(props: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut r = Risk::default();
        for (key, v) in props.iter() {
            let s = |k| opt_str(v, P, k).map(non_empty);
            match key.raw() {
                "id" => r.id = s("id")?,
                "riskEventType" => r.risk_event_type = s("riskEventType")?,
                "riskLevel" => r.risk_level = s("riskLevel")?,
                "riskState" => r.risk_state = s("riskState")?,
                "riskDetail" => r.risk_detail = s("riskDetail")?,
                "source" => r.source = s("source")?,
                "detectionTimingType" => r.detection_timing_type = s("detectionTimingType")?,
                "activity" => r.activity = s("activity")?,
                "ipAddress" => r.ip_address = s("ipAddress")?,
                "userId" => r.user_id = s("userId")?,
                "userPrincipalName" => r.user_principal_name = s("userPrincipalName")?,
                "userDisplayName" => r.user_display_name = s("userDisplayName")?,
                "servicePrincipalId" => r.service_principal_id = s("servicePrincipalId")?,
                "appId" => r.app_id = s("appId")?,
                "displayName" | "servicePrincipalDisplayName" => r.display_name = s("displayName")?,
                "activityDateTime" => r.activity_time = opt_time(v, P, "activityDateTime")?,
                "detectedDateTime" => r.detected_time = opt_time(v, P, "detectedDateTime")?,
                "lastUpdatedDateTime" => {
                    r.last_updated_time = opt_time(v, P, "lastUpdatedDateTime")?
                }
                "riskLastUpdatedDateTime" => {
                    r.risk_last_updated = opt_time(v, P, "riskLastUpdatedDateTime")?
                }
                "location" => {
                    if let Some(o) = opt_obj(v, P, "location")? {
                        r.location = Location::read(o)?;
                    }
                }
                _ => {}
            }
        }
        Ok(r)
    }
}
