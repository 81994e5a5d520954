//! `[[sinks]]` entries of type `splunk_hec` and `sumo_logic`: their keys, defaults and checks.
//! Secrets (`token`, `url`) are resolved here from their value, `_env` or `_file` form, so a
//! missing variable is a load-time error naming the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use entrastream_secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};

use crate::sinks::SinkConfig;
use crate::units::{self, Bytes, Dur};
use crate::{ConfigError, Env, SinkKind, resolve_secret};

/// TLS options of an HTTP sink.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecTls {
    /// PEM file with the CA that signed the peer's certificate (added to the web roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the peer's certificate (logs a warning at start-up). Testing only.
    #[serde(default, deserialize_with = "lenient_bool_or_false")]
    pub insecure_skip_verify: bool,
}

/// Settings of a `splunk_hec` sink.
#[derive(Debug, Clone, Serialize)]
pub struct SplunkHecSettings {
    /// Base URL, e.g. `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// The HEC token.
    pub token: Secret,
    /// `event` (JSON envelope, default) or `raw`.
    pub api: String,
    /// Wait for indexer acknowledgement before accepting a batch.
    pub indexer_ack: bool,
    /// Index (token default when absent).
    pub index: Option<String>,
    /// `source` field.
    pub source: Option<String>,
    /// `sourcetype` (default from the schema: raw → `azure:monitor:aad`).
    pub sourcetype: Option<String>,
    /// `host` field.
    pub host: Option<String>,
    /// Largest request body (uncompressed).
    pub max_content_length: Bytes,
    /// Requests in flight per batch.
    pub concurrency: usize,
    /// gzip request bodies.
    pub gzip: bool,
    /// Resend a request whose ack has not come after this long.
    pub ack_timeout: Dur,
    /// Interval between ack polls.
    pub ack_poll_interval: Dur,
    /// Timeout of one HTTP request.
    pub request_timeout: Dur,
    /// TLS options.
    pub tls: HecTls,
}

/// Settings of a `sumo_logic` sink.
#[derive(Debug, Clone, Serialize)]
pub struct SumoLogicSettings {
    /// The HTTP source URL (it contains the source's token: a secret).
    pub url: Secret,
    /// `X-Sumo-Category` (default: from the record's category, e.g. `azure/entra/signin`).
    pub sumo_category: Option<String>,
    /// `X-Sumo-Name`.
    pub sumo_name: Option<String>,
    /// `X-Sumo-Host`.
    pub sumo_host: Option<String>,
    /// `X-Sumo-Fields` as a table.
    pub sumo_fields: BTreeMap<String, String>,
    /// Largest request body, uncompressed (at most 1 MB).
    pub max_request_bytes: Bytes,
    /// Requests in flight per batch.
    pub concurrency: usize,
    /// gzip request bodies.
    pub gzip: bool,
    /// Timeout of one HTTP request.
    pub request_timeout: Dur,
    /// How long batches are merged while a request would be below Sumo's recommended 100 KB.
    pub batch_timeout: Dur,
}

fn lenient_bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(units::lenient_bool(d)?.unwrap_or(false))
}

fn lenient_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(usize),
        Text(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Int(n)) => Ok(Some(n)),
        Some(N::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a whole number"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HecEntry {
    #[serde(rename = "type")]
    _kind: String,
    name: Option<String>,
    #[serde(default = "raw")]
    schema: String,
    categories: Option<Vec<String>>,
    endpoint: String,
    token: Option<Secret>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default = "event")]
    api: String,
    #[serde(default, deserialize_with = "units::lenient_bool")]
    indexer_ack: Option<bool>,
    index: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
    host: Option<String>,
    max_content_length: Option<Bytes>,
    #[serde(default, deserialize_with = "lenient_usize")]
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "units::lenient_bool")]
    gzip: Option<bool>,
    ack_timeout: Option<Dur>,
    ack_poll_interval: Option<Dur>,
    request_timeout: Option<Dur>,
    #[serde(default)]
    tls: HecTls,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SumoEntry {
    #[serde(rename = "type")]
    _kind: String,
    name: Option<String>,
    #[serde(default = "native")]
    schema: String,
    categories: Option<Vec<String>>,
    url: Option<Secret>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    sumo_category: Option<String>,
    sumo_name: Option<String>,
    sumo_host: Option<String>,
    #[serde(default)]
    sumo_fields: BTreeMap<String, String>,
    max_request_bytes: Option<Bytes>,
    #[serde(default, deserialize_with = "lenient_usize")]
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "units::lenient_bool")]
    gzip: Option<bool>,
    request_timeout: Option<Dur>,
    batch_timeout: Option<Dur>,
}

fn raw() -> String {
    "raw".into()
}
fn native() -> String {
    "native".into()
}
fn event() -> String {
    "event".into()
}

fn err(i: usize, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: format!("sinks[{i}].{key}"),
        message: message.into(),
    }
}

fn check_http_url(i: usize, key: &str, url: &str, secret: bool) -> Result<(), ConfigError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.split("://").nth(1).is_some_and(|rest| {
            rest.split(['/', '?'])
                .next()
                .is_some_and(|host| !host.is_empty())
        });
    if ok {
        Ok(())
    } else if secret {
        // Never echo the value: it contains the token.
        Err(err(i, key, "must be an http(s):// URL with a host"))
    } else {
        Err(err(
            i,
            key,
            format!("{url:?} must be an http(s):// URL with a host"),
        ))
    }
}

const MIB_1: u64 = 1_000_000;

pub(crate) fn splunk_hec(i: usize, e: HecEntry, env: &Env) -> Result<SinkConfig, ConfigError> {
    let key = format!("sinks[{i}].token");
    let token = resolve_secret(
        &key,
        e.token.as_ref(),
        e.token_env.as_deref(),
        e.token_file.as_deref(),
        env,
    )?
    .ok_or_else(|| err(i, "token", "set one of token, token_env, token_file"))?;
    check_http_url(i, "endpoint", &e.endpoint, false)?;
    if !matches!(e.api.as_str(), "event" | "raw") {
        return Err(err(
            i,
            "api",
            format!("unknown api {:?} (event or raw)", e.api),
        ));
    }
    let max_content_length = e.max_content_length.unwrap_or(Bytes(MIB_1));
    if max_content_length.0 < 1024 {
        return Err(err(i, "max_content_length", "must be at least 1KiB"));
    }
    let concurrency = e.concurrency.unwrap_or(4);
    if concurrency == 0 || concurrency > 64 {
        return Err(err(i, "concurrency", "must be between 1 and 64"));
    }
    let ack_poll_interval = e.ack_poll_interval.unwrap_or(Dur(Duration::from_secs(1)));
    let ack_timeout = e.ack_timeout.unwrap_or(Dur(Duration::from_secs(60)));
    if ack_timeout.0 < ack_poll_interval.0 {
        return Err(err(i, "ack_timeout", "must be at least ack_poll_interval"));
    }
    if let Some(ca) = &e.tls.ca_file
        && !ca.is_file()
    {
        return Err(err(
            i,
            "tls.ca_file",
            format!("{} is not a readable file", ca.display()),
        ));
    }
    Ok(SinkConfig {
        name: e.name.unwrap_or_else(|| "splunk_hec".into()),
        schema: e.schema,
        categories: e.categories,
        kind: SinkKind::SplunkHec(Box::new(SplunkHecSettings {
            endpoint: e.endpoint,
            token,
            api: e.api,
            indexer_ack: e.indexer_ack.unwrap_or(false),
            index: e.index,
            source: e.source,
            sourcetype: e.sourcetype,
            host: e.host,
            max_content_length,
            concurrency,
            gzip: e.gzip.unwrap_or(true),
            ack_timeout,
            ack_poll_interval,
            request_timeout: e.request_timeout.unwrap_or(Dur(Duration::from_secs(30))),
            tls: e.tls,
        })),
    })
}

pub(crate) fn sumo_logic(i: usize, e: SumoEntry, env: &Env) -> Result<SinkConfig, ConfigError> {
    let key = format!("sinks[{i}].url");
    let url = resolve_secret(
        &key,
        e.url.as_ref(),
        e.url_env.as_deref(),
        e.url_file.as_deref(),
        env,
    )?
    .ok_or_else(|| err(i, "url", "set one of url, url_env, url_file"))?;
    check_http_url(i, "url", url.expose(), true)?;
    let max_request_bytes = e.max_request_bytes.unwrap_or(Bytes(MIB_1));
    if max_request_bytes.0 > MIB_1 || max_request_bytes.0 < 1024 {
        return Err(err(
            i,
            "max_request_bytes",
            "must be between 1KiB and 1MB (Sumo Logic refuses larger requests)",
        ));
    }
    let concurrency = e.concurrency.unwrap_or(2);
    if concurrency == 0 || concurrency > 64 {
        return Err(err(i, "concurrency", "must be between 1 and 64"));
    }
    Ok(SinkConfig {
        name: e.name.unwrap_or_else(|| "sumo_logic".into()),
        schema: e.schema,
        categories: e.categories,
        kind: SinkKind::SumoLogic(Box::new(SumoLogicSettings {
            url,
            sumo_category: e.sumo_category,
            sumo_name: e.sumo_name,
            sumo_host: e.sumo_host,
            sumo_fields: e.sumo_fields,
            max_request_bytes,
            concurrency,
            gzip: e.gzip.unwrap_or(true),
            request_timeout: e.request_timeout.unwrap_or(Dur(Duration::from_secs(30))),
            batch_timeout: e.batch_timeout.unwrap_or(Dur(Duration::from_secs(1))),
        })),
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Env, SinkKind};

    const BASE: &str = "[dead_letter]\npath = \"/tmp/dl.ndjson\"\n";

    #[test]
    fn issue_keys_parse_and_secrets_resolve() {
        let text = format!(
            "{BASE}[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"https://splunk.example.com:8088\"\ntoken_env = \"SPLUNK_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\n\
             [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"SUMO_HTTP_SOURCE_URL\"\nschema = \"native\"\ncategories = [\"SignInLogs\"]\n"
        );
        let env = Env::from_pairs([
            ("SPLUNK_HEC_TOKEN", "tok-123"),
            (
                "SUMO_HTTP_SOURCE_URL",
                "https://collectors.sumologic.com/receiver/v1/http/SECRETX",
            ),
        ]);
        let c = Config::from_str(&text, false, &env).unwrap();
        match &c.sinks[0].kind {
            SinkKind::SplunkHec(h) => {
                assert_eq!(h.token.expose(), "tok-123");
                assert!(h.indexer_ack);
                assert!(h.gzip);
                assert_eq!(h.max_content_length.0, 1_000_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.sinks[1].kind, SinkKind::SumoLogic(_)));
        let shown = c.to_toml() + &format!("{c:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("SECRETX"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_key_and_missing_secret_are_errors_naming_the_key() {
        let text = format!(
            "{BASE}[[sinks]]\ntype = \"splunk_hec\"\nendpoint = \"https://h:8088\"\ntoken = \"t\"\nbogus = 1\n"
        );
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(e.to_string().contains("sinks[0]"), "{e}");
        let text = format!("{BASE}[[sinks]]\ntype = \"sumo_logic\"\nurl_env = \"NOPE\"\n");
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(e.to_string().contains("sinks[0].url_env"), "{e}");
        let text = format!(
            "{BASE}[[sinks]]\ntype = \"sumo_logic\"\nurl = \"https://x/receiver/SECRETY\"\nmax_request_bytes = \"2MB\"\n"
        );
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(!e.to_string().contains("SECRETY"));
    }
}
