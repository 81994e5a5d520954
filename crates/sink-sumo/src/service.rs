//! The HTTP side: building the POST with the configured `X-Sumo-*` headers, sending it, and
//! what came back ([`Answer`]); the start-up header check and `check-sinks`' probe. The source
//! URL is a secret: no error leaving this module contains it.

use bytes::Bytes;

use crate::encoder::serde_escape;
use crate::*;

/// What became of one POST.
pub(crate) enum Answer {
    /// The collector answered: status and (an excerpt of) its body.
    Status(u16, String),
    /// The request could not be built from these values (a header the client refuses): about
    /// the request's content, so sending it again would fail the same way.
    Unbuildable(String),
    /// No answer (connection, timeout, gzip task).
    Transport(String),
}

impl SumoSink {
    /// Builds (without sending) a request with every configured header, so that a value the
    /// HTTP client refuses (a newline in `sumo_name`, a non-ASCII `sumo_fields` value) stops
    /// the start with the key to fix. After this, a request that cannot be built can only be
    /// about the record's own data.
    pub(crate) fn check_configured_headers(&self) -> Result<(), BuildError> {
        let category = self.cfg.category.as_deref().unwrap_or(FALLBACK_CATEGORY);
        self.request(category, Bytes::new()).build().map(drop).map_err(|_| {
            BuildError::Config("sumo_category, sumo_name, sumo_host or sumo_fields holds a character an HTTP header cannot carry (a control character, a line break or non-ASCII text): fix that value".to_string())
        })
    }

    /// What `check-sinks` prints: (reachable, authenticated, what to fix). Sends one clearly
    /// marked test event with category `entrastream/check` (Sumo has no health endpoint).
    pub async fn probe(&self) -> (bool, Option<bool>, Option<String>) {
        let line = format!(
            "{{\"entrastream_test_event\":true,\"message\":\"connectivity test from entrastream check-sinks; safe to ignore\",\"sink\":{}}}\n",
            serde_escape(&self.name)
        );
        match self.post("entrastream/check", Bytes::from(line)).await {
            Answer::Status(200..=299, _) => (true, Some(true), None),
            Answer::Status(s @ 300..=399, _) => {
                (true, None, Some(redirect_reason(s, "Sumo Logic")))
            }
            Answer::Status(s @ (401 | 403 | 404), _) => (
                true,
                Some(false),
                Some(format!(
                    "HTTP {s}: the HTTP source URL is invalid or was deleted; set a valid url_env / url_file"
                )),
            ),
            Answer::Status(s, text) => (
                true,
                None,
                Some(format!(
                    "answered HTTP {s} ({text}); retry later or check the collector"
                )),
            ),
            Answer::Unbuildable(e) | Answer::Transport(e) => (
                false,
                None,
                Some(format!(
                    "unreachable: {e} — check the URL's host, proxies and firewalls"
                )),
            ),
        }
    }

    pub(crate) fn fields_header(&self) -> Option<String> {
        (!self.cfg.fields.is_empty()).then(|| {
            self.cfg
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The POST of `payload` with the configured headers and this category (not yet built).
    pub(crate) fn request(&self, category: &str, payload: Bytes) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(self.cfg.url.expose())
            .header("X-Sumo-Category", category)
            .header("Content-Type", "application/x-ndjson");
        if self.cfg.gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        if let Some(n) = &self.cfg.source_name {
            req = req.header("X-Sumo-Name", n);
        }
        if let Some(h) = &self.cfg.source_host {
            req = req.header("X-Sumo-Host", h);
        }
        if let Some(f) = self.fields_header() {
            req = req.header("X-Sumo-Fields", f);
        }
        req.body(payload)
    }

    pub(crate) async fn post(&self, category: &str, body: Bytes) -> Answer {
        let raw = body.len() as u64;
        let m = &self.metrics;
        m.max_request.fetch_max(raw, Ordering::Relaxed);
        m.bytes_uncompressed.fetch_add(raw, Ordering::Relaxed);
        let payload = if self.cfg.gzip {
            // On the blocking pool: the `concurrency` requests of a send compress in parallel.
            match gzip_off_task(body).await {
                Ok(z) => Bytes::from(z),
                Err(e) => return Answer::Transport(e.to_string()),
            }
        } else {
            body
        };
        let wire = payload.len();
        // Built first, so that a refused header value is told apart from a transport error.
        let request = match self.request(category, payload).build() {
            Ok(r) => r,
            Err(e) => {
                self.stats.request("unbuildable", None, 0.0);
                return Answer::Unbuildable(transport_error(e));
            }
        };
        m.bytes_sent.fetch_add(wire as u64, Ordering::Relaxed);
        self.stats.body(raw as usize, wire);
        let started = Instant::now();
        let resp = self.client.execute(request).await;
        match resp {
            Ok(r) => {
                let status = r.status().as_u16();
                // Read (bounded) only when it can be quoted; a 200's body is not needed.
                let text = if (200..300).contains(&status) {
                    String::new()
                } else {
                    excerpt(&read_bounded(r).await.text)
                };
                let seconds = started.elapsed().as_secs_f64();
                self.stats.request(&status.to_string(), None, seconds);
                Answer::Status(status, text)
            }
            Err(e) => {
                self.stats
                    .request("network", None, started.elapsed().as_secs_f64());
                Answer::Transport(transport_error(e))
            }
        }
    }
}
