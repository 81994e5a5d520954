//! ECS member keys for the keys Entra writes, rendered at compile time.
//!
//! Elastic's sign-in style renames every key of the record's tree to snake_case, and the same
//! few hundred keys recur in every record. Converting each at run time, or hashing it into a
//! per-thread cache, was 47 M of the ECS encoder's 113 M instructions on the realistic mix
//! (`benches/README.md`). Here the wire key is found in an open-addressed table built by the
//! compiler from [`KNOWN`], whose rendered form (`"snake_key":`) is also computed by the
//! compiler; a key not listed (a new Entra field, or hostile input) misses and goes to the
//! run-time conversion and its cache, so the list only decides speed, never output.

/// Keys of Microsoft's Entra log schemas (envelope, sign-in, audit, provisioning, risk and
/// Graph activity records), as seen in the public samples (`../shared/samples`) and the
/// generator's records. Sorted; plain ASCII, no escapes.
const KNOWN: &[&str] = &[
    "ApplicationDisplayName",
    "ApplicationId",
    "AttemptedUsername",
    "AuthenticationMethodsUsed",
    "BrowserId",
    "BrowserType",
    "C_DeviceId",
    "Category",
    "ConditionalAccessDetails",
    "CorrelationId",
    "CreatedDateTime",
    "DeploymentVersion",
    "DeviceDetails",
    "DeviceDisplayName",
    "DeviceId",
    "DevicePlatform",
    "DeviceTrustType",
    "DisplayDetails",
    "DisplayName",
    "DomainHintPresent",
    "DurationMs",
    "IPChain",
    "Id",
    "IsCompliant",
    "IsInteractive",
    "IsManaged",
    "IsSoftDeleted",
    "IssuerDetails",
    "Latitude",
    "Level",
    "LocationDetails",
    "LoginHintPresent",
    "Longitude",
    "MfaDetails",
    "MultiCAEvaluationLog",
    "Name",
    "NetworkLocation",
    "OperationName",
    "PassThroughAuthenticationDetails",
    "PropertyName",
    "Protocol",
    "ProtocolDetails",
    "ProxyRestrictionTargetTenantName",
    "RamDetails",
    "ReportableIdentifier",
    "RequestSequence",
    "ResourceDisplayName",
    "ResponseTime",
    "ScopeEvaluationResult",
    "ServicePrincipalDisplayName",
    "ServicePrincipalId",
    "SignInBondData",
    "SkipReason",
    "SourceAlpEvents",
    "Status",
    "StatusSequence",
    "TenantId",
    "Type",
    "UserAgent",
    "UserName",
    "UserPrincipalName",
    "__UDI_RequiredFields_EventTime",
    "__UDI_RequiredFields_RegionScope",
    "__UDI_RequiredFields_TenantId",
    "__UDI_RequiredFields_UniqueId",
    "accountEnabled",
    "action",
    "active",
    "activity",
    "activityDateTime",
    "activityDisplayName",
    "actorType",
    "additionalDetails",
    "additionalInfo",
    "administrativeUnits",
    "agent",
    "agentSubjectType",
    "agentType",
    "alternateSignInName",
    "altitude",
    "apiId",
    "apiRevision",
    "apiVersion",
    "apimSubscriptionId",
    "app",
    "appDisplayName",
    "appId",
    "appOwnerTenantId",
    "appRoleAssignments",
    "appServicePrincipalId",
    "appliedConditionalAccessPolicies",
    "associatedResourceId",
    "atContent",
    "authDetail",
    "authMethod",
    "authenticationContextClassReferences",
    "authenticationDetails",
    "authenticationMethod",
    "authenticationMethodDetail",
    "authenticationProcessingDetails",
    "authenticationProtocol",
    "authenticationRequirement",
    "authenticationRequirementPolicies",
    "authenticationStepDateTime",
    "authenticationStepRequirement",
    "authenticationStepResultDetail",
    "authenticationStrengths",
    "autonomousSystemNumber",
    "backendMethod",
    "backendProtocol",
    "backendResponseCode",
    "backendTime",
    "backendUrl",
    "browser",
    "c_Sid",
    "cache",
    "callerIpAddress",
    "category",
    "changeId",
    "city",
    "claim",
    "clientAppUsed",
    "clientAuthMethod",
    "clientCredentialType",
    "clientProtocol",
    "clientRequestId",
    "clientTime",
    "clientTlsVersion",
    "conditionalAccessAudiences",
    "conditionalAccessStatus",
    "conditionsNotSatisfied",
    "conditionsSatisfied",
    "correlationId",
    "countryOrRegion",
    "createdDateTime",
    "crossTenantAccessType",
    "cycleId",
    "department",
    "description",
    "detail",
    "details",
    "detectedDateTime",
    "detectionTimingType",
    "deviceDetail",
    "deviceId",
    "directAccessSource",
    "displayName",
    "durationInMilliseconds",
    "durationMs",
    "enforcedGrantControls",
    "enforcedSessionControls",
    "env_cloud_role",
    "errorCategory",
    "errorCode",
    "errorInformation",
    "externalId",
    "failureReason",
    "federatedTokenId",
    "federatedTokenIssuer",
    "flaggedForReview",
    "geoCoordinates",
    "givenName",
    "globalSecureAccessIpAddress",
    "groupType",
    "homeTenantId",
    "homeTenantName",
    "httpMethod",
    "httpStatusCode",
    "id",
    "identity",
    "identityProvider",
    "identityType",
    "incomingTokenType",
    "initiatedBy",
    "ipAddress",
    "ipAddressFromResourceProvider",
    "isCompliant",
    "isDeleted",
    "isEnabled",
    "isGuest",
    "isInteractive",
    "isManaged",
    "isProcessing",
    "isRequestSuccess",
    "isTenantRestricted",
    "isThroughGlobalSecureAccess",
    "issuedAt",
    "jobId",
    "key",
    "keyIds",
    "lastUpdatedDateTime",
    "latitude",
    "level",
    "location",
    "loggedByService",
    "longitude",
    "mailNickname",
    "managedServiceIdentity",
    "method",
    "mfaDetail",
    "mitreTechniqueId",
    "modifiedProperties",
    "msiType",
    "name",
    "namefamilyName",
    "namegivenName",
    "networkLocationDetails",
    "networkNames",
    "networkType",
    "newValue",
    "objectId",
    "odatatype",
    "oid",
    "oldValue",
    "operatingSystem",
    "operationId",
    "operationName",
    "operationType",
    "operationVersion",
    "originalRequestId",
    "originalTransferMethod",
    "privateLinkDetails",
    "processingTimeInMilliseconds",
    "properties",
    "provisioningAction",
    "provisioningStatusInfo",
    "provisioningStepType",
    "provisioningSteps",
    "reason",
    "recommendedAction",
    "redirectUrl",
    "requestId",
    "requestMethod",
    "requestSize",
    "requestUri",
    "requirementProvider",
    "resourceDisplayName",
    "resourceId",
    "resourceOwnerTenantId",
    "resourceServicePrincipalId",
    "resourceTenantId",
    "responseCode",
    "responseSize",
    "responseSizeBytes",
    "responseStatusCode",
    "result",
    "resultDescription",
    "resultReason",
    "resultSignature",
    "resultType",
    "riskDetail",
    "riskEventType",
    "riskEventTypes",
    "riskEventTypes_v2",
    "riskLastUpdatedDateTime",
    "riskLevel",
    "riskLevelAggregated",
    "riskLevelDuringSignIn",
    "riskState",
    "riskType",
    "rngcStatus",
    "roles",
    "scopes",
    "servicePrincipal",
    "servicePrincipalCredentialKeyId",
    "servicePrincipalCredentialThumbprint",
    "servicePrincipalDisplayName",
    "servicePrincipalId",
    "servicePrincipalName",
    "servicePrincipalType",
    "sessionId",
    "sessionLifetimePolicies",
    "signInActivityId",
    "signInEventTypes",
    "signInIdentifier",
    "signInSessionStatus",
    "signInSessionStatusCode",
    "signInTokenProtectionStatus",
    "source",
    "sourceAppClientId",
    "sourceIdentity",
    "sourceSystem",
    "ssoExtensionVersion",
    "state",
    "status",
    "statusInfo",
    "succeeded",
    "surname",
    "targetIdentity",
    "targetResources",
    "targetSystem",
    "tenantId",
    "time",
    "timeGenerated",
    "tokenIssuedAt",
    "tokenIssuerName",
    "tokenIssuerType",
    "tokenProtectionStatusDetails",
    "truncated",
    "trustType",
    "type",
    "uniqueTokenIdentifier",
    "url",
    "user",
    "userAgent",
    "userDisplayName",
    "userId",
    "userName",
    "userPrincipalName",
    "userType",
    "value",
    "wids",
];

/// Longest key in [`KNOWN`], checked below; longer keys miss without a lookup.
const MAX_KEY: usize = 36;
/// Bytes [`rendered_padded`] hands out: at least the longest rendered key (checked when the
/// table is built), and a constant so that copying them is a few moves rather than a call.
pub(super) const PAD: usize = 48;
/// Slots of the open-addressed table: a power of two, at most a third full, so that almost
/// every hit is found in the first slot probed.
const SLOT_BITS: u32 = 10;
const SLOTS: usize = 1 << SLOT_BITS;

/// Elastic's rule (`([a-z])([A-Z]+)` → `$1_$2`, then lower-case) for ASCII keys: an underscore
/// before an upper-case letter that follows a lower-case one.
const fn snake_len(key: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    let mut prev_lower = false;
    while i < key.len() {
        let b = key[i];
        if b.is_ascii_uppercase() && prev_lower {
            n += 1;
        }
        n += 1;
        prev_lower = b.is_ascii_lowercase();
        i += 1;
    }
    n + 3 // quotes and colon
}

const fn rendered_total() -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < KNOWN.len() {
        total += snake_len(KNOWN[i].as_bytes());
        i += 1;
    }
    total
}

/// Every rendered key, back to back (each slot of [`TABLE`] says where its key's is). The last
/// [`PAD`] bytes are padding, so that [`rendered_padded`] can hand out [`PAD`] bytes from any
/// key's start.
static RENDERED: [u8; rendered_total() + PAD] = render_all();
/// The open-addressed table: each slot holds the print of its key and where its rendering is,
/// so that a hit reads one slot and nothing else (an index table pointing into separate print
/// and offset arrays cost three dependent loads and twice the instructions). An empty slot has
/// length zero, which no key has.
static TABLE: [Entry; SLOTS] = build_table();

/// One slot of [`TABLE`].
#[derive(Clone, Copy)]
struct Entry {
    a: u64,
    b: u64,
    /// The key's length; zero for an empty slot.
    len: u8,
    /// Length of the rendered `"snake_key":`.
    rendered_len: u8,
    /// Start of the rendering in [`RENDERED`].
    at: u16,
    /// The key's index in [`KNOWN`].
    index: u16,
}

const EMPTY: Entry = Entry {
    a: 0,
    b: 0,
    len: 0,
    rendered_len: 0,
    at: 0,
    index: 0,
};

/// A key's length and up to sixteen of its bytes in two words: all of them for keys of up to
/// sixteen bytes, so that comparing prints compares those keys without a `memcmp` call.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Print {
    a: u64,
    b: u64,
    len: usize,
}

const fn render_all() -> [u8; rendered_total() + PAD] {
    let mut out = [0u8; rendered_total() + PAD];
    let mut at = 0;
    let mut i = 0;
    while i < KNOWN.len() {
        let key = KNOWN[i].as_bytes();
        out[at] = b'"';
        at += 1;
        let mut prev_lower = false;
        let mut j = 0;
        while j < key.len() {
            let b = key[j];
            if b.is_ascii_uppercase() && prev_lower {
                out[at] = b'_';
                at += 1;
            }
            out[at] = b.to_ascii_lowercase();
            at += 1;
            prev_lower = b.is_ascii_lowercase();
            j += 1;
        }
        out[at] = b'"';
        out[at + 1] = b':';
        at += 2;
        i += 1;
    }
    out
}

const fn offsets() -> [u16; KNOWN.len() + 1] {
    let mut out = [0u16; KNOWN.len() + 1];
    let mut i = 0;
    while i < KNOWN.len() {
        out[i + 1] = out[i] + snake_len(KNOWN[i].as_bytes()) as u16;
        i += 1;
    }
    out
}

/// The print of a key of 1 to [`MAX_KEY`] bytes: its first and last eight bytes, or, when
/// shorter, its first and last four, or its first, middle and last byte.
#[inline(always)]
const fn print(key: &[u8]) -> Print {
    let n = key.len();
    let (a, b) = if n >= 8 {
        (word_at(key, 0), word_at(key, n - 8))
    } else if n >= 4 {
        (half_at(key, 0) | half_at(key, n - 4) << 32, 0)
    } else {
        (
            key[0] as u64 | (key[n / 2] as u64) << 8 | (key[n - 1] as u64) << 16,
            0,
        )
    };
    Print { a, b, len: n }
}

/// The slot a print starts probing at, mixed by two multiplications. The second multiplier
/// was picked from random odd numbers for the most first-probe hits on [`KNOWN`] (288 of 312);
/// a test keeps it that way when the list changes.
#[inline(always)]
const fn slot(p: &Print) -> usize {
    let x = p.a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ p.b ^ p.len as u64;
    (x.wrapping_mul(0xA1E9_1AEC_C02C_24EB) >> (64 - SLOT_BITS)) as usize
}

/// Eight bytes from `at`, little-endian (the caller keeps `at + 8` in bounds). Written with
/// `first_chunk` so that it is one load at run time and still usable by the compiler's tables.
#[inline(always)]
const fn word_at(key: &[u8], at: usize) -> u64 {
    match key.split_at(at).1.first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => 0,
    }
}

/// Four bytes from `at`, little-endian (the caller keeps `at + 4` in bounds).
#[inline(always)]
const fn half_at(key: &[u8], at: usize) -> u64 {
    match key.split_at(at).1.first_chunk::<4>() {
        Some(w) => u32::from_le_bytes(*w) as u64,
        None => 0,
    }
}

const fn build_table() -> [Entry; SLOTS] {
    let offsets = offsets();
    let mut table = [EMPTY; SLOTS];
    let mut i = 0;
    while i < KNOWN.len() {
        let key = KNOWN[i].as_bytes();
        assert!(!key.is_empty() && key.len() <= MAX_KEY);
        assert!(snake_len(key) <= PAD);
        let p = print(key);
        let mut s = slot(&p);
        while table[s].len != 0 {
            s = (s + 1) & (SLOTS - 1);
        }
        table[s] = Entry {
            a: p.a,
            b: p.b,
            len: key.len() as u8,
            rendered_len: (offsets[i + 1] - offsets[i]) as u8,
            at: offsets[i],
            index: i as u16,
        };
        i += 1;
    }
    table
}

/// The rendered `"snake_key":` of a known wire key (as it appears between its quotes, without
/// escapes), or `None` for a key not in [`KNOWN`].
#[cfg(test)]
pub(super) fn rendered(key: &[u8]) -> Option<&'static [u8]> {
    let e = find(key)?;
    Some(&RENDERED[usize::from(e.at)..usize::from(e.at) + usize::from(e.rendered_len)])
}

/// [`PAD`] bytes that start with the rendered key, and the rendered key's length: copying a
/// constant length and cutting it back is cheaper than a `memcpy` call of the exact length.
#[inline(always)]
pub(super) fn rendered_padded(key: &[u8]) -> Option<(&'static [u8; PAD], usize)> {
    let e = find(key)?;
    let padded = RENDERED
        .split_at(usize::from(e.at))
        .1
        .first_chunk::<PAD>()?;
    Some((padded, usize::from(e.rendered_len)))
}

/// The slot of a known wire key, or `None`.
#[inline(always)]
fn find(key: &[u8]) -> Option<&'static Entry> {
    let n = key.len();
    // Empty keys and keys longer than any known one, in one compare.
    if n.wrapping_sub(1) >= MAX_KEY {
        return None;
    }
    let p = print(key);
    let mut s = slot(&p);
    loop {
        let e = &TABLE[s];
        // Keys longer than sixteen bytes have bytes the print does not hold.
        if e.a == p.a
            && e.b == p.b
            && usize::from(e.len) == n
            && (n <= 16 || middle_eq(KNOWN[usize::from(e.index)].as_bytes(), key))
        {
            return Some(e);
        }
        if e.len == 0 {
            return None;
        }
        s = (s + 1) & (SLOTS - 1);
    }
}

/// Whether two keys of the same length (17 to [`MAX_KEY`] bytes) agree in the bytes between
/// their first and last eight, eight at a time (the last step overlaps the one before).
#[inline(always)]
fn middle_eq(known: &[u8], key: &[u8]) -> bool {
    let n = key.len();
    let mut at = 8;
    while at < n - 8 {
        let p = at.min(n - 16);
        if word_at(known, p) != word_at(key, p) {
            return false;
        }
        at += 8;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_is_found_and_nothing_else() {
        for key in KNOWN {
            assert!(rendered(key.as_bytes()).is_some(), "{key}");
        }
        for key in [
            "",
            "ipaddress",
            "IpAddress",
            "userId ",
            "x",
            "records",
            "a\"b",
        ] {
            assert_eq!(rendered(key.as_bytes()), None, "{key:?}");
        }
        // A one-byte change anywhere, the middle of long keys included (which the print does
        // not hold), is never taken for a known key.
        for key in KNOWN {
            for at in 0..key.len() {
                let mut other = key.as_bytes().to_vec();
                other[at] = b'#';
                assert_eq!(rendered(&other), None, "{key} changed at {at}");
            }
        }
    }

    #[test]
    fn compiled_renderings_match_the_run_time_conversion() {
        for key in KNOWN {
            let mut buf = [0u8; 2 * super::super::SNAKE_KEY_MAX + 3];
            let len = super::super::render_ascii(key.as_bytes(), &mut buf).unwrap();
            assert_eq!(rendered(key.as_bytes()), Some(&buf[..len]), "{key}");
            let (padded, padded_len) = rendered_padded(key.as_bytes()).unwrap();
            assert_eq!(&padded[..padded_len], &buf[..len], "{key}");
        }
    }

    #[test]
    fn the_list_is_sorted_plain_and_without_duplicates() {
        for pair in KNOWN.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        for key in KNOWN {
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            );
        }
        assert_eq!(KNOWN.iter().map(|k| k.len()).max(), Some(MAX_KEY));
    }

    #[test]
    fn most_keys_are_found_at_the_first_probe() {
        let probes: Vec<usize> = KNOWN
            .iter()
            .map(|key| {
                let key = key.as_bytes();
                let mut s = slot(&print(key));
                let mut n = 1;
                while KNOWN[usize::from(TABLE[s].index)].as_bytes() != key || TABLE[s].len == 0 {
                    s = (s + 1) & (SLOTS - 1);
                    n += 1;
                }
                n
            })
            .collect();
        let first = probes.iter().filter(|n| **n == 1).count();
        assert!(first * 10 >= KNOWN.len() * 9, "{first} of {}", KNOWN.len());
        assert!(probes.iter().all(|n| *n <= 5), "{probes:?}");
    }
}
