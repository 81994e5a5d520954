//! Wiring of the AMQP source: `[source] type = "amqp"` and `[checkpoint]` into the source
//! crate's settings and a checkpoint store.

use std::sync::Arc;

use entrastream_config::{CheckpointType, Config, ConfigError, SourceConfig};
use entrastream_partition_store::{BlobStore, FileStore, PartitionStore};
use entrastream_source_amqp::{AmqpSource, AmqpSourceConfig, EventHubsAuth, LagReporter};

use crate::AppError;

fn cfg_err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// The AMQP source settings from `[source] type = "amqp"` (validated at load time).
pub fn amqp_settings(config: &Config) -> Result<AmqpSourceConfig, ConfigError> {
    match &config.source {
        Some(SourceConfig::Amqp(a)) => AmqpSourceConfig::from_config(
            a,
            config.pipeline.drain_timeout.0,
            crate::DEFAULT_RETENTION,
        )
        .map_err(|e| cfg_err(&format!("source.{}", e.key), e.message)),
        Some(_) => Err(cfg_err("source.type", "not an amqp source")),
        None => Err(cfg_err("source", "missing section [source]")),
    }
}

/// The `[checkpoint]` store. A blob store without its own secret borrows the source's Entra
/// credential (one identity with two roles, as docs/deploy.md sets up).
pub fn checkpoint_store(
    config: &Config,
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
            let store = match (cp.connection_string.as_ref(), cp.container_url.as_ref()) {
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
    registry: &prometheus::Registry,
    lag: Option<LagReporter>,
) -> Result<AmqpSource, AppError> {
    let settings = amqp_settings(config)?;
    let store = checkpoint_store(config, &settings)?;
    AmqpSource::start(settings, store, registry, lag)
        .await
        .map_err(|e| AppError::Source(e.to_string()))
}
