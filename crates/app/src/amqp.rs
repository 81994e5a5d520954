//! Wiring of the AMQP source: `[source] type = "amqp"` and `[checkpoint]` into the source
//! crate's settings and a checkpoint store.

use std::sync::Arc;
use std::time::Duration;

use entrastream_config::{CheckpointType, Config, ConfigError, Env, StartSetting};
use entrastream_partition_store::{BlobStore, FileStore, PartitionStore, Strategy};
use entrastream_source_amqp::{
    AmqpSource, AmqpSourceConfig, Balancing, DEFAULT_PREFETCH, EntraCredential, EventHubsAuth,
    LagReporter, StartFrom, default_owner_id,
};

use crate::AppError;

fn cfg_err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// The AMQP source settings from `[source]` (validated at load time).
pub fn amqp_settings(config: &Config, env: &Env) -> Result<AmqpSourceConfig, ConfigError> {
    let resolved = config.resolve_source(env)?;
    let src = &resolved.section;
    let secrets = entrastream_config::amqp::resolve_amqp_secrets(src, env)?;
    let auth = match (&resolved.connection_string, src.credential.as_deref()) {
        (Some(cs), _) => EventHubsAuth::ConnectionString {
            connection_string: cs.clone(),
            event_hub: src.event_hub.clone(),
        },
        (None, Some(name)) => {
            let credential = match name {
                "workload_identity" => EntraCredential::WorkloadIdentity {
                    client_id: src.client_id.clone(),
                    tenant_id: src.tenant_id.clone(),
                },
                "managed_identity" => EntraCredential::ManagedIdentity {
                    client_id: src.client_id.clone(),
                },
                "client_secret" => EntraCredential::ClientSecret {
                    tenant_id: src.tenant_id.clone().unwrap_or_default(),
                    client_id: src.client_id.clone().unwrap_or_default(),
                    client_secret: secrets
                        .client_secret
                        .clone()
                        .ok_or_else(|| cfg_err("source.client_secret", "required"))?,
                },
                "client_certificate" => EntraCredential::ClientCertificate {
                    tenant_id: src.tenant_id.clone().unwrap_or_default(),
                    client_id: src.client_id.clone().unwrap_or_default(),
                    certificate_path: src.certificate_path.clone().unwrap_or_default(),
                    certificate_password: secrets.certificate_password.clone(),
                },
                "azure_cli" => EntraCredential::AzureCli,
                other => {
                    return Err(cfg_err(
                        "source.credential",
                        format!("unknown credential {other:?}"),
                    ));
                }
            };
            EventHubsAuth::Entra {
                namespace: src.namespace.clone().unwrap_or_default(),
                event_hub: src.event_hub.clone().unwrap_or_default(),
                credential,
            }
        }
        (None, None) => {
            return Err(cfg_err(
                "source.credential",
                "set a connection string or a credential",
            ));
        }
    };
    let start = match src.start_position {
        StartSetting::Earliest => StartFrom::Earliest,
        StartSetting::Latest => StartFrom::Latest,
        StartSetting::EnqueuedTime(t) => StartFrom::EnqueuedTime(t),
        StartSetting::SequenceNumber(n) => StartFrom::SequenceNumber(n),
    };
    // Greedy by default: a replica takes its whole fair share in one cycle, so partitions
    // are split within two update intervals of a replica joining (Balanced needs one cycle
    // per partition: 16 cycles for 32 partitions over 2 replicas). Over-owners still give
    // partitions back one per cycle, and ETag-conditional claims keep owners exclusive.
    let strategy = match src.load_balancing.as_deref() {
        Some("balanced") => Strategy::Balanced,
        _ => Strategy::Greedy,
    };
    Ok(AmqpSourceConfig {
        auth,
        consumer_group: src.consumer_group(),
        start,
        custom_endpoint: src.custom_endpoint.clone(),
        prefetch: src.prefetch.unwrap_or(DEFAULT_PREFETCH),
        retention: src.retention.map_or(crate::DEFAULT_RETENTION, |d| d.0),
        properties_interval: src
            .properties_interval
            .map_or(Duration::from_secs(30), |d| d.0),
        balancing: Balancing {
            strategy,
            update_interval: src.update_interval.map_or(Duration::from_secs(10), |d| d.0),
            ownership_expiry: src
                .ownership_expiry
                .map_or(Duration::from_secs(60), |d| d.0),
            owner_id: src.owner_id.clone().unwrap_or_else(default_owner_id),
        },
        drain_timeout: config.pipeline.drain_timeout.0,
    })
}

/// The `[checkpoint]` store. A blob store without its own secret borrows the source's Entra
/// credential (one identity with two roles, as docs/deploy.md sets up).
pub fn checkpoint_store(
    config: &Config,
    env: &Env,
    settings: &AmqpSourceConfig,
) -> Result<Arc<dyn PartitionStore>, ConfigError> {
    let cp = config.checkpoint.as_ref().ok_or_else(|| {
        cfg_err(
            "checkpoint",
            "missing section [checkpoint] (type = \"blob\" or \"file\")",
        )
    })?;
    let store_err =
        |key: &str, e: entrastream_partition_store::StoreError| cfg_err(key, e.to_string());
    Ok(match cp.kind {
        CheckpointType::File => {
            let path = cp
                .path
                .as_ref()
                .ok_or_else(|| cfg_err("checkpoint.path", "required by type = \"file\""))?;
            Arc::new(
                FileStore::open(path)
                    .map_err(|e| store_err("checkpoint.path", e))?
                    .lowercase_names(cp.lowercase_names),
            )
        }
        CheckpointType::Blob => {
            let cs = cp.resolve_connection_string(env)?;
            let url = cp.resolve_container_url(env)?;
            let store = match (cs, url) {
                (Some(cs), url) => {
                    let target = url
                        .map(|u| u.expose().to_string())
                        .or_else(|| cp.container.clone())
                        .unwrap_or_default();
                    BlobStore::from_connection_string(&target, cs.expose())
                        .map_err(|e| store_err("checkpoint.connection_string", e))?
                }
                (None, Some(url)) if url.has_query() => BlobStore::with_sas(url.expose())
                    .map_err(|e| store_err("checkpoint.container_url", e))?,
                (None, Some(url)) => {
                    let EventHubsAuth::Entra { credential, .. } = &settings.auth else {
                        return Err(cfg_err(
                            "checkpoint.connection_string",
                            "required: the source uses a connection string, so there is no Entra credential to borrow",
                        ));
                    };
                    let cred = entrastream_source_amqp::entra_credential(credential)
                        .map_err(|e| cfg_err("source.credential", e.to_string()))?;
                    BlobStore::with_token_credential(url.expose(), cred)
                        .map_err(|e| store_err("checkpoint.container_url", e))?
                }
                (None, None) => {
                    return Err(cfg_err("checkpoint.container_url", "required"));
                }
            };
            Arc::new(store.lowercase_names(cp.lowercase_names))
        }
    })
}

/// Builds and connects the AMQP source.
pub async fn start_amqp_source(
    config: &Config,
    env: &Env,
    registry: &prometheus::Registry,
    lag: Option<LagReporter>,
) -> Result<AmqpSource, AppError> {
    let settings = amqp_settings(config, env)?;
    let store = checkpoint_store(config, env, &settings)?;
    AmqpSource::start(settings, store, registry, lag)
        .await
        .map_err(|e| AppError::Source(e.to_string()))
}
