//! Microsoft Graph and Azure AD Graph activity: one HTTP request to the directory's API each.

use crate::error::ErrorKind;
use crate::fields::*;
use crate::json::{JsonStr, Object};
use crate::time::Timestamp;

const P: &str = "properties";

#[derive(Debug, Clone, Default)]
pub struct GraphActivity<'a> {
    pub request_id: Option<JsonStr<'a>>,
    pub operation_id: Option<JsonStr<'a>>,
    pub time_generated: Option<Timestamp>,
    /// AAD Graph's `__UDI_RequiredFields_EventTime`, .NET ticks.
    pub event_time_ticks: Option<Timestamp>,
    pub request_method: Option<JsonStr<'a>>,
    pub request_uri: Option<JsonStr<'a>>,
    pub status_code: Option<i64>,
    pub user_id: Option<JsonStr<'a>>,
    pub service_principal_id: Option<JsonStr<'a>>,
    pub app_id: Option<JsonStr<'a>>,
    pub ip_address: Option<JsonStr<'a>>,
    pub user_agent: Option<JsonStr<'a>>,
    pub duration_ms: Option<i64>,
    pub response_size_bytes: Option<i64>,
    pub api_version: Option<JsonStr<'a>>,
}

impl<'a> GraphActivity<'a> {
    pub(crate) fn read(props: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut g = GraphActivity::default();
        for (key, v) in props.iter() {
            let s = |k| opt_str(v, P, k).map(non_empty);
            match key.raw() {
                "requestId" => g.request_id = s("requestId")?,
                "operationId" => g.operation_id = s("operationId")?,
                "timeGenerated" => g.time_generated = opt_time(v, P, "timeGenerated")?,
                "__UDI_RequiredFields_EventTime" => {
                    g.event_time_ticks = opt_int(v, P, "__UDI_RequiredFields_EventTime")?
                        .and_then(Timestamp::from_dotnet_ticks)
                }
                "requestMethod" | "httpMethod" => g.request_method = s("requestMethod")?,
                "requestUri" => g.request_uri = s("requestUri")?,
                "responseStatusCode" | "httpStatusCode" => {
                    g.status_code = opt_int(v, P, "responseStatusCode")?
                }
                "userId" => g.user_id = s("userId")?,
                "servicePrincipalId" => g.service_principal_id = s("servicePrincipalId")?,
                "appId" => g.app_id = s("appId")?,
                // AAD Graph writes `callerIpAddress` inside `properties`.
                "ipAddress" | "callerIpAddress" => g.ip_address = s("ipAddress")?,
                "userAgent" => g.user_agent = s("userAgent")?,
                "durationMs" => g.duration_ms = opt_int(v, P, "durationMs")?,
                "responseSizeBytes" => g.response_size_bytes = opt_int(v, P, "responseSizeBytes")?,
                "apiVersion" => g.api_version = s("apiVersion")?,
                _ => {}
            }
        }
        Ok(g)
    }
}
