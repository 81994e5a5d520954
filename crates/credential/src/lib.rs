//! Entra ID credentials for Event Hubs, shared by the AMQP source and the Kafka source's
//! OAUTHBEARER auth: the `credential = …` config value ([`Credential`]), the keys each choice
//! needs and their checks ([`CredentialKeys::resolve`]), the validated choice
//! ([`EntraCredential`]) and the `azure_identity` credential built from it ([`build`]).
//!
//! Key decision: one place decides which keys a credential needs and builds it, so both
//! sources accept exactly the same `credential` values with the same messages; building
//! fetches nothing (the first token request happens when a client connects, and its failure is
//! reported there).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use entrastream_secret::Secret;
use entrastream_settings::InvalidKey;
use serde::{Deserialize, Serialize};

/// `credential`: which Entra ID credential authenticates to the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// Kubernetes workload identity.
    WorkloadIdentity,
    /// The host's managed identity.
    ManagedIdentity,
    /// A service principal with a client secret.
    ClientSecret,
    /// A service principal with a certificate.
    ClientCertificate,
    /// The signed-in Azure CLI user (development).
    AzureCli,
}

impl Credential {
    /// The name used in config files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Credential::WorkloadIdentity => "workload_identity",
            Credential::ManagedIdentity => "managed_identity",
            Credential::ClientSecret => "client_secret",
            Credential::ClientCertificate => "client_certificate",
            Credential::AzureCli => "azure_cli",
        }
    }
}

/// The values every `credential` choice may need, as a source's config holds them
/// (`client_id`, `tenant_id`, `client_secret`, `certificate_path`, `certificate_password`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialKeys<'a> {
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `tenant_id`.
    pub tenant_id: Option<&'a str>,
    /// `client_secret` (secret).
    pub client_secret: Option<&'a Secret>,
    /// `certificate_path`.
    pub certificate_path: Option<&'a Path>,
    /// `certificate_password` (secret).
    pub certificate_password: Option<&'a Secret>,
}

impl CredentialKeys<'_> {
    /// The validated choice; the error names the missing key and never shows a secret.
    pub fn resolve(&self, credential: Credential) -> Result<EntraCredential, InvalidKey> {
        let name = credential.name();
        let needed = |key: &str, value: Option<&str>| {
            value
                .map(str::to_string)
                .ok_or_else(|| InvalidKey::new(key, format!("required by credential = \"{name}\"")))
        };
        Ok(match credential {
            Credential::WorkloadIdentity => EntraCredential::WorkloadIdentity {
                client_id: self.client_id.map(str::to_string),
                tenant_id: self.tenant_id.map(str::to_string),
            },
            Credential::ManagedIdentity => EntraCredential::ManagedIdentity {
                client_id: self.client_id.map(str::to_string),
            },
            Credential::ClientSecret => EntraCredential::ClientSecret {
                tenant_id: needed("tenant_id", self.tenant_id)?,
                client_id: needed("client_id", self.client_id)?,
                client_secret: self.client_secret.cloned().ok_or_else(|| {
                    InvalidKey::new(
                        "client_secret",
                        "required by credential = \"client_secret\" (client_secret_env or client_secret_file)",
                    )
                })?,
            },
            Credential::ClientCertificate => EntraCredential::ClientCertificate {
                tenant_id: needed("tenant_id", self.tenant_id)?,
                client_id: needed("client_id", self.client_id)?,
                certificate_path: self.certificate_path.map(Path::to_path_buf).ok_or_else(
                    || {
                        InvalidKey::new(
                            "certificate_path",
                            "required by credential = \"client_certificate\" (a .pfx / .p12 file)",
                        )
                    },
                )?,
                certificate_password: self.certificate_password.cloned(),
            },
            Credential::AzureCli => EntraCredential::AzureCli,
        })
    }
}

/// A validated Entra ID credential choice (what [`build`] turns into a token credential).
#[derive(Debug, Clone)]
pub enum EntraCredential {
    /// Kubernetes workload identity (federated token file from the pod's environment).
    WorkloadIdentity {
        /// Overrides `AZURE_CLIENT_ID`.
        client_id: Option<String>,
        /// Overrides `AZURE_TENANT_ID`.
        tenant_id: Option<String>,
    },
    /// The host's managed identity (system-assigned, or user-assigned by client id).
    ManagedIdentity {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// A service principal with a client secret.
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        client_secret: Secret,
    },
    /// A service principal with a PKCS#12 certificate.
    ClientCertificate {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// Path of the `.pfx` / `.p12` file.
        certificate_path: PathBuf,
        /// Its password, if any.
        certificate_password: Option<Secret>,
    },
    /// The signed-in Azure CLI user (development).
    AzureCli,
}

impl EntraCredential {
    /// The name used in config files and logs.
    pub fn name(&self) -> &'static str {
        match self {
            EntraCredential::WorkloadIdentity { .. } => "workload_identity",
            EntraCredential::ManagedIdentity { .. } => "managed_identity",
            EntraCredential::ClientSecret { .. } => "client_secret",
            EntraCredential::ClientCertificate { .. } => "client_certificate",
            EntraCredential::AzureCli => "azure_cli",
        }
    }

    /// The secret values this choice holds, so that a message from the identity library
    /// can be checked for them before it is shown (see [`redact`]).
    pub fn secrets(&self) -> Vec<&Secret> {
        match self {
            EntraCredential::ClientSecret { client_secret, .. } => vec![client_secret],
            EntraCredential::ClientCertificate {
                certificate_password: Some(p),
                ..
            } => vec![p],
            _ => Vec::new(),
        }
    }
}

/// Replaces every non-empty secret value in `message` with `***`: a message from the identity
/// library (an HTTP error body, a parse error) is shown to the operator, and must never carry
/// a secret even if a library put one there.
pub fn redact(message: &str, secrets: &[&Secret]) -> String {
    let mut out = message.to_string();
    for s in secrets {
        let value = s.expose();
        if !value.is_empty() {
            out = out.replace(value, entrastream_secret::REDACTED);
        }
    }
    out
}

/// Why a credential could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(String);

/// Builds the Entra credential. Nothing is fetched yet: the first token request happens when
/// the client connects, and its failure is reported there with the fix.
pub fn build(choice: &EntraCredential) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    use azure_identity as id;
    let secrets = choice.secrets();
    let explain = |e: azure_core::Error| {
        CredentialError(redact(
            &format!("cannot set up the {} credential: {e}", choice.name()),
            &secrets,
        ))
    };
    Ok(match choice {
        EntraCredential::WorkloadIdentity {
            client_id,
            tenant_id,
        } => {
            let options = id::WorkloadIdentityCredentialOptions {
                client_id: client_id.clone(),
                tenant_id: tenant_id.clone(),
                ..Default::default()
            };
            id::WorkloadIdentityCredential::new(Some(options)).map_err(|e| {
                CredentialError(format!(
                    "workload identity is not available: {e}; the pod needs the label azure.workload.identity/use=\"true\" and a ServiceAccount annotated with azure.workload.identity/client-id (see docs/deploy.md)"
                ))
            })?
        }
        EntraCredential::ManagedIdentity { client_id } => {
            let options = id::ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(id::UserAssignedId::ClientId),
                ..Default::default()
            };
            id::ManagedIdentityCredential::new(Some(options)).map_err(explain)?
        }
        EntraCredential::ClientSecret {
            tenant_id,
            client_id,
            client_secret,
        } => id::ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            azure_core::credentials::Secret::new(client_secret.expose().to_string()),
            None,
        )
        .map_err(explain)?,
        EntraCredential::ClientCertificate {
            tenant_id,
            client_id,
            certificate_path,
            certificate_password,
        } => {
            let bytes = std::fs::read(certificate_path).map_err(|e| {
                CredentialError(format!(
                    "cannot read the client certificate {}: {e}",
                    certificate_path.display()
                ))
            })?;
            let options = id::ClientCertificateCredentialOptions {
                password: certificate_password
                    .as_ref()
                    .map(|p| azure_core::credentials::Secret::new(p.expose().to_string())),
                ..Default::default()
            };
            id::ClientCertificateCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                azure_core::credentials::SecretBytes::new(bytes),
                Some(options),
            )
            .map_err(explain)?
        }
        EntraCredential::AzureCli => id::AzureCliCredential::new(None).map_err(explain)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_choice_names_the_key_it_misses() {
        let none = CredentialKeys::default();
        let e = none.resolve(Credential::ClientSecret).unwrap_err();
        assert_eq!(e.key, "tenant_id");
        assert_eq!(e.message, "required by credential = \"client_secret\"");
        let tenant = CredentialKeys {
            tenant_id: Some("t"),
            ..Default::default()
        };
        assert_eq!(
            tenant.resolve(Credential::ClientSecret).unwrap_err().key,
            "client_id"
        );
        let principal = CredentialKeys {
            tenant_id: Some("t"),
            client_id: Some("c"),
            ..Default::default()
        };
        assert_eq!(
            principal.resolve(Credential::ClientSecret).unwrap_err().key,
            "client_secret"
        );
        assert_eq!(
            principal
                .resolve(Credential::ClientCertificate)
                .unwrap_err()
                .key,
            "certificate_path"
        );
        for c in [
            Credential::WorkloadIdentity,
            Credential::ManagedIdentity,
            Credential::AzureCli,
        ] {
            assert_eq!(none.resolve(c).unwrap().name(), c.name());
        }
    }

    #[test]
    fn secrets_are_redacted_and_never_debug_printed() {
        let secret = Secret::new("S3CRET-VALUE");
        let keys = CredentialKeys {
            tenant_id: Some("t"),
            client_id: Some("c"),
            client_secret: Some(&secret),
            ..Default::default()
        };
        let c = keys.resolve(Credential::ClientSecret).unwrap();
        assert!(!format!("{c:?}").contains("S3CRET-VALUE"));
        let shown = redact(
            "AADSTS7000215: invalid secret S3CRET-VALUE provided",
            &c.secrets(),
        );
        assert_eq!(shown, "AADSTS7000215: invalid secret *** provided");
        // An empty secret would replace between every character: it is skipped.
        assert_eq!(redact("abc", &[&Secret::new("")]), "abc");
    }

    #[test]
    fn a_missing_certificate_file_is_named() {
        let c = EntraCredential::ClientCertificate {
            tenant_id: "t".into(),
            client_id: "c".into(),
            certificate_path: "/nonexistent/entrastream.pfx".into(),
            certificate_password: None,
        };
        let e = build(&c).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/entrastream.pfx"), "{e}");
    }
}
