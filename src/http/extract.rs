//! Typed request parts: the query string parsed by `serde_html_form` into a
//! struct (repeated keys collect into a `Vec`, which axum's `Query` cannot
//! do), pagination cursors, and content negotiation for CSV exports.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The query string as `T`; a value that does not parse is a 400
/// `invalid_parameter` naming the field, in the one JSON error shape.
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        serde_html_form::from_str(raw)
            .map(Query)
            .map_err(|e| ApiError::bad_param(format!("invalid query string: {e}")))
    }
}

/// The client asked for `text/csv` (exports); JSON otherwise.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"))
}

/// One CSV record and its `\n`, written by the `csv` crate (RFC 4180
/// quoting of separators, quotes and line breaks).
pub fn csv_row<I>(fields: I) -> String
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields).expect("writing to memory cannot fail");
    let bytes = w.into_inner().expect("flushing to memory cannot fail");
    String::from_utf8(bytes).expect("UTF-8 fields make UTF-8 records")
}

/// A page position in a list ranked by one model: `<model_version>.<key>`.
/// A cursor from another model's list is refused (409 `stale_cursor`)
/// rather than mixing two rankings or segmentations in one export.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub model_version: i64,
    /// The last key of the previous page (a user id).
    pub key: String,
}

impl Cursor {
    pub fn encode(model_version: i64, key: &str) -> String {
        format!("{model_version}.{key}")
    }

    /// Parses `after`; 400 `invalid_cursor` when it is not a cursor, 409
    /// `stale_cursor` when it was issued under another model version.
    pub fn parse(after: &str, serving: i64) -> Result<Cursor, ApiError> {
        let bad = || ApiError::BadRequest {
            code: "invalid_cursor",
            message: "after must be a cursor returned as next by this endpoint".into(),
        };
        let (v, key) = after.split_once('.').ok_or_else(bad)?;
        let model_version: i64 = v.parse().map_err(|_| bad())?;
        if !crate::domain::valid_id(key) {
            return Err(bad());
        }
        if model_version != serving {
            return Err(ApiError::Conflict {
                code: "stale_cursor",
                message: format!(
                    "the cursor belongs to model {model_version}; model {serving} serves now: start again without after"
                ),
            });
        }
        Ok(Cursor {
            model_version,
            key: key.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_refuses_another_model() {
        let c = Cursor::encode(7, "u.1");
        assert_eq!(c, "7.u.1");
        assert_eq!(Cursor::parse(&c, 7).unwrap().key, "u.1");
        let stale = Cursor::parse(&c, 8).unwrap_err();
        assert_eq!(stale.status_and_code().1, "stale_cursor");
        for bad in ["u1", "x.u1", "7."] {
            assert_eq!(
                Cursor::parse(bad, 7).unwrap_err().status_and_code().1,
                "invalid_cursor"
            );
        }
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_row(["a", "b"]), "a,b\n");
        assert_eq!(csv_row(["a,\"b"]), "\"a,\"\"b\"\n");
    }
}
