//! The AMQP source's keys: start positions, the `[checkpoint]` store, and the checks that
//! keep Kafka-only and AMQP-only keys apart (a key that does nothing is an error, not a
//! silent no-op).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use entrastream_secret::Secret;
use serde::{Deserialize, Serialize};

use crate::{
    ConfigError, Env, ResolvedSource, SecretQueryUrl, SourceSection, SourceType, resolve_secret,
};

/// `start_position`: where a partition without a checkpoint starts.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum StartSetting {
    /// The oldest retained event (default).
    #[default]
    Earliest,
    /// New events only.
    Latest,
    /// The first event enqueued at or after this instant (AMQP).
    EnqueuedTime(SystemTime),
    /// This sequence number, inclusive (AMQP).
    SequenceNumber(i64),
}

impl fmt::Debug for StartSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl StartSetting {
    fn to_text(self) -> String {
        match self {
            StartSetting::Earliest => "earliest".into(),
            StartSetting::Latest => "latest".into(),
            StartSetting::SequenceNumber(n) => n.to_string(),
            StartSetting::EnqueuedTime(t) => {
                let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                let ts = entrastream_entra::Timestamp::from_unix(
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                );
                let mut out = String::new();
                if let Some(ts) = ts {
                    let _ = ts.write_rfc3339(&mut out);
                }
                out
            }
        }
    }

    /// Parses `earliest`, `latest`, an RFC 3339 time, or a sequence number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "earliest" | "beginning" => return Ok(StartSetting::Earliest),
            "latest" | "end" => return Ok(StartSetting::Latest),
            _ => {}
        }
        if let Ok(n) = t.parse::<i64>() {
            if n < 0 {
                return Err(format!("sequence number {n} is negative"));
            }
            return Ok(StartSetting::SequenceNumber(n));
        }
        if t.contains('T') || t.contains('-') {
            let ts = entrastream_entra::Timestamp::parse(t).ok_or_else(|| {
                format!("{t:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z")
            })?;
            let secs =
                u64::try_from(ts.unix_seconds()).map_err(|_| format!("{t:?} is before 1970"))?;
            return Ok(StartSetting::EnqueuedTime(
                SystemTime::UNIX_EPOCH + Duration::new(secs, ts.subsec_nanos()),
            ));
        }
        Err(format!(
            "{t:?} is not earliest, latest, an RFC 3339 time (2026-11-01T00:00:00Z) or a sequence number"
        ))
    }
}

impl Serialize for StartSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for StartSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StartSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("earliest, latest, an RFC 3339 time or a sequence number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StartSetting, E> {
                StartSetting::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StartSetting, E> {
                StartSetting::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StartSetting, E> {
                StartSetting::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[checkpoint] type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointType {
    /// Azure Blob, in the Azure SDK processors' layout.
    Blob,
    /// Files in a local directory (one replica, or replicas sharing one volume).
    File,
}

/// `[checkpoint]`: where the AMQP source keeps checkpoints and partition ownership.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// `blob` or `file`.
    #[serde(rename = "type")]
    pub kind: CheckpointType,
    /// `blob`: `https://ACCOUNT.blob.core.windows.net/CONTAINER` (a SAS query is accepted;
    /// it is a secret and prints as `***`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_url: Option<SecretQueryUrl>,
    /// Name of the environment variable holding `container_url` (e.g. with a SAS query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_url_env: Option<String>,
    /// File holding `container_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_url_file: Option<PathBuf>,
    /// `blob`: a storage connection string (secret); without one, the source's Entra
    /// credential is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
    /// Name of the environment variable holding the storage connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string_env: Option<String>,
    /// File holding the storage connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string_file: Option<PathBuf>,
    /// `blob`: the container, when `container_url` is not given (with a connection string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `file`: the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Lower-case namespace, hub and consumer group in blob names, as the .NET processor and
    /// Azure Functions do (default true, so a container can be shared with them).
    #[serde(default = "yes")]
    pub lowercase_names: bool,
}

fn yes() -> bool {
    true
}

impl CheckpointSection {
    /// The container URL, resolved from its value, `_env` or `_file` form.
    pub fn resolve_container_url(&self, env: &Env) -> Result<Option<SecretQueryUrl>, ConfigError> {
        let value = self.container_url.as_ref().map(|u| Secret::new(u.expose()));
        Ok(resolve_secret(
            "checkpoint.container_url",
            value.as_ref(),
            self.container_url_env.as_deref(),
            self.container_url_file.as_deref(),
            env,
        )?
        .map(|s| SecretQueryUrl::new(s.expose())))
    }

    /// The storage connection string, resolved from its value, `_env` or `_file` form.
    pub fn resolve_connection_string(&self, env: &Env) -> Result<Option<Secret>, ConfigError> {
        resolve_secret(
            "checkpoint.connection_string",
            self.connection_string.as_ref(),
            self.connection_string_env.as_deref(),
            self.connection_string_file.as_deref(),
            env,
        )
    }
}

/// The AMQP source's secrets, resolved.
#[derive(Debug, Clone)]
pub struct ResolvedAmqpSecrets {
    /// Client secret for `credential = "client_secret"`.
    pub client_secret: Option<Secret>,
    /// Certificate password for `credential = "client_certificate"`.
    pub certificate_password: Option<Secret>,
}

/// Resolves the AMQP-only secrets.
pub fn resolve_amqp_secrets(
    src: &SourceSection,
    env: &Env,
) -> Result<ResolvedAmqpSecrets, ConfigError> {
    Ok(ResolvedAmqpSecrets {
        client_secret: resolve_secret(
            "source.client_secret",
            src.client_secret.as_ref(),
            src.client_secret_env.as_deref(),
            src.client_secret_file.as_deref(),
            env,
        )?,
        certificate_password: resolve_secret(
            "source.certificate_password",
            src.certificate_password.as_ref(),
            src.certificate_password_env.as_deref(),
            src.certificate_password_file.as_deref(),
            env,
        )?,
    })
}

/// The credential names `credential` accepts.
pub const CREDENTIALS: [&str; 5] = [
    "workload_identity",
    "managed_identity",
    "client_secret",
    "client_certificate",
    "azure_cli",
];

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(path, message)
}

/// Keys that only the other source type reads.
fn reject_foreign_keys(src: &SourceSection) -> Result<(), ConfigError> {
    let kafka_only: [(&str, bool); 8] = [
        ("brokers", src.brokers.is_some()),
        ("topic", src.topic.is_some()),
        ("security_protocol", src.security_protocol.is_some()),
        ("sasl_mechanism", src.sasl_mechanism.is_some()),
        ("sasl_username", src.sasl_username.is_some()),
        (
            "sasl_password",
            src.sasl_password.is_some()
                || src.sasl_password_env.is_some()
                || src.sasl_password_file.is_some(),
        ),
        ("event_hubs_defaults", src.event_hubs_defaults.is_some()),
        ("properties", !src.properties.is_empty()),
    ];
    let amqp_only: [(&str, bool); 14] = [
        ("namespace", src.namespace.is_some()),
        ("event_hub", src.event_hub.is_some()),
        ("credential", src.credential.is_some()),
        ("client_id", src.client_id.is_some()),
        ("tenant_id", src.tenant_id.is_some()),
        (
            "client_secret",
            src.client_secret.is_some()
                || src.client_secret_env.is_some()
                || src.client_secret_file.is_some(),
        ),
        ("certificate_path", src.certificate_path.is_some()),
        (
            "certificate_password",
            src.certificate_password.is_some()
                || src.certificate_password_env.is_some()
                || src.certificate_password_file.is_some(),
        ),
        ("custom_endpoint", src.custom_endpoint.is_some()),
        ("prefetch", src.prefetch.is_some()),
        ("properties_interval", src.properties_interval.is_some()),
        ("load_balancing", src.load_balancing.is_some()),
        ("update_interval", src.update_interval.is_some()),
        (
            "ownership_expiry",
            src.ownership_expiry.is_some() || src.owner_id.is_some(),
        ),
    ];
    let (foreign, this, other): (&[(&str, bool)], &str, &str) = match src.kind {
        SourceType::Kafka => (&amqp_only, "kafka", "amqp"),
        SourceType::Amqp => (&kafka_only, "amqp", "kafka"),
    };
    if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
        return Err(err(
            &format!("source.{key}"),
            format!(
                "only read by type = \"{other}\"; remove it (this source is type = \"{this}\")"
            ),
        ));
    }
    Ok(())
}

/// Kafka: start positions other than earliest/latest are AMQP-only.
pub fn validate_kafka(src: &SourceSection) -> Result<(), ConfigError> {
    reject_foreign_keys(src)?;
    if !matches!(
        src.start_position,
        StartSetting::Earliest | StartSetting::Latest
    ) {
        return Err(err(
            "source.start_position",
            "the Kafka source starts at earliest or latest; an enqueued time or sequence number needs type = \"amqp\"",
        ));
    }
    Ok(())
}

/// AMQP: credentials, hub, balancing timings and the `[checkpoint]` store.
pub fn validate_amqp(
    src: &SourceSection,
    resolved: &ResolvedSource,
    checkpoint: Option<&CheckpointSection>,
    env: &Env,
) -> Result<(), ConfigError> {
    reject_foreign_keys(src)?;
    let secrets = resolve_amqp_secrets(src, env)?;
    match (&resolved.connection_string, &src.credential) {
        (Some(_), Some(_)) => {
            return Err(err(
                "source.credential",
                "set either a connection string or credential, not both",
            ));
        }
        (None, None) => {
            return Err(err(
                "source.credential",
                "set connection_string_env (or connection_string / connection_string_file), or namespace + event_hub + credential (workload_identity, managed_identity, client_secret, client_certificate, azure_cli)",
            ));
        }
        (Some(cs), None) => {
            let text = cs.expose();
            let has = |k: &str| {
                text.split(';').any(|p| {
                    p.split_once('=').is_some_and(|(key, v)| {
                        key.trim().eq_ignore_ascii_case(k) && !v.trim().is_empty()
                    })
                })
            };
            if !has("Endpoint") {
                return Err(err(
                    "source.connection_string",
                    "connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/",
                ));
            }
            if !has("SharedAccessKey") && !has("SharedAccessSignature") {
                return Err(err(
                    "source.connection_string",
                    "connection string has no SharedAccessKey",
                ));
            }
            if !has("EntityPath") && src.event_hub.is_none() {
                return Err(err(
                    "source.event_hub",
                    "required: the connection string is namespace-level (no EntityPath)",
                ));
            }
            if src.namespace.is_some() {
                return Err(err(
                    "source.namespace",
                    "the connection string names the namespace; remove source.namespace",
                ));
            }
        }
        (None, Some(cred)) => {
            if !CREDENTIALS.contains(&cred.as_str()) {
                return Err(err(
                    "source.credential",
                    format!(
                        "unknown credential {cred:?}; use one of {}",
                        CREDENTIALS.join(", ")
                    ),
                ));
            }
            let ns = src.namespace.as_deref().unwrap_or_default();
            if ns.is_empty() {
                return Err(err(
                    "source.namespace",
                    "required with a credential: the namespace host name, e.g. contoso-ns.servicebus.windows.net",
                ));
            }
            if ns.contains("://") || ns.contains('/') {
                return Err(err(
                    "source.namespace",
                    format!(
                        "{ns:?} must be a host name such as contoso-ns.servicebus.windows.net, without sb:// or a path"
                    ),
                ));
            }
            if src.event_hub.as_deref().unwrap_or_default().is_empty() {
                return Err(err("source.event_hub", "required with a credential"));
            }
            let needs_principal = matches!(cred.as_str(), "client_secret" | "client_certificate");
            if needs_principal && src.tenant_id.is_none() {
                return Err(err(
                    "source.tenant_id",
                    format!("required by credential = \"{cred}\""),
                ));
            }
            if needs_principal && src.client_id.is_none() {
                return Err(err(
                    "source.client_id",
                    format!("required by credential = \"{cred}\""),
                ));
            }
            if cred == "client_secret" && secrets.client_secret.is_none() {
                return Err(err(
                    "source.client_secret",
                    "required by credential = \"client_secret\" (client_secret_env or client_secret_file)",
                ));
            }
            if cred == "client_certificate" && src.certificate_path.is_none() {
                return Err(err(
                    "source.certificate_path",
                    "required by credential = \"client_certificate\" (a .pfx / .p12 file)",
                ));
            }
        }
    }
    if let Some(ep) = &src.custom_endpoint
        && !ep.starts_with("amqp://")
        && !ep.starts_with("amqps://")
    {
        return Err(err(
            "source.custom_endpoint",
            format!("{ep:?} must be an amqp://host:port (plain) or amqps://host:port URL"),
        ));
    }
    if src.prefetch == Some(0) {
        return Err(err("source.prefetch", "must be at least 1"));
    }
    if let Some(lb) = &src.load_balancing
        && !matches!(lb.as_str(), "balanced" | "greedy")
    {
        return Err(err(
            "source.load_balancing",
            format!("unknown strategy {lb:?}; use balanced or greedy"),
        ));
    }
    let update = src.update_interval.map_or(Duration::from_secs(10), |d| d.0);
    let expiry = src
        .ownership_expiry
        .map_or(Duration::from_secs(60), |d| d.0);
    if update.is_zero() {
        return Err(err("source.update_interval", "must be greater than zero"));
    }
    if expiry <= update {
        return Err(err(
            "source.ownership_expiry",
            format!(
                "must be longer than source.update_interval ({} ms); 3× or more is recommended",
                update.as_millis()
            ),
        ));
    }
    let Some(cp) = checkpoint else {
        return Err(err(
            "checkpoint",
            "missing section [checkpoint]: type = \"blob\" with container_url (shared by replicas and compatible with the Azure SDK processors), or type = \"file\" with path (one replica)",
        ));
    };
    match cp.kind {
        CheckpointType::File => {
            if cp.path.is_none() {
                return Err(err("checkpoint.path", "required by type = \"file\""));
            }
            if cp.container_url.is_some()
                || cp.container_url_env.is_some()
                || cp.container_url_file.is_some()
                || cp.container.is_some()
            {
                return Err(err(
                    "checkpoint.container_url",
                    "only read by type = \"blob\"",
                ));
            }
        }
        CheckpointType::Blob => {
            let cs = cp.resolve_connection_string(env)?;
            let container_url = cp.resolve_container_url(env)?;
            if cp.path.is_some() {
                return Err(err("checkpoint.path", "only read by type = \"file\""));
            }
            match (&container_url, &cp.container, &cs) {
                (None, None, _) => {
                    return Err(err(
                        "checkpoint.container_url",
                        "required: https://ACCOUNT.blob.core.windows.net/CONTAINER (or container_url_env / container_url_file, or container with a connection string)",
                    ));
                }
                (None, Some(_), None) => {
                    return Err(err(
                        "checkpoint.container_url",
                        "container alone needs a connection_string; with an Entra credential set container_url",
                    ));
                }
                (Some(url), _, _)
                    if !url.expose().starts_with("https://")
                        && !url.expose().starts_with("http://") =>
                {
                    return Err(err(
                        "checkpoint.container_url",
                        format!(
                            "must be an http(s) URL such as https://ACCOUNT.blob.core.windows.net/CONTAINER, not {:?}",
                            url.without_query()
                        ),
                    ));
                }
                _ => {}
            }
            if cs.is_none()
                && container_url.as_ref().is_some_and(|u| !u.has_query())
                && src.credential.is_none()
            {
                return Err(err(
                    "checkpoint.connection_string",
                    "the source uses a connection string, so the store has no Entra credential to borrow: set checkpoint.connection_string_env (or a SAS query on container_url)",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_settings() {
        assert_eq!(StartSetting::parse("earliest"), Ok(StartSetting::Earliest));
        assert_eq!(StartSetting::parse("LATEST"), Ok(StartSetting::Latest));
        assert_eq!(
            StartSetting::parse("12345"),
            Ok(StartSetting::SequenceNumber(12345))
        );
        let t = StartSetting::parse("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(format!("{t:?}"), "2026-11-01T00:00:00Z");
        assert!(StartSetting::parse("yesterday").is_err());
        assert!(StartSetting::parse("-4").is_err());
    }

    const ISSUE_EXAMPLE: &str = r#"
[source]
type = "amqp"
connection_string_env = "EVENTHUB_CONNECTION_STRING"
consumer_group = "$Default"
start_position = "earliest"
custom_endpoint = "amqp://127.0.0.1:5672"
[checkpoint]
type = "blob"
container_url = "https://acct.blob.core.windows.net/entrastream"
connection_string_env = "CHECKPOINT_STORAGE_CONNECTION_STRING"
[[sinks]]
name = "out"
type = "stdout"
[dead_letter]
path = "/tmp/dl.ndjson"
"#;

    fn env() -> Env {
        Env::from_pairs([
            (
                "EVENTHUB_CONNECTION_STRING",
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETKEY;EntityPath=entra-logs",
            ),
            (
                "CHECKPOINT_STORAGE_CONNECTION_STRING",
                "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=STORAGEKEY;EndpointSuffix=core.windows.net",
            ),
        ])
    }

    fn load(text: &str) -> Result<crate::Config, ConfigError> {
        crate::Config::from_str(text, false, &env())
    }

    #[test]
    fn the_issue_example_loads_and_hides_secrets() {
        let c = load(ISSUE_EXAMPLE).unwrap();
        let src = c.source.as_ref().unwrap();
        assert_eq!(src.kind, SourceType::Amqp);
        assert_eq!(src.consumer_group(), "$Default");
        let shown = c.to_toml();
        assert!(
            !shown.contains("SECRETKEY") && !shown.contains("STORAGEKEY"),
            "{shown}"
        );
    }

    #[test]
    fn amqp_errors_name_the_key() {
        let cases = [
            (ISSUE_EXAMPLE.replace("[checkpoint]\ntype = \"blob\"", "[checkpoint]\ntype = \"file\""), "checkpoint.path"),
            (ISSUE_EXAMPLE.replace("custom_endpoint = \"amqp://127.0.0.1:5672\"", "custom_endpoint = \"http://x\""), "source.custom_endpoint"),
            (ISSUE_EXAMPLE.replace("start_position = \"earliest\"", "start_position = \"earliest\"\nbrokers = \"x:9092\""), "source.brokers"),
            (ISSUE_EXAMPLE.replace("start_position = \"earliest\"", "start_position = \"earliest\"\nupdate_interval = \"30s\"\nownership_expiry = \"20s\""), "source.ownership_expiry"),
            (ISSUE_EXAMPLE.replace("connection_string_env = \"EVENTHUB_CONNECTION_STRING\"", "namespace = \"ns.servicebus.windows.net\"\nevent_hub = \"h\"\ncredential = \"magic\""), "source.credential"),
            (ISSUE_EXAMPLE.replace("connection_string_env = \"EVENTHUB_CONNECTION_STRING\"", "namespace = \"ns.servicebus.windows.net\"\nevent_hub = \"h\"\ncredential = \"client_secret\""), "source.tenant_id"),
            (ISSUE_EXAMPLE.replace("start_position = \"earliest\"", "start_position = \"someday\""), "source.start_position"),
        ];
        for (text, key) in cases {
            let e = load(&text).unwrap_err();
            assert_eq!(e.path, key, "{e}");
        }
        let no_store = ISSUE_EXAMPLE
            .split("[checkpoint]")
            .next()
            .unwrap()
            .to_string()
            + "[[sinks]]\nname = \"out\"\ntype = \"stdout\"\n[dead_letter]\npath = \"/tmp/dl\"\n";
        assert_eq!(load(&no_store).unwrap_err().path, "checkpoint");
    }

    #[test]
    fn kafka_rejects_amqp_keys_and_times() {
        let k = "[source]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"t\"\n";
        let tail = "[[sinks]]\nname = \"o\"\ntype = \"stdout\"\n[dead_letter]\npath = \"/tmp/d\"\n";
        let e = load(&format!("{k}prefetch = 10\n{tail}")).unwrap_err();
        assert_eq!(e.path, "source.prefetch");
        let e = load(&format!(
            "{k}start_position = \"2026-01-01T00:00:00Z\"\n{tail}"
        ))
        .unwrap_err();
        assert_eq!(e.path, "source.start_position");
        let e = load(&format!(
            "{k}{tail}[checkpoint]\ntype = \"file\"\npath = \"/x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.path, "checkpoint");
        assert_eq!(
            load(&format!("{k}{tail}"))
                .unwrap()
                .source
                .unwrap()
                .consumer_group(),
            "entrastream"
        );
    }

    const SAS_URL: &str =
        "https://acct.blob.core.windows.net/entrastream?sv=2024-05-04&sp=racwl&sig=SASSIGSECRET%3D";

    fn sas_store(store: &str) -> String {
        ISSUE_EXAMPLE.replace(
            "container_url = \"https://acct.blob.core.windows.net/entrastream\"\nconnection_string_env = \"CHECKPOINT_STORAGE_CONNECTION_STRING\"",
            store,
        )
    }

    #[test]
    fn a_sas_container_url_is_hidden_in_output_and_debug() {
        let c = load(&sas_store(&format!("container_url = {SAS_URL:?}"))).unwrap();
        let shown = c.to_toml();
        let debug = format!("{c:?}");
        for text in [&shown, &debug] {
            assert!(!text.contains("SASSIGSECRET"), "{text}");
            assert!(!text.contains("sp=racwl"), "{text}");
            assert!(
                text.contains("https://acct.blob.core.windows.net/entrastream?***"),
                "{text}"
            );
        }
        let cp = c.checkpoint.as_ref().unwrap();
        let url = cp.resolve_container_url(&env()).unwrap().unwrap();
        assert_eq!(url.expose(), SAS_URL);
    }

    #[test]
    fn container_url_accepts_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, format!("{SAS_URL}\n")).unwrap();
        let with_env = Env::from_pairs([
            (
                "EVENTHUB_CONNECTION_STRING",
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETKEY;EntityPath=entra-logs",
            ),
            ("CHECKPOINT_URL", SAS_URL),
        ]);
        let text = sas_store("container_url_env = \"CHECKPOINT_URL\"");
        let c = crate::Config::from_str(&text, false, &with_env).unwrap();
        let cp = c.checkpoint.as_ref().unwrap();
        assert_eq!(
            cp.resolve_container_url(&with_env)
                .unwrap()
                .unwrap()
                .expose(),
            SAS_URL
        );
        assert!(!c.to_toml().contains("SASSIGSECRET"));
        // Without the variable, the error names the key.
        let e = load(&text).unwrap_err();
        assert_eq!(e.path, "checkpoint.container_url_env", "{e}");
        let text = sas_store(&format!(
            "container_url_file = {:?}",
            file.display().to_string()
        ));
        let c = load(&text).unwrap();
        let cp = c.checkpoint.as_ref().unwrap();
        assert_eq!(
            cp.resolve_container_url(&env()).unwrap().unwrap().expose(),
            SAS_URL
        );
        // Two forms at once are refused.
        let text = sas_store(&format!(
            "container_url = {SAS_URL:?}\ncontainer_url_env = \"CHECKPOINT_URL\""
        ));
        let e = crate::Config::from_str(&text, false, &with_env).unwrap_err();
        assert_eq!(e.path, "checkpoint.container_url", "{e}");
        assert!(!e.to_string().contains("SASSIGSECRET"));
    }

    #[test]
    fn a_bad_container_url_error_does_not_echo_the_sas() {
        let e = load(&sas_store(
            "container_url = \"ftp://acct/entrastream?sig=SASSIGSECRET\"",
        ))
        .unwrap_err();
        assert_eq!(e.path, "checkpoint.container_url");
        assert!(!e.to_string().contains("SASSIGSECRET"), "{e}");
    }
}
