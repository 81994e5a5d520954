//! What Sumo Logic sees of a record besides its NDJSON line: the `X-Sumo-Category` a record's
//! diagnostic category maps to (allow-listed: no value from the data may stall the sink), and
//! the JSON string escaping of `check-sinks`' test event. The lines themselves are the shared
//! `NdjsonEncoder`'s.

use entrastream_sink_http::header_value;

/// `X-Sumo-Category` for a diagnostic category: `azure/entra/<kind>`.
pub fn default_category(category: &str) -> String {
    let kind = match category {
        "SignInLogs" => "signin",
        "NonInteractiveUserSignInLogs" => "signin/noninteractive",
        "ServicePrincipalSignInLogs" => "signin/serviceprincipal",
        "ManagedIdentitySignInLogs" => "signin/managedidentity",
        "AuditLogs" => "audit",
        "ProvisioningLogs" => "provisioning",
        "RiskyUsers" => "risk/users",
        "UserRiskEvents" => "risk/userevents",
        "RiskyServicePrincipals" => "risk/serviceprincipals",
        "ServicePrincipalRiskEvents" => "risk/serviceprincipalevents",
        "MicrosoftGraphActivityLogs" => "graphactivity",
        other => return format!("azure/entra/{}", other.to_ascii_lowercase()),
    };
    format!("azure/entra/{kind}")
}

/// `X-Sumo-Category` when a record's category leaves nothing usable after sanitising.
pub const FALLBACK_CATEGORY: &str = "azure/entra/other";

/// The `X-Sumo-Category` of a record of this diagnostic category: [`default_category`] made
/// safe for a header by [`header_value`] (letters, digits, `/ _ - . : @ +`, at most 128 bytes;
/// [`FALLBACK_CATEGORY`] when nothing is left).
pub fn sumo_category(category: &str) -> String {
    // Sanitised before the mapping too, so that a category of nothing usable (a lone line
    // break) maps to `azure/entra/other` rather than to `azure/entra/_`.
    let name = header_value(category, "Other");
    header_value(&default_category(&name), FALLBACK_CATEGORY)
}

/// A JSON string literal of `s`.
pub(crate) fn serde_escape(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
