//! `url.*` from a request URI, as Elasticsearch's `uri_parts` processor splits it: scheme,
//! domain, port, path, query, fragment and the last path segment's extension. Text is kept as
//! received (no percent-decoding).

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct UriParts<'a> {
    pub scheme: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub port: Option<u16>,
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
    pub extension: Option<&'a str>,
}

/// Splits an absolute (`https://host/path?q`) or relative (`/v2/tenant/users`) URI. `None` when
/// there is nothing to split (empty text).
pub(super) fn parts(uri: &str) -> Option<UriParts<'_>> {
    if uri.is_empty() {
        return None;
    }
    let mut p = UriParts::default();
    let (rest, fragment) = match uri.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (uri, None),
    };
    p.fragment = fragment.filter(|f| !f.is_empty());
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    p.query = query.filter(|q| !q.is_empty());
    let mut rest = rest;
    if let Some((scheme, after)) = rest.split_once(':')
        && is_scheme(scheme)
    {
        p.scheme = Some(scheme);
        rest = after;
        if let Some(authority_and_path) = rest.strip_prefix("//") {
            let end = authority_and_path
                .find('/')
                .unwrap_or(authority_and_path.len());
            let authority = &authority_and_path[..end];
            rest = &authority_and_path[end..];
            // User info (before the last `@`) is not carried.
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = split_port(host_port);
            p.domain = Some(host).filter(|h| !h.is_empty());
            p.port = port;
        }
    }
    if !rest.is_empty() {
        p.path = Some(rest);
        let last = rest.rsplit('/').next().unwrap_or(rest);
        p.extension = last
            .rsplit_once('.')
            .map(|(_, ext)| ext)
            .filter(|e| !e.is_empty());
    }
    Some(p)
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `host:port`, `[v6]:port`; a port that is not a number stays part of the host.
fn split_port(hp: &str) -> (&str, Option<u16>) {
    let bracket_end = hp.rfind(']');
    match hp.rsplit_once(':') {
        Some((h, port)) if bracket_end.is_none_or(|b| b < h.len()) => match port.parse() {
            Ok(n) => (h, Some(n)),
            Err(_) => (hp, None),
        },
        _ => (hp, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uri_splits_into_its_parts() {
        let p =
            parts("https://graph.microsoft.com/v1.0/me/photos/96x96/$value?$select=a#top").unwrap();
        assert_eq!(p.scheme, Some("https"));
        assert_eq!(p.domain, Some("graph.microsoft.com"));
        assert_eq!(p.port, None);
        assert_eq!(p.path, Some("/v1.0/me/photos/96x96/$value"));
        assert_eq!(p.query, Some("$select=a"));
        assert_eq!(p.fragment, Some("top"));
        // `v1.0` is not the last segment: no extension.
        assert_eq!(p.extension, None);
    }

    #[test]
    fn relative_uri_has_only_a_path() {
        let p = parts("/v2/ab30785b/users").unwrap();
        assert_eq!(p.scheme, None);
        assert_eq!(p.domain, None);
        assert_eq!(p.path, Some("/v2/ab30785b/users"));
    }

    #[test]
    fn port_user_info_and_extension() {
        let p = parts("https://u:pw@[::1]:8443/users/ada@example.com").unwrap();
        assert_eq!(p.domain, Some("[::1]"));
        assert_eq!(p.port, Some(8443));
        assert_eq!(p.extension, Some("com"));
        assert!(parts("").is_none());
    }
}
