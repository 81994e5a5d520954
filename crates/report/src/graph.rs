//! `graph_activity`: which applications call which Microsoft Graph and Azure AD Graph endpoints,
//! and which requests fail, by HTTP status.
//!
//! An endpoint is the method and the request path with ids replaced by `{id}` and the query
//! dropped (`GET /v1.0/users/{id}/memberOf`), so that one endpoint is one row however many
//! objects it was called on. Memory is bounded by distinct apps × endpoints.

use std::collections::HashMap;

use entrastream_entra::kinds::GraphActivity;
use entrastream_entra::{Category, Record};

use crate::answer::{Answer, Cell, Table};
use crate::names::Names;

/// Example endpoints kept per failing status.
const EXAMPLES: usize = 3;

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    requests: u64,
    failed: u64,
}

impl Count {
    fn add(&mut self, failed: bool) {
        self.requests += 1;
        self.failed += u64::from(failed);
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    /// Per (api, app, endpoint).
    calls: HashMap<(Api, u32, u32), Count>,
    by_app: HashMap<(Api, u32), Count>,
    /// Per HTTP status (0 when the record has none): count and example endpoints.
    by_status: HashMap<i64, (u64, Vec<u32>)>,
    per_api: [u64; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Api {
    MicrosoftGraph,
    AadGraph,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::MicrosoftGraph => "Microsoft Graph",
            Api::AadGraph => "Azure AD Graph",
        }
    }
}

/// A request fails when its HTTP status is 400 or more.
pub fn failed(status: Option<i64>) -> bool {
    status.is_some_and(|s| s >= 400)
}

impl Graph {
    pub fn observe(&mut self, names: &mut Names, r: &Record<'_>, g: &GraphActivity<'_>) {
        let api = match r.category_enum() {
            Category::AzureAdGraphActivityLogs => Api::AadGraph,
            _ => Api::MicrosoftGraph,
        };
        self.per_api[api as usize] += 1;
        let app = g
            .app_id
            .filter(|a| !a.is_empty())
            .map_or_else(|| "(unknown)".into(), |a| a.decode());
        let app = names.id(&app);
        let endpoint = endpoint(
            g.request_method.map(|m| m.decode()).as_deref(),
            g.request_uri.map(|u| u.decode()).as_deref(),
        );
        let endpoint = names.id(&endpoint);
        let failed = failed(g.status_code);
        self.calls
            .entry((api, app, endpoint))
            .or_default()
            .add(failed);
        self.by_app.entry((api, app)).or_default().add(failed);
        let s = self
            .by_status
            .entry(g.status_code.unwrap_or(0))
            .or_default();
        s.0 += 1;
        if s.1.len() < EXAMPLES && !s.1.contains(&endpoint) {
            s.1.push(endpoint);
        }
    }

    pub fn answer(&self, names: &Names, top: usize) -> Answer {
        let mut a = Answer::default();
        let total: u64 = self.per_api.iter().sum();
        if total == 0 {
            return a;
        }
        let failures: u64 = self.by_app.values().map(|c| c.failed).sum();
        a.fact("requests", total);
        a.fact("microsoft_graph_requests", self.per_api[0]);
        a.fact("aad_graph_requests", self.per_api[1]);
        a.fact("failed_requests", failures);
        a.fact("apps", self.by_app.len() as u64);

        let mut v: Vec<_> = self.by_app.iter().collect();
        v.sort_by(|x, y| {
            y.1.requests
                .cmp(&x.1.requests)
                .then_with(|| x.0.0.cmp(&y.0.0))
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
        });
        let endpoints_of = |api: Api, app: u32| {
            self.calls
                .keys()
                .filter(|(a, p, _)| *a == api && *p == app)
                .count() as u64
        };
        let mut t = Table::new(
            "apps",
            &["app_id", "api", "requests", "failed", "endpoints"],
        )
        .charted(2);
        for ((api, app), c) in v {
            t.row(vec![
                names.name(*app).into(),
                api.name().into(),
                c.requests.into(),
                c.failed.into(),
                endpoints_of(*api, *app).into(),
            ]);
        }
        t.truncate(top);
        a.table(t);

        let mut v: Vec<_> = self.calls.iter().collect();
        v.sort_by(|x, y| {
            y.1.requests
                .cmp(&x.1.requests)
                .then_with(|| x.0.0.cmp(&y.0.0))
                .then_with(|| names.name(x.0.1).cmp(names.name(y.0.1)))
                .then_with(|| names.name(x.0.2).cmp(names.name(y.0.2)))
        });
        let mut t = Table::new(
            "app_endpoints",
            &["app_id", "api", "endpoint", "requests", "failed"],
        );
        for ((api, app, endpoint), c) in v {
            t.row(vec![
                names.name(*app).into(),
                api.name().into(),
                names.name(*endpoint).into(),
                c.requests.into(),
                c.failed.into(),
            ]);
        }
        t.truncate(top);
        a.table(t);

        let mut v: Vec<_> = self
            .by_status
            .iter()
            .filter(|(s, _)| failed(Some(**s)))
            .collect();
        v.sort_by(|x, y| y.1.0.cmp(&x.1.0).then_with(|| x.0.cmp(y.0)));
        let mut t = Table::new(
            "failures_by_status",
            &["status", "requests", "example_endpoints"],
        )
        .charted(1);
        for (status, (n, examples)) in v {
            let ex: Vec<&str> = examples.iter().map(|e| names.name(*e)).collect();
            t.row(vec![
                Cell::text(status.to_string()),
                (*n).into(),
                Cell::text(ex.join(", ")),
            ]);
        }
        // Statuses are few (a few dozen HTTP codes at most): every one is kept.
        a.table(t);
        a
    }
}

/// `METHOD /path` with the scheme, host and query removed and every id-like path segment
/// (a GUID, a number, a UPN, a quoted key) replaced by `{id}`.
pub fn endpoint(method: Option<&str>, uri: Option<&str>) -> String {
    let method = method.filter(|m| !m.is_empty()).unwrap_or("?");
    let Some(uri) = uri.filter(|u| !u.is_empty()) else {
        return format!("{method} (no URI)");
    };
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    let mut out = String::with_capacity(path.len() + method.len() + 1);
    out.push_str(method);
    out.push(' ');
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        // Keys in parentheses (`users('ada@contoso.com')`, `items(1)`) are ids too.
        match seg.split_once('(') {
            Some((name, _)) if seg.ends_with(')') => {
                out.push_str(name);
                out.push_str("({id})");
            }
            _ if is_id(seg) => out.push_str("{id}"),
            _ => out.push_str(seg),
        }
    }
    out
}

fn is_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let b = seg.as_bytes();
    let guid_like = b.len() >= 32
        && b.iter()
            .all(|c| c.is_ascii_hexdigit() || *c == b'-' || *c == b'{' || *c == b'}');
    let number = b.iter().all(u8::is_ascii_digit);
    let upn = seg.contains('@') || seg.contains("%40");
    guid_like || number || upn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_replace_ids_and_drop_the_query() {
        assert_eq!(
            endpoint(
                Some("GET"),
                Some(
                    "https://graph.microsoft.com/v1.0/users/7d0e4e7a-1b0c-4a3e-9a57-2f7c0c0c0c0c/memberOf?$top=5"
                )
            ),
            "GET /v1.0/users/{id}/memberOf"
        );
        assert_eq!(
            endpoint(
                Some("PATCH"),
                Some("https://graph.microsoft.com/beta/users/ada@contoso.example")
            ),
            "PATCH /beta/users/{id}"
        );
        assert_eq!(
            endpoint(
                Some("GET"),
                Some("/v2/ab30785b-417f-42a4-b5dc-8f9051718acb/users")
            ),
            "GET /v2/{id}/users"
        );
        assert_eq!(
            endpoint(
                Some("GET"),
                Some("https://graph.microsoft.com/v1.0/me/photos/96x96/$value")
            ),
            "GET /v1.0/me/photos/96x96/$value"
        );
        assert_eq!(
            endpoint(
                Some("GET"),
                Some("https://graph.microsoft.com/v1.0/users('ada@x.example')")
            ),
            "GET /v1.0/users({id})"
        );
        assert_eq!(endpoint(None, None), "? (no URI)");
    }
}
