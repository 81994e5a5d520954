//! Entra ID auth on the Event Hubs Kafka endpoint: SASL OAUTHBEARER with tokens from
//! `azure_identity` for the scope `https://<namespace host>/.default`.
//!
//! librdkafka asks for a token when the client starts and again at 80 % of the token's
//! lifetime (an `OAUTHBEARER_TOKEN_REFRESH` event, served by `rdkafka`'s
//! `ClientContext::generate_oauth_token` on the thread that polls the consumer). The
//! identity library is asynchronous, so [`TokenSource`] owns a small thread with its own
//! current-thread runtime and the poll thread waits for its answer, at most
//! [`TOKEN_TIMEOUT`]: the poll thread is no tokio worker, and a runtime owned by that thread
//! is dropped there, never inside the daemon's runtime.
//!
//! A refresh that fails while the current token still has more than [`MIN_REMAINING`] of
//! life hands librdkafka that same token with a lifetime that makes it ask again after
//! [`RETRY_AFTER`] ([`Refresh::failed`]): a failed refresh reported to librdkafka raises an
//! authentication error, which the source treats as fatal, and a blip of the managed identity
//! endpoint must not stop the daemon while its token is good for minutes. Only when the token
//! is about to expire (or there never was one) does the failure reach librdkafka, with a
//! message that names the credential, the scope and what to check.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::{AccessToken, TokenCredential};
use entrastream_credential::EntraCredential;
use entrastream_secret::Secret;
use rdkafka::client::OAuthToken;

pub(crate) mod keys;

/// The SASL mechanism librdkafka is given with a credential.
pub const OAUTHBEARER: &str = "OAUTHBEARER";

/// The Event Hubs Kafka endpoint's port.
pub const KAFKA_PORT: u16 = 9093;

/// How long one token request may take before the poll thread gives up on it (librdkafka
/// asks again 10 s after a reported failure).
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed refresh keeps the current token only while it has more life than this left.
pub const MIN_REMAINING: Duration = Duration::from_secs(60);

/// After a failed refresh that kept the current token, librdkafka asks again this soon.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// OAUTHBEARER settings: which Entra credential, for which scope.
#[derive(Debug, Clone)]
pub struct EntraOAuth {
    /// The validated credential choice.
    pub credential: EntraCredential,
    /// `https://<namespace host>/.default`.
    pub scope: String,
}

/// The token scope of an Event Hubs namespace: `https://<host>/.default`.
pub fn scope_for(namespace_host: &str) -> String {
    format!("https://{namespace_host}/.default")
}

/// The host of the first bootstrap server (`host:port[,host:port]`, IPv6 in brackets), the
/// namespace a token is requested for. `None` when there is no host.
pub fn namespace_host(brokers: &str) -> Option<&str> {
    let first = brokers.split(',').next()?.trim();
    let first = first
        .split_once("://")
        .map_or(first, |(_, rest)| rest)
        .trim_end_matches('/');
    let host = if let Some(rest) = first.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        first.rsplit_once(':').map_or(first, |(h, _)| h)
    };
    (!host.is_empty()).then_some(host)
}

/// Why no token could be handed to librdkafka. Never contains a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OAuthError {
    /// The credential could not be built (missing certificate file, no workload identity).
    #[error("cannot set up Entra ID auth for the Kafka endpoint: {0}")]
    Setup(String),
    /// The identity library returned an error or no answer in time.
    #[error("no Entra ID token for {scope} from the {credential} credential: {message}; {hint}")]
    Token {
        /// The credential's config name.
        credential: &'static str,
        /// The scope asked for.
        scope: String,
        /// What the identity library said (secrets redacted).
        message: String,
        /// What the operator should check.
        hint: &'static str,
    },
}

/// What to check when a credential gives no token.
fn hint(credential: &'static str) -> &'static str {
    match credential {
        "workload_identity" => {
            "check that the pod runs with the annotated ServiceAccount, that AZURE_FEDERATED_TOKEN_FILE is mounted and that the app registration has a federated credential for that ServiceAccount (docs/deploy.md)"
        }
        "managed_identity" => {
            "check that the host has a managed identity (and client_id names a user-assigned one attached to it) and that the instance metadata endpoint is reachable"
        }
        "client_secret" => {
            "check tenant_id, client_id and that the client secret is current (Entra ID answers AADSTS7000215 for a wrong or expired one)"
        }
        "client_certificate" => {
            "check tenant_id, client_id and that the certificate is the one uploaded to the app registration and not expired"
        }
        "azure_cli" => "run `az login` as the user that runs entrastream",
        _ => "check the credential settings",
    }
}

/// A token as the identity library returned it, before it is handed to librdkafka.
#[derive(Clone)]
struct Fetched {
    token: Secret,
    expires: SystemTime,
    principal: String,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("expires", &self.expires)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The Kafka principal librdkafka names the token by (only in its logs: Event Hubs takes the
/// identity from the token itself): the token's object id (`oid`), else its application id
/// (`appid` / `azp`), else its subject, else `fallback` (the credential's name) when the token
/// is not a readable JWT.
pub fn principal_of(jwt: &str, fallback: &str) -> String {
    let claims = jwt
        .split('.')
        .nth(1)
        .and_then(|payload| azure_core::base64::decode_url_safe(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    claims
        .as_ref()
        .and_then(|c| {
            ["oid", "appid", "azp", "sub"]
                .iter()
                .find_map(|k| c.get(*k).and_then(|v| v.as_str()))
                .filter(|v| !v.is_empty() && !v.contains('\0'))
        })
        .unwrap_or(fallback)
        .to_string()
}

impl Fetched {
    fn from_access_token(token: &AccessToken, credential: &str) -> Self {
        let nanos = token.expires_on.unix_timestamp_nanos();
        let expires = u64::try_from(nanos)
            .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
            .unwrap_or(UNIX_EPOCH);
        Fetched {
            principal: principal_of(token.token.secret(), credential),
            token: Secret::new(token.token.secret()),
            expires,
        }
    }

    /// The token for librdkafka, which refreshes at 80 % of `lifetime`.
    fn oauth_token(&self, lifetime: SystemTime) -> OAuthToken {
        OAuthToken {
            token: self.token.expose().to_string(),
            principal_name: self.principal.clone(),
            lifetime_ms: unix_ms(lifetime),
        }
    }
}

/// The refresh rule: the last good token, and what a fetch result becomes.
#[derive(Debug, Default)]
pub struct Refresh {
    last: Option<Fetched>,
}

impl Refresh {
    /// A fetched token: handed over with its real expiry (librdkafka refreshes at 80 % of
    /// it). A token already expired is an error: librdkafka would refuse it.
    fn fetched(&mut self, f: Fetched, now: SystemTime) -> Result<OAuthToken, String> {
        if f.expires <= now {
            return Err(
                "the identity library returned an expired token; check the host's clock".into(),
            );
        }
        let token = f.oauth_token(f.expires);
        self.last = Some(f);
        Ok(token)
    }

    /// A failed fetch: the last token again while it has more than [`MIN_REMAINING`] left,
    /// announced to expire so that librdkafka asks again after [`RETRY_AFTER`] (it refreshes
    /// at 80 % of the lifetime); otherwise `None` and the failure goes to librdkafka.
    fn failed(&self, now: SystemTime) -> Option<OAuthToken> {
        let last = self.last.as_ref()?;
        let remaining = last.expires.duration_since(now).ok()?;
        if remaining <= MIN_REMAINING {
            return None;
        }
        let ask_again = RETRY_AFTER.mul_f64(1.25);
        Some(last.oauth_token(now + remaining.min(ask_again)))
    }
}

type Reply = std_mpsc::SyncSender<Result<AccessToken, String>>;

/// Tokens for librdkafka's OAUTHBEARER refresh event. See the module docs.
pub struct TokenSource {
    requests: Mutex<std_mpsc::Sender<Reply>>,
    credential: &'static str,
    scope: String,
    secrets: Vec<Secret>,
    refresh: Mutex<Refresh>,
    timeout: Duration,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The source's Entra credential on its own, for the storage clients that borrow the source's
/// identity (an `azure_blob` sink without a secret of its own). Building fetches nothing.
pub fn entra_credential(oauth: &EntraOAuth) -> Result<Arc<dyn TokenCredential>, OAuthError> {
    entrastream_credential::build(&oauth.credential).map_err(|e| OAuthError::Setup(e.to_string()))
}

impl TokenSource {
    /// Builds the credential and starts the token thread. Nothing is fetched yet.
    pub fn start(oauth: &EntraOAuth) -> Result<Self, OAuthError> {
        let credential = entra_credential(oauth)?;
        let secrets = oauth.credential.secrets().into_iter().cloned().collect();
        Self::with_credential(
            credential,
            oauth.credential.name(),
            &oauth.scope,
            secrets,
            TOKEN_TIMEOUT,
        )
    }

    /// A source over any token credential (tests pass their own).
    pub fn with_credential(
        credential: Arc<dyn TokenCredential>,
        name: &'static str,
        scope: &str,
        secrets: Vec<Secret>,
        timeout: Duration,
    ) -> Result<Self, OAuthError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OAuthError::Setup(format!("token runtime: {e}")))?;
        let (tx, rx) = std_mpsc::channel::<Reply>();
        let thread_scope = scope.to_string();
        std::thread::Builder::new()
            .name("kafka-token".into())
            .spawn(move || {
                // Ends when the source (the only sender) is dropped.
                for reply in rx {
                    let result = runtime.block_on(async {
                        let scopes = [thread_scope.as_str()];
                        let fetch = credential.get_token(&scopes, None);
                        match tokio::time::timeout(timeout, fetch).await {
                            Ok(Ok(token)) => Ok(token),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
                        }
                    });
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| OAuthError::Setup(format!("token thread: {e}")))?;
        Ok(TokenSource {
            requests: Mutex::new(tx),
            credential: name,
            scope: scope.to_string(),
            secrets,
            refresh: Mutex::new(Refresh::default()),
            timeout,
        })
    }

    fn fetch(&self) -> Result<AccessToken, String> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(reply);
        if sent.is_err() {
            return Err("the token thread stopped".into());
        }
        // The thread enforces the timeout; the margin covers a thread that never answers.
        answer
            .recv_timeout(self.timeout + Duration::from_secs(5))
            .unwrap_or_else(|_| Err("the token thread did not answer".into()))
    }

    /// The token librdkafka asked for (see [`Refresh`]).
    pub fn token(&self) -> Result<OAuthToken, OAuthError> {
        let fetched = self
            .fetch()
            .map(|t| Fetched::from_access_token(&t, self.credential));
        let now = SystemTime::now();
        let mut refresh = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        let message = match fetched.and_then(|f| refresh.fetched(f, now)) {
            Ok(token) => {
                tracing::info!(
                    credential = self.credential,
                    scope = %self.scope,
                    principal = %token.principal_name,
                    expires_in_secs = (token.lifetime_ms - unix_ms(now)) / 1000,
                    "Entra ID token for the Kafka endpoint"
                );
                return Ok(token);
            }
            Err(message) => message,
        };
        let secrets: Vec<&Secret> = self.secrets.iter().collect();
        let error = OAuthError::Token {
            credential: self.credential,
            scope: self.scope.clone(),
            message: entrastream_credential::redact(&message, &secrets),
            hint: hint(self.credential),
        };
        if let Some(token) = refresh.failed(now) {
            tracing::warn!(
                error = %error,
                retry_in_secs = RETRY_AFTER.as_secs(),
                "refreshing the Entra ID token failed; the current token is still valid and is kept"
            );
            return Ok(token);
        }
        tracing::error!(error = %error, "no Entra ID token for the Kafka endpoint");
        Err(error)
    }
}

/// `ClientContext::generate_oauth_token` for a context that may hold a [`TokenSource`].
pub(crate) fn generate(
    source: Option<&TokenSource>,
) -> Result<OAuthToken, Box<dyn std::error::Error>> {
    match source {
        Some(s) => Ok(s.token()?),
        None => Err(
            "sasl.mechanism OAUTHBEARER needs source.credential (workload_identity, managed_identity, client_secret, client_certificate or azure_cli)"
                .into(),
        ),
    }
}

/// The client context for the source's other clients (the checkpoint tool's consumers): it
/// answers librdkafka's token refresh when the source has a credential.
#[derive(Debug)]
pub struct OAuthContext {
    source: Option<TokenSource>,
}

impl OAuthContext {
    /// The context for clients of `config`; without a credential it does nothing.
    pub fn new(config: &crate::KafkaSourceConfig) -> Result<Self, OAuthError> {
        Ok(OAuthContext {
            source: config.oauth.as_ref().map(TokenSource::start).transpose()?,
        })
    }

    /// A context over a given token source (tests pass one over their own credential).
    pub fn with_source(source: TokenSource) -> Self {
        OAuthContext {
            source: Some(source),
        }
    }

    /// Serves the token request librdkafka queued when `consumer` was created: calls that do
    /// not poll (metadata, committed offsets, offsets for times) then find a token. A
    /// consumer that is not subscribed returns no message here.
    pub fn prime(consumer: &rdkafka::consumer::BaseConsumer<OAuthContext>) {
        if rdkafka::consumer::Consumer::context(consumer)
            .source
            .is_some()
        {
            let _ = consumer.poll(Duration::ZERO);
        }
    }
}

impl rdkafka::ClientContext for OAuthContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        generate(self.source.as_ref())
    }
}

impl rdkafka::consumer::ConsumerContext for OAuthContext {}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::TokenRequestOptions;
    use azure_core::time::OffsetDateTime;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A credential that answers from a script and records the scopes it was asked for.
    #[derive(Debug)]
    struct Scripted {
        answers: Mutex<Vec<Result<AccessToken, String>>>,
        scopes: Mutex<Vec<String>>,
        calls: AtomicUsize,
        delay: Duration,
    }

    impl Scripted {
        fn new(answers: Vec<Result<AccessToken, String>>) -> Arc<Self> {
            Arc::new(Scripted {
                answers: Mutex::new(answers),
                scopes: Mutex::new(Vec::new()),
                calls: AtomicUsize::new(0),
                delay: Duration::ZERO,
            })
        }
    }

    #[async_trait::async_trait]
    impl TokenCredential for Scripted {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.scopes
                .lock()
                .unwrap()
                .extend(scopes.iter().map(|s| s.to_string()));
            tokio::time::sleep(self.delay).await;
            let next = self.answers.lock().unwrap().remove(0);
            next.map_err(|m| {
                azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, m)
            })
        }
    }

    /// A JWT with these claims (unsigned: only the payload is read).
    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJub25lIn0.{}.c2ln",
            azure_core::base64::encode_url_safe(claims)
        )
    }

    fn token_expiring_in(jwt: &str, secs: i64) -> AccessToken {
        AccessToken::new(
            jwt.to_string(),
            OffsetDateTime::now_utc() + azure_core::time::Duration::seconds(secs),
        )
    }

    fn source(cred: Arc<Scripted>, secrets: Vec<Secret>) -> TokenSource {
        TokenSource::with_credential(
            cred,
            "client_secret",
            "https://contoso.servicebus.windows.net/.default",
            secrets,
            Duration::from_secs(2),
        )
        .unwrap()
    }

    #[test]
    fn scope_is_the_namespace_host() {
        assert_eq!(
            scope_for("contoso.servicebus.windows.net"),
            "https://contoso.servicebus.windows.net/.default"
        );
        for (brokers, host) in [
            (
                "contoso.servicebus.windows.net:9093",
                Some("contoso.servicebus.windows.net"),
            ),
            (
                " contoso.servicebus.windows.net:9093 , other:9093",
                Some("contoso.servicebus.windows.net"),
            ),
            (
                "contoso.servicebus.windows.net",
                Some("contoso.servicebus.windows.net"),
            ),
            ("SASL_SSL://ns.example:9093", Some("ns.example")),
            ("[::1]:9093", Some("::1")),
            (":9093", None),
            ("", None),
        ] {
            assert_eq!(namespace_host(brokers), host, "{brokers:?}");
        }
    }

    #[test]
    fn the_token_its_expiry_and_principal_reach_librdkafka() {
        let raw = jwt(r#"{"oid":"00000000-aaaa-bbbb-cccc-000000000001","appid":"app"}"#);
        let access = token_expiring_in(&raw, 3600);
        let expiry_ms =
            i64::try_from(access.expires_on.unix_timestamp_nanos() / 1_000_000).unwrap();
        let cred = Scripted::new(vec![Ok(access)]);
        let s = source(cred.clone(), Vec::new());
        let t = s.token().unwrap();
        assert_eq!(t.token, raw);
        assert_eq!(t.lifetime_ms, expiry_ms);
        assert_eq!(t.principal_name, "00000000-aaaa-bbbb-cccc-000000000001");
        assert_eq!(
            *cred.scopes.lock().unwrap(),
            ["https://contoso.servicebus.windows.net/.default"]
        );
        assert!(!format!("{s:?}").contains(&raw));
    }

    #[test]
    fn principal_falls_back_from_oid_to_app_id_to_the_credential_name() {
        assert_eq!(
            principal_of(&jwt(r#"{"appid":"app-1","sub":"s"}"#), "x"),
            "app-1"
        );
        assert_eq!(principal_of(&jwt(r#"{"sub":"s"}"#), "x"), "s");
        assert_eq!(
            principal_of("not-a-jwt", "managed_identity"),
            "managed_identity"
        );
        assert_eq!(principal_of("a.!!!.c", "azure_cli"), "azure_cli");
    }

    #[test]
    fn a_failure_is_a_clear_message_without_the_secret() {
        let secret = Secret::new("TOPSECRET-VALUE");
        let cred = Scripted::new(vec![Err(
            "AADSTS7000215: Invalid client secret provided: TOPSECRET-VALUE".into(),
        )]);
        let s = source(cred, vec![secret]);
        let e = s.token().err().unwrap();
        let shown = e.to_string();
        assert!(!shown.contains("TOPSECRET-VALUE"), "{shown}");
        assert!(shown.contains("AADSTS7000215"), "{shown}");
        assert!(
            shown.contains("https://contoso.servicebus.windows.net/.default"),
            "{shown}"
        );
        assert!(shown.contains("client_secret credential"), "{shown}");
        assert!(shown.contains("check tenant_id, client_id"), "{shown}");
        let boxed = generate(Some(&s)).err().unwrap().to_string();
        assert!(!boxed.contains("TOPSECRET"), "{boxed}");
    }

    #[test]
    fn a_credential_that_hangs_is_a_timeout_not_a_stuck_poll_thread() {
        let cred = Arc::new(Scripted {
            answers: Mutex::new(vec![Err("never reached".into())]),
            scopes: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            delay: Duration::from_secs(60),
        });
        let s = TokenSource::with_credential(
            cred,
            "managed_identity",
            "https://ns/.default",
            Vec::new(),
            Duration::from_millis(200),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let e = s.token().err().unwrap().to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(e.contains("no answer within 0.2 s"), "{e}");
        assert!(e.contains("instance metadata endpoint"), "{e}");
    }

    #[test]
    fn a_failed_refresh_keeps_a_valid_token_and_asks_again_soon() {
        let raw = jwt(r#"{"oid":"o"}"#);
        let cred = Scripted::new(vec![
            Ok(token_expiring_in(&raw, 600)),
            Err("IMDS unavailable".into()),
        ]);
        let s = source(cred.clone(), Vec::new());
        s.token().unwrap();
        let before = unix_ms(SystemTime::now());
        let kept = s.token().unwrap();
        assert_eq!(kept.token, raw);
        // librdkafka refreshes at 80 % of the lifetime: RETRY_AFTER from now.
        let refresh_in = (kept.lifetime_ms - before) as f64 * 0.8;
        let expected = RETRY_AFTER.as_millis() as f64;
        assert!((refresh_in - expected).abs() < 1_000.0, "{refresh_in}");
        assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_refresh_near_expiry_or_without_a_token_is_reported() {
        let now = SystemTime::now();
        let mut r = Refresh::default();
        assert!(r.failed(now).is_none(), "no token yet");
        let f = Fetched {
            token: Secret::new("t"),
            expires: now + MIN_REMAINING - Duration::from_secs(1),
            principal: "p".into(),
        };
        r.fetched(f.clone(), now).unwrap();
        assert!(r.failed(now).is_none(), "about to expire");
        // A long-lived token kept after a failure is announced for at most RETRY_AFTER×1.25.
        let long = Fetched {
            expires: now + Duration::from_secs(3600),
            ..f.clone()
        };
        r.fetched(long, now).unwrap();
        let kept = r.failed(now).unwrap();
        assert_eq!(
            kept.lifetime_ms - unix_ms(now),
            RETRY_AFTER.as_millis() as i64 * 5 / 4
        );
        // An already expired token is refused, not handed to librdkafka.
        let expired = Fetched {
            expires: now - Duration::from_secs(1),
            ..f
        };
        assert!(r.fetched(expired, now).err().unwrap().contains("expired"));
    }

    #[test]
    fn oauthbearer_without_a_credential_says_which_key() {
        let e = generate(None).err().unwrap().to_string();
        assert!(e.contains("source.credential"), "{e}");
    }
}
