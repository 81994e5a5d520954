//! `--from https://<account>.blob.core.windows.net/<container>[/<prefix>]` (or Azurite's
//! path-style `http://127.0.0.1:<port>/devstoreaccount1/<container>[/<prefix>]`): the blobs
//! of a container or prefix, listed (List Blobs) and read with ranged GETs, so a plain hour
//! blob is streamed and a resumed one starts at its committed byte.
//!
//! Credentials, first that applies: a SAS on the URL (`?sv=…&sig=…`, needs read and list);
//! `AZURE_STORAGE_CONNECTION_STRING` (the variable Azure's own tools read); Azurite's
//! published development key for the account `devstoreaccount1`; the config's Entra credential
//! (`[source] credential`). The SAS never appears in a name, the state file or a log line.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use entrastream_archive::{Compression, parse_blob_path};
use entrastream_blob_client::{Account, Auth, Method, Request};

use crate::ReplayError;
use crate::inputs::InputFile;
use crate::select::Selection;

/// The environment variable holding a storage connection string.
pub const CONNECTION_STRING_ENV: &str = "AZURE_STORAGE_CONNECTION_STRING";
/// Bytes per ranged GET.
pub const RANGE_BYTES: u64 = 4 << 20;
/// Attempts per ranged GET before the blob is left undone (busy service, broken connection).
const ATTEMPTS: u32 = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A blob to read.
#[derive(Clone)]
pub struct Remote {
    account: Arc<Account>,
    /// `container/blob name`.
    path: String,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("account", &self.account)
            .field("path", &self.path)
            .finish()
    }
}

impl PartialEq for Remote {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.account.endpoint() == other.account.endpoint()
    }
}

impl Eq for Remote {}

/// A `--from` URL taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct BlobUrl {
    /// `https://acct.blob.core.windows.net` or `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: String,
    /// The account name (path-style URLs only).
    pub path_account: Option<String>,
    pub container: String,
    /// Blob-name prefix (may be empty).
    pub prefix: String,
    /// The SAS query, when the URL has one.
    pub sas: Option<String>,
}

/// True for `http://` and `https://` sources.
pub fn is_url(from: &str) -> bool {
    from.starts_with("https://") || from.starts_with("http://")
}

/// Splits a container URL. An IP address or `localhost` host is path-style (Azurite: the
/// first path segment is the account).
pub fn parse_url(from: &str) -> Result<BlobUrl, ReplayError> {
    let bad = |why: &str| {
        ReplayError::NotFound(format!(
            "{}: {why}; write https://<account>.blob.core.windows.net/<container>[/<prefix>]",
            without_query(from)
        ))
    };
    let (base, query) = match from.split_once('?') {
        Some((b, q)) => (b, Some(q.to_string())),
        None => (from, None),
    };
    let (scheme, rest) = base.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let path_style = hostname == "localhost" || hostname.parse::<std::net::IpAddr>().is_ok();
    let (endpoint, path_account) = if path_style {
        let account = segs.next().ok_or_else(|| bad("no account in the path"))?;
        (
            format!("{scheme}://{host}/{account}"),
            Some(account.to_string()),
        )
    } else {
        (format!("{scheme}://{host}"), None)
    };
    let container = segs.next().ok_or_else(|| bad("no container"))?.to_string();
    let mut prefix = segs.collect::<Vec<_>>().join("/");
    if path.ends_with('/') && !prefix.is_empty() {
        prefix.push('/');
    }
    let sas = query.filter(|q| q.split('&').any(|p| p.starts_with("sig=")));
    Ok(BlobUrl {
        endpoint,
        path_account,
        container,
        prefix,
        sas,
    })
}

fn without_query(from: &str) -> &str {
    from.split_once('?').map_or(from, |(b, _)| b)
}

/// The account for `url` (see the module doc for the order).
fn account(
    url: &BlobUrl,
    credential: Option<Arc<dyn entrastream_blob_client::TokenCredential>>,
) -> Result<Account, ReplayError> {
    let cfg = |e: entrastream_blob_client::AuthError| ReplayError::NotFound(e.to_string());
    if let Some(sas) = &url.sas {
        return Account::new(&url.endpoint, Auth::sas(sas.clone()), REQUEST_TIMEOUT).map_err(cfg);
    }
    if let Ok(cs) = std::env::var(CONNECTION_STRING_ENV)
        && !cs.trim().is_empty()
    {
        let cs = entrastream_blob_client::parse_connection_string(&cs).map_err(cfg)?;
        return Account::new(&url.endpoint, cs.auth, REQUEST_TIMEOUT).map_err(cfg);
    }
    if url.path_account.as_deref() == Some(entrastream_blob_client::auth::DEV_ACCOUNT) {
        let cs = entrastream_blob_client::parse_connection_string("UseDevelopmentStorage=true")
            .map_err(cfg)?;
        return Account::new(&url.endpoint, cs.auth, REQUEST_TIMEOUT).map_err(cfg);
    }
    match credential {
        Some(c) => Account::new(&url.endpoint, Auth::token(c), REQUEST_TIMEOUT).map_err(cfg),
        None => Err(ReplayError::NotFound(format!(
            "{}/{}: no credentials: add a SAS to the URL (read and list rights), set \
             {CONNECTION_STRING_ENV}, or configure an Entra credential in [source]",
            url.endpoint, url.container
        ))),
    }
}

/// The blobs `from` names, as replay inputs in replay order (sorted by the caller). Blobs of
/// unwanted hours are left out without being read; a container of another category is not
/// listed.
pub async fn expand(
    from: &str,
    selection: &Selection,
    credential: Option<Arc<dyn entrastream_blob_client::TokenCredential>>,
) -> Result<Vec<InputFile>, ReplayError> {
    let url = parse_url(from)?;
    if let Some(cat) = url
        .container
        .strip_prefix(entrastream_archive::layout::CONTAINER_PREFIX)
        && !selection.wants_category(cat)
    {
        return Ok(Vec::new());
    }
    let account = Arc::new(account(&url, credential)?);
    let listed = match account.list_blobs(&url.container, &url.prefix).await {
        Ok(Ok(l)) => l,
        Ok(Err(reply)) => {
            return Err(ReplayError::NotFound(format!(
                "{}/{}: listing answered {} {}{}",
                url.endpoint,
                url.container,
                reply.status,
                reply.code,
                match reply.status {
                    401 | 403 => format!(
                        "; the credentials were refused or lack list rights ({})",
                        account.auth_hint()
                    ),
                    404 => "; check the container name".to_string(),
                    _ => String::new(),
                }
            )));
        }
        Err(e) => return Err(ReplayError::NotFound(e.to_string())),
    };
    let runtime = tokio::runtime::Handle::current();
    let mut out = Vec::new();
    for b in listed {
        let file = b.name.rsplit('/').next().unwrap_or("");
        if file.starts_with('.') || b.blob_type == "PageBlob" {
            continue;
        }
        if let Some(n) = parse_blob_path(&b.name)
            && !selection.wants_hour(n.key.start_unix())
        {
            continue;
        }
        let path = format!("{}/{}", url.container, b.name);
        let name = format!("{}/{path}", url.endpoint);
        out.push(InputFile {
            path: std::path::PathBuf::from(&name),
            compression: Compression::from_name(&b.name),
            name,
            size: b.size,
            remote: Some(Remote {
                account: account.clone(),
                path,
                runtime: runtime.clone(),
            }),
        });
    }
    Ok(out)
}

impl Remote {
    /// Up to `len` bytes from `start` (empty at or past the end). Called on the reader
    /// thread (not a runtime thread); retried on 5xx, 429 and broken connections.
    pub fn read_range(&self, start: u64, len: u64) -> std::io::Result<Bytes> {
        let range = format!("bytes={start}-{}", start + len - 1);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 << attempt));
            }
            let result = self.runtime.block_on(self.account.send(Request {
                op: "read blob range",
                method: Method::GET,
                path: &self.path,
                query: &[],
                headers: vec![("x-ms-range".into(), range.clone())],
                body: Bytes::new(),
            }));
            match result {
                Ok(r) if r.status == 206 || r.status == 200 => return Ok(r.body),
                // Past the end (an empty blob, or a size that was a multiple of the range).
                Ok(r) if r.status == 416 => return Ok(Bytes::new()),
                Ok(r) if r.status == 429 || r.status >= 500 => {
                    last = format!("{} {}", r.status, r.code);
                }
                Ok(r) => {
                    return Err(std::io::Error::other(format!(
                        "{}: ranged read answered {} {}",
                        self.path, r.status, r.code
                    )));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(std::io::Error::other(format!(
            "{}: ranged read failed {ATTEMPTS} times, last: {last}",
            self.path
        )))
    }

    /// Calls `each` with the blob's bytes from `start` on, one range at a time; returns the
    /// bytes read.
    pub fn stream(&self, start: u64, mut each: impl FnMut(&[u8]) -> bool) -> std::io::Result<u64> {
        let mut at = start;
        loop {
            let data = self.read_range(at, RANGE_BYTES)?;
            at += data.len() as u64;
            if data.is_empty() || !each(&data) || (data.len() as u64) < RANGE_BYTES {
                return Ok(at - start);
            }
        }
    }
}

/// A blob as `std::io::Read`, fetched one range at a time (for `report`).
#[derive(Debug)]
pub struct RemoteRead {
    remote: Remote,
    at: u64,
    buf: Bytes,
    done: bool,
}

impl Remote {
    /// Reads the blob from its start, one ranged GET at a time.
    pub fn reader(&self) -> RemoteRead {
        self.reader_at(0)
    }

    /// Reads the blob from byte `start` on, one ranged GET at a time.
    pub fn reader_at(&self, start: u64) -> RemoteRead {
        RemoteRead {
            remote: self.clone(),
            at: start,
            buf: Bytes::new(),
            done: false,
        }
    }
}

impl std::io::Read for RemoteRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() && !self.done {
            self.buf = self.remote.read_range(self.at, RANGE_BYTES)?;
            self.at += self.buf.len() as u64;
            self.done = (self.buf.len() as u64) < RANGE_BYTES;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_both_styles() {
        let u = parse_url(
            "https://contoso.blob.core.windows.net/insights-logs-signinlogs/tenantId=t/y=2024/?sv=1&sig=SECRET",
        )
        .unwrap();
        assert_eq!(u.endpoint, "https://contoso.blob.core.windows.net");
        assert_eq!(u.container, "insights-logs-signinlogs");
        assert_eq!(u.prefix, "tenantId=t/y=2024/");
        assert_eq!(u.sas.as_deref(), Some("sv=1&sig=SECRET"));
        let a = parse_url("http://127.0.0.1:10000/devstoreaccount1/c").unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(a.path_account.as_deref(), Some("devstoreaccount1"));
        assert_eq!((a.container.as_str(), a.prefix.as_str()), ("c", ""));
        assert!(a.sas.is_none());
        for bad in [
            "https://a.blob.core.windows.net",
            "http://127.0.0.1:1/devstoreaccount1",
        ] {
            let e = parse_url(&format!("{bad}?sig=SECRET"))
                .unwrap_err()
                .to_string();
            assert!(!e.contains("SECRET"), "{e}");
        }
    }
}
