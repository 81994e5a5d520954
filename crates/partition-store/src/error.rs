//! The one error type of this crate. Every message says what the operator should do; none
//! carries a secret (keys, SAS signatures and tokens never reach a message: URLs are reported
//! without their query and reqwest errors are stripped of their URL).

use std::path::PathBuf;
use std::time::Duration;

/// Why a store or balancer operation failed.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// A setting is missing or malformed (connection string, container URL, directory, ...).
    #[error("invalid partition store setting {key}: {reason}")]
    Config {
        /// The setting, e.g. `connection_string` or `container_url`.
        key: &'static str,
        /// What is wrong and what to write instead (never the secret value itself).
        reason: String,
    },

    /// `ownership_expiry` must leave room for at least one missed renewal.
    #[error(
        "ownership_expiry ({expiry:?}) must be greater than update_interval ({interval:?}): \
         set ownership_expiry to 2-6 times update_interval (defaults 60s and 10s)"
    )]
    ExpiryNotAboveInterval {
        /// `ownership_expiry`
        expiry: Duration,
        /// `update_interval`
        interval: Duration,
    },

    /// The container named in the configuration does not exist.
    #[error(
        "container {container} does not exist: create the container (for example \
         `az storage container create --name NAME --account-name ACCOUNT`) or fix the container name"
    )]
    ContainerNotFound {
        /// Container URL without query.
        container: String,
    },

    /// The storage service did not accept our credentials.
    #[error(
        "storage rejected the credentials for {container} during {op} (http {status} {code}): {hint}"
    )]
    AuthenticationFailed {
        /// Container URL without query.
        container: String,
        /// The operation, e.g. `list ownership`.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// `x-ms-error-code`.
        code: String,
        /// What to check, depending on the kind of credential.
        hint: &'static str,
    },

    /// Authenticated, but not allowed to do this.
    #[error(
        "not allowed to {op} in {container} (http {status} {code}): grant the identity \
         'Storage Blob Data Contributor' on the container, or use a SAS with read, add, create, \
         write and list permissions; if the account has a firewall, admit this host's network"
    )]
    PermissionDenied {
        /// Container URL without query.
        container: String,
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// `x-ms-error-code`.
        code: String,
    },

    /// Any other unexpected HTTP answer from the storage service.
    #[error("storage {op} on {blob} failed with http {status} {code}: {hint}")]
    Http {
        /// The operation.
        op: &'static str,
        /// Blob name (or the container URL without query).
        blob: String,
        /// HTTP status.
        status: u16,
        /// `x-ms-error-code`, empty when absent.
        code: String,
        /// What to do about it.
        hint: &'static str,
    },

    /// The storage endpoint could not be reached or the connection broke.
    #[error(
        "cannot reach blob storage at {endpoint} during {op}: {source}; check the network path \
         (DNS, firewall, private endpoint) and the blob endpoint; it is retried next cycle"
    )]
    Transport {
        /// The operation.
        op: &'static str,
        /// Container URL without query.
        endpoint: String,
        /// The reqwest error, stripped of its URL.
        #[source]
        source: reqwest::Error,
    },

    /// The storage endpoint did not answer within the request timeout.
    #[error(
        "blob storage at {endpoint} did not answer {op} within {timeout:?}; check the network \
         path (DNS, firewall, private endpoint) and the account's health; it is retried next cycle"
    )]
    Timeout {
        /// The operation.
        op: &'static str,
        /// Container URL without query.
        endpoint: String,
        /// The request timeout.
        timeout: Duration,
    },

    /// The token credential could not produce a token for Azure Storage.
    #[error(
        "cannot get an Entra ID token for Azure Storage: {message}; check the identity \
         (managed identity assigned to this host, workload identity federation, client secret \
         not expired)"
    )]
    Credential {
        /// The credential's own error message.
        message: String,
    },

    /// A blob's metadata or a listing could not be understood.
    #[error("{blob} has an invalid {what}: {reason}; fix or delete that blob")]
    InvalidData {
        /// Blob or file name.
        blob: String,
        /// Which part, e.g. `sequencenumber metadata`.
        what: &'static str,
        /// Details (values here are positions or XML, never secrets).
        reason: String,
    },

    /// A checkpoint with neither offset nor sequence number would erase a good one.
    #[error(
        "refusing to store a checkpoint without offset and sequence number for partition \
         {partition_id}: it would erase the stored position (azure-sdk-for-rust#5097); this is \
         a bug in the caller, please report it"
    )]
    EmptyCheckpoint {
        /// The partition.
        partition_id: String,
    },

    /// A file store operation failed.
    #[error("{op} {path}: {source}; check that the directory exists and this user may write to it")]
    Io {
        /// What we were doing, e.g. `write`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether trying again later (next cycle, after a backoff) may succeed without an
    /// operator changing anything: network errors, throttling, server errors, timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Transport { .. }
            | StoreError::Timeout { .. }
            | StoreError::Credential { .. } => true,
            StoreError::Http { status, .. } => is_retryable_status(*status),
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

/// 408, 429 and 5xx except 501 and 505 (Azure Storage retry guidance).
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

pub(crate) fn io_error(
    op: &'static str,
    path: &std::path::Path,
    source: std::io::Error,
) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl From<entrastream_blob_client::AuthError> for StoreError {
    fn from(e: entrastream_blob_client::AuthError) -> Self {
        match e {
            entrastream_blob_client::AuthError::Config { key, reason } => {
                StoreError::Config { key, reason }
            }
            entrastream_blob_client::AuthError::Credential { message } => {
                StoreError::Credential { message }
            }
        }
    }
}
