//! Azure Blob Storage requests over the REST API, authorized by a storage connection string
//! (Shared Key, or a SAS in it), a SAS query, or Entra ID tokens from a `TokenCredential`.
//! Shared by the partition store (ownership and checkpoints) and the `azure_blob` archive
//! sink and `replay --from https://…` (append blobs, listings, ranged reads).
//!
//! Design decision: this crate owns only *authorizing and sending* one request ([`auth`],
//! [`Account::send`]) and the few reads every user needs ([`Account::list_blobs`]); what an
//! answer means (which status is a conflict, which is retryable) stays with each caller,
//! because the partition store and the archive sink decide differently. Nothing here formats
//! a key, a SAS or a token: `Debug` impls are written by hand and errors never carry the URL's
//! query.
#![forbid(unsafe_code)]

pub mod auth;
mod list;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

pub use auth::{Auth, ConnectionString, parse_connection_string, shared_key_authorization};
pub use azure_core::credentials::TokenCredential;
pub use list::{ListError, ListPage, ListedBlob, parse_list};
pub use reqwest::Method;

/// The REST version we speak; Azurite accepts it (and `--skipApiVersionCheck` covers newer
/// Azurite defaults). Its Append Block takes at most 4 MiB per block.
pub const API_VERSION: &str = "2021-08-06";
/// The largest Append Block body under [`API_VERSION`] (4 MiB; 100 MiB needs 2022-11-02).
pub const MAX_APPEND_BLOCK_BYTES: usize = 4 << 20;

/// Path characters kept as-is in blob names: unreserved and '/'. `$` (as in `$default`) is
/// escaped; the Shared Key resource is signed exactly as sent.
pub const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// Query values: unreserved characters only.
pub const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a credential could not be used or parsed. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A setting is malformed; `reason` says what to write instead.
    #[error("{key}: {reason}")]
    Config {
        /// The setting, e.g. `connection_string`.
        key: &'static str,
        /// What is wrong and the fix.
        reason: String,
    },
    /// The Entra credential gave no token.
    #[error(
        "the Entra ID credential gave no storage token: {message}; check the managed / workload \
         identity (or the client secret) and that it may get tokens for https://storage.azure.com"
    )]
    Credential {
        /// The credential's own error message.
        message: String,
    },
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The credential failed (see [`AuthError`]).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// DNS, connect, TLS, timeout or a broken connection.
    #[error(
        "{op} on {endpoint} failed: {source}; check the account URL, DNS, the storage \
         firewall and that this host can reach it"
    )]
    Transport {
        /// What we were doing.
        op: &'static str,
        /// The account endpoint (never with a query).
        endpoint: String,
        /// reqwest's error, without the URL.
        source: reqwest::Error,
    },
    /// The timeout elapsed (same as `Transport`, named for metrics).
    #[error("{op} on {endpoint} took longer than {timeout:?}; the service or the network is slow")]
    Timeout {
        /// What we were doing.
        op: &'static str,
        /// The account endpoint.
        endpoint: String,
        /// The request timeout.
        timeout: Duration,
    },
}

/// What we keep of an answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `x-ms-error-code` (or the `<Code>` of the error body), empty on success.
    pub code: String,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A numeric header (`x-ms-blob-committed-block-count`, `content-length`).
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| v.trim().parse().ok())
    }
}

/// One request to send.
#[derive(Debug)]
pub struct Request<'a> {
    /// For errors and logs: `append block`, `list blobs`.
    pub op: &'static str,
    /// GET, PUT, HEAD, ...
    pub method: Method,
    /// `container` or `container/blob name` (not encoded; encoded here).
    pub path: &'a str,
    /// Query pairs (not encoded).
    pub query: &'a [(&'a str, &'a str)],
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    /// The body (empty for most calls).
    pub body: Bytes,
}

/// A storage account's blob endpoint and how to authorize requests to it.
pub struct Account {
    client: reqwest::Client,
    /// Without query or trailing slash: `https://acct.blob.core.windows.net`,
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    endpoint: String,
    auth: Arc<Auth>,
    timeout: Duration,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Account {
    /// An account from a storage connection string (Shared Key or SAS;
    /// `UseDevelopmentStorage=true` reaches Azurite).
    pub fn from_connection_string(
        connection_string: &str,
        timeout: Duration,
    ) -> Result<Self, AuthError> {
        let cs = parse_connection_string(connection_string)?;
        Self::new(&cs.blob_endpoint, cs.auth, timeout)
    }

    /// An account at `endpoint` (`https://acct.blob.core.windows.net`) with `auth`.
    pub fn new(endpoint: &str, auth: Auth, timeout: Duration) -> Result<Self, AuthError> {
        Self::build(endpoint, auth, timeout, None)
    }

    /// [`Account::new`] that also trusts the CA certificate(s) in `ca_pem` (a private CA in
    /// front of the service, or a test CA), besides the system's roots.
    pub fn with_ca(
        endpoint: &str,
        auth: Auth,
        timeout: Duration,
        ca_pem: &[u8],
    ) -> Result<Self, AuthError> {
        Self::build(endpoint, auth, timeout, Some(ca_pem))
    }

    fn build(
        endpoint: &str,
        auth: Auth,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, AuthError> {
        let endpoint = endpoint.trim_end_matches('/');
        let url = Url::parse(endpoint).map_err(|_| AuthError::Config {
            key: "account_url",
            reason: "not a URL; write https://<account>.blob.core.windows.net".into(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(AuthError::Config {
                key: "account_url",
                reason: "must be an http(s) URL without a query (put a SAS in `sas`)".into(),
            });
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
        if let Some(pem) = ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|_| AuthError::Config {
                    key: "tls",
                    reason: "the CA file is not PEM certificates".into(),
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| AuthError::Config {
            key: "tls",
            reason: format!("cannot build the HTTP client: {}", e.without_url()),
        })?;
        Ok(Account {
            client,
            endpoint: endpoint.to_string(),
            auth: Arc::new(auth),
            timeout,
        })
    }

    /// The endpoint (never with a query).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How requests are authorized (callers that word errors by credential kind).
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// `shared_key`, `sas` or `token_credential`.
    pub fn auth_kind(&self) -> &'static str {
        self.auth.kind()
    }

    /// What to check when the service rejects our credentials.
    pub fn auth_hint(&self) -> &'static str {
        self.auth.hint()
    }

    /// Sends one request, signed; only transport and credential failures are errors.
    pub async fn send(&self, req: Request<'_>) -> Result<Reply, SendError> {
        let mut url = self.endpoint.clone();
        url.push('/');
        url.extend(utf8_percent_encode(req.path, PATH));
        let mut q: Vec<String> = req
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY)))
            .collect();
        if let Auth::Sas(sas) = &*self.auth {
            q.push(sas.expose().to_string());
        }
        if !q.is_empty() {
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let url = Url::parse(&url).map_err(|_| AuthError::Config {
            key: "account_url",
            reason: format!("cannot form a blob URL under {}", self.endpoint),
        })?;
        let mut headers = req.headers;
        headers.push(("x-ms-version".into(), API_VERSION.into()));
        headers.push((
            "x-ms-date".into(),
            httpdate::fmt_http_date(SystemTime::now()),
        ));
        if req.method == Method::PUT {
            headers.push(("content-length".into(), req.body.len().to_string()));
        }
        let authorization = match &*self.auth {
            Auth::SharedKey { account, key } => Some(shared_key_authorization(
                account,
                key,
                req.method.as_str(),
                &url,
                &headers,
            )),
            Auth::Sas(_) => None,
            Auth::Token { .. } => self
                .auth
                .bearer()
                .await?
                .map(|t| format!("Bearer {}", t.expose())),
        };
        let mut builder = self.client.request(req.method.clone(), url);
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        if req.method == Method::PUT {
            builder = builder.body(req.body);
        }
        let op = req.op;
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                SendError::Timeout {
                    op,
                    endpoint: self.endpoint.clone(),
                    timeout: self.timeout,
                }
            } else {
                SendError::Transport {
                    op,
                    endpoint: self.endpoint.clone(),
                    source: e.without_url(),
                }
            }
        };
        let resp = builder.send().await.map_err(failed)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(failed)?;
        let mut code = headers
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if code.is_empty() && status >= 400 {
            code = error_code_from_body(&body);
        }
        tracing::trace!(op, status, code, "storage request");
        Ok(Reply {
            status,
            code,
            headers,
            body,
        })
    }

    /// Every blob of `container` whose name starts with `prefix`, following continuation
    /// markers, in the service's (lexicographic) order.
    pub async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
    ) -> Result<Result<Vec<ListedBlob>, Reply>, SendError> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("restype", "container"), ("comp", "list")];
            if !prefix.is_empty() {
                query.push(("prefix", prefix));
            }
            if !marker.is_empty() {
                query.push(("marker", marker.as_str()));
            }
            let reply = self
                .send(Request {
                    op: "list blobs",
                    method: Method::GET,
                    path: container,
                    query: &query,
                    headers: Vec::new(),
                    body: Bytes::new(),
                })
                .await?;
            if reply.status != 200 {
                return Ok(Err(reply));
            }
            let text = String::from_utf8_lossy(&reply.body);
            let page = match parse_list(&text) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Err(Reply {
                        status: 502,
                        code: format!("UnreadableListing ({})", e.reason),
                        headers: reply.headers,
                        body: Bytes::new(),
                    }));
                }
            };
            out.extend(page.blobs);
            match page.next_marker {
                Some(m) if !m.is_empty() => marker = m,
                _ => return Ok(Ok(out)),
            }
        }
    }
}

/// An account authorized by Entra ID tokens for `https://storage.azure.com/.default`.
pub fn token_account(
    endpoint: &str,
    credential: Arc<dyn TokenCredential>,
    timeout: Duration,
) -> Result<Account, AuthError> {
    Account::new(endpoint, Auth::token(credential), timeout)
}

/// `<Code>…</Code>` of an error body (HEAD answers and some proxies send no header).
pub fn error_code_from_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_hold_no_secret() {
        let a = Account::from_connection_string(
            &format!(
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};\
                 BlobEndpoint=http://127.0.0.1:1/devstoreaccount1",
                auth::DEV_KEY
            ),
            Duration::from_secs(1),
        )
        .unwrap();
        let d = format!("{a:?}");
        assert!(!d.contains(auth::DEV_KEY), "{d}");
        assert!(d.contains("127.0.0.1:1"), "{d}");
        let sas = Account::new(
            "https://a.blob.core.windows.net/",
            Auth::sas("sv=1&sig=SECRETSIG"),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{sas:?}").contains("SECRETSIG"));
        assert_eq!(sas.endpoint(), "https://a.blob.core.windows.net");
        assert!(
            Account::new(
                "https://a.blob.core.windows.net?sig=x",
                Auth::sas("s"),
                Duration::from_secs(1)
            )
            .is_err()
        );
    }

    #[test]
    fn error_code_of_a_body() {
        assert_eq!(
            error_code_from_body(
                b"<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code></Error>"
            ),
            "BlobNotFound"
        );
        assert_eq!(error_code_from_body(b""), "");
    }

    /// A transport failure names the endpoint and never the SAS.
    #[tokio::test]
    async fn transport_error_names_endpoint_not_sas() {
        let port = entrastream_testkit::free_port();
        let a = Account::new(
            &format!("http://127.0.0.1:{port}/acct"),
            Auth::sas("sv=1&sig=SECRETSIG"),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = a
            .send(Request {
                op: "get blob",
                method: Method::GET,
                path: "c/b",
                query: &[],
                headers: Vec::new(),
                body: Bytes::new(),
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("get blob"), "{e}");
        assert!(!e.contains("SECRETSIG"), "{e}");
    }
}
