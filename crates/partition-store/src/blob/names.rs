//! Name, URL, header-value and status helpers of the blob store (no I/O).

use reqwest::Url;

use crate::StoreError;

/// The partition id of `name` directly under `prefix`, if it is one.
pub(super) fn child_name(prefix: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
}

/// A metadata value by name; names compare without case (the service keeps the case it was
/// given, and other SDKs have written `OwnerId`-style names).
pub(super) fn meta<'a>(metadata: &'a [(String, String)], key: &str) -> Option<&'a str> {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// ETags in one form, the quoted header form, whether they came from a header or a listing
/// (listings may omit the quotes), so versions compare equal.
pub(super) fn normalize_etag(e: &str) -> String {
    let e = e.trim();
    if e.starts_with('"') || e.starts_with("W/") {
        e.to_string()
    } else {
        format!("\"{e}\"")
    }
}

pub(super) fn status_hint(status: u16) -> &'static str {
    match status {
        408 | 500 | 502 | 504 => "a transient storage error; it is retried next cycle",
        429 | 503 => {
            "the storage account is throttling; it is retried next cycle (if it persists, \
             lengthen update_interval or checkpoint less often)"
        }
        400 => {
            "the storage service refused the request; check that the endpoint is Azure Blob \
             Storage (Azurite: start it with --skipApiVersionCheck) and report this"
        }
        404 => {
            "the blob or container disappeared; check that nothing else deletes blobs in this container"
        }
        409 => {
            "the container is being deleted or the blob is leased; check what else uses this container"
        }
        _ => "unexpected answer from blob storage; check the endpoint and report this",
    }
}

pub(super) fn check_partition_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.contains('/') {
        return Err(StoreError::Config {
            key: "partition_id",
            reason: format!("{id:?} must be non-empty and contain no '/'"),
        });
    }
    Ok(())
}

/// Metadata travels in headers: visible ASCII and inner spaces only (the service trims).
pub(super) fn check_header_value(key: &'static str, v: &str) -> Result<(), StoreError> {
    if v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) && v.trim() == v {
        Ok(())
    } else {
        Err(StoreError::Config {
            key,
            reason: format!("{v:?} must be printable ASCII without leading or trailing spaces"),
        })
    }
}

pub(super) fn check_container_name(name: &str) -> Result<(), StoreError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config {
            key: "container",
            reason: format!(
                "{name:?} is not a valid container name: use 3-63 lower-case letters, digits and \
                 single hyphens, or give the full container URL"
            ),
        })
    }
}

/// Splits a container URL into the URL without query and the query. The query is a secret
/// (SAS) and is refused unless `allow_query`.
pub(super) fn parse_container_url(
    s: &str,
    allow_query: bool,
) -> Result<(Url, Option<String>), StoreError> {
    let bad = |reason: &str| StoreError::Config {
        key: "container_url",
        reason: reason.to_string(),
    };
    let (base, query) = match s.split_once('?') {
        Some((b, q)) => (b, Some(q.to_string())),
        None => (s, None),
    };
    if query.is_some() && !allow_query {
        return Err(bad(
            "the container URL has a query (a SAS?); give a SAS with the SAS option, or drop the \
             query when using a connection string or a managed identity",
        ));
    }
    let url = Url::parse(base.trim_end_matches('/')).map_err(|_| {
        bad("expected https://ACCOUNT.blob.core.windows.net/CONTAINER (or Azurite's http://127.0.0.1:10000/devstoreaccount1/CONTAINER)")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "the container URL must be http(s)://HOST/.../CONTAINER",
        ));
    }
    let container = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    if container.is_empty() {
        return Err(bad("the container URL has no container name in its path"));
    }
    check_container_name(container)?;
    Ok((url, query))
}

/// The account endpoint and the container name of a container URL checked by
/// [`parse_container_url`]: `https://acct.blob.core.windows.net/ckpt` gives
/// (`https://acct.blob.core.windows.net`, `ckpt`); Azurite's path-style
/// `http://127.0.0.1:10000/devstoreaccount1/ckpt` keeps the account in the endpoint.
pub(super) fn split_container_url(container: &Url) -> Result<(String, String), StoreError> {
    let url = container.as_str().trim_end_matches('/');
    match url.rsplit_once('/') {
        Some((endpoint, name)) if !name.is_empty() && endpoint.contains("://") => {
            check_container_name(name)?;
            Ok((endpoint.to_string(), name.to_string()))
        }
        _ => Err(StoreError::Config {
            key: "container_url",
            reason: "the container URL has no container name in its path".into(),
        }),
    }
}
