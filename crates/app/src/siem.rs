//! The sink constructors (one arm per `[[sinks]]` type: the only place the app knows sink
//! types) and `check-sinks`: one probe per configured sink with what to fix.

use entrastream_config::{Config, ConfigError, SinkConfig, SinkKind};
use entrastream_sink::Sink;
use entrastream_sink_file::{BlackholeSink, FileSink, StdoutSink};
use entrastream_sink_splunk_hec::HecSink;
use entrastream_sink_sumo::SumoSink;
use entrastream_sink_syslog::SyslogSink;
use entrastream_telemetry::Metrics;

/// What one `[[sinks]]` entry builds.
#[derive(Debug)]
pub enum Built {
    /// A sink the pipeline delivers to.
    Sink(Box<dyn Sink>),
    /// The dead-letter file (`type = "dead_letter"`).
    DeadLetter(Box<dyn Sink>),
}

fn build_error(s: &SinkConfig, e: entrastream_sink::BuildError) -> ConfigError {
    ConfigError::new(format!("sinks.{}", s.name), e.to_string())
}

/// Builds one configured sink; with `metrics`, its metrics are exported on `/metrics`.
/// `config` is the whole configuration (an `azure_blob` sink without its own secret borrows
/// the source's Entra credential). Adding a sink type: one arm here (see `docs/sinks.md`).
pub fn build_sink(
    config: &Config,
    s: &SinkConfig,
    metrics: Option<&Metrics>,
) -> Result<Built, ConfigError> {
    let removed = |sink: &str| metrics.map(|m| m.file_rotated_files_removed(sink));
    Ok(Built::Sink(match &s.kind {
        SinkKind::File(c) => Box::new(FileSink::from_config(
            &s.name,
            s.schema,
            c,
            removed(&s.name),
        )),
        SinkKind::Stdout(_) => Box::new(StdoutSink::new(&s.name, s.schema)),
        SinkKind::Blackhole(_) => Box::new(BlackholeSink::new(&s.name, s.schema)),
        SinkKind::DeadLetter(c) => {
            return Ok(Built::DeadLetter(Box::new(FileSink::from_dead_letter(
                c,
                removed("dead_letter"),
            ))));
        }
        SinkKind::SplunkHec(c) => {
            let sink = hec(s, c)?;
            match metrics {
                Some(m) => Box::new(sink.with_stats(m.sink_stats(&s.name))),
                None => Box::new(sink),
            }
        }
        SinkKind::SumoLogic(c) => {
            let sink = sumo(s, c)?;
            match metrics {
                Some(m) => Box::new(sink.with_stats(m.sink_stats(&s.name))),
                None => Box::new(sink),
            }
        }
        SinkKind::Syslog(c) => {
            let sink = syslog(s, c)?;
            match metrics {
                Some(m) => Box::new(sink.with_metrics(m.syslog_stats(&s.name))),
                None => Box::new(sink),
            }
        }
        SinkKind::ArchiveDir(c) => Box::new(entrastream_sink_archive::ArchiveDirSink::new(
            &s.name, s.schema, c,
        )),
        SinkKind::AzureBlob(c) => Box::new(azure_blob(config, s, c, metrics)?),
    }))
}

/// The source's Entra credential (`[source] credential = …`, AMQP or the Kafka endpoint), if it
/// has one: storage clients without their own secret borrow it (one identity, several roles).
pub fn source_entra_credential(
    config: &Config,
) -> Result<Option<std::sync::Arc<dyn entrastream_blob_client::TokenCredential>>, ConfigError> {
    let credential_error = |e: String| ConfigError::new("source.credential", e);
    match &config.source {
        Some(entrastream_config::SourceConfig::Amqp(_)) => {
            let settings = crate::amqp::amqp_settings(config)?;
            match &settings.auth {
                entrastream_source_amqp::EventHubsAuth::Entra { credential, .. } => {
                    entrastream_source_amqp::entra_credential(credential)
                        .map(Some)
                        .map_err(|e| credential_error(e.to_string()))
                }
                _ => Ok(None),
            }
        }
        Some(entrastream_config::SourceConfig::Kafka(_)) => {
            match crate::kafka_config(config)?.oauth {
                Some(oauth) => entrastream_source_kafka::auth::entra_credential(&oauth)
                    .map(Some)
                    .map_err(|e| credential_error(e.to_string())),
                None => Ok(None),
            }
        }
        None => Ok(None),
    }
}

/// The `azure_blob` sink: its connection string or SAS, else the source's Entra credential
/// (one identity with the 'Storage Blob Data Contributor' role, as the checkpoint store).
fn azure_blob(
    config: &Config,
    s: &SinkConfig,
    c: &entrastream_sink_archive::BlobConfig,
    metrics: Option<&Metrics>,
) -> Result<entrastream_sink_archive::AzureBlobSink, ConfigError> {
    let credential = if c.connection_string.is_none() && c.sas.is_none() {
        source_entra_credential(config)?
    } else {
        None
    };
    let account = entrastream_sink_archive::account_for(c, credential).map_err(|e| {
        let key = match &e {
            entrastream_blob_client::AuthError::Config { key, .. } => *key,
            entrastream_blob_client::AuthError::Credential { .. } => "credential",
        };
        ConfigError::new(format!("sinks.{}.{key}", s.name), e.to_string())
    })?;
    Ok(entrastream_sink_archive::AzureBlobSink::new(
        &s.name,
        s.schema,
        c,
        account,
        metrics.map(|m| m.archive_stats(&s.name)),
    ))
}

fn hec(s: &SinkConfig, c: &entrastream_sink_splunk_hec::Config) -> Result<HecSink, ConfigError> {
    HecSink::new(&s.name, s.schema, c.clone()).map_err(|m| build_error(s, m))
}

fn sumo(s: &SinkConfig, c: &entrastream_sink_sumo::Config) -> Result<SumoSink, ConfigError> {
    SumoSink::new(&s.name, s.schema, c.clone()).map_err(|m| build_error(s, m))
}

fn syslog(s: &SinkConfig, c: &entrastream_sink_syslog::Config) -> Result<SyslogSink, ConfigError> {
    SyslogSink::new(&s.name, s.schema, c.clone())
        .map_err(|e| ConfigError::new(format!("sinks.{}", s.name), e.to_string()))
}

/// The result of checking one sink.
#[derive(Debug, Clone)]
pub struct SinkCheck {
    /// Sink name.
    pub name: String,
    /// Sink type.
    pub kind: &'static str,
    /// The peer answered.
    pub reachable: bool,
    /// Credentials accepted (`None` = not applicable or unknown).
    pub authenticated: Option<bool>,
    /// What to fix (`None` = passed).
    pub problem: Option<String>,
}

impl SinkCheck {
    /// True when the sink passed.
    pub fn passed(&self) -> bool {
        self.reachable && self.authenticated != Some(false) && self.problem.is_none()
    }
}

/// Builds every configured sink and probes it (HEC: health endpoint plus an authenticated
/// ack-less request; Sumo: one marked test event; others: their healthcheck).
pub async fn check_sinks(config: &Config) -> Result<Vec<SinkCheck>, ConfigError> {
    let mut out = Vec::new();
    for s in &config.sinks {
        let check = match &s.kind {
            SinkKind::SplunkHec(c) => {
                let p = hec(s, c)?.probe().await;
                SinkCheck {
                    name: s.name.clone(),
                    kind: "splunk_hec",
                    reachable: p.reachable,
                    authenticated: p.authenticated,
                    problem: p.problem,
                }
            }
            SinkKind::Syslog(c) => {
                // A connection as a send opens it: TCP connect, TLS handshake, RELP open.
                let problem = syslog(s, c)?.healthcheck().await.err();
                SinkCheck {
                    name: s.name.clone(),
                    kind: "syslog",
                    reachable: problem.is_none(),
                    authenticated: None,
                    problem: problem.map(|e| e.to_string()),
                }
            }
            SinkKind::AzureBlob(c) => {
                // Creates (if missing) the container `entrastream-access-check` and writes a
                // probe blob in it: reachable, authenticated and allowed to write.
                let problem = match azure_blob(config, s, c, None) {
                    Ok(mut sink) => sink.healthcheck().await.err(),
                    Err(e) => Some(entrastream_sink::SinkError::Refused(e.to_string())),
                };
                SinkCheck {
                    name: s.name.clone(),
                    kind: "azure_blob",
                    reachable: !matches!(
                        problem,
                        Some(entrastream_sink::SinkError::Unreachable(_))
                    ),
                    authenticated: match &problem {
                        Some(entrastream_sink::SinkError::Refused(m))
                            if m.contains("refused our credentials") =>
                        {
                            Some(false)
                        }
                        Some(_) => None,
                        None => Some(true),
                    },
                    problem: problem.map(|e| e.to_string()),
                }
            }
            SinkKind::SumoLogic(c) => {
                let (reachable, authenticated, problem) = sumo(s, c)?.probe().await;
                SinkCheck {
                    name: s.name.clone(),
                    kind: "sumo_logic",
                    reachable,
                    authenticated,
                    problem,
                }
            }
            _ => {
                let mut one = config.clone();
                one.sinks = vec![s.clone()];
                let problem = match crate::build_sinks(&one) {
                    Ok((mut slots, _)) => match slots.first_mut() {
                        Some(slot) => slot.sink.healthcheck().await.err().map(|e| e.to_string()),
                        None => None,
                    },
                    Err(e) => Some(e.to_string()),
                };
                SinkCheck {
                    name: s.name.clone(),
                    kind: "local",
                    reachable: problem.is_none(),
                    authenticated: None,
                    problem,
                }
            }
        };
        out.push(check);
    }
    Ok(out)
}
