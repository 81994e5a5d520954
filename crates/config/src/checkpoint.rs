//! `[checkpoint]`: where the AMQP source keeps checkpoints and partition ownership. Its
//! secrets (`container_url`, `connection_string`) are resolved over the tree like every other
//! secret; it is checked here because it needs the source (`[checkpoint]` is read only by
//! `type = "amqp"`, and a blob store may borrow the source's Entra credential).

use std::path::PathBuf;

use entrastream_secret::Secret;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, SecretQueryUrl};

/// Keys holding a secret; each also accepts `KEY_env` and `KEY_file`.
pub const SECRET_KEYS: &[&str] = &["container_url", "connection_string"];

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
    /// `blob`: a storage connection string (secret); without one, the source's Entra
    /// credential is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
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

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(path, message)
}

impl CheckpointSection {
    /// Checks the store; `source_has_credential`: the AMQP source uses an Entra credential
    /// (which a blob store without its own secret borrows).
    pub fn validate(&self, source_has_credential: bool) -> Result<(), ConfigError> {
        match self.kind {
            CheckpointType::File => {
                if self.path.is_none() {
                    return Err(err("checkpoint.path", "required by type = \"file\""));
                }
                if self.container_url.is_some() || self.container.is_some() {
                    return Err(err(
                        "checkpoint.container_url",
                        "only read by type = \"blob\"",
                    ));
                }
            }
            CheckpointType::Blob => {
                if self.path.is_some() {
                    return Err(err("checkpoint.path", "only read by type = \"file\""));
                }
                match (
                    &self.container_url,
                    &self.container,
                    &self.connection_string,
                ) {
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
                if self.connection_string.is_none()
                    && self.container_url.as_ref().is_some_and(|u| !u.has_query())
                    && !source_has_credential
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
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, Env, SourceConfig};

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
        let Some(SourceConfig::Amqp(src)) = c.source.as_ref() else {
            panic!("not an amqp source");
        };
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
            match load(&format!("{k}{tail}")).unwrap().source.unwrap() {
                SourceConfig::Kafka(k) => k.consumer_group(),
                other => panic!("{other:?}"),
            },
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
        let url = cp.container_url.as_ref().unwrap();
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
        assert_eq!(cp.container_url.as_ref().unwrap().expose(), SAS_URL);
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
        assert_eq!(cp.container_url.as_ref().unwrap().expose(), SAS_URL);
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
