//! The request target in NFC before routing: a path or query id spelled
//! with decomposed characters (e + U+0301) reaches the handler, the caches
//! and the store as the composed one, so one person is one learner whatever
//! their client sends. Ids inside JSON bodies are normalised where they are
//! parsed ([`crate::domain::nfc_json`], `ingest::parse`).

use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::Uri;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::domain::nfc;

/// Everything but RFC 3986's unreserved characters is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request with its path segments and query values in NFC. Targets
/// without a percent escape are ASCII, so already NFC: left as they are.
pub fn normalize_request(mut req: Request) -> Request {
    if let Some(uri) = normalized(req.uri()) {
        *req.uri_mut() = uri;
    }
    req
}

fn normalized(uri: &Uri) -> Option<Uri> {
    let pq = uri.path_and_query()?;
    if !pq.as_str().contains('%') {
        return None;
    }
    let path = rewrite(pq.path(), '/', false);
    let query = pq.query().and_then(|q| rewrite(q, '&', true));
    if path.is_none() && query.is_none() {
        return None;
    }
    let mut target = path.unwrap_or_else(|| pq.path().to_string());
    if let Some(q) = query.or_else(|| pq.query().map(str::to_string)) {
        target.push('?');
        target.push_str(&q);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

/// `s` split on `sep`, each piece (each `key=value` half in a query)
/// re-encoded only when its decoded text is not NFC; `None` when nothing
/// changed.
fn rewrite(s: &str, sep: char, query: bool) -> Option<String> {
    let mut changed = false;
    let pieces: Vec<String> = s
        .split(sep)
        .map(|piece| {
            if !query {
                return component(piece, false, &mut changed);
            }
            match piece.split_once('=') {
                Some((k, v)) => format!(
                    "{}={}",
                    component(k, true, &mut changed),
                    component(v, true, &mut changed)
                ),
                None => component(piece, true, &mut changed),
            }
        })
        .collect();
    changed.then(|| pieces.join(&sep.to_string()))
}

fn component(raw: &str, form: bool, changed: &mut bool) -> String {
    if !raw.contains('%') {
        return raw.to_string();
    }
    let spaced = if form {
        raw.replace('+', " ")
    } else {
        raw.to_string()
    };
    let Ok(text) = percent_decode_str(&spaced).decode_utf8() else {
        return raw.to_string();
    };
    match nfc(&text) {
        std::borrow::Cow::Borrowed(_) => raw.to_string(),
        std::borrow::Cow::Owned(n) => {
            *changed = true;
            utf8_percent_encode(&n, ESCAPED).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(target: &str) -> String {
        let uri: Uri = target.parse().unwrap();
        normalized(&uri).map_or(target.to_string(), |u| u.to_string())
    }

    #[test]
    fn decomposed_ids_in_paths_and_queries_become_composed() {
        // "jose" + U+0301 (CC 81) → "jos" + U+00E9 (C3 A9).
        assert_eq!(norm("/recommend/jose%CC%81?n=3"), "/recommend/jos%C3%A9?n=3");
        assert_eq!(
            norm("/recommend/u1?exclude=e%CC%81,c2&n=3"),
            "/recommend/u1?exclude=%C3%A9%2Cc2&n=3"
        );
    }

    #[test]
    fn targets_already_in_nfc_are_left_alone() {
        for t in [
            "/recommend/u1?n=3",
            "/recommend/jos%C3%A9",
            "/a%2Fb?x=a+b",
            "/x?bad=%FF",
        ] {
            assert_eq!(norm(t), t);
        }
    }
}
