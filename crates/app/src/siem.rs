//! Building the SIEM sinks (Splunk HEC, Sumo Logic) from their config entries, and
//! `check-sinks`: one probe per configured sink with what to fix.

use entrastream_config::{
    Config, ConfigError, SinkConfig, SinkKind, SplunkHecSettings, SumoLogicSettings,
};
use entrastream_entra::Schema;
use entrastream_sink::Sink;
use entrastream_sink_splunk_hec::{HecApi, HecConfig, HecSink, TlsOptions};
use entrastream_sink_sumo::{SumoConfig, SumoSink};
use entrastream_telemetry::Metrics;

fn hec_config(name: &str, schema: Schema, h: &SplunkHecSettings) -> HecConfig {
    let mut c = HecConfig::new(name, &h.endpoint, h.token.clone());
    c.api = if h.api == "raw" {
        HecApi::Raw
    } else {
        HecApi::Event
    };
    c.schema = schema;
    c.indexer_ack = h.indexer_ack;
    c.index = h.index.clone();
    c.source = h.source.clone();
    c.sourcetype = h.sourcetype.clone();
    c.host = h.host.clone();
    c.max_content_length = usize::try_from(h.max_content_length.0).unwrap_or(usize::MAX);
    c.concurrency = h.concurrency;
    c.gzip = h.gzip;
    c.ack_timeout = h.ack_timeout.0;
    c.ack_poll_interval = h.ack_poll_interval.0;
    c.request_timeout = h.request_timeout.0;
    c.tls = TlsOptions {
        ca_file: h.tls.ca_file.clone(),
        insecure_skip_verify: h.tls.insecure_skip_verify,
    };
    c
}

fn sumo_config(name: &str, schema: Schema, s: &SumoLogicSettings) -> SumoConfig {
    let mut c = SumoConfig::new(name, s.url.clone());
    c.schema = schema;
    c.category = s.sumo_category.clone();
    c.source_name = s.sumo_name.clone();
    c.source_host = s.sumo_host.clone();
    c.fields = s.sumo_fields.clone();
    c.max_request_bytes = usize::try_from(s.max_request_bytes.0).unwrap_or(usize::MAX);
    c.concurrency = s.concurrency;
    c.gzip = s.gzip;
    c.request_timeout = s.request_timeout.0;
    c.batch_timeout = s.batch_timeout.0;
    c
}

fn hec(s: &SinkConfig, h: &SplunkHecSettings) -> Result<HecSink, ConfigError> {
    HecSink::new(hec_config(&s.name, s.schema(), h)).map_err(|m| ConfigError {
        path: format!("sinks.{}", s.name),
        message: m.to_string(),
    })
}

fn sumo(s: &SinkConfig, x: &SumoLogicSettings) -> Result<SumoSink, ConfigError> {
    SumoSink::new(sumo_config(&s.name, s.schema(), x)).map_err(|m| ConfigError {
        path: format!("sinks.{}", s.name),
        message: m.to_string(),
    })
}

/// A `splunk_hec` sink; with `metrics`, its protocol metrics are exported on `/metrics`.
pub fn splunk_hec(
    s: &SinkConfig,
    h: &SplunkHecSettings,
    metrics: Option<&Metrics>,
) -> Result<Box<dyn Sink>, ConfigError> {
    let sink = hec(s, h)?;
    Ok(Box::new(match metrics {
        Some(m) => sink.with_stats(m.sink_stats(&s.name)),
        None => sink,
    }))
}

/// A `sumo_logic` sink; with `metrics`, its protocol metrics are exported on `/metrics`.
pub fn sumo_logic(
    s: &SinkConfig,
    x: &SumoLogicSettings,
    metrics: Option<&Metrics>,
) -> Result<Box<dyn Sink>, ConfigError> {
    let sink = sumo(s, x)?;
    Ok(Box::new(match metrics {
        Some(m) => sink.with_stats(m.sink_stats(&s.name)),
        None => sink,
    }))
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
            SinkKind::SplunkHec(h) => {
                let p = hec(s, h)?.probe().await;
                SinkCheck {
                    name: s.name.clone(),
                    kind: "splunk_hec",
                    reachable: p.reachable,
                    authenticated: p.authenticated,
                    problem: p.problem,
                }
            }
            SinkKind::SumoLogic(x) => {
                let (reachable, authenticated, problem) = sumo(s, x)?.probe().await;
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
