//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`), as a real Blob peer: started on
//! a free loopback port with its data in a temp dir, killed on drop. With feature `blob`, the
//! reads and writes tests do on it (an account, an append blob uploaded as Azure's export
//! writes it, a blob read back, every line of every archive container), through the same
//! signed client as the daemon (`entrastream-blob-client`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{TestPki, find_tool, free_port, peer_missing, wait_listening};

/// Azurite's published development key (not a secret).
pub const AZURITE_DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service; killed on drop.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    /// The blob port.
    pub port: u16,
    /// The PKI Azurite serves HTTPS with (`--oauth basic` needs HTTPS), None for plain HTTP.
    tls: Option<TestPki>,
    _dir: tempfile::TempDir,
}

/// How [`Azurite::start_with`] runs Azurite.
#[derive(Debug, Default, Clone)]
pub struct AzuriteOptions {
    /// Serve HTTPS with this PKI's server certificate and check bearer tokens with
    /// `--oauth basic`: Azurite then accepts a token whose `iss` starts with
    /// `https://sts.windows.net/`, whose `aud` is `https://storage.azure.com` (or the
    /// account's blob URL) and that is within `nbf`..`exp`; it does not check the signature
    /// (Azurite 3.35 `BlobTokenAuthenticator.authenticateBasic`). Shared Key still works.
    pub oauth_tls: Option<TestPki>,
    /// Extra accounts, `(name, base64 key)`, through `AZURITE_ACCOUNTS` (a name other than
    /// `devstoreaccount1` keeps clients from falling back to the published development key).
    pub accounts: Vec<(String, String)>,
}

impl Azurite {
    /// Starts Azurite, or returns None (after [`peer_missing`]) when it is not installed.
    pub fn start() -> Option<Azurite> {
        Azurite::start_with(AzuriteOptions::default())
    }

    /// [`Azurite::start`] with options: HTTPS and OAuth, extra accounts.
    pub fn start_with(opts: AzuriteOptions) -> Option<Azurite> {
        let Some(bin) = find_tool("azurite-blob") else {
            peer_missing("azurite-blob (npm install -g azurite)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose", "--silent"]);
        if let Some(pki) = &opts.oauth_tls {
            cmd.args(["--oauth", "basic", "--cert"])
                .arg(&pki.server_cert)
                .arg("--key")
                .arg(&pki.server_key);
        }
        if !opts.accounts.is_empty() {
            let list: Vec<String> = opts
                .accounts
                .iter()
                .map(|(name, key)| format!("{name}:{key}"))
                .collect();
            cmd.env("AZURITE_ACCOUNTS", list.join(";"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let mut azurite = Azurite {
            child,
            port,
            tls: opts.oauth_tls,
            _dir: dir,
        };
        wait_listening(
            "azurite-blob",
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(60),
            Some(&mut azurite.child),
        );
        Some(azurite)
    }

    /// The explicit Azurite connection string (BlobEndpoint form).
    pub fn connection_string(&self) -> String {
        azurite_connection_string(self.port, AZURITE_DEV_KEY)
    }

    /// Azurite's process id (benchmarks count its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The account's blob endpoint, `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// `https://127.0.0.1:PORT/<account>` (started with [`AzuriteOptions::oauth_tls`]).
    pub fn https_endpoint(&self, account: &str) -> String {
        format!("https://127.0.0.1:{}/{account}", self.port)
    }

    /// `account` over HTTPS, Shared Key signed with `key`, trusting the test CA: what a test
    /// reads back with, independent of the token path under test.
    #[cfg(feature = "blob")]
    pub fn https_account(&self, account: &str, key: &str) -> entrastream_blob_client::Account {
        let pki = self.tls.as_ref().expect("Azurite started with oauth_tls");
        let ca = std::fs::read(&pki.ca).expect("read the test CA");
        let cs = format!(
            "DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};BlobEndpoint={}",
            self.https_endpoint(account)
        );
        let cs = entrastream_blob_client::parse_connection_string(&cs).expect("connection string");
        entrastream_blob_client::Account::with_ca(
            &cs.blob_endpoint,
            cs.auth,
            Duration::from_secs(30),
            &ca,
        )
        .expect("account over HTTPS")
    }

    /// The devstoreaccount1 account, Shared Key signed, 30 s per request.
    #[cfg(feature = "blob")]
    pub fn account(&self) -> entrastream_blob_client::Account {
        entrastream_blob_client::Account::from_connection_string(
            &self.connection_string(),
            Duration::from_secs(30),
        )
        .expect("Azurite's connection string")
    }
}

/// A devstoreaccount1 connection string for a blob endpoint on loopback `port` with `key`: a
/// proxy or a failing peer in front of Azurite, or a wrong key.
pub fn azurite_connection_string(port: u16, key: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};\
         BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
}

#[cfg(feature = "blob")]
pub use self::blob::{blob_lines, containers, get_blob, put_append_blob};

#[cfg(feature = "blob")]
mod blob {
    use bytes::Bytes;
    use entrastream_blob_client::{Account, MAX_APPEND_BLOCK_BYTES, Method, Request};

    async fn send(
        account: &Account,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> entrastream_blob_client::Reply {
        account
            .send(Request {
                op,
                method,
                path,
                query,
                headers,
                body,
            })
            .await
            .unwrap_or_else(|e| panic!("{op} {path}: {e}"))
    }

    /// Writes `bytes` to `container/blob name` as an append blob, in blocks of at most 4 MiB
    /// (as Azure's export writes `PT1H.json`); creates the container if needed and replaces
    /// a blob of that name.
    pub async fn put_append_blob(account: &Account, path: &str, bytes: &[u8]) {
        let container = path.split('/').next().unwrap_or(path);
        let r = send(
            account,
            "create container",
            Method::PUT,
            container,
            &[("restype", "container")],
            Vec::new(),
            Bytes::new(),
        )
        .await;
        assert!(
            r.status == 201 || r.code == "ContainerAlreadyExists",
            "create container {container}: {} {}",
            r.status,
            r.code
        );
        let r = send(
            account,
            "create append blob",
            Method::PUT,
            path,
            &[],
            vec![("x-ms-blob-type".into(), "AppendBlob".into())],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 201, "create append blob {path}: {}", r.code);
        for block in bytes.chunks(MAX_APPEND_BLOCK_BYTES) {
            let r = send(
                account,
                "append block",
                Method::PUT,
                path,
                &[("comp", "appendblock")],
                Vec::new(),
                Bytes::copy_from_slice(block),
            )
            .await;
            assert_eq!(r.status, 201, "append block {path}: {}", r.code);
        }
    }

    /// The bytes of `container/blob name`, None when it does not exist.
    pub async fn get_blob(account: &Account, path: &str) -> Option<Vec<u8>> {
        let r = send(
            account,
            "get blob",
            Method::GET,
            path,
            &[],
            Vec::new(),
            Bytes::new(),
        )
        .await;
        match r.status {
            200 => Some(r.body.to_vec()),
            404 => None,
            s => panic!("get blob {path}: {s} {}", r.code),
        }
    }

    /// The account's containers whose names start with `prefix` (one List Containers page:
    /// enough for a test's few containers).
    pub async fn containers(account: &Account, prefix: &str) -> Vec<String> {
        let r = send(
            account,
            "list containers",
            Method::GET,
            "",
            &[("comp", "list"), ("prefix", prefix)],
            Vec::new(),
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 200, "list containers: {}", r.code);
        let listing = String::from_utf8_lossy(&r.body).into_owned();
        listing
            .split("<Name>")
            .skip(1)
            .filter_map(|s| s.split_once("</Name>").map(|(n, _)| n.to_owned()))
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// Every line of every blob in the containers whose names start with `container_prefix`
    /// (e.g. `insights-logs-`), with the blob's `container/name`, in listing order.
    pub async fn blob_lines(account: &Account, container_prefix: &str) -> Vec<(String, String)> {
        let containers = containers(account, container_prefix).await;
        let mut out = Vec::new();
        for c in containers {
            let blobs = match account.list_blobs(&c, "").await {
                Ok(Ok(blobs)) => blobs,
                Ok(Err(r)) => panic!("list blobs of {c}: {} {}", r.status, r.code),
                Err(e) => panic!("list blobs of {c}: {e}"),
            };
            for b in blobs {
                let path = format!("{c}/{}", b.name);
                let body = get_blob(account, &path)
                    .await
                    .unwrap_or_else(|| panic!("{path} listed but gone"));
                for line in String::from_utf8_lossy(&body).lines() {
                    out.push((path.clone(), line.to_owned()));
                }
            }
        }
        out
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
