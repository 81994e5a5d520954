//! ECS unit tests, on records written for this repository.

use super::*;
use crate::record::parse_text;
use crate::time::Timestamp;

fn ecs(text: &str) -> serde_json::Value {
    let record = parse_text(text).unwrap();
    let ctx = EncodeContext {
        ingest_time: Timestamp::from_unix(1_700_000_000, 0).unwrap(),
    };
    let mut out = Vec::new();
    encode(&record, &ctx, &mut out);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

fn snake(key: &str) -> String {
    let mut out = Vec::new();
    let mut w = ObjectWriter::new(&mut out);
    let (_, range) = snake_member(&mut w, JsonStr::plain(key));
    String::from_utf8(w.out[range].to_vec()).unwrap()
}

#[test]
fn snake_case_follows_elastics_regex() {
    assert_eq!(snake("ipAddress"), "ip_address");
    assert_eq!(snake("Level"), "level");
    assert_eq!(snake("RequestSequence"), "request_sequence");
    assert_eq!(snake("riskEventTypes_v2"), "risk_event_types_v2");
    assert_eq!(snake("isCAEToken"), "is_caetoken");
    assert_eq!(snake("IPAddress"), "ipaddress");
    assert_eq!(snake("aBcD"), "a_bc_d");
}

#[test]
fn cached_snake_keys_stay_right_past_the_cache_bound() {
    // Second lookups come from the cache; more distinct keys than it holds make it start over.
    for round in 0..2 {
        for i in 0..(SNAKE_CACHE_MAX + 10) {
            assert_eq!(
                snake(&format!("keyNo{i}X")),
                format!("key_no{i}x"),
                "round {round}"
            );
        }
        assert_eq!(snake("ipAddress"), "ip_address");
        assert_eq!(snake("ipAddress"), "ip_address");
    }
}

#[test]
fn tenant_grok_is_case_insensitive_and_hex_only() {
    assert_eq!(
        tenant_and_provider(
            "/TeNaNtS/8a4de8b5-095c-47d0-a96f-a75130c61d53/PrOvIdErS/Microsoft.aadiam"
        ),
        Some(("8a4de8b5-095c-47d0-a96f-a75130c61d53", "Microsoft.aadiam"))
    );
    assert_eq!(
        tenant_and_provider("/tenants/043q12e-0000-0000-0000-000000000000/providers/x"),
        None
    );
    assert_eq!(tenant_and_provider("/tenants/abc/providers/x"), None);
}

const SIGNIN: &str = r#"{"time":"2024-05-01T10:00:05.1234567Z","resourceId":"/tenants/11111111-2222-3333-4444-555555555555/providers/Microsoft.aadiam",
 "operationName":"Sign-in activity","category":"SignInLogs","tenantId":"11111111-2222-3333-4444-555555555555","resultType":"50126",
 "durationMs":"3","callerIpAddress":"203.0.113.9","correlationId":"c-1","Level":4,"location":"NL","identity":"Ada",
 "properties":{"id":"s-1","createdDateTime":"2024-05-01T09:59:58.9876543+00:00","userDisplayName":"Ada Lovelace",
 "userPrincipalName":"ada@example.com","userId":"u-1","appId":"a-1","appDisplayName":"Portal","ipAddress":"203.0.113.9",
 "userAgent":"Mozilla/5.0","riskLevelDuringSignIn":"none","processingTimeInMilliseconds":12,"servicePrincipalId":"",
 "status":{"errorCode":50126,"failureReason":"Invalid password","additionalDetails":"Check the password"},
 "deviceDetail":{"deviceId":"","operatingSystem":"Windows10","browser":null},"mfaDetail":{},
 "location":{"city":"Delft","state":"Zuid-Holland","countryOrRegion":"NL","geoCoordinates":{"latitude":52.0,"longitude":4.35}},
 "authenticationProcessingDetails":[{"key":"Is CAE Token","value":"False"},{"key":"Root Key Type","value":"Unknown"},{"key":"Is CAE Token","value":"True"}],
 "authenticationDetails":[{"authenticationMethod":"Password","succeeded":false,"RequestSequence":1}]}}"#;

#[test]
fn signin_maps_like_elastic() {
    let d = ecs(SIGNIN);
    assert_eq!(d["@timestamp"], "2024-05-01T09:59:58.987Z");
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["event"]["duration"], 3_000_000);
    assert_eq!(d["event"]["category"][0], "authentication");
    assert_eq!(d["event"]["id"], "s-1");
    assert_eq!(d["event"]["ingested"], "2023-11-14T22:13:20Z");
    assert_eq!(d["message"], "Invalid password (Check the password)");
    assert_eq!(d["log"]["level"], "4");
    assert_eq!(d["source"]["ip"], "203.0.113.9");
    assert_eq!(d["client"]["ip"], "203.0.113.9");
    assert_eq!(d["geo"]["country_iso_code"], "NL");
    assert_eq!(d["geo"]["city_name"], "Delft");
    assert_eq!(d["geo"]["location"]["lon"], 4.35);
    assert_eq!(d["user"]["email"], "ada@example.com");
    assert_eq!(d["user"]["full_name"], "Ada Lovelace");
    assert_eq!(d["user_agent"]["original"], "Mozilla/5.0");
    assert_eq!(
        d["azure"]["tenant_id"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(d["azure"]["resource"]["provider"], "Microsoft.aadiam");
    assert_eq!(d["cloud"]["provider"], "azure");
    assert_eq!(
        d["related"]["user"],
        serde_json::json!(["u-1", "ada@example.com", "Ada Lovelace"])
    );
    assert_eq!(d["related"]["entity"], serde_json::json!(["a-1", "u-1"]));
    let s = &d["azure"]["signinlogs"];
    assert_eq!(s["result_type"], "50126");
    assert_eq!(s["caller_ip_address"], "203.0.113.9");
    assert!(s.get("time").is_none() && s.get("level").is_none() && s.get("location").is_none());
    let p = &s["properties"];
    assert_eq!(p["created_at"], "2024-05-01T09:59:58.9876543+00:00");
    assert_eq!(p["processing_time_ms"], 12);
    assert_eq!(p["risk_level_during_signin"], "none");
    assert_eq!(p["status"], serde_json::json!({"error_code": 50126}));
    assert_eq!(p["authentication_details"][0]["request_sequence"], 1);
    assert_eq!(
        p["authentication_processing_details"],
        serde_json::json!({"Root Key Type": "Unknown", "Is CAE Token": "True"})
    );
    // Null, "" and emptied objects are gone; moved fields are not repeated.
    assert_eq!(
        p["device_detail"],
        serde_json::json!({"operating_system": "Windows10"})
    );
    for gone in [
        "mfa_detail",
        "service_principal_id",
        "ip_address",
        "user_agent",
        "location",
    ] {
        assert!(p.get(gone).is_none(), "{gone} should be removed");
    }
}

#[test]
fn signin_without_status_is_a_success_and_falls_back_to_time() {
    let d = ecs(r#"{"time":"1/9/2007 10:41:00 AM +01:00","category":"SignInLogs"}"#);
    assert_eq!(d["@timestamp"], "2007-01-09T09:41:00.000Z");
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(
        d["azure"]["signinlogs"],
        serde_json::json!({"category": "SignInLogs"})
    );
}

#[test]
fn event_ingested_follows_each_records_ingest_time() {
    // The rendering is kept per thread while the ingest time stays the same; a new time (the
    // next batch) must be written anew, back and forth, in every category.
    let mut buf = Vec::new();
    let texts = [
        r#"{"category":"SignInLogs","properties":{"id":"a"}}"#,
        r#"{"category":"AuditLogs","properties":{"id":"b"}}"#,
        r#"{"category":"SomethingNew"}"#,
    ];
    for (secs, nanos, want) in [
        (1_700_000_000, 0, "2023-11-14T22:13:20Z"),
        (1_700_000_000, 0, "2023-11-14T22:13:20Z"),
        (1_700_000_001, 500_000_000, "2023-11-14T22:13:21.500Z"),
        (1_700_000_000, 0, "2023-11-14T22:13:20Z"),
    ] {
        let ctx = EncodeContext {
            ingest_time: Timestamp::from_unix(secs, nanos).unwrap(),
        };
        for text in texts {
            let record = parse_text(text).unwrap();
            buf.clear();
            encode(&record, &ctx, &mut buf);
            let d: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(d["event"]["ingested"], want, "{text}");
        }
    }
}

#[test]
fn invalid_source_ip_stays_an_address() {
    let d = ecs(
        r#"{"category":"ManagedIdentitySignInLogs","properties":{"ipAddress":"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6:1"}}"#,
    );
    assert!(d["source"].get("ip").is_none());
    assert!(d.get("client").is_none() && d.get("related").is_none());
    assert_eq!(
        d["source"]["address"],
        "::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6:1"
    );
}

const AUDIT: &str = r#"{"time":"2024-05-01T10:00:00Z","resourceId":"/tenants/11111111-2222-3333-4444-555555555555/providers/Microsoft.aadiam",
 "operationName":"Add member to group","category":"AuditLogs","tenantId":"11111111-2222-3333-4444-555555555555","resultSignature":"None",
 "durationMs":0,"callerIpAddress":"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6","correlationId":"c-2","Level":4,
 "properties":{"id":"Directory_x","category":"GroupManagement","correlationId":"c-2","result":"Success","resultReason":"",
 "activityDisplayName":"Add member to group","activityDateTime":"2024-05-01T09:59:59+00:00","loggedByService":"Core Directory",
 "operationType":"Assign","userAgent":null,"initiatedBy":{"user":{"id":"u-9","displayName":null,"userPrincipalName":"admin@example.com","ipAddress":null,"roles":[]}},
 "targetResources":[{"id":"u-1","displayName":null,"type":"User","userPrincipalName":"ada@example.com","groupType":"x",
   "modifiedProperties":[{"displayName":"Group.ObjectID","oldValue":null,"newValue":"\"g-1\""}]},
   {"id":"g-1","displayName":"Finance","type":"Group","modifiedProperties":[]}],
 "additionalDetails":[{"key":"User-Agent","value":"x"}]}}"#;

#[test]
fn audit_maps_like_elastic() {
    let d = ecs(AUDIT);
    assert_eq!(d["@timestamp"], "2024-05-01T10:00:00.000Z");
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(d["event"]["action"], "Add member to group");
    assert!(d["event"].get("reason").is_none());
    assert_eq!(d["event"]["type"], serde_json::json!(["change", "group"]));
    // `Level` (capitalised) is not `log.level`.
    assert!(d.get("log").is_none());
    assert_eq!(
        d["source"]["address"],
        "::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"
    );
    assert_eq!(
        d["user"],
        serde_json::json!({"name": "admin@example.com", "id": "u-9"})
    );
    assert_eq!(
        d["related"]["entity"],
        serde_json::json!(["u-9", "u-1", "g-1"])
    );
    let a = &d["azure"]["auditlogs"];
    assert_eq!(a["level"], 4);
    assert_eq!(a["operation_name"], "Add member to group");
    assert_eq!(a["result_signature"], "None");
    assert!(a.get("callerIpAddress").is_none() && a.get("time").is_none());
    let p = &a["properties"];
    assert!(p.get("result").is_none() && p.get("userAgent").is_none());
    assert_eq!(p["result_reason"], "");
    assert_eq!(p["activity_datetime"], "2024-05-01T09:59:59+00:00");
    assert_eq!(p["additional_details"][0]["key"], "User-Agent");
    assert_eq!(
        p["initiated_by"]["user"],
        serde_json::json!({"id":"u-9","userPrincipalName":"admin@example.com","ipAddress":null,"roles":[]})
    );
    let t = &p["target_resources"];
    assert_eq!(t["0"]["user_principal_name"], "ada@example.com");
    assert!(t["0"].get("display_name").is_none() && t["0"].get("groupType").is_none());
    assert_eq!(
        t["0"]["modified_properties"]["0"],
        serde_json::json!({"display_name":"Group.ObjectID","new_value":"\"g-1\""})
    );
    assert_eq!(t["1"]["display_name"], "Finance");
    assert_eq!(t["1"]["modified_properties"], serde_json::json!({}));
}

#[test]
fn audit_lowercase_level_and_failure_reason() {
    let d = ecs(
        r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","level":"Informational","operationName":"Update user",
      "properties":{"result":"failure","resultReason":"Quota exceeded","operationType":"Update","category":"UserManagement"}}"#,
    );
    assert_eq!(d["log"]["level"], "Informational");
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["event"]["reason"], "Quota exceeded");
    assert_eq!(d["event"]["type"], serde_json::json!(["change", "user"]));
    assert!(d["azure"]["auditlogs"].get("level").is_none());
}

const PROVISIONING: &str = r#"{"time":"8/23/2022 1:36:50 PM","resourceId":"/tenants/11111111-2222-3333-4444-555555555555/providers/Microsoft.aadiam",
 "operationName":"Provisioning activity","category":"ProvisioningLogs","resultType":"Failure","durationMs":"828","Level":4,
 "properties":{"id":"p-1","activityDateTime":"2022-08-23T13:36:50Z","jobId":"Job.1","cycleId":"cy","changeId":"ch","action":"Create",
  "provisioningAction":"create","servicePrincipal":{"Id":"sp-1","Name":"ServiceNow"},
  "sourceSystem":{"details":{},"Id":"s","Name":"Azure Active Directory"},
  "targetSystem":{"details":{"ApplicationId":"app","ServicePrincipalId":"sp-1","ServicePrincipalDisplayName":"ServiceNow"},"Id":"t","Name":"ServiceNow"},
  "initiatedBy":{"Type":"system","Id":"","Name":"Azure AD Provisioning Service"},
  "sourceIdentity":{"identityType":"User","details":{"id":"x","DisplayName":"Ada","UserPrincipalName":"ada@example.com"},"Id":"u-1","Name":"Ada"},
  "targetIdentity":{"identityType":"User","details":{},"Id":"","Name":""},
  "provisioningStatusInfo":{"Status":"failure","errorInformation":{"errorCode":"E1","reason":"Duplicate","errorCategory":"nonServiceFailure","recommendedAction":"Fix"}},
  "statusInfo":{"Status":2},"provisioningSteps":[{"name":"Import","provisioningStepType":0,"status":0,"details":{"":"","a":"b"}}],
  "modifiedProperties":[{"displayName":"accountEnabled","oldValue":null,"newValue":"True"}],"durationInMilliseconds":828},
 "callerIpAddress":"198.51.100.7"}"#;

#[test]
fn provisioning_maps_like_elastic() {
    let d = ecs(PROVISIONING);
    assert_eq!(d["@timestamp"], "2022-08-23T13:36:50.000Z");
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["event"]["reason"], "Duplicate");
    assert_eq!(d["event"]["duration"], 828_000_000);
    assert_eq!(d["event"]["type"], serde_json::json!(["creation"]));
    assert_eq!(d["source"]["ip"], "198.51.100.7");
    assert_eq!(d["related"]["ip"][0], "198.51.100.7");
    assert!(d.get("user").is_none());
    let a = &d["azure"]["provisioning"];
    assert_eq!(a["result_type"], "Failure");
    assert_eq!(a["level"], 4);
    let p = &a["properties"];
    assert_eq!(
        p["service_principal"],
        serde_json::json!({"id":"sp-1","name":"ServiceNow"})
    );
    assert_eq!(p["initiated_by"]["type"], "system");
    assert_eq!(p["source_identity"]["identity_type"], "User");
    assert_eq!(
        p["source_identity"]["details"]["user_principal_name"],
        "ada@example.com"
    );
    assert_eq!(
        p["target_system"]["details"]["service_principal_display_name"],
        "ServiceNow"
    );
    assert_eq!(p["provisioning_status_info"]["status"], "failure");
    assert_eq!(
        p["provisioning_status_info"]["error_information"]["error_code"],
        "E1"
    );
    assert_eq!(p["provisioning_steps"][0]["provisioning_step_type"], 0);
    assert_eq!(
        p["provisioning_steps"][0]["details"],
        serde_json::json!({"a": "b"})
    );
    assert_eq!(p["modified_properties"][0]["newValue"], "True");
    assert_eq!(p["duration_ms"], 828);
    assert!(p.get("statusInfo").is_none());
}

#[test]
fn risk_detection_follows_elastics_identity_protection_pipeline() {
    let d = ecs(
        r#"{"time":"9/9/2022 10:00:00 AM","category":"UserRiskEvents","operationName":"User Risk Detection","location":"neu",
      "tenantId":"5611623b-9128-461e-9d7f-a0d9c270ead2","correlationId":"c-1","Level":4,"identity":"ada","durationMs":0,
      "resourceId":"/tenants/5611623b-9128-461e-9d7f-a0d9c270ead2/providers/microsoft.aadiam","resultType":null,
      "properties":{"id":"r-1","riskEventType":"passwordSpray","riskLevel":"high","ipAddress":"192.0.2.1","userId":"u-1",
      "userPrincipalName":"ada@example.com","userDisplayName":"Ada","activityDateTime":"2022-09-09T9:59:27.958Z","additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"curl\"}]",
      "homeTenantId":"t","resourceTenantId":null,"source":"IdentityProtection","":"",
      "location":{"city":"Delft","countryOrRegion":"NL","geoCoordinates":{"latitude":52.0,"longitude":4.35}}}}"#,
    );
    // Elastic dates the document by the envelope `time`.
    assert_eq!(d["@timestamp"], "2022-09-09T10:00:00.000Z");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["action"], "User Risk Detection");
    assert_eq!(d["event"]["duration"], 0);
    assert_eq!(d["event"]["dataset"], "azure.identity_protection");
    assert_eq!(d["user"]["name"], "ada@example.com");
    assert_eq!(d["user"]["email"], "ada@example.com");
    assert_eq!(d["user"]["id"], "u-1");
    assert_eq!(d["user"]["full_name"], "Ada");
    assert_eq!(
        d["related"]["user"],
        serde_json::json!(["u-1", "ada@example.com", "Ada"])
    );
    // No caller address: the detection's own address.
    assert_eq!(d["source"]["ip"], "192.0.2.1");
    assert_eq!(d["client"]["ip"], "192.0.2.1");
    assert_eq!(d["related"]["ip"], serde_json::json!(["192.0.2.1"]));
    // Elastic does not map the detection's location to `geo.*` (GeoIP of `source.ip` does).
    assert!(d.get("geo").is_none());
    let a = &d["azure"];
    assert_eq!(a["tenant"]["id"], "5611623b-9128-461e-9d7f-a0d9c270ead2");
    assert_eq!(a["tenant_id"], "5611623b-9128-461e-9d7f-a0d9c270ead2");
    assert_eq!(a["correlation"]["id"], "c-1");
    assert_eq!(a["correlation_id"], "c-1");
    assert_eq!(a["resource"]["provider"], "microsoft.aadiam");
    assert_eq!(a["resource_provider"]["namespace"], "microsoft.aadiam");
    assert_eq!(
        d["cloud"]["account"]["id"],
        "5611623b-9128-461e-9d7f-a0d9c270ead2"
    );
    assert_eq!(
        d["cloud"]["resource_id"],
        "/tenants/5611623b-9128-461e-9d7f-a0d9c270ead2/providers/microsoft.aadiam"
    );
    let p = &a["identityprotection"];
    assert_eq!(p["category"], "UserRiskEvents");
    assert_eq!(p["operation_name"], "User Risk Detection");
    // Moved or removed: time, tenant, correlation, identity, Level, location, duration.
    for gone in [
        "time",
        "tenantId",
        "correlationId",
        "identity",
        "Level",
        "location",
        "durationMs",
    ] {
        assert!(p.get(gone).is_none(), "{gone}");
    }
    // Kept as received, null included (no snake_case pass, no null removal).
    assert!(p["resultType"].is_null());
    let props = &p["properties"];
    assert_eq!(props["risk_event_type"], "passwordSpray");
    assert_eq!(props["risk_level"], "high");
    assert_eq!(props["ip_address"], "192.0.2.1");
    assert_eq!(props["user_id"], "u-1");
    assert_eq!(props["activity_datetime"], "2022-09-09T09:59:27.958Z");
    assert_eq!(props["additional_info"][0]["Value"], "curl");
    assert_eq!(props["source"], "IdentityProtection");
    assert_eq!(props["location"]["countryOrRegion"], "NL");
    for gone in [
        "homeTenantId",
        "resourceTenantId",
        "additionalInfo",
        "activityDateTime",
        "",
    ] {
        assert!(props.get(gone).is_none(), "{gone}");
    }
}

#[test]
fn risky_user_keeps_the_caller_address_and_service_principals_are_mapped_too() {
    let d = ecs(
        r#"{"time":"8/22/2022 6:11:52 PM","category":"RiskyUsers","callerIpAddress":"not an ip",
      "properties":{"id":"u-1","userPrincipalName":"joe","userId":null,"riskLastUpdatedDateTime":"2022-09-09T9:59:27.958Z",
      "isDeleted":true,"riskState":"atRisk","additionalInfo":"not json"}}"#,
    );
    assert_eq!(d["@timestamp"], "2022-08-22T18:11:52.000Z");
    assert_eq!(d["source"]["address"], "not an ip");
    assert!(d["source"].get("ip").is_none());
    // Not an address: no `user.email`; Elastic takes no `user.id` from a risky user's own id.
    assert_eq!(d["user"], serde_json::json!({"name": "joe"}));
    let p = &d["azure"]["identityprotection"]["properties"];
    assert_eq!(p["risk_last_updated_datetime"], "2022-09-09T09:59:27.958Z");
    assert_eq!(p["is_deleted"], true);
    assert!(p.get("user_id").is_none(), "a null userId is removed");
    assert_eq!(p["additionalInfo"], "not json");
    // No tenant anywhere: no tenant fields, no account.
    assert!(d["azure"].get("tenant").is_none());
    assert!(d["cloud"].get("account").is_none());

    let d = ecs(
        r#"{"category":"RiskyServicePrincipals","resourceId":"/tenants/5611623b-9128-461e-9d7f-a0d9c270ead2/providers/microsoft.aadiam",
      "properties":{"id":"sp-1","displayName":"robot","appId":"a-1","riskLevel":"high","riskState":"atRisk"}}"#,
    );
    assert_eq!(d["service"]["id"], "sp-1");
    assert_eq!(d["service"]["name"], "robot");
    assert_eq!(d["event"]["category"], serde_json::json!(["iam"]));
    // The tenant from `resourceId` when the record names none; `cloud.account.id` is copied
    // before the shared pipeline runs, so it stays unset.
    assert_eq!(
        d["azure"]["tenant"]["id"],
        "5611623b-9128-461e-9d7f-a0d9c270ead2"
    );
    assert!(d["cloud"].get("account").is_none());
}

#[test]
fn graph_activity_follows_elastics_graph_pipeline() {
    let d = ecs(
        r#"{"time":"2024-03-07T11:47:05Z","Level":4,"category":"MicrosoftGraphActivityLogs","operationName":"Microsoft Graph Activity","durationMs":462680,
      "callerIpAddress":"192.0.2.1","location":"West Europe","tenantId":"t-1","correlationId":"c-1","resultSignature":"403",
      "resourceId":"/TENANTS/A140785B-418D-4344-A4EC-8E9648919ABC/PROVIDERS/MICROSOFT.AADIAM",
      "properties":{"requestId":"q-1","requestMethod":"DELETE","requestUri":"https://graph.microsoft.com/v1.0/users/<pii>ada</pii>@example.com?$select=id","responseStatusCode":403,
      "ipAddress":"192.0.2.1","userAgent":"curl","userId":"u-1","servicePrincipalId":"sp-1","appId":"a-1","timeGenerated":"2024-03-07T11:47:00.6442361Z","responseSizeBytes":364,"scopes":null,
      "roles":"User.Read.All  Group.Read.All","clientAuthMethod":"2","tokenIssuedAt":"2024-03-07T11:42:00Z","C_DeviceId":"d-1","C_Sid":"s-1","signInActivityId":"tok",
      "_BilledSize":12,"_IsBillable":"True","atContent":"","durationMs":462680,"location":"West Europe","tenantId":"t-1"}}"#,
    );
    // Graph dates the document by the envelope `time`.
    assert_eq!(d["@timestamp"], "2024-03-07T11:47:05.000Z");
    let e = &d["event"];
    assert_eq!(e["outcome"], "failure");
    assert_eq!(e["category"], serde_json::json!(["api"]));
    assert_eq!(e["type"], serde_json::json!(["deletion", "denied"]));
    assert_eq!(e["action"], "Microsoft Graph Activity");
    assert_eq!(e["duration"], 462_680_000_000_i64);
    assert_eq!(e["dataset"], "azure.graphactivitylogs");
    assert_eq!(d["http"]["request"]["method"], "DELETE");
    assert_eq!(d["http"]["request"]["id"], "q-1");
    assert_eq!(d["http"]["response"]["status_code"], 403);
    assert_eq!(d["http"]["response"]["bytes"], 364);
    assert_eq!(
        d["url"]["original"],
        "https://graph.microsoft.com/v1.0/users/<pii>ada</pii>@example.com?$select=id"
    );
    assert_eq!(d["url"]["path"], "/v1.0/users/ada@example.com");
    assert_eq!(d["url"]["domain"], "graph.microsoft.com");
    assert_eq!(d["url"]["query"], "$select=id");
    assert_eq!(d["url"]["extension"], "com");
    assert_eq!(d["user"]["id"], "u-1");
    assert_eq!(d["client"]["user"]["id"], "u-1");
    assert_eq!(d["client"]["ip"], "192.0.2.1");
    assert_eq!(d["source"]["ip"], "192.0.2.1");
    assert_eq!(d["service"]["id"], "sp-1");
    assert_eq!(d["device"]["id"], "d-1");
    assert_eq!(d["session"]["id"], "s-1");
    assert_eq!(d["token"]["id"], "tok");
    assert_eq!(d["log"]["level"], "4");
    assert_eq!(d["user_agent"]["original"], "curl");
    assert_eq!(d["destination"]["geo"]["region_name"], "West Europe");
    assert_eq!(d["cloud"]["region"], "West Europe");
    assert_eq!(d["cloud"]["service"]["name"], "Microsoft Graph");
    assert_eq!(d["cloud"]["account"]["id"], "t-1");
    assert_eq!(d["azure"]["tenant"]["id"], "t-1");
    assert_eq!(d["azure"]["correlation"]["id"], "c-1");
    assert_eq!(d["azure"]["resource"]["provider"], "MICROSOFT.AADIAM");
    let g = &d["azure"]["graphactivitylogs"];
    assert_eq!(g["result_signature"], "403");
    assert_eq!(g["operation_name"], "Microsoft Graph Activity");
    for gone in [
        "time",
        "level",
        "caller_ip_address",
        "duration_ms",
        "location",
        "tenant_id",
    ] {
        assert!(g.get(gone).is_none(), "{gone}");
    }
    let p = &g["properties"];
    assert_eq!(
        p["roles"],
        serde_json::json!(["User.Read.All", "Group.Read.All"])
    );
    assert_eq!(p["client_auth_method"], 2);
    assert_eq!(p["time_generated"], "2024-03-07T11:47:00.644Z");
    assert_eq!(p["token_issued_at"], "2024-03-07T11:42:00.000Z");
    assert_eq!(p["billed_size"], 12);
    assert_eq!(p["is_billable"], true);
    assert_eq!(p["app_id"], "a-1");
    assert_eq!(p["c_device_id"], "d-1");
    for gone in [
        "scopes",
        "request_id",
        "request_uri",
        "request_method",
        "response_status_code",
        "response_size_bytes",
        "ip_address",
        "user_agent",
        "user_id",
        "at_content",
        "duration_ms",
        "location",
        "tenant_id",
        "_billed_size",
    ] {
        assert!(p.get(gone).is_none(), "{gone}");
    }
}

#[test]
fn aad_graph_activity_derives_its_action_from_the_path() {
    let d = ecs(
        r#"{"category":"AzureADGraphActivityLogs","location":"WestUS","operationName":"AAD Graph Activity","tenantId":"t-1",
      "properties":{"__UDI_RequiredFields_EventTime":639140000000000000,"__UDI_RequiredFields_TenantId":"t-1","actorType":"Application",
      "appId":"a-1","callerIpAddress":"81.2.69.143","deviceId":"","durationMs":59,"httpMethod":"GET","httpStatusCode":302,
      "issuedAt":"5/7/2026 1:50:39 PM","requestId":"q-1","requestUri":"/v2/ab30785b-417f-42a4-b5dc-8f9051718acb/directoryRoles",
      "responseSizeBytes":-1,"roles":" Group.Read.All, Directory.Read.All,","scopes":"","servicePrincipalId":"sp-1","sessionId":"s-1",
      "timeGenerated":"2026-05-07T15:19:33.5368860Z","userAgent":"AADInternals","userId":"","wids":""}}"#,
    );
    assert_eq!(d["@timestamp"], "2026-05-07T15:19:33.536Z");
    let e = &d["event"];
    assert_eq!(e["action"], "directory-roles-read");
    assert_eq!(e["category"], serde_json::json!(["iam", "web"]));
    assert_eq!(e["type"], serde_json::json!(["access", "info"]));
    assert_eq!(e["outcome"], "unknown");
    assert_eq!(e["id"], "q-1");
    assert_eq!(e["duration"], 59_000_000);
    assert_eq!(d["http"]["response"]["bytes"], -1);
    assert_eq!(
        d["url"]["path"],
        "/v2/ab30785b-417f-42a4-b5dc-8f9051718acb/directoryRoles"
    );
    // No user: the service principal is the user.
    assert_eq!(d["user"]["id"], "sp-1");
    assert_eq!(d["related"]["user"], serde_json::json!(["sp-1", "a-1"]));
    assert_eq!(d["source"]["ip"], "81.2.69.143");
    assert_eq!(d["session"]["id"], "s-1");
    assert!(d.get("device").is_none());
    assert_eq!(d["cloud"]["service"]["name"], "Azure AD Graph");
    let p = &d["azure"]["aadgraphactivitylogs"]["properties"];
    assert_eq!(
        p["roles"],
        serde_json::json!(["Group.Read.All", "Directory.Read.All"])
    );
    assert_eq!(p["token_issued_at"], "2026-05-07T13:50:39.000Z");
    assert_eq!(p["actor_type"], "Application");
    for gone in [
        "__udi_required_fields_event_time",
        "__udi_required_fields_tenant_id",
        "caller_ip_address",
        "http_method",
        "http_status_code",
        "issued_at",
        "wids",
        "scopes",
        "device_id",
    ] {
        assert!(p.get(gone).is_none(), "{gone}");
    }
}

#[test]
fn unknown_category_is_kept_under_events() {
    let d = ecs(
        r#"{"time":"2024-01-01T00:00:00Z","category":"NetworkAccessTrafficLogs","resultType":"Success","properties":{"someField":"x"}}"#,
    );
    assert_eq!(d["event"]["dataset"], "azure.events");
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(d["azure"]["events"]["properties"]["some_field"], "x");
    assert_eq!(d["azure"]["events"]["result_type"], "Success");
}

#[test]
fn long_lists_stay_linear_and_deduplicated() {
    let pairs: Vec<String> = (0..20_000)
        .map(|i| format!(r#"{{"key":"k{}","value":"{i}"}}"#, i % 100))
        .collect();
    let d = ecs(&format!(
        r#"{{"category":"SignInLogs","properties":{{"authenticationProcessingDetails":[{}]}}}}"#,
        pairs.join(",")
    ));
    let map = d["azure"]["signinlogs"]["properties"]["authentication_processing_details"]
        .as_object()
        .unwrap();
    assert_eq!(map.len(), 100);
    assert_eq!(map["k7"], "19907");
    let targets: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"id":"t{}","type":"User","modifiedProperties":[]}}"#,
                i % 50
            )
        })
        .collect();
    let d = ecs(&format!(
        r#"{{"category":"AuditLogs","properties":{{"targetResources":[{}]}}}}"#,
        targets.join(",")
    ));
    assert_eq!(d["related"]["entity"].as_array().unwrap().len(), 50);
}
