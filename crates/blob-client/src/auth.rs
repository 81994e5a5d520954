//! Storage credentials: connection strings, Shared Key signing, SAS, bearer tokens.
//!
//! Shared Key: <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>.
//! Nothing here formats a key, a signature or a token: `Debug` is written by hand.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_core::credentials::TokenCredential;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use entrastream_secret::Secret;
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use crate::AuthError;

/// The storage token scope for Entra ID (data plane).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Azurite's (and the old storage emulator's) published development account.
/// <https://learn.microsoft.com/azure/storage/common/storage-use-azurite#connection-strings>
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// A token is refreshed this long before it expires (tokens live about an hour).
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How requests are authorized.
pub enum Auth {
    SharedKey {
        account: String,
        key: Vec<u8>,
    },
    /// The SAS query string, without the leading `?`.
    Sas(Secret),
    Token {
        credential: Arc<dyn TokenCredential>,
        cache: tokio::sync::Mutex<Option<(Secret, SystemTime)>>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::SharedKey { account, .. } => f
                .debug_struct("SharedKey")
                .field("account", account)
                .field("key", &"***")
                .finish(),
            Auth::Sas(_) => f.write_str("Sas(***)"),
            Auth::Token { .. } => f.write_str("Token(TokenCredential)"),
        }
    }
}

impl Auth {
    /// Entra ID tokens from `credential` (cached until five minutes before they expire).
    pub fn token(credential: Arc<dyn TokenCredential>) -> Auth {
        Auth::Token {
            credential,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The SAS query string (without `?`).
    pub fn sas(query: impl Into<String>) -> Auth {
        Auth::Sas(Secret::new(query.into()))
    }

    /// `shared_key`, `sas` or `token_credential` (for logs and `check-config`).
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::SharedKey { .. } => "shared_key",
            Auth::Sas(_) => "sas",
            Auth::Token { .. } => "token_credential",
        }
    }

    /// What to check when the service rejects our credentials (401, 403 AuthenticationFailed).
    pub fn hint(&self) -> &'static str {
        match self {
            Auth::SharedKey { .. } => {
                "check the account key in the storage connection string (was it rotated?), that \
                 this host's clock is within 15 minutes of UTC, and that the storage firewall \
                 admits this host"
            }
            Auth::Sas(_) => {
                "check the SAS token on the container URL: signature, expiry (se=) and start \
                 (st=) times, and that it was issued for this container"
            }
            Auth::Token { .. } => {
                "check that the identity belongs to the storage account's tenant and that its \
                 token is for https://storage.azure.com"
            }
        }
    }

    /// A bearer token, from cache or the credential.
    pub async fn bearer(&self) -> Result<Option<Secret>, AuthError> {
        let Auth::Token { credential, cache } = self else {
            return Ok(None);
        };
        let mut cache = cache.lock().await;
        if let Some((token, expires)) = cache.as_ref()
            && SystemTime::now() + TOKEN_REFRESH_MARGIN < *expires
        {
            return Ok(Some(token.clone()));
        }
        let token = credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map_err(|e| AuthError::Credential {
                message: e.to_string(),
            })?;
        let secret = Secret::new(token.token.secret());
        *cache = Some((secret.clone(), SystemTime::from(token.expires_on)));
        Ok(Some(secret))
    }
}

/// A parsed storage connection string: where the blob service is and how to authorize.
#[derive(Debug)]
pub struct ConnectionString {
    pub blob_endpoint: String,
    pub auth: Auth,
}

/// Parses `AccountName=..;AccountKey=..[;BlobEndpoint=..|;EndpointSuffix=..]`,
/// `BlobEndpoint=..;SharedAccessSignature=..` and `UseDevelopmentStorage=true`. Errors name
/// the missing key, never a value.
pub fn parse_connection_string(s: &str) -> Result<ConnectionString, AuthError> {
    let err = |reason: &str| AuthError::Config {
        key: "connection_string",
        reason: reason.to_string(),
    };
    let mut account = None;
    let mut key = None;
    let mut endpoint = None;
    let mut sas = None;
    let mut protocol = "https".to_string();
    let mut suffix = "core.windows.net".to_string();
    let mut dev = false;
    let mut dev_proxy = None;
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(err(
                "expected key=value pairs separated by ';' (copy it from the storage account's \
                 'Access keys' page)",
            ));
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "accountname" => account = Some(v.trim().to_string()),
            "accountkey" => key = Some(v.trim().to_string()),
            "blobendpoint" => endpoint = Some(v.trim().trim_end_matches('/').to_string()),
            "sharedaccesssignature" => sas = Some(v.trim().trim_start_matches('?').to_string()),
            "defaultendpointsprotocol" => protocol = v.trim().to_ascii_lowercase(),
            "endpointsuffix" => suffix = v.trim().to_string(),
            "usedevelopmentstorage" => dev = v.trim().eq_ignore_ascii_case("true"),
            "developmentstorageproxyuri" => {
                dev_proxy = Some(v.trim().trim_end_matches('/').to_string())
            }
            "endpoint" | "sharedaccesskeyname" | "sharedaccesskey" | "entitypath" => {
                return Err(err(
                    "this is an Event Hubs connection string; give the storage account's \
                     connection string (DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)",
                ));
            }
            // QueueEndpoint, TableEndpoint, FileEndpoint, ...: not ours.
            _ => {}
        }
    }
    if dev {
        let endpoint = match (endpoint, dev_proxy) {
            (Some(e), _) => e,
            (None, Some(proxy)) => format!("{proxy}/{DEV_ACCOUNT}"),
            (None, None) => DEV_BLOB_ENDPOINT.to_string(),
        };
        return Ok(ConnectionString {
            blob_endpoint: endpoint,
            auth: shared_key(
                account.as_deref().unwrap_or(DEV_ACCOUNT),
                key.as_deref().unwrap_or(DEV_KEY),
            )?,
        });
    }
    let blob_endpoint = match (endpoint, &account) {
        (Some(e), _) => e,
        (None, Some(a)) => format!("{protocol}://{a}.blob.{suffix}"),
        (None, None) => {
            return Err(err(
                "it has neither AccountName nor BlobEndpoint; add AccountName=<storage account>",
            ));
        }
    };
    let auth = match (key, sas) {
        (Some(k), _) => {
            let Some(a) = account else {
                return Err(err(
                    "it has an AccountKey but no AccountName; add AccountName=<storage account>",
                ));
            };
            shared_key(&a, &k)?
        }
        (None, Some(sas)) => Auth::Sas(Secret::new(sas)),
        (None, None) => {
            return Err(err(
                "it has neither AccountKey nor SharedAccessSignature; use the connection string \
                 from the storage account's 'Access keys' page, or configure a managed identity",
            ));
        }
    };
    Ok(ConnectionString {
        blob_endpoint,
        auth,
    })
}

fn shared_key(account: &str, key: &str) -> Result<Auth, AuthError> {
    let key = B64.decode(key.trim()).map_err(|_| AuthError::Config {
        key: "connection_string",
        reason: "AccountKey is not valid base64; copy the key again from the storage account's \
                 'Access keys' page"
            .into(),
    })?;
    if account.is_empty() {
        return Err(AuthError::Config {
            key: "connection_string",
            reason: "AccountName is empty".into(),
        });
    }
    Ok(Auth::SharedKey {
        account: account.to_string(),
        key,
    })
}

/// The Shared Key `Authorization` header value for a request whose headers are `headers`
/// (lower-case names; a zero Content-Length signs as empty).
pub fn shared_key_authorization(
    account: &str,
    key: &[u8],
    method: &str,
    url: &Url,
    headers: &[(String, String)],
) -> String {
    let to_sign = string_to_sign(account, method, url, headers);
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for Hmac<Sha256>.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(to_sign.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    format!("SharedKey {account}:{sig}")
}

fn string_to_sign(account: &str, method: &str, url: &Url, headers: &[(String, String)]) -> String {
    let h = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut s = String::with_capacity(256);
    s.push_str(method);
    s.push('\n');
    for name in [
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    ] {
        let v = h(name);
        // Since version 2015-02-21 a zero Content-Length signs as the empty string.
        if !(name == "content-length" && v == "0") {
            s.push_str(v);
        }
        s.push('\n');
    }
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| (k.as_str(), v.trim()))
        .collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(k);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(url.path());
    let mut q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    q.sort();
    for (k, v) in q {
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_forms() {
        let c = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.blob_endpoint, DEV_BLOB_ENDPOINT);
        assert!(matches!(c.auth, Auth::SharedKey { ref account, .. } if account == DEV_ACCOUNT));
        let c = parse_connection_string(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};\
             BlobEndpoint=http://127.0.0.1:4567/devstoreaccount1/;"
        ))
        .unwrap();
        assert_eq!(c.blob_endpoint, "http://127.0.0.1:4567/devstoreaccount1");
        let c = parse_connection_string(
            "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://10.0.0.1:99",
        )
        .unwrap();
        assert_eq!(c.blob_endpoint, "http://10.0.0.1:99/devstoreaccount1");
    }

    #[test]
    fn cloud_forms() {
        let c = parse_connection_string(&format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={DEV_KEY};EndpointSuffix=core.usgovcloudapi.net"
        ))
        .unwrap();
        assert_eq!(c.blob_endpoint, "https://acct.blob.core.usgovcloudapi.net");
        let c = parse_connection_string(
            "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2021&sig=abc",
        )
        .unwrap();
        assert!(matches!(c.auth, Auth::Sas(ref s) if s.expose() == "sv=2021&sig=abc"));
    }

    #[test]
    fn errors_name_the_fix_without_the_value() {
        for (cs, needle) in [
            (
                "AccountName=acct;AccountKey=not-base64!!SECRETVALUE",
                "base64",
            ),
            (
                "AccountName=acct",
                "neither AccountKey nor SharedAccessSignature",
            ),
            (
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETVALUE",
                "Event Hubs",
            ),
            ("SECRETVALUE", "key=value"),
        ] {
            let e = parse_connection_string(cs).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains("SECRETVALUE"), "{e}");
        }
    }

    /// The example from the Shared Key documentation's string-to-sign layout, checked field by
    /// field (positions of If-Match / If-None-Match, empty zero Content-Length, sorted x-ms-*,
    /// the resource with its decoded, sorted query).
    #[test]
    fn string_to_sign_layout() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c?restype=container&comp=list&prefix=a%2Fb",
        )
        .unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), "2021-08-06".to_string()),
            (
                "x-ms-date".to_string(),
                "Mon, 01 Jan 2024 00:00:00 GMT".to_string(),
            ),
            ("if-match".to_string(), "\"0x1\"".to_string()),
            ("content-length".to_string(), "0".to_string()),
            ("x-ms-meta-ownerid".to_string(), String::new()),
        ];
        let s = string_to_sign("devstoreaccount1", "PUT", &url, &headers);
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\n\
             x-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-meta-ownerid:\nx-ms-version:2021-08-06\n\
             /devstoreaccount1/devstoreaccount1/c\ncomp:list\nprefix:a/b\nrestype:container"
        );
    }
}
