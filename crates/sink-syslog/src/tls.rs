//! The rustls client configuration: which CAs are trusted, the client certificate, and the
//! name sent as SNI and checked against the receiver's certificate.
//!
//! The crypto provider is named explicitly (aws-lc-rs, the only one the workspace builds: the
//! Azure SDK's), so that the choice never depends on what else is linked.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::config::TlsConfig;

/// A TLS setting that cannot be used; the message names the key and the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error(
        "tls.{key} = {path:?}: cannot read a PEM {what} from it ({reason}); check the path and that it holds PEM text"
    )]
    Pem {
        key: &'static str,
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("tls.{key} = {path:?} holds no {what}")]
    Empty {
        key: &'static str,
        path: PathBuf,
        what: &'static str,
    },
    #[error(
        "tls.key_file_env names the environment variable {0:?}, which is not set: set it to the key file's path"
    )]
    KeyEnvMissing(String),
    #[error("tls.server_name (or the host of address) {0:?} is not a valid DNS name or IP address")]
    ServerName(String),
    #[error(
        "the TLS client settings were refused: {0}; check that tls.cert_file and the key belong together"
    )]
    Rustls(String),
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Pem {
            key,
            path: path.to_owned(),
            what: "certificate",
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The TLS client of a sink and the server name it checks.
pub fn client(
    tls: &TlsConfig,
    host: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), TlsError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            for cert in read_certs("ca_file", path)? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    key: "ca_file",
                    path: path.clone(),
                    what: "CA certificate",
                    reason: e.to_string(),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    let key_path = match (&tls.key_file, &tls.key_file_env) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(var)) => Some(PathBuf::from(
            env(var).ok_or_else(|| TlsError::KeyEnvMissing(var.clone()))?,
        )),
        (None, None) => None,
    };
    let config = match (&tls.cert_file, key_path) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("cert_file", cert)?;
            let key_name = if tls.key_file.is_some() {
                "key_file"
            } else {
                "key_file_env"
            };
            let pk = PrivateKeyDer::from_pem_file(&key).map_err(|e| TlsError::Pem {
                key: key_name,
                path: key.clone(),
                what: "private key",
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, pk)
                .map_err(|e| TlsError::Rustls(e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    let name = tls.server_name.as_deref().unwrap_or(host);
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.into()))?;
    Ok((Arc::new(config), server_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_and_env_name_the_key() {
        let tls = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let e = client(&tls, "h", |_| None).unwrap_err().to_string();
        assert!(e.contains("tls.ca_file"), "{e}");
        let tls = TlsConfig {
            cert_file: Some("/nonexistent/c.pem".into()),
            key_file_env: Some("SYSLOG_KEY".into()),
            ..TlsConfig::default()
        };
        let e = client(&tls, "h", |_| None).unwrap_err().to_string();
        assert!(e.contains("SYSLOG_KEY"), "{e}");
        let e = client(&TlsConfig::default(), "bad name!", |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("server_name"), "{e}");
        assert!(client(&TlsConfig::default(), "siem.example.com", |_| None).is_ok());
    }
}
