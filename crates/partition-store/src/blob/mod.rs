//! `BlobStore`: ownership and checkpoints on Azure Blob Storage over the REST API.
//!
//! Calls used (x-ms-version 2021-08-06):
//! [List Blobs](https://learn.microsoft.com/rest/api/storageservices/list-blobs) with
//! `include=metadata`, [Put Blob](https://learn.microsoft.com/rest/api/storageservices/put-blob)
//! and [Set Blob Metadata](https://learn.microsoft.com/rest/api/storageservices/set-blob-metadata),
//! with [conditional headers](https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations).

mod names;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use azure_core::credentials::TokenCredential;
use bytes::Bytes;
use reqwest::{Method, Url};

use self::names::*;
use crate::{
    HubKey, Ownership, PartitionStore, RequestCounts, StoreError, StoredCheckpoint,
    check_checkpoint, keys, parse_sequence_number,
};
use entrastream_blob_client::auth::{Auth, parse_connection_string};
use entrastream_blob_client::{Account, Request, SendError, error_code_from_body};

/// A storage call slower than this is a failed call; the balancer retries next cycle.
/// (The blob client connects within `min(this, 10 s)`.)
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Written by [`BlobStore::check_access`], outside every hub prefix so no SDK lists it.
const ACCESS_CHECK_BLOB: &str = "entrastream-access-check";

#[derive(Debug, Default)]
struct Counters {
    list: AtomicU64,
    put: AtomicU64,
    set_metadata: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    List,
    Put,
    SetMetadata,
}

/// What the store keeps of a response.
#[derive(Debug)]
struct Reply {
    status: u16,
    code: String,
    etag: Option<String>,
    last_modified: Option<SystemTime>,
    body: String,
}

/// Partition ownership and checkpoints in one Azure Blob container, in the layout of the
/// official Event Hubs processors (see the crate doc). The container must exist;
/// [`BlobStore::check_access`] says so at start-up with the fix.
///
/// Signing, the account endpoint's validation and the secret-free `Debug` are the blob
/// client's [`Account`] (shared with the archive sink and `replay`); this type adds the
/// container, the conditional-request semantics and the operator's error messages.
pub struct BlobStore {
    account: Account,
    /// The container URL without query (errors, `Debug`, `describe`).
    container: Url,
    /// The container's name: the first path segment of every request under the account.
    container_name: String,
    lowercase: bool,
    counters: Counters,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("container", &self.container.as_str())
            .field("account", &self.account)
            .field("lowercase_names", &self.lowercase)
            .finish()
    }
}

impl BlobStore {
    /// A store authorized by a storage connection string (Shared Key, or a SAS in
    /// `SharedAccessSignature=`). `container_url_or_name` is a container name (joined to the
    /// connection string's blob endpoint) or a full container URL.
    /// `UseDevelopmentStorage=true` and `BlobEndpoint=http://127.0.0.1:PORT/devstoreaccount1`
    /// reach Azurite.
    pub fn from_connection_string(
        container_url_or_name: &str,
        connection_string: &str,
    ) -> Result<Self, StoreError> {
        let cs = parse_connection_string(connection_string)?;
        let container = if container_url_or_name.contains("://") {
            parse_container_url(container_url_or_name, false)?.0
        } else {
            check_container_name(container_url_or_name)?;
            parse_container_url(
                &format!("{}/{}", cs.blob_endpoint, container_url_or_name),
                false,
            )?
            .0
        };
        Self::build(container, cs.auth)
    }

    /// A store authorized by the SAS query of `container_url_with_sas`
    /// (`https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...&sig=...`), which needs read, add,
    /// create, write and list permissions.
    pub fn with_sas(container_url_with_sas: &str) -> Result<Self, StoreError> {
        let (container, query) = parse_container_url(container_url_with_sas, true)?;
        let query = query.unwrap_or_default();
        if !query.split('&').any(|p| p.starts_with("sig=")) {
            return Err(StoreError::Config {
                key: "container_url",
                reason: "the URL carries no SAS signature (sig=); append the container SAS \
                         token, or use a connection string or a managed identity"
                    .into(),
            });
        }
        Self::build(container, Auth::Sas(entrastream_secret::Secret::new(query)))
    }

    /// A store authorized by Entra ID tokens for `https://storage.azure.com/.default` from
    /// `cred` (managed identity, workload identity, ...). The identity needs the
    /// 'Storage Blob Data Contributor' role on the container. Tokens are cached until five
    /// minutes before they expire.
    pub fn with_token_credential(
        container_url: &str,
        cred: Arc<dyn TokenCredential>,
    ) -> Result<Self, StoreError> {
        let (container, query) = parse_container_url(container_url, false)?;
        debug_assert!(query.is_none());
        Self::build(container, Auth::token(cred))
    }

    fn build(container: Url, auth: Auth) -> Result<Self, StoreError> {
        let (endpoint, container_name) = split_container_url(&container)?;
        let account = Account::new(&endpoint, auth, REQUEST_TIMEOUT)?;
        Ok(BlobStore {
            account,
            container,
            container_name,
            lowercase: true,
            counters: Counters::default(),
        })
    }

    /// Whether hub names are lower-cased in blob names (default true, like .NET; the Rust and
    /// Go SDKs keep the case as given).
    pub fn lowercase_names(mut self, lowercase: bool) -> Self {
        self.lowercase = lowercase;
        self
    }

    /// Storage requests sent so far (for the request-rate metric and cost estimates).
    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            list: self.counters.list.load(Ordering::Relaxed),
            put: self.counters.put.load(Ordering::Relaxed),
            set_metadata: self.counters.set_metadata.load(Ordering::Relaxed),
        }
    }

    /// At start-up: the container exists, and we may list and write in it. Writes (and
    /// overwrites) an empty blob named `entrastream-access-check` at the container root,
    /// outside every hub prefix. Errors name the fix (create the container, grant the role,
    /// check the key).
    pub async fn check_access(&self) -> Result<(), StoreError> {
        let op = "check access (list)";
        let reply = self
            .call(
                op,
                Kind::List,
                Method::GET,
                None,
                &[
                    ("restype", "container"),
                    ("comp", "list"),
                    ("prefix", ACCESS_CHECK_BLOB),
                    ("maxresults", "1"),
                ],
                Vec::new(),
            )
            .await?;
        if reply.status != 200 {
            return Err(self.fail(op, "", &reply));
        }
        let op = "check access (write)";
        let reply = self
            .call(
                op,
                Kind::Put,
                Method::PUT,
                Some(ACCESS_CHECK_BLOB),
                &[],
                vec![("x-ms-blob-type".into(), "BlockBlob".into())],
            )
            .await?;
        if reply.status != 201 {
            return Err(self.fail(op, ACCESS_CHECK_BLOB, &reply));
        }
        Ok(())
    }

    /// Creates the container if it does not exist (true when created). Needs account-level
    /// rights (Shared Key, an account SAS, or 'Storage Blob Data Contributor' on the account);
    /// operators usually create the container once, tests and demos call this.
    pub async fn create_container(&self) -> Result<bool, StoreError> {
        let op = "create container";
        let reply = self
            .call(
                op,
                Kind::Put,
                Method::PUT,
                None,
                &[("restype", "container")],
                Vec::new(),
            )
            .await?;
        match (reply.status, reply.code.as_str()) {
            (201, _) => Ok(true),
            (409, "ContainerAlreadyExists") => Ok(false),
            _ => Err(self.fail(op, "", &reply)),
        }
    }

    fn container_display(&self) -> String {
        self.container.as_str().to_string()
    }

    /// Sends one request; only transport and credential failures are errors here.
    async fn call(
        &self,
        op: &'static str,
        kind: Kind,
        method: Method,
        blob: Option<&str>,
        query: &[(&str, &str)],
        headers: Vec<(String, String)>,
    ) -> Result<Reply, StoreError> {
        let path = match blob {
            Some(blob) => format!("{}/{blob}", self.container_name),
            None => self.container_name.clone(),
        };
        match kind {
            Kind::List => &self.counters.list,
            Kind::Put => &self.counters.put,
            Kind::SetMetadata => &self.counters.set_metadata,
        }
        .fetch_add(1, Ordering::Relaxed);
        let reply = self
            .account
            .send(Request {
                op,
                method,
                path: &path,
                query,
                headers,
                body: Bytes::new(),
            })
            .await
            .map_err(|e| match e {
                SendError::Auth(e) => StoreError::from(e),
                SendError::Transport { op, source, .. } => StoreError::Transport {
                    op,
                    endpoint: self.container_display(),
                    source,
                },
                SendError::Timeout { op, timeout, .. } => StoreError::Timeout {
                    op,
                    endpoint: self.container_display(),
                    timeout,
                },
            })?;
        Ok(Reply {
            status: reply.status,
            etag: reply.header("etag").map(normalize_etag),
            last_modified: reply
                .header("last-modified")
                .and_then(|t| httpdate::parse_http_date(t).ok()),
            code: reply.code,
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        })
    }

    /// The error for an unexpected answer.
    fn fail(&self, op: &'static str, blob: &str, reply: &Reply) -> StoreError {
        let container = self.container_display();
        let code = if reply.code.is_empty() {
            error_code_from_body(reply.body.as_bytes())
        } else {
            reply.code.clone()
        };
        match (reply.status, code.as_str()) {
            (404, "ContainerNotFound") => StoreError::ContainerNotFound { container },
            // A Shared Key has every right, so any other 403 with a key is a bad signature:
            // Azure answers AuthenticationFailed, Azurite AuthorizationFailure.
            (401, _)
            | (403, "AuthenticationFailed" | "InvalidAuthenticationInfo")
            | (403, "AuthorizationFailure")
                if reply.status == 401
                    || code != "AuthorizationFailure"
                    || matches!(self.account.auth(), Auth::SharedKey { .. }) =>
            {
                StoreError::AuthenticationFailed {
                    container,
                    op,
                    status: reply.status,
                    code,
                    hint: self.account.auth_hint(),
                }
            }
            (403, _) => StoreError::PermissionDenied {
                container,
                op,
                status: reply.status,
                code,
            },
            (status, _) => StoreError::Http {
                op,
                blob: if blob.is_empty() {
                    container
                } else {
                    blob.to_string()
                },
                status,
                code,
                hint: status_hint(status),
            },
        }
    }

    /// All blobs under `prefix`, following continuation markers.
    async fn list(
        &self,
        op: &'static str,
        prefix: &str,
    ) -> Result<Vec<entrastream_blob_client::ListedBlob>, StoreError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut query = vec![
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", prefix),
                ("include", "metadata"),
            ];
            if let Some(m) = marker.as_deref() {
                query.push(("marker", m));
            }
            let reply = self
                .call(op, Kind::List, Method::GET, None, &query, Vec::new())
                .await?;
            if reply.status != 200 {
                return Err(self.fail(op, prefix, &reply));
            }
            let page = entrastream_blob_client::parse_list(&reply.body).map_err(|e| {
                StoreError::InvalidData {
                    blob: format!("the listing of {prefix}"),
                    what: "List Blobs answer",
                    reason: e.reason,
                }
            })?;
            out.extend(page.blobs);
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
        }
    }

    async fn claim_one(
        &self,
        prefix: &str,
        claim: Ownership,
    ) -> Result<Option<Ownership>, StoreError> {
        let blob = format!("{prefix}ownership/{}", claim.partition_id);
        check_partition_id(&claim.partition_id)?;
        check_header_value("owner_id", &claim.owner_id)?;
        let meta = (
            format!("x-ms-meta-{}", keys::OWNER_ID),
            claim.owner_id.clone(),
        );
        let reply = match &claim.etag {
            None => {
                let op = "claim ownership (create)";
                let headers = vec![
                    ("x-ms-blob-type".into(), "BlockBlob".into()),
                    ("if-none-match".into(), "*".into()),
                    meta,
                ];
                let r = self
                    .call(op, Kind::Put, Method::PUT, Some(&blob), &[], headers)
                    .await?;
                match r.status {
                    201 => r,
                    // 409 BlobAlreadyExists / 412: another replica created it first.
                    409 | 412 => return Ok(None),
                    _ => return Err(self.fail(op, &blob, &r)),
                }
            }
            Some(etag) => {
                let op = "claim ownership";
                check_header_value("etag", etag)?;
                let headers = vec![("if-match".into(), etag.clone()), meta];
                let r = self
                    .call(
                        op,
                        Kind::SetMetadata,
                        Method::PUT,
                        Some(&blob),
                        &[("comp", "metadata")],
                        headers,
                    )
                    .await?;
                match (r.status, r.code.as_str()) {
                    (200, _) => r,
                    (412, _) => return Ok(None),
                    // The blob was deleted since it was listed: the version we claimed is gone.
                    (404, "BlobNotFound") => return Ok(None),
                    _ => return Err(self.fail(op, &blob, &r)),
                }
            }
        };
        Ok(Some(Ownership {
            etag: reply.etag,
            last_modified: reply.last_modified,
            ..claim
        }))
    }
}

#[async_trait::async_trait]
impl PartitionStore for BlobStore {
    async fn list_ownership(&self, hub: &HubKey) -> Result<Vec<Ownership>, StoreError> {
        let prefix = format!("{}ownership/", hub.prefix(self.lowercase)?);
        let blobs = self.list("list ownership", &prefix).await?;
        Ok(blobs
            .into_iter()
            .filter_map(|b| {
                let partition_id = child_name(&prefix, &b.name)?;
                Some(Ownership {
                    partition_id,
                    owner_id: meta(&b.metadata, keys::OWNER_ID)
                        .unwrap_or_default()
                        .to_string(),
                    etag: b.etag.as_deref().map(normalize_etag),
                    last_modified: b.last_modified,
                })
            })
            .collect())
    }

    async fn claim_ownership(
        &self,
        hub: &HubKey,
        claims: Vec<Ownership>,
    ) -> Result<Vec<Ownership>, StoreError> {
        let prefix = hub.prefix(self.lowercase)?;
        let mut won = Vec::with_capacity(claims.len());
        // One request per claim, in order: at 32 partitions and ~20 ms per request a cycle
        // spends well under a second here, far below the 10 s update interval.
        for claim in claims {
            if let Some(o) = self.claim_one(&prefix, claim).await? {
                won.push(o);
            }
        }
        Ok(won)
    }

    async fn list_checkpoints(&self, hub: &HubKey) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let prefix = format!("{}checkpoint/", hub.prefix(self.lowercase)?);
        let blobs = self.list("list checkpoints", &prefix).await?;
        let mut out = Vec::with_capacity(blobs.len());
        for b in blobs {
            let Some(partition_id) = child_name(&prefix, &b.name) else {
                continue;
            };
            let sequence_number = meta(&b.metadata, keys::SEQUENCE_NUMBER)
                .map(|v| parse_sequence_number(&b.name, v))
                .transpose()?;
            let offset = meta(&b.metadata, keys::OFFSET).map(str::to_string);
            // A blob without either carries no position (the SDK would report an empty one).
            if offset.is_some() || sequence_number.is_some() {
                out.push(StoredCheckpoint {
                    partition_id,
                    offset,
                    sequence_number,
                });
            }
        }
        Ok(out)
    }

    async fn update_checkpoint(
        &self,
        hub: &HubKey,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        check_checkpoint(checkpoint)?;
        let blob = format!(
            "{}checkpoint/{}",
            hub.prefix(self.lowercase)?,
            checkpoint.partition_id
        );
        let mut meta = Vec::new();
        if let Some(offset) = &checkpoint.offset {
            check_header_value("offset", offset)?;
            meta.push((format!("x-ms-meta-{}", keys::OFFSET), offset.clone()));
        }
        if let Some(seq) = checkpoint.sequence_number {
            meta.push((
                format!("x-ms-meta-{}", keys::SEQUENCE_NUMBER),
                seq.to_string(),
            ));
        }
        let op = "update checkpoint";
        let r = self
            .call(
                op,
                Kind::SetMetadata,
                Method::PUT,
                Some(&blob),
                &[("comp", "metadata")],
                meta.clone(),
            )
            .await?;
        match (r.status, r.code.as_str()) {
            (200, _) => Ok(()),
            (404, "BlobNotFound") => {
                // First checkpoint of this partition: create the blob with the metadata.
                let op = "create checkpoint";
                meta.push(("x-ms-blob-type".into(), "BlockBlob".into()));
                let r = self
                    .call(op, Kind::Put, Method::PUT, Some(&blob), &[], meta)
                    .await?;
                if r.status == 201 {
                    Ok(())
                } else {
                    Err(self.fail(op, &blob, &r))
                }
            }
            _ => Err(self.fail(op, &blob, &r)),
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "azure_blob",
            "container": self.container.as_str(),
            "auth": self.account.auth_kind(),
            "lowercase_names": self.lowercase,
        })
    }
}

#[cfg(test)]
mod tests;
