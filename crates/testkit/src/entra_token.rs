//! A protocol-level peer of the Microsoft identity platform's token endpoint, for the
//! client credentials grant only: what `azure_identity`'s `ClientSecretCredential` and
//! `WorkloadIdentityCredential` (a client assertion read from a federated token file) send.
//! Served over HTTPS (the SDK refuses an `http://` authority host) with a [`TestPki`]
//! certificate; point the SDK at it with `AZURE_AUTHORITY_HOST=`[`EntraTokenPeer::authority_host`]
//! and make the test CA trusted with `SSL_CERT_FILE`.
//!
//! Each behaviour follows a Microsoft page (cited where it is implemented):
//! - [CC] "Microsoft identity platform and the OAuth 2.0 client credentials flow",
//!   <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>:
//!   `POST /{tenant}/oauth2/v2.0/token`, form parameters `client_id`, `scope` (a resource's
//!   `/.default`), `grant_type=client_credentials`, and `client_secret` or `client_assertion` +
//!   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`; the success
//!   body `{token_type: "Bearer", expires_in, ext_expires_in, access_token}`; the error body
//!   `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`.
//! - [ERR] "Microsoft Entra authentication and authorization error codes",
//!   <https://learn.microsoft.com/entra/identity-platform/reference-error-codes>, with the
//!   Azure SDK's troubleshooting table
//!   <https://learn.microsoft.com/azure/developer/java/sdk/troubleshooting-authentication-service-principal>:
//!   AADSTS7000215 (invalid client secret), AADSTS700016 (application not found in the
//!   directory), AADSTS90002 (tenant not found), AADSTS7000218 (neither `client_assertion` nor
//!   `client_secret`), AADSTS70011 / AADSTS1002012 (scope), AADSTS500011 (resource not found),
//!   AADSTS700211 / AADSTS700213 (no federated identity credential matches the assertion's
//!   issuer / subject), AADSTS700024 (assertion outside its valid time range).
//!   `invalid_client` is answered 401, the others 400 (RFC 6749 section 5.2, as the service does).
//! - [AT] "Access token claims reference",
//!   <https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>: a v1.0
//!   access token (what Azure Storage's resource gets) has `iss =
//!   https://sts.windows.net/{tenant}/`, `aud` = the resource, `iat`/`nbf`/`exp`, `appid`,
//!   `appidacr` (1 secret, 2 certificate or assertion), `idtyp = app`, `oid`, `sub`, `tid`,
//!   `ver = 1.0`.
//! - [WIF] "Workload identity federation",
//!   <https://learn.microsoft.com/entra/workload-id/workload-identity-federation>: a federated
//!   identity credential is (issuer, subject, audience, default audience
//!   `api://AzureADTokenExchange`); the external token's `iss`, `sub` and `aud` must match it.
//!
//! What it does not do (test-only): tokens are signed HS256 with a key of the peer's own, not
//! RS256 with Entra's published keys, and a client assertion's signature is not checked (Entra
//! fetches the issuer's OIDC keys). Azurite's `--oauth basic` does not check signatures either.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TestPki;

/// The assertion type workload identity sends [CC].
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The default audience of a federated identity credential [WIF].
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Token lifetime the peer issues (Entra's are 60-90 minutes).
const LIFETIME_SECS: u64 = 3599;

/// How an app registration proves itself.
#[derive(Debug, Clone)]
pub enum AppAuth {
    /// A client secret (the value, not its id).
    Secret(String),
    /// A federated identity credential: the external token's `iss`, `sub` and `aud` must
    /// match [WIF].
    Federated {
        issuer: String,
        subject: String,
        audience: String,
    },
}

/// An app registration (service principal) in a tenant.
#[derive(Debug, Clone)]
pub struct EntraApp {
    pub tenant_id: String,
    pub client_id: String,
    pub auth: AppAuth,
}

/// One answered token request (for assertions: which grant, which outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub tenant: String,
    pub client_id: String,
    /// `client_secret` or `client_assertion`.
    pub proof: &'static str,
    pub scope: String,
    /// 200, 400 or 401.
    pub status: u16,
    /// The AADSTS number of a refusal, 0 on success.
    pub aadsts: u32,
}

#[derive(Default)]
struct State {
    apps: Vec<EntraApp>,
    requests: Vec<TokenRequest>,
    /// Every request body as received (a test checks what crossed the wire).
    bodies: Vec<String>,
}

/// The token endpoint peer; stops with the runtime that started it.
pub struct EntraTokenPeer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for EntraTokenPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraTokenPeer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EntraTokenPeer {
    /// Serves `apps` over HTTPS on a loopback port with `pki`'s server certificate.
    pub async fn start(pki: &TestPki, apps: Vec<EntraApp>) -> EntraTokenPeer {
        let certs = CertificateDer::pem_file_iter(&pki.server_cert)
            .expect("server certificate PEM")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(&pki.server_key).expect("server key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State {
            apps,
            ..State::default()
        }));
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, s) = (acceptor.clone(), s.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(handle(&s, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        EntraTokenPeer { addr, state }
    }

    /// `https://127.0.0.1:PORT`: the value for `AZURE_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Every token request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 200).count()
    }

    /// Every request body as received.
    pub fn bodies(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bodies
            .clone()
    }
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.bodies.push(String::from_utf8_lossy(&body).into_owned());
    let (status, reply, record) = answer(&st.apps, &parts.method, &path, &form);
    if let Some(r) = record {
        st.requests.push(r);
    }
    drop(st);
    let mut resp = Response::new(Full::new(Bytes::from(reply.to_string())));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The error body [CC] with its AADSTS code [ERR].
fn error(status: u16, error: &str, code: u32, message: &str) -> (u16, Value) {
    let trace = format!("{:08x}-0000-4000-8000-{:012x}", now() as u32, code);
    let stamp = now();
    (
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp.to_string(),
            "trace_id": trace,
            "correlation_id": trace,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// AADSTS7000215: the secret is wrong, or a federated app sent one. The message names the app,
/// never the secret [ERR].
fn wrong_client_secret(client_id: &str) -> (u16, Value) {
    error(
        401,
        "invalid_client",
        7000215,
        &format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
        ),
    )
}

type Answer = (u16, Value, Option<TokenRequest>);

fn answer(
    apps: &[EntraApp],
    method: &hyper::Method,
    path: &str,
    form: &HashMap<String, String>,
) -> Answer {
    let no_record = |(s, v): (u16, Value)| (s, v, None);
    // The path is /{tenant}/oauth2/v2.0/token [CC].
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [_, "oauth2", "v2.0", "token"] = segments.as_slice() else {
        return no_record(error(
            404,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests to /{tenant}/oauth2/v2.0/token.",
        ));
    };
    if method != hyper::Method::POST {
        return no_record(error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        ));
    }
    let tenant = segments[0].to_string();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let client_id = get("client_id").to_string();
    let scope = get("scope").to_string();
    let proof = if form.contains_key("client_assertion") {
        "client_assertion"
    } else {
        "client_secret"
    };
    let record = |status: u16, aadsts: u32| TokenRequest {
        tenant: tenant.clone(),
        client_id: client_id.clone(),
        proof,
        scope: scope.clone(),
        status,
        aadsts,
    };
    let refuse = |(status, body): (u16, Value)| {
        let code = body["error_codes"][0].as_u64().unwrap_or(0) as u32;
        (status, body, Some(record(status, code)))
    };
    if get("grant_type") != "client_credentials" {
        return refuse(error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ));
    }
    if !apps.iter().any(|a| a.tenant_id == tenant) {
        return refuse(error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let Some(app) = apps
        .iter()
        .find(|a| a.tenant_id == tenant && a.client_id == client_id)
    else {
        return refuse(error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    // Client credentials take exactly one `{resource}/.default` scope [CC].
    let Some(resource) = scope.strip_suffix("/.default").filter(|r| !r.contains(' ')) else {
        return refuse(error(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    if !known_resource(resource) {
        return refuse(error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}."
            ),
        ));
    }
    let appidacr = match (&app.auth, proof) {
        (AppAuth::Secret(want), "client_secret") => {
            if !form.contains_key("client_secret") {
                return refuse(error(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            if get("client_secret") != want {
                // The message names the app, never the secret [ERR].
                return refuse(wrong_client_secret(&client_id));
            }
            "1"
        }
        (
            AppAuth::Federated {
                issuer,
                subject,
                audience,
            },
            "client_assertion",
        ) => {
            if get("client_assertion_type") != JWT_BEARER {
                return refuse(error(
                    400,
                    "invalid_request",
                    90014,
                    "The request body must contain the following parameter: 'client_assertion_type'.",
                ));
            }
            let claims = jwt_claims(get("client_assertion")).unwrap_or(Value::Null);
            if claims["iss"].as_str() != Some(issuer) {
                return refuse(error(
                    401,
                    "invalid_client",
                    700211,
                    &format!(
                        "No matching federated identity record found for presented assertion issuer '{}'.",
                        claims["iss"].as_str().unwrap_or("")
                    ),
                ));
            }
            if claims["sub"].as_str() != Some(subject) {
                return refuse(error(
                    401,
                    "invalid_client",
                    700213,
                    &format!(
                        "No matching federated identity record found for presented assertion subject '{}'.",
                        claims["sub"].as_str().unwrap_or("")
                    ),
                ));
            }
            let aud_ok = match &claims["aud"] {
                Value::String(a) => a == audience,
                Value::Array(v) => v.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !aud_ok {
                return refuse(error(
                    401,
                    "invalid_client",
                    700212,
                    &format!(
                        "No matching federated identity record found for presented assertion audience '{}'.",
                        claims["aud"]
                    ),
                ));
            }
            let t = now();
            let exp = claims["exp"].as_u64().unwrap_or(0);
            let nbf = claims["nbf"].as_u64().unwrap_or(0);
            if t >= exp || t + 300 < nbf {
                return refuse(error(
                    401,
                    "invalid_client",
                    700024,
                    "Client assertion is not within its valid time range.",
                ));
            }
            "2"
        }
        // A secret app sent an assertion or the reverse: the credential does not match [ERR].
        (AppAuth::Secret(_), _) => {
            return refuse(error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ));
        }
        (AppAuth::Federated { .. }, _) => {
            return refuse(wrong_client_secret(&client_id));
        }
    };
    let t = now();
    let token = sign_jwt(&json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": t,
        "nbf": t,
        "exp": t + LIFETIME_SECS,
        "appid": client_id,
        "appidacr": appidacr,
        "idtyp": "app",
        "oid": client_id,
        "sub": client_id,
        "tid": tenant,
        "ver": "1.0",
    }));
    (
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": LIFETIME_SECS,
            "ext_expires_in": LIFETIME_SECS,
            "access_token": token,
        }),
        Some(record(200, 0)),
    )
}

/// Storage and Event Hubs, the resources entrastream asks tokens for.
fn known_resource(resource: &str) -> bool {
    let r = resource.trim_end_matches('/');
    r == "https://storage.azure.com"
        || r == "https://eventhubs.azure.net"
        || (r.starts_with("https://")
            && (r.ends_with(".blob.core.windows.net") || r.ends_with(".servicebus.windows.net")))
}

const PEER_KEY: &[u8] = b"entrastream test token peer (not a secret)";

/// A compact JWS (HS256 with the peer's own key; see the module doc).
fn sign_jwt(claims: &Value) -> String {
    let head = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = B64URL.encode(claims.to_string());
    let signing_input = format!("{head}.{body}");
    let mut mac = Hmac::<Sha256>::new_from_slice(PEER_KEY).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let sig = B64URL.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// The claims of a compact JWT (signature not checked), None when it is not one.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, body, _) = (parts.next()?, parts.next()?, parts.next()?);
    serde_json::from_slice(&B64URL.decode(body).ok()?).ok()
}

/// A service account token as the kubelet projects it for workload identity (the file
/// `AZURE_FEDERATED_TOKEN_FILE` names): `iss` the cluster's OIDC issuer, `sub`
/// `system:serviceaccount:<namespace>:<name>`, `aud` [`TOKEN_EXCHANGE_AUDIENCE`], valid for
/// `lifetime_secs`.
pub fn federated_token(issuer: &str, subject: &str, audience: &str, lifetime_secs: u64) -> String {
    let t = now();
    sign_jwt(&json!({
        "iss": issuer,
        "sub": subject,
        "aud": [audience],
        "iat": t,
        "nbf": t,
        "exp": t + lifetime_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps() -> Vec<EntraApp> {
        vec![
            EntraApp {
                tenant_id: "t1".into(),
                client_id: "c1".into(),
                auth: AppAuth::Secret("right".into()),
            },
            EntraApp {
                tenant_id: "t1".into(),
                client_id: "wi".into(),
                auth: AppAuth::Federated {
                    issuer: "https://oidc.example/".into(),
                    subject: "system:serviceaccount:ns:sa".into(),
                    audience: TOKEN_EXCHANGE_AUDIENCE.into(),
                },
            },
        ]
    }

    fn post(path: &str, pairs: &[(&str, &str)]) -> Answer {
        let form = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        answer(&apps(), &hyper::Method::POST, path, &form)
    }

    const P: &str = "/t1/oauth2/v2.0/token";
    const STORAGE: &str = "https://storage.azure.com/.default";

    #[test]
    fn a_right_secret_gets_a_v1_storage_token() {
        let (status, body, _) = post(
            P,
            &[
                ("client_id", "c1"),
                ("client_secret", "right"),
                ("grant_type", "client_credentials"),
                ("scope", STORAGE),
            ],
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        let c = jwt_claims(body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(c["aud"], "https://storage.azure.com");
        assert_eq!(c["iss"], "https://sts.windows.net/t1/");
        assert!(c["exp"].as_u64().unwrap() > c["nbf"].as_u64().unwrap());
    }

    #[test]
    fn refusals_carry_the_documented_codes_and_never_the_secret() {
        let base = [("grant_type", "client_credentials"), ("scope", STORAGE)];
        let case = |path: &str, extra: &[(&str, &str)]| {
            let mut p = base.to_vec();
            p.extend_from_slice(extra);
            let (s, b, _) = post(path, &p);
            (s, b["error"].as_str().unwrap().to_string(), b)
        };
        let (s, e, b) = case(P, &[("client_id", "c1"), ("client_secret", "WRONGVALUE")]);
        assert_eq!((s, e.as_str()), (401, "invalid_client"));
        assert_eq!(b["error_codes"][0], 7000215);
        assert!(!b.to_string().contains("WRONGVALUE"));
        let (s, _, b) = case(P, &[("client_id", "nope"), ("client_secret", "x")]);
        assert_eq!((s, b["error_codes"][0].as_u64()), (400, Some(700016)));
        let (s, _, b) = case(
            "/t9/oauth2/v2.0/token",
            &[("client_id", "c1"), ("client_secret", "right")],
        );
        assert_eq!((s, b["error_codes"][0].as_u64()), (400, Some(90002)));
        let (s, b, _) = post(
            P,
            &[
                ("client_id", "c1"),
                ("client_secret", "right"),
                ("grant_type", "client_credentials"),
                ("scope", "https://storage.azure.com/user_impersonation"),
            ],
        );
        assert_eq!((s, b["error_codes"][0].as_u64()), (400, Some(1002012)));
    }

    #[test]
    fn a_federated_assertion_must_match_issuer_subject_audience_and_time() {
        let ok = federated_token(
            "https://oidc.example/",
            "system:serviceaccount:ns:sa",
            TOKEN_EXCHANGE_AUDIENCE,
            600,
        );
        let try_with = |assertion: &str| {
            let (s, b, _) = post(
                P,
                &[
                    ("client_id", "wi"),
                    ("client_assertion", assertion),
                    ("client_assertion_type", JWT_BEARER),
                    ("grant_type", "client_credentials"),
                    ("scope", STORAGE),
                ],
            );
            (s, b["error_codes"][0].as_u64().unwrap_or(0))
        };
        assert_eq!(try_with(&ok), (200, 0));
        // (issuer, subject, lifetime in seconds) → (HTTP status, AADSTS code)
        for (issuer, subject, lifetime, refused) in [
            (
                "https://oidc.example/",
                "system:serviceaccount:ns:other",
                600,
                (401, 700213),
            ),
            (
                "https://evil.example/",
                "system:serviceaccount:ns:sa",
                600,
                (401, 700211),
            ),
            (
                "https://oidc.example/",
                "system:serviceaccount:ns:sa",
                0,
                (401, 700024),
            ),
        ] {
            let assertion = federated_token(issuer, subject, TOKEN_EXCHANGE_AUDIENCE, lifetime);
            assert_eq!(
                try_with(&assertion),
                refused,
                "{issuer} {subject} {lifetime}"
            );
        }
    }
}
