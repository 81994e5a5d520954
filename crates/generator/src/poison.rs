//! Malformed Event Hubs messages for dead-letter tests and the demo.

use crate::json;
use crate::rng::{mix, unique_guid};

/// How many distinct poison kinds [`poison_message`] cycles through.
pub const POISON_KINDS: usize = 8;

const NAMES: [&str; POISON_KINDS] = [
    "truncated_json",
    "not_json",
    "records_not_array",
    "properties_is_string",
    "properties_is_number",
    "time_is_number",
    "missing_category",
    "broken_record_among_good_ones",
];

/// Short machine-friendly name of poison kind `i % POISON_KINDS`.
pub fn poison_kind_name(i: usize) -> &'static str {
    NAMES[i % POISON_KINDS]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Twist {
    None,
    PropertiesString,
    PropertiesNumber,
    TimeNumber,
    NoCategory,
}

/// A small, valid SignInLogs record unique to `(i, n)`.
fn record(out: &mut Vec<u8>, i: usize, n: u64, twist: Twist) {
    let (hi, lo) = unique_guid(0x0090_150e, ((i as u64) << 8) | n);
    out.push(b'{');
    if twist == Twist::TimeNumber {
        json::int(out, "time", 1_736_150_400 + i as i64);
    } else {
        json::s(out, "time", "2025-01-06T08:00:00.0000000Z");
    }
    json::s(
        out,
        "resourceId",
        "/tenants/8a3c4a3e-5d1b-4c8e-9f0a-2b6d7e8f9a01/providers/Microsoft.aadiam",
    );
    json::s(out, "operationName", "Sign-in activity");
    json::s(out, "operationVersion", "1.0");
    if twist != Twist::NoCategory {
        json::s(out, "category", "SignInLogs");
    }
    json::s(out, "tenantId", "8a3c4a3e-5d1b-4c8e-9f0a-2b6d7e8f9a01");
    json::s(out, "resultType", "0");
    json::int(out, "durationMs", 0);
    json::s(out, "callerIpAddress", "81.2.69.143");
    out.extend_from_slice(b"\"Level\":4,");
    // The properties object, written once as text so it can also be embedded as a string.
    let mut props = Vec::with_capacity(256);
    props.push(b'{');
    json::key(&mut props, "id");
    props.push(b'"');
    json::guid(&mut props, hi, lo);
    props.extend_from_slice(b"\",");
    json::s(&mut props, "createdDateTime", "2025-01-06T08:00:00+00:00");
    json::s(&mut props, "userPrincipalName", "poison.test@contoso.com");
    json::s(&mut props, "appDisplayName", "Microsoft Teams");
    props.extend_from_slice(b"\"status\":{\"errorCode\":0},");
    json::close_last(&mut props, b'}');
    match twist {
        Twist::PropertiesString => {
            json::key(out, "properties");
            out.push(b'"');
            json::esc_bytes(out, &props);
            out.push(b'"');
        }
        Twist::PropertiesNumber => {
            json::key(out, "properties");
            json::num(out, 42 + (mix(i as u64) % 1000) as i64);
        }
        _ => {
            json::key(out, "properties");
            out.extend_from_slice(&props);
        }
    }
    out.push(b'}');
}

/// Appends malformed input number `i`; kinds cycle with period [`POISON_KINDS`]
/// (see [`poison_kind_name`]):
///
/// 0. truncated JSON (a good envelope cut in the middle);
/// 1. not JSON at all;
/// 2. an envelope whose `records` is an object, not an array;
/// 3. a good envelope with one record whose `properties` is a string (JSON text in a string);
/// 4. the same with `properties` a number;
/// 5. a record whose `time` is a number;
/// 6. a record without `category`;
/// 7. syntactically broken JSON: a bad record between two good ones in one envelope.
///
/// Output depends only on `i`.
pub fn poison_message(i: usize, out: &mut Vec<u8>) {
    match i % POISON_KINDS {
        0 => {
            let start = out.len();
            out.extend_from_slice(b"{\"records\":[");
            record(out, i, 0, Twist::None);
            out.extend_from_slice(b"]}");
            let full = out.len() - start;
            out.truncate(start + full / 2 + (i / POISON_KINDS) % (full / 4));
        }
        1 => {
            out.extend_from_slice(b"Event Hubs test message #");
            json::num(out, i as i64);
            out.extend_from_slice(b": this body is plain text, not JSON\n\x01\x02");
        }
        2 => {
            out.extend_from_slice(b"{\"records\":");
            record(out, i, 0, Twist::None);
            out.push(b'}');
        }
        3..=6 => {
            let twist = match i % POISON_KINDS {
                3 => Twist::PropertiesString,
                4 => Twist::PropertiesNumber,
                5 => Twist::TimeNumber,
                _ => Twist::NoCategory,
            };
            out.extend_from_slice(b"{\"records\":[");
            record(out, i, 0, twist);
            out.extend_from_slice(b"]}");
        }
        _ => {
            out.extend_from_slice(b"{\"records\":[");
            record(out, i, 0, Twist::None);
            out.extend_from_slice(
                b",{\"time\":\"2025-01-06T08:00:01.0000000Z\",\"category\":\"SignInLogs\",\"properties\":{\"id\":\"broken\",\"status\":{\"errorCode\":0,,}},",
            );
            record(out, i, 2, Twist::None);
            out.extend_from_slice(b"]}");
        }
    }
}
