//! What an API key may do; the names are those of `auth.keys[].scopes`.

/// What a key may do. A route names the scopes any one of which lets a key
/// call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    /// `POST /events`.
    Ingest,
    /// Recommendations, profiles, segments, audiences, campaigns, the catalog.
    Read,
    /// Catalog and user writes, the model, experiments, campaign creation.
    Admin,
    /// What a key carried inside a web page or a mobile app may do:
    /// recommendations, popular, similar, course cards and `POST /events`;
    /// nothing that reveals another learner (profiles, segments, audiences,
    /// campaigns, exports).
    Client,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        s.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every scope's name, for messages.
    pub fn names() -> Vec<&'static str> {
        <Scope as strum::VariantArray>::VARIANTS
            .iter()
            .map(|s| s.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_their_names() {
        for &s in <Scope as strum::VariantArray>::VARIANTS {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::names(), ["ingest", "read", "admin", "client"]);
        assert_eq!(Scope::parse("Read"), None);
    }
}
