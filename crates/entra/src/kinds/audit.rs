//! Directory audits (Graph `directoryAudit`): who changed what in users, groups, applications,
//! roles and policies.

use crate::error::ErrorKind;
use crate::fields::*;
use crate::json::{self, JsonStr, Object, Value};
use crate::time::Timestamp;

const P: &str = "properties";

#[derive(Debug, Clone, Default)]
pub struct Audit<'a> {
    pub id: Option<JsonStr<'a>>,
    pub activity_time: Option<Timestamp>,
    pub activity_display_name: Option<JsonStr<'a>>,
    /// Audit category: `UserManagement`, `GroupManagement`, `ApplicationManagement`, `Policy`…
    pub category: Option<JsonStr<'a>>,
    pub operation_type: Option<JsonStr<'a>>,
    pub result: Option<JsonStr<'a>>,
    pub result_reason: Option<JsonStr<'a>>,
    pub logged_by_service: Option<JsonStr<'a>>,
    pub correlation_id: Option<JsonStr<'a>>,
    pub initiated_by: Initiator<'a>,
    pub targets: Vec<Target<'a>>,
    pub additional_details: Vec<(JsonStr<'a>, Option<JsonStr<'a>>)>,
}

/// Who performed the change: exactly one of a user or an application in real data.
#[derive(Debug, Clone, Copy, Default)]
pub enum Initiator<'a> {
    User {
        id: Option<JsonStr<'a>>,
        user_principal_name: Option<JsonStr<'a>>,
        display_name: Option<JsonStr<'a>>,
        ip_address: Option<JsonStr<'a>>,
    },
    App {
        app_id: Option<JsonStr<'a>>,
        display_name: Option<JsonStr<'a>>,
        service_principal_id: Option<JsonStr<'a>>,
        service_principal_name: Option<JsonStr<'a>>,
    },
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub id: Option<JsonStr<'a>>,
    pub display_name: Option<JsonStr<'a>>,
    /// `User`, `Group`, `Application`, `ServicePrincipal`, `Device`, `Policy`, `Role`…
    pub kind: Option<JsonStr<'a>>,
    pub user_principal_name: Option<JsonStr<'a>>,
    pub modified: Vec<ModifiedProperty<'a>>,
}

/// One changed property. On the wire the values are JSON text inside strings
/// (`"[\"Finance\"]"`); entrastream's native output carries them decoded, and both parse here.
#[derive(Debug, Clone)]
pub struct ModifiedProperty<'a> {
    pub name: Option<JsonStr<'a>>,
    pub old: Value<'a>,
    pub new: Value<'a>,
}

impl ModifiedProperty<'_> {
    /// The old value as plain text: JSON strings and one-element arrays unwrapped
    /// (`"[\"Finance\"]"` → `Finance`), `None` when absent or empty.
    pub fn old_text(&self) -> Option<String> {
        value_text(&self.old)
    }
    pub fn new_text(&self) -> Option<String> {
        value_text(&self.new)
    }
}

/// Decodes a modified-property value: a string holding JSON becomes that JSON's value; a string
/// that is not JSON is returned as is.
pub fn decode_modified_value<'a>(v: &Value<'a>) -> DecodedValue<'a> {
    match v {
        Value::String(s) => {
            let text = s.decode();
            let t = text.trim_start();
            let looks_json = t.starts_with(['[', '{', '"']) || t == "true" || t == "false";
            if looks_json && let Ok(owned) = serde_json_free_parse(&text) {
                return DecodedValue::Json(owned);
            }
            DecodedValue::Text(*s)
        }
        other => DecodedValue::Value(other.clone()),
    }
}

/// What a modified-property value decodes to.
#[derive(Debug, Clone)]
pub enum DecodedValue<'a> {
    /// The string held JSON; this is its text, re-validated and compact enough to embed as is.
    Json(String),
    /// The string was not JSON (provisioning writes plain text): keep it.
    Text(JsonStr<'a>),
    /// Already structured (native input).
    Value(Value<'a>),
}

/// Validates that `text` is JSON and returns it unchanged, ready to embed in output.
fn serde_json_free_parse(text: &str) -> Result<String, ()> {
    match json::parse(text) {
        Ok(_) if !text.contains(['\n', '\r']) => Ok(text.trim().to_owned()),
        Ok(v) => {
            let mut out = Vec::with_capacity(text.len());
            crate::encode::writer::write_value(&mut out, &v);
            String::from_utf8(out).map_err(|_| ())
        }
        Err(_) => Err(()),
    }
}

fn value_text(v: &Value<'_>) -> Option<String> {
    let decoded = match v {
        Value::String(s) => {
            let text = s.decode();
            match json::parse(&text) {
                Ok(inner) => return value_text_inner(&inner),
                Err(_) => text.into_owned(),
            }
        }
        other => return value_text_inner(other),
    };
    (!decoded.is_empty()).then_some(decoded)
}

fn value_text_inner(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.decode().into_owned()).filter(|s| !s.is_empty()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.text().to_owned()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.len() == 1 => value_text_inner(&items[0]),
        other => {
            let mut out = Vec::new();
            crate::encode::writer::write_value(&mut out, other);
            String::from_utf8(out).ok()
        }
    }
}

impl<'a> Audit<'a> {
    pub(crate) fn read(props: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut a = Audit::default();
        for (key, v) in props.iter() {
            match key.raw() {
                "id" => a.id = non_empty(opt_str(v, P, "id")?),
                "activityDateTime" => a.activity_time = opt_time(v, P, "activityDateTime")?,
                "activityDisplayName" => {
                    a.activity_display_name = non_empty(opt_str(v, P, "activityDisplayName")?)
                }
                "category" => a.category = non_empty(opt_str(v, P, "category")?),
                "operationType" => a.operation_type = non_empty(opt_str(v, P, "operationType")?),
                "result" => a.result = non_empty(opt_str(v, P, "result")?),
                "resultReason" => a.result_reason = non_empty(opt_str(v, P, "resultReason")?),
                "loggedByService" => {
                    a.logged_by_service = non_empty(opt_str(v, P, "loggedByService")?)
                }
                "correlationId" => a.correlation_id = non_empty(opt_str(v, P, "correlationId")?),
                "initiatedBy" => {
                    if let Some(o) = opt_obj(v, P, "initiatedBy")? {
                        a.initiated_by = Initiator::read(o)?;
                    }
                }
                "targetResources" => {
                    for t in opt_arr(v, P, "targetResources")? {
                        if let Some(o) = opt_obj(t, P, "targetResources[]")? {
                            a.targets.push(Target::read(o)?);
                        }
                    }
                }
                "additionalDetails" => {
                    for d in opt_arr(v, P, "additionalDetails")? {
                        if let Some(o) = opt_obj(d, P, "additionalDetails[]")? {
                            const Q: &str = "properties.additionalDetails[]";
                            let k = o.get("key").map_or(Ok(None), |x| opt_str(x, Q, "key"))?;
                            let val = o
                                .get("value")
                                .map_or(Ok(None), |x| opt_str(x, Q, "value"))?;
                            if let Some(k) = k {
                                a.additional_details.push((k, val));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(a)
    }

    /// The first target's modified property named `name` (case-insensitive).
    pub fn modified_property(&self, name: &str) -> Option<&ModifiedProperty<'a>> {
        self.targets
            .iter()
            .flat_map(|t| t.modified.iter())
            .find(|m| m.name.is_some_and(|n| n.eq_ignore_case(name)))
    }
}

impl<'a> Initiator<'a> {
    fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        if let Some(u) = o
            .get("user")
            .map(|v| opt_obj(v, "properties.initiatedBy", "user"))
            && let Some(u) = u?
        {
            const Q: &str = "properties.initiatedBy.user";
            let get = |k: &str| {
                u.get(k)
                    .map_or(Ok(None), |v| opt_str(v, Q, k).map(non_empty))
            };
            return Ok(Initiator::User {
                id: get("id")?,
                user_principal_name: get("userPrincipalName")?,
                display_name: get("displayName")?,
                ip_address: get("ipAddress")?,
            });
        }
        if let Some(a) = o
            .get("app")
            .map(|v| opt_obj(v, "properties.initiatedBy", "app"))
            && let Some(a) = a?
        {
            const Q: &str = "properties.initiatedBy.app";
            let get = |k: &str| {
                a.get(k)
                    .map_or(Ok(None), |v| opt_str(v, Q, k).map(non_empty))
            };
            return Ok(Initiator::App {
                app_id: get("appId")?,
                display_name: get("displayName")?,
                service_principal_id: get("servicePrincipalId")?,
                service_principal_name: get("servicePrincipalName")?,
            });
        }
        Ok(Initiator::Unknown)
    }
}

impl<'a> Target<'a> {
    fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        const Q: &str = "properties.targetResources[]";
        let mut t = Target::default();
        for (key, v) in o.iter() {
            match key.raw() {
                "id" => t.id = non_empty(opt_str(v, Q, "id")?),
                "displayName" => t.display_name = non_empty(opt_str(v, Q, "displayName")?),
                "type" => t.kind = non_empty(opt_str(v, Q, "type")?),
                "userPrincipalName" => {
                    t.user_principal_name = non_empty(opt_str(v, Q, "userPrincipalName")?)
                }
                "modifiedProperties" => {
                    for m in opt_arr(v, Q, "modifiedProperties")? {
                        if let Some(m) = opt_obj(m, Q, "modifiedProperties[]")? {
                            const M: &str = "properties.targetResources[].modifiedProperties[]";
                            let name = m
                                .get("displayName")
                                .map_or(Ok(None), |x| opt_str(x, M, "displayName"))?;
                            t.modified.push(ModifiedProperty {
                                name,
                                old: m.get("oldValue").cloned().unwrap_or(Value::Null),
                                new: m.get("newValue").cloned().unwrap_or(Value::Null),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_values_decode_to_text() {
        let v = json::parse(r#""[\"Finance\"]""#).unwrap();
        let m = ModifiedProperty {
            name: None,
            old: Value::Null,
            new: v,
        };
        assert_eq!(m.new_text().as_deref(), Some("Finance"));
        assert_eq!(m.old_text(), None);
        let plain = json::parse(r#""plain text""#).unwrap();
        assert_eq!(value_text(&plain).as_deref(), Some("plain text"));
        let empty = json::parse(r#""[]""#).unwrap();
        assert_eq!(value_text(&empty), None);
    }

    #[test]
    fn decode_keeps_non_json_strings() {
        let v = json::parse(r#""a70a;https://x""#).unwrap();
        assert!(matches!(decode_modified_value(&v), DecodedValue::Text(_)));
        let j = json::parse(r#""[true]""#).unwrap();
        assert!(matches!(decode_modified_value(&j), DecodedValue::Json(ref s) if s == "[true]"));
    }
}
