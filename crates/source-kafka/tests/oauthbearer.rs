//! SASL OAUTHBEARER end to end through librdkafka: a consumer with the source's
//! [`OAuthContext`] authenticates to a minimal Kafka peer that speaks only ApiVersions,
//! SaslHandshake and SaslAuthenticate (no local broker does OAUTHBEARER: nisshi 0.8.1 enables SCRAM only). The
//! peer records the SASL client message; the test checks that librdkafka asked our token
//! source, accepted its token (lifetime, principal) and sent exactly that token, and that the
//! token was requested for the namespace's scope.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use entrastream_source_kafka::auth::{OAuthContext, TokenSource};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;

const SASL_HANDSHAKE: i16 = 17;
const API_VERSIONS: i16 = 18;
const SASL_AUTHENTICATE: i16 = 36;

/// A credential that hands out one fixed token and records the scopes asked for.
#[derive(Debug)]
struct FixedToken {
    token: String,
    scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(AccessToken::new(
            self.token.clone(),
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn write_frame(s: &mut TcpStream, correlation: i32, body: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&((4 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&correlation.to_be_bytes());
    out.extend_from_slice(body);
    s.write_all(&out)
}

/// One client connection: answers ApiVersions (v3: only the SASL requests), SaslHandshake
/// (offering OAUTHBEARER) and SaslAuthenticate (success), sends each SASL client message to
/// `seen`, and closes on anything else.
fn serve(mut s: TcpStream, seen: mpsc::Sender<Vec<u8>>) {
    while let Some(req) = read_frame(&mut s) {
        if req.len() < 10 {
            return;
        }
        let api_key = i16::from_be_bytes([req[0], req[1]]);
        let version = i16::from_be_bytes([req[2], req[3]]);
        let correlation = i32::from_be_bytes([req[4], req[5], req[6], req[7]]);
        let client_id_len = i16::from_be_bytes([req[8], req[9]]).max(0) as usize;
        let body = &req[(10 + client_id_len).min(req.len())..];
        let answer = match api_key {
            API_VERSIONS => {
                // v3 is flexible: compact array (length + 1), tagged fields; the response
                // header stays v0 for ApiVersions.
                let keys: [(i16, i16, i16); 3] = [
                    (API_VERSIONS, 0, 3),
                    (SASL_HANDSHAKE, 0, 1),
                    (SASL_AUTHENTICATE, 0, 1),
                ];
                let mut b = 0i16.to_be_bytes().to_vec();
                b.push(keys.len() as u8 + 1);
                for (key, min, max) in keys {
                    b.extend_from_slice(&key.to_be_bytes());
                    b.extend_from_slice(&min.to_be_bytes());
                    b.extend_from_slice(&max.to_be_bytes());
                    b.push(0);
                }
                b.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
                b.push(0);
                if version < 3 {
                    // Non-flexible versions: int32 array length, no tagged fields.
                    let mut v = 0i16.to_be_bytes().to_vec();
                    v.extend_from_slice(&(keys.len() as i32).to_be_bytes());
                    for (key, min, max) in keys {
                        v.extend_from_slice(&key.to_be_bytes());
                        v.extend_from_slice(&min.to_be_bytes());
                        v.extend_from_slice(&max.to_be_bytes());
                    }
                    if version >= 1 {
                        v.extend_from_slice(&0i32.to_be_bytes());
                    }
                    v
                } else {
                    b
                }
            }
            SASL_HANDSHAKE => {
                let mut b = 0i16.to_be_bytes().to_vec();
                b.extend_from_slice(&1i32.to_be_bytes());
                b.extend_from_slice(&11i16.to_be_bytes());
                b.extend_from_slice(b"OAUTHBEARER");
                b
            }
            SASL_AUTHENTICATE => {
                if body.len() >= 4 {
                    let n = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
                    let _ = seen.send(body[4..(4 + n).min(body.len())].to_vec());
                }
                let mut b = 0i16.to_be_bytes().to_vec(); // error_code
                b.extend_from_slice(&(-1i16).to_be_bytes()); // error_message: null
                b.extend_from_slice(&0i32.to_be_bytes()); // auth_bytes: empty
                if version >= 1 {
                    b.extend_from_slice(&0i64.to_be_bytes()); // session_lifetime_ms
                }
                b
            }
            _ => return,
        };
        if write_frame(&mut s, correlation, &answer).is_err() {
            return;
        }
    }
}

#[test]
fn librdkafka_sends_the_entra_token_in_the_oauthbearer_exchange() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let seen = seen_tx.clone();
            std::thread::spawn(move || serve(s, seen));
        }
    });

    // A JWT-shaped token whose payload names the object id librdkafka logs as the principal.
    let token = format!(
        "eyJhbGciOiJub25lIn0.{}.c2ln",
        azure_core::base64::encode_url_safe(r#"{"oid":"11111111-2222-3333-4444-555555555555"}"#)
    );
    let credential = Arc::new(FixedToken {
        token: token.clone(),
        scopes: Mutex::new(Vec::new()),
    });
    let source = TokenSource::with_credential(
        credential.clone(),
        "workload_identity",
        "https://contoso.servicebus.windows.net/.default",
        Vec::new(),
        Duration::from_secs(5),
    )
    .unwrap();
    let consumer: BaseConsumer<OAuthContext> = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("group.id", "oauth-test")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "OAUTHBEARER")
        .create_with_context(OAuthContext::with_source(source))
        .unwrap();

    // The token refresh librdkafka queued at creation is served by polling, as the source's
    // poll thread does.
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        OAuthContext::prime(&consumer);
        if let Ok(m) = seen.recv_timeout(Duration::from_millis(100)) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no SASL OAUTHBEARER message reached the peer"
        );
    };
    // RFC 7628 client first message: GS2 header, then auth=Bearer TOKEN, between 0x01s.
    assert_eq!(
        String::from_utf8(message).unwrap(),
        format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}")
    );
    assert_eq!(
        credential.scopes.lock().unwrap()[0],
        "https://contoso.servicebus.windows.net/.default"
    );
}
