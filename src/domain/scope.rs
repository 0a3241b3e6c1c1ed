//! What an API key may do; the names are those of `auth.keys[].scopes`.

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /events`.
    Ingest,
    /// Recommendations, profiles, segments, the catalog.
    Read,
    /// Catalog and user writes, the model, experiments.
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}
