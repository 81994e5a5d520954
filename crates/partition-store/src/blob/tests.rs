use super::*;

const KEY: &str = "c2VjcmV0LWtleS1ieXRlcy1TRUNSRVQta2V5LWJ5dGVz"; // base64 of a fake key
const SIG: &str = "SIGNATURE-SECRET-abc123";

#[test]
fn debug_and_describe_never_show_secrets() {
    let shared = BlobStore::from_connection_string(
        "ckpt",
        &format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY}"),
    )
    .unwrap();
    let sas = BlobStore::with_sas(&format!(
        "https://acct.blob.core.windows.net/ckpt?sv=2021-08-06&sp=racwl&sig={SIG}"
    ))
    .unwrap();
    let sas_cs = BlobStore::from_connection_string(
        "ckpt",
        &format!(
            "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=1&sig={SIG}"
        ),
    )
    .unwrap();
    for store in [&shared, &sas, &sas_cs] {
        let shown = format!("{store:?} {:#?} {}", store, store.describe());
        assert!(!shown.contains(KEY) && !shown.contains(SIG), "{shown}");
        assert!(
            shown.contains("https://acct.blob.core.windows.net/ckpt"),
            "{shown}"
        );
    }
    assert_eq!(shared.describe()["auth"], "shared_key");
    assert_eq!(sas.describe()["auth"], "sas");
}

#[tokio::test]
async fn transport_errors_carry_no_sas() {
    // A loopback port nobody listens on.
    let port = entrastream_testkit::free_port();
    let store =
        BlobStore::with_sas(&format!("http://127.0.0.1:{port}/acct/ckpt?sv=1&sig={SIG}")).unwrap();
    let hub = HubKey::new("ns.servicebus.windows.net", "hub", "$Default");
    let err = store.list_ownership(&hub).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SIG), "{shown}");
    assert!(err.is_retryable());
    assert!(shown.contains("cannot reach blob storage"), "{shown}");
    let err = store.check_access().await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SIG));
}

#[test]
fn container_urls_and_names() {
    assert!(BlobStore::with_sas("https://acct.blob.core.windows.net/ckpt?sv=1").is_err());
    let e =
        BlobStore::from_connection_string("Bad_Name", "UseDevelopmentStorage=true").unwrap_err();
    assert!(e.to_string().contains("container name"), "{e}");
    let e = BlobStore::from_connection_string(
        &format!("https://acct.blob.core.windows.net/ckpt?sig={SIG}"),
        "UseDevelopmentStorage=true",
    )
    .unwrap_err();
    assert!(!e.to_string().contains(SIG));
    let s = BlobStore::from_connection_string("ckpt", "UseDevelopmentStorage=true").unwrap();
    assert_eq!(
        s.container.as_str(),
        "http://127.0.0.1:10000/devstoreaccount1/ckpt"
    );
}

#[test]
fn etags_compare_in_one_form() {
    assert_eq!(normalize_etag("0x8D1"), "\"0x8D1\"");
    assert_eq!(normalize_etag("\"0x8D1\""), "\"0x8D1\"");
    assert_eq!(
        child_name("a/ownership/", "a/ownership/12").as_deref(),
        Some("12")
    );
    assert_eq!(child_name("a/ownership/", "a/ownership/1/x"), None);
    assert_eq!(
        meta(&[("OwnerId".into(), "x".into())], "ownerid"),
        Some("x")
    );
}

#[test]
fn error_messages_name_the_fix() {
    let store = BlobStore::from_connection_string("ckpt", "UseDevelopmentStorage=true").unwrap();
    let reply = |status, code: &str| Reply {
        status,
        code: code.into(),
        etag: None,
        last_modified: None,
        body: String::new(),
    };
    let e = store
        .fail("list ownership", "", &reply(404, "ContainerNotFound"))
        .to_string();
    assert!(e.contains("create the container"), "{e}");
    let e = store
        .fail("claim", "b", &reply(403, "AuthorizationPermissionMismatch"))
        .to_string();
    assert!(e.contains("Storage Blob Data Contributor"), "{e}");
    let e = store
        .fail("claim", "b", &reply(403, "AuthenticationFailed"))
        .to_string();
    assert!(e.contains("check the account key"), "{e}");
    let e = store.fail("claim", "b", &reply(503, "ServerBusy"));
    assert!(e.is_retryable() && e.to_string().contains("throttling"));
}

/// A credential that counts its calls and records the scopes asked for.
#[derive(Debug, Default)]
struct FakeCredential {
    calls: std::sync::atomic::AtomicUsize,
    scopes: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(azure_core::credentials::AccessToken::new(
            "TOKEN-SECRET-xyz",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

/// A one-shot-per-connection HTTP peer answering every request with an empty listing and
/// handing the request heads to the test.
async fn listing_peer() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut head = String::new();
                while !head.contains("\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    head.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                let _ = tx.send(head);
                let body = "<?xml version=\"1.0\"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn token_credential_sends_a_cached_bearer_for_the_storage_scope() {
    let (port, mut heads) = listing_peer().await;
    let cred = Arc::new(FakeCredential::default());
    let store = BlobStore::with_token_credential(
        &format!("http://127.0.0.1:{port}/acct/ckpt"),
        cred.clone(),
    )
    .unwrap();
    let hub = HubKey::new("ns.servicebus.windows.net", "hub", "$Default");
    assert!(store.list_ownership(&hub).await.unwrap().is_empty());
    assert!(store.list_checkpoints(&hub).await.unwrap().is_empty());
    assert_eq!(cred.calls.load(Ordering::SeqCst), 1, "token cached");
    assert_eq!(
        *cred.scopes.lock().unwrap(),
        vec!["https://storage.azure.com/.default"]
    );
    for _ in 0..2 {
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(
            head.contains("authorization: bearer token-secret-xyz"),
            "{head}"
        );
        assert!(head.contains("x-ms-version: 2021-08-06"), "{head}");
        // Lower-cased hub names, `$` escaped in the query.
        assert!(
            head.contains("prefix=ns.servicebus.windows.net%2fhub%2f%24default%2f"),
            "{head}"
        );
    }
    let shown = format!("{store:?} {}", store.describe());
    assert!(!shown.contains("TOKEN-SECRET"), "{shown}");
    assert_eq!(store.describe()["auth"], "token_credential");
}

/// A storage endpoint that accepts connections and never answers: the call ends at the request
/// timeout with a retryable error that names the operation, the container and the timeout
/// (before the shared account it was a bare "cannot reach" transport error), never the SAS.
#[tokio::test]
async fn a_silent_endpoint_is_a_retryable_timeout_naming_the_operation() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let (container, _) =
        parse_container_url(&format!("http://127.0.0.1:{port}/acct/ckpt"), false).unwrap();
    let (endpoint, container_name) = split_container_url(&container).unwrap();
    assert_eq!(
        (endpoint.as_str(), container_name.as_str()),
        (format!("http://127.0.0.1:{port}/acct").as_str(), "ckpt")
    );
    let store = BlobStore {
        account: Account::new(
            &endpoint,
            Auth::sas(format!("sv=1&sig={SIG}")),
            Duration::from_millis(300),
        )
        .unwrap(),
        container,
        container_name,
        lowercase: true,
        counters: Counters::default(),
    };
    let hub = HubKey::new("ns.servicebus.windows.net", "hub", "$Default");
    let err = store.list_ownership(&hub).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Timeout { .. }), "{shown}");
    assert!(err.is_retryable());
    assert!(
        shown.contains("did not answer list ownership within 300ms"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("127.0.0.1:{port}/acct/ckpt")),
        "{shown}"
    );
    assert!(!shown.contains(SIG), "{shown}");
    held.abort();
}
