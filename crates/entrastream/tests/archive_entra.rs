//! The `azure_blob` archive sink, `replay --from https://…` and `check-sinks` authenticating
//! with the source's Entra credential, end to end and as processes: `azure_identity` in the
//! daemon asks the token endpoint peer (`entrastream_testkit::entra_token`, HTTPS) for a
//! storage token, and Azurite, serving HTTPS with `--oauth basic`, checks the token's issuer,
//! audience and lifetime on every request. The daemon finds the peer through
//! `AZURE_AUTHORITY_HOST` and trusts the test CA through `SSL_CERT_FILE`, as an operator's
//! sovereign-cloud or private-CA setup would. The storage account is not `devstoreaccount1`,
//! so no client can fall back to Azurite's published key: Azurite answers a request without a
//! valid token with 403/404, so each test fails when the token path is broken.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use entrastream_testkit::entra_token::{
    AppAuth, EntraApp, EntraTokenPeer, TOKEN_EXCHANGE_AUDIENCE, federated_token,
};
use entrastream_testkit::{Azurite, AzuriteOptions, TestPki, output_within, test_pki};

const TENANT: &str = "8f1c3a52-5b0e-4d6a-9c1e-2a7b9d4e6f10";
const CLIENT: &str = "2d4e6f80-1a3c-4b5d-8e7f-9a0b1c2d3e4f";
const WI_CLIENT: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
const SECRET: &str = "ENTRA-CLIENT-SECRET-4c1d9e";
const WRONG_SECRET: &str = "WRONG-CLIENT-SECRET-77ab02";
const OIDC_ISSUER: &str = "https://oidc.prod-aks.example/4f1e2d3c/";
const SA_SUBJECT: &str = "system:serviceaccount:entrastream:entrastream";
/// An account of Azurite's own (AZURITE_ACCOUNTS), not the development account.
const ACCOUNT: &str = "entraarchive";
const ACCOUNT_KEY: &str = "ZW50cmFzdHJlYW0gdGVzdCBhY2NvdW50IGtleSwgbm90IGEgc2VjcmV0IQ==";
const CONTAINER: &str = "insights-logs-signinlogs";

fn rec(time: &str, id: &str) -> String {
    format!(
        r#"{{"time":"{time}","tenantId":"{TENANT}","category":"SignInLogs","operationName":"Sign-in activity","properties":{{"id":"{id}","createdDateTime":"{time}","userPrincipalName":"someone@example.com","appDisplayName":"Office 365"}}}}"#
    )
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    pki: TestPki,
    peer: EntraTokenPeer,
    azurite: Azurite,
}

impl Fixture {
    /// The peer (a secret app and a workload identity app) and Azurite with OAuth, or None
    /// when Azurite is not installed (CI=true fails instead).
    fn start() -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki(dir.path());
        let azurite = Azurite::start_with(AzuriteOptions {
            oauth_tls: Some(pki.clone()),
            accounts: vec![(ACCOUNT.into(), ACCOUNT_KEY.into())],
        })?;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let peer = rt.block_on(EntraTokenPeer::start(
            &pki,
            vec![
                EntraApp {
                    tenant_id: TENANT.into(),
                    client_id: CLIENT.into(),
                    auth: AppAuth::Secret(SECRET.into()),
                },
                EntraApp {
                    tenant_id: TENANT.into(),
                    client_id: WI_CLIENT.into(),
                    auth: AppAuth::Federated {
                        issuer: OIDC_ISSUER.into(),
                        subject: SA_SUBJECT.into(),
                        audience: TOKEN_EXCHANGE_AUDIENCE.into(),
                    },
                },
            ],
        ));
        Some(Fixture {
            rt,
            dir,
            pki,
            peer,
            azurite,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An archive directory of `hours` × `per_hour` records; their ids.
    fn archive_dir(&self, hours: u32, per_hour: u32) -> (PathBuf, Vec<String>) {
        let root = self.path("archive");
        let mut ids = Vec::new();
        for h in 0..hours {
            let dir = root.join(format!(
                "{CONTAINER}/tenantId={TENANT}/y=2024/m=06/d=20/h={h:02}/m=00"
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let mut text = String::new();
            for i in 0..per_hour {
                let id = format!("h{h}-{i}");
                text.push_str(&rec(&format!("2024-06-20T{h:02}:10:00Z"), &id));
                text.push('\n');
                ids.push(id);
            }
            std::fs::write(dir.join("PT1H.json"), text).unwrap();
        }
        (root, ids)
    }

    /// A config whose `[source]` carries `credential` (the AMQP source is never started by
    /// replay or check-sinks) and whose sinks are `sinks`.
    fn config(&self, name: &str, credential: &str, sinks: &str) -> PathBuf {
        let keys = match credential {
            "client_secret" => format!(
                "credential = \"client_secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret_env = \"T_CLIENT_SECRET\"\n"
            ),
            "workload_identity" => format!(
                "credential = \"workload_identity\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{WI_CLIENT}\"\n"
            ),
            other => panic!("{other}"),
        };
        let text = format!(
            "[admin]\nenabled = false\n\n[source]\ntype = \"amqp\"\nnamespace = \"entraarchive-ns.servicebus.windows.net\"\nevent_hub = \"entra-logs\"\n{keys}\n[checkpoint]\ntype = \"file\"\npath = \"{cp}\"\n\n[pipeline]\ncheckpoint_interval = \"100ms\"\n\n{sinks}\n[dead_letter]\npath = \"{dl}\"\n",
            cp = self.path("checkpoints").display(),
            dl = self.path(&format!("{name}-dead.ndjson")).display(),
        );
        let p = self.path(&format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The same keys on a Kafka-endpoint source (`[source] type = "kafka"`, OAUTHBEARER), whose
    /// credential the `azure_blob` sink borrows just as it borrows the AMQP source's.
    fn kafka_config(&self, name: &str, sinks: &str) -> PathBuf {
        let text = format!(
            "[admin]\nenabled = false\n\n[source]\ntype = \"kafka\"\nnamespace = \"entraarchive-ns.servicebus.windows.net\"\ntopic = \"entra-logs\"\ncredential = \"client_secret\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret_env = \"T_CLIENT_SECRET\"\n\n{sinks}\n[dead_letter]\npath = \"{dl}\"\n",
            dl = self.path(&format!("{name}-dead.ndjson")).display(),
        );
        let p = self.path(&format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }

    fn archive_sink(&self) -> String {
        format!(
            "[[sinks]]\nname = \"archive\"\ntype = \"azure_blob\"\naccount_url = \"{}\"\n",
            self.azurite.https_endpoint(ACCOUNT)
        )
    }

    /// `entrastream ARGS` with the environment an operator would set: the authority host,
    /// the CA, the secret (or the federated token file).
    fn run(&self, args: &[&str], secret: &str, extra_env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_entrastream"));
        c.current_dir(self.dir.path())
            .args(args)
            .env("AZURE_AUTHORITY_HOST", self.peer.authority_host())
            .env("SSL_CERT_FILE", &self.pki.ca)
            .env("T_CLIENT_SECRET", secret)
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_FEDERATED_TOKEN_FILE");
        for (k, v) in extra_env {
            c.env(k, v);
        }
        // A token fetched but not sent gets 403s, which the sink retries (the operator may
        // be granting the role right now): the deadline turns that into a failure, not a hang.
        output_within(c, Duration::from_secs(120))
    }

    /// `replay --from ARCHIVE` into the config's `azure_blob` sink succeeds and Azurite then
    /// holds every record of `want` exactly once (read back with Shared Key).
    fn replay_archives_each_once(
        &self,
        config: &Path,
        archive: &Path,
        secret: &str,
        env: &[(&str, &str)],
        want: &[String],
    ) {
        let o = self.run(
            &[
                "replay",
                "--config",
                config.to_str().unwrap(),
                "--from",
                archive.to_str().unwrap(),
            ],
            secret,
            env,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let archived = self.archived_ids();
        assert_eq!(
            archived.keys().cloned().collect::<Vec<_>>(),
            want,
            "every record in Azurite"
        );
        assert!(archived.values().all(|n| *n == 1), "each once");
    }

    /// Every record id in the archive containers, read back with Shared Key (independent of
    /// the token path), with how often each was written.
    fn archived_ids(&self) -> BTreeMap<String, usize> {
        let account = self.azurite.https_account(ACCOUNT, ACCOUNT_KEY);
        let lines = self
            .rt
            .block_on(entrastream_testkit::blob_lines(&account, "insights-logs-"));
        let mut out = BTreeMap::new();
        for (_, line) in lines {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            *out.entry(v["properties"]["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        out
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn ids_in_file(path: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            *out.entry(v["properties"]["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    out
}

/// (a) + (b) + (d) with `credential = "client_secret"`: `check-sinks` passes over the token
/// path; `replay --from <dir>` into the `azure_blob` sink puts every record in Azurite;
/// `replay --from https://…/<container>` reads them all back with the same credential.
#[test]
fn client_secret_archives_replays_and_checks_over_the_token_path() {
    let Some(fx) = Fixture::start() else {
        return;
    };
    let (archive, mut want) = fx.archive_dir(3, 2000);
    want.sort();
    let config = fx.config("write", "client_secret", &fx.archive_sink());
    let config = config.to_str().unwrap();

    // (d) check-sinks: reachable, authenticated, writable, with a token from the peer.
    let o = fx.run(&["check-sinks", "--config", config], SECRET, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PASS archive"), "{}", text(&o));
    assert!(fx.peer.issued() >= 1, "check-sinks asked no token");

    // (a) replay a directory into the azure_blob sink.
    fx.replay_archives_each_once(Path::new(config), &archive, SECRET, &[], &want);
    let requests = fx.peer.requests();
    assert!(
        requests.iter().all(|r| r.status == 200
            && r.proof == "client_secret"
            && r.client_id == CLIENT
            && r.scope == "https://storage.azure.com/.default"),
        "{requests:?}"
    );

    // (b) replay from the container URL with the same credential into a file.
    let out = fx.path("replayed.ndjson");
    let reader = fx.config(
        "read",
        "client_secret",
        &format!(
            "[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n",
            out.display()
        ),
    );
    let from = format!("{}/{CONTAINER}", fx.azurite.https_endpoint(ACCOUNT));
    let o = fx.run(
        &[
            "replay",
            "--config",
            reader.to_str().unwrap(),
            "--from",
            &from,
        ],
        SECRET,
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        ids_in_file(&out).keys().cloned().collect::<Vec<_>>(),
        want,
        "every record read back over the token path"
    );
}

/// A Kafka-endpoint source's Entra credential is lent to the `azure_blob` sink too (before,
/// only an AMQP source's was, and `check-sinks` failed for want of a credential).
#[test]
fn a_kafka_source_lends_its_entra_credential_to_the_archive_sink() {
    let Some(fx) = Fixture::start() else {
        return;
    };
    let (archive, mut want) = fx.archive_dir(2, 500);
    want.sort();
    let config = fx.kafka_config("kafka", &fx.archive_sink());
    let config = config.to_str().unwrap();
    let o = fx.run(&["check-sinks", "--config", config], SECRET, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PASS archive"), "{}", text(&o));
    fx.replay_archives_each_once(Path::new(config), &archive, SECRET, &[], &want);
    let requests = fx.peer.requests();
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| r.status == 200
                && r.proof == "client_secret"
                && r.scope == "https://storage.azure.com/.default"),
        "{requests:?}"
    );
}

/// (c) A wrong client secret: `replay` into the sink and from the URL, and `check-sinks`,
/// fail naming what to check (the AADSTS code, the credential keys), the secret in no output,
/// and nothing is written.
#[test]
fn a_wrong_client_secret_fails_with_what_to_check_and_never_shows_the_secret() {
    let Some(fx) = Fixture::start() else {
        return;
    };
    let (archive, _) = fx.archive_dir(1, 50);
    let config = fx.config("write", "client_secret", &fx.archive_sink());
    let config = config.to_str().unwrap();
    let check = |o: &Output, what: &str| {
        let t = text(o);
        assert_ne!(o.status.code(), Some(0), "{what} succeeded: {t}");
        assert!(t.contains("AADSTS7000215"), "{what}: {t}");
        assert!(
            t.contains("client_secret") || t.contains("client secret"),
            "{what} names the key to check: {t}"
        );
        assert!(
            !t.contains(WRONG_SECRET) && !t.contains(SECRET),
            "{what} shows a secret: {t}"
        );
    };

    let o = fx.run(&["check-sinks", "--config", config], WRONG_SECRET, &[]);
    check(&o, "check-sinks");
    assert!(text(&o).contains("FAIL archive"), "{}", text(&o));

    let o = fx.run(
        &[
            "replay",
            "--config",
            config,
            "--from",
            archive.to_str().unwrap(),
        ],
        WRONG_SECRET,
        &[],
    );
    check(&o, "replay into azure_blob");
    assert!(fx.archived_ids().is_empty(), "nothing written");

    let from = format!("{}/{CONTAINER}", fx.azurite.https_endpoint(ACCOUNT));
    let o = fx.run(
        &["replay", "--config", config, "--from", &from],
        WRONG_SECRET,
        &[],
    );
    check(&o, "replay --from https://");
    let refused = fx.peer.requests();
    assert!(
        !refused.is_empty() && refused.iter().all(|r| r.aadsts == 7000215),
        "{refused:?}"
    );
    for body in fx.peer.bodies() {
        assert!(
            body.contains("client_secret="),
            "the secret went to the peer"
        );
    }
}

/// (a) with `credential = "workload_identity"`: the federated token file the kubelet would
/// project is sent as a client assertion; the peer checks issuer, subject and audience.
#[test]
fn workload_identity_archives_over_the_token_path() {
    let Some(fx) = Fixture::start() else {
        return;
    };
    let (archive, mut want) = fx.archive_dir(2, 500);
    want.sort();
    let token_file = fx.path("sa-token");
    std::fs::write(
        &token_file,
        federated_token(OIDC_ISSUER, SA_SUBJECT, TOKEN_EXCHANGE_AUDIENCE, 3600),
    )
    .unwrap();
    let config = fx.config("wi", "workload_identity", &fx.archive_sink());
    let token_env = [("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap())];
    fx.replay_archives_each_once(&config, &archive, "", &token_env, &want);
    let requests = fx.peer.requests();
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| r.status == 200
                && r.proof == "client_assertion"
                && r.client_id == WI_CLIENT),
        "{requests:?}"
    );

    // A token file for another service account: refused by the peer (AADSTS700213), so the
    // replay fails and says so.
    std::fs::write(
        &token_file,
        federated_token(
            OIDC_ISSUER,
            "system:serviceaccount:default:other",
            TOKEN_EXCHANGE_AUDIENCE,
            3600,
        ),
    )
    .unwrap();
    let o = fx.run(
        &[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--from",
            archive.to_str().unwrap(),
            "--state",
            fx.path("second-state.json").to_str().unwrap(),
        ],
        "",
        &[("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap())],
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("AADSTS700213"), "{}", text(&o));
}
