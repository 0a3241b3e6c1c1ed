//! API keys with scopes. Keys are compared in constant time and never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::config::AuthSettings;
pub use crate::domain::Scope;
use crate::error::ApiError;

struct Key {
    secret: Vec<u8>,
    scopes: Vec<Scope>,
}

/// The configured keys; `None` inside means auth is off.
#[derive(Clone)]
pub struct Keys(Option<Arc<Vec<Key>>>);

impl Keys {
    pub fn from_settings(s: &AuthSettings) -> Keys {
        if !s.enabled && s.keys.is_empty() {
            return Keys(None);
        }
        let keys = s
            .keys
            .iter()
            .map(|k| Key {
                secret: k.key.as_bytes().to_vec(),
                scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            })
            .collect();
        Keys(Some(Arc::new(keys)))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Checks a bearer token against every key without stopping early, so timing
    /// says nothing about which key (or how much of one) matched.
    /// The key's scopes must include one of `any`.
    fn check(&self, token: &[u8], any: &[Scope]) -> Result<(), ApiError> {
        let Some(keys) = &self.0 else { return Ok(()) };
        let mut found: Option<&Key> = None;
        for key in keys.iter() {
            if bool::from(key.secret.as_slice().ct_eq(token)) {
                found = Some(key);
            }
        }
        match found {
            None => Err(ApiError::Unauthorized),
            Some(k) if any.iter().any(|s| k.scopes.contains(s)) => Ok(()),
            Some(_) => Err(ApiError::Forbidden(any[0])),
        }
    }
}

/// Route layer: `axum::middleware::from_fn_with_state((keys, scope), require)`.
pub async fn require(
    State((keys, scopes)): State<(Keys, &'static [Scope])>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if keys.enabled() {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        keys.check(token.trim().as_bytes(), scopes)?;
    }
    Ok(next.run(req).await)
}
