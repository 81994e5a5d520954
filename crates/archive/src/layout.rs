//! Names of Azure Monitor's storage export for tenant-level (Entra) diagnostic settings.
//!
//! - Container: `insights-logs-<category lowercased>` (`insights-logs-signinlogs`).
//! - Blob: `tenantId=<tenant>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`, one blob per hour (UTC),
//!   one JSON record per line (JSON Lines, since 2018-11-01).
//! - entrastream extensions, both documented in `docs/archive.md`: a numbered sibling
//!   `PT1H.<n>.json` (n = 1, 2, …) once an append blob holds its 50,000 blocks, and the
//!   suffixes `.gz` / `.zst` when the sink compresses.

use crate::codec::Compression;

/// Every container of the export starts with this.
pub const CONTAINER_PREFIX: &str = "insights-logs-";
/// Azure Storage's longest container name.
const CONTAINER_MAX: usize = 63;
/// Blocks an append blob can hold (Azure Storage's limit); the sink rolls to a sibling then.
pub const MAX_BLOCKS_PER_APPEND_BLOB: u32 = 50_000;
/// The tenant written when a record names none (a record without `tenantId`).
pub const UNKNOWN_TENANT: &str = "unknown";

/// One hourly blob's place: tenant and the UTC hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourKey {
    /// The tenant, as it appears in `tenantId=` (GUID characters only).
    pub tenant: String,
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl HourKey {
    /// The hour holding `unix_seconds` (UTC) for `tenant` (sanitised: see [`sanitize_tenant`]).
    pub fn from_unix(tenant: &str, unix_seconds: i64) -> HourKey {
        let days = unix_seconds.div_euclid(86_400);
        let secs_of_day = unix_seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        HourKey {
            tenant: sanitize_tenant(tenant),
            year,
            month,
            day,
            hour: (secs_of_day / 3600) as u32,
        }
    }

    /// The first second of the hour (Unix seconds, UTC).
    pub fn start_unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400 + i64::from(self.hour) * 3600
    }

    /// `tenantId=<tenant>/y=YYYY/m=MM/d=DD/h=HH/m=00` (no trailing slash).
    pub fn dir(&self) -> String {
        format!(
            "tenantId={}/y={:04}/m={:02}/d={:02}/h={:02}/m=00",
            self.tenant, self.year, self.month, self.day, self.hour
        )
    }
}

/// The container of a category: `insights-logs-` + the category's letters and digits
/// lowercased (`SignInLogs` → `insights-logs-signinlogs`). Anything else a container name may
/// not hold is dropped; an empty result becomes `unknown`; the name is cut at 63 characters.
pub fn container_for(category: &str) -> String {
    let mut name = String::with_capacity(CONTAINER_PREFIX.len() + category.len());
    name.push_str(CONTAINER_PREFIX);
    name.extend(
        category
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase()),
    );
    if name.len() == CONTAINER_PREFIX.len() {
        name.push_str("unknown");
    }
    name.truncate(CONTAINER_MAX);
    name
}

/// A tenant id as a path segment: GUID characters (`[0-9A-Za-z-]`) only, so no record can
/// steer a write outside its directory; `unknown` when nothing is left.
pub fn sanitize_tenant(tenant: &str) -> String {
    let t: String = tenant
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    if t.is_empty() {
        UNKNOWN_TENANT.to_owned()
    } else {
        t
    }
}

/// The blob path of an hour: `…/PT1H.json`, or the numbered sibling `…/PT1H.<n>.json` for
/// `sibling > 0`, plus `.gz` / `.zst` when compressed.
pub fn blob_path(key: &HourKey, sibling: u32, compression: Compression) -> String {
    format!("{}/{}", key.dir(), hour_file_name(sibling, compression))
}

/// The file name of an hour blob: `PT1H.json`, `PT1H.<n>.json` for `sibling > 0`, plus
/// `.gz` / `.zst` when compressed.
pub fn hour_file_name(sibling: u32, compression: Compression) -> String {
    if sibling == 0 {
        format!("PT1H.json{}", compression.suffix())
    } else {
        format!("PT1H.{sibling}.json{}", compression.suffix())
    }
}

/// What a blob path in this layout says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobName {
    /// Tenant and hour (the tenant is empty when the path has no `tenantId=` segment, as in
    /// a resource-level export's `resourceId=/…` paths).
    pub key: HourKey,
    /// 0 for `PT1H.json`, n for `PT1H.<n>.json`.
    pub sibling: u32,
    /// From the suffix.
    pub compression: Compression,
}

/// Reads a path of this layout (relative to the container, with or without a leading `/`).
/// `None` when it is not one: the reader then treats the file as plain input.
pub fn parse_blob_path(path: &str) -> Option<BlobName> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() < 6 {
        return None;
    }
    let n = segs.len();
    let file = segs[n - 1];
    let (sibling, compression) = parse_file_name(file)?;
    let num = |seg: &str, key: &str| -> Option<u32> { seg.strip_prefix(key)?.parse::<u32>().ok() };
    let year = num(segs[n - 6], "y=")?;
    let month = num(segs[n - 5], "m=")?;
    let day = num(segs[n - 4], "d=")?;
    let hour = num(segs[n - 3], "h=")?;
    let minute = num(segs[n - 2], "m=")?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let tenant = segs[..n - 6]
        .iter()
        .find_map(|s| s.strip_prefix("tenantId="))
        .unwrap_or("")
        .to_owned();
    Some(BlobName {
        key: HourKey {
            tenant,
            year: year as i32,
            month,
            day,
            hour,
        },
        sibling,
        compression,
    })
}

/// `PT1H.json`, `PT1H.<n>.json`, each optionally `.gz` / `.zst`.
fn parse_file_name(file: &str) -> Option<(u32, Compression)> {
    let (stem, compression) = if let Some(s) = file.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = file.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (file, Compression::None)
    };
    let middle = stem.strip_prefix("PT1H")?.strip_suffix(".json")?;
    if middle.is_empty() {
        return Some((0, compression));
    }
    let n = middle.strip_prefix('.')?.parse::<u32>().ok()?;
    (n > 0).then_some((n, compression))
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0e35ee7a-425d-45a5-9013-218c1eae8fd4";

    #[test]
    fn container_is_the_category_lowercased() {
        assert_eq!(container_for("SignInLogs"), "insights-logs-signinlogs");
        assert_eq!(
            container_for("NonInteractiveUserSignInLogs"),
            "insights-logs-noninteractiveusersigninlogs"
        );
        assert_eq!(
            container_for("MicrosoftGraphActivityLogs"),
            "insights-logs-microsoftgraphactivitylogs"
        );
        assert_eq!(container_for("../Audit Logs"), "insights-logs-auditlogs");
        assert_eq!(container_for(""), "insights-logs-unknown");
        assert_eq!(container_for(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn blob_path_of_an_hour() {
        // 2024-06-20T05:59:59Z
        let key = HourKey::from_unix(TENANT, 1_718_863_199);
        assert_eq!(
            blob_path(&key, 0, Compression::None),
            format!("tenantId={TENANT}/y=2024/m=06/d=20/h=05/m=00/PT1H.json")
        );
        assert_eq!(
            blob_path(&key, 2, Compression::Gzip),
            format!("tenantId={TENANT}/y=2024/m=06/d=20/h=05/m=00/PT1H.2.json.gz")
        );
        assert_eq!(
            blob_path(&key, 0, Compression::Zstd),
            format!("tenantId={TENANT}/y=2024/m=06/d=20/h=05/m=00/PT1H.json.zst")
        );
        // The next second is the next hour's blob.
        assert_eq!(HourKey::from_unix(TENANT, 1_718_863_200).hour, 6);
        assert_eq!(key.start_unix(), 1_718_859_600);
    }

    #[test]
    fn calendar_edges() {
        for (secs, want) in [
            (0, (1970, 1, 1, 0)),
            (951_782_400, (2000, 2, 29, 0)), // leap day of a /400 year
            (1_709_251_199, (2024, 2, 29, 23)), // last second of a leap day
            (1_735_689_599, (2024, 12, 31, 23)), // new year's eve
            (-1, (1969, 12, 31, 23)),
        ] {
            let k = HourKey::from_unix("t", secs);
            assert_eq!((k.year, k.month, k.day, k.hour), want, "{secs}");
            assert_eq!(k.start_unix(), secs - secs.rem_euclid(3600), "{secs}");
        }
    }

    #[test]
    fn tenant_cannot_escape_its_directory() {
        assert_eq!(sanitize_tenant("../../etc"), "etc");
        assert_eq!(sanitize_tenant("a/b c"), "abc");
        assert_eq!(sanitize_tenant(""), UNKNOWN_TENANT);
        assert_eq!(sanitize_tenant("/"), UNKNOWN_TENANT);
    }

    #[test]
    fn paths_parse_back() {
        let key = HourKey::from_unix(TENANT, 1_718_863_199);
        for sibling in [0, 1, 49] {
            for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let p = blob_path(&key, sibling, c);
                let parsed = parse_blob_path(&p).unwrap();
                assert_eq!(parsed.key, key);
                assert_eq!(parsed.sibling, sibling);
                assert_eq!(parsed.compression, c);
                // With the container in front too, as a directory walk sees it.
                let full = format!("/insights-logs-signinlogs/{p}");
                assert_eq!(parse_blob_path(&full).unwrap().key, key);
            }
        }
        // A resource-level export's path: no tenant, same hour.
        let r = parse_blob_path(
            "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/P/y=2024/m=06/d=20/h=05/m=00/PT1H.json",
        )
        .unwrap();
        assert_eq!((r.key.tenant.as_str(), r.key.hour), ("", 5));
        for bad in [
            "tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.0.json",
            "tenantId=t/y=2024/m=13/d=20/h=05/m=00/PT1H.json",
            "tenantId=t/y=2024/m=06/d=20/h=24/m=00/PT1H.json",
            "tenantId=t/y=2024/m=06/d=20/h=05/m=00/other.json",
            "m=06/d=20/h=05/m=00/PT1H.json",
            "records.ndjson",
        ] {
            assert_eq!(parse_blob_path(bad), None, "{bad}");
        }
    }
}
