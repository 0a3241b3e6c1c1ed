//! Domain types shared by storage, training and HTTP: events, courses, users,
//! key scopes; and the small helpers every layer uses (clock, id hashes,
//! weighted draws). Values of these types are valid by construction; parsing
//! happens at the edge.

mod catalog;
mod clock;
pub mod id_hash;
mod ids;
pub mod sample;
mod scope;

use serde::{Deserialize, Serialize};

pub use catalog::{category_key, CourseBody};
pub use clock::{day_start_ms, month_start, now_ms, retention_cutoff_ms, DAY_MS};
pub use ids::{id_forms, nfc, nfc_json, normalize_id, valid_id};
pub use scope::Scope;

/// Longest id accepted for users, courses, events and recommendations.
pub const MAX_ID_LEN: usize = 128;

/// What a user did to a course. Names (`add_to_cart`) come from the
/// variants, for serde and for [`EventType::as_str`] / [`EventType::parse`]
/// alike.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventType {
    View,
    Click,
    Favorite,
    AddToCart,
    Watch,
    Rating,
    Purchase,
    Refund,
    /// "Not interested": the course leaves the learner's lists until a
    /// later positive event on it (see [`EventType::is_positive`]).
    Dismiss,
}

impl EventType {
    /// Every type, in declaration order (the rollup's codes).
    pub const ALL: &'static [EventType] = <EventType as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<EventType> {
        s.parse().ok()
    }

    /// Index into arrays laid out in the order of [`EventType::ALL`]. The
    /// rollup stores it as the type's code, so new types go at the end.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Interest in the course: clears a dismissal and fatigue. Views and
    /// refunds are not; a view may be an accident of the page.
    pub fn is_positive(self) -> bool {
        matches!(
            self,
            EventType::Click
                | EventType::Favorite
                | EventType::AddToCart
                | EventType::Watch
                | EventType::Rating
                | EventType::Purchase
        )
    }

    /// The type at `index` in [`EventType::ALL`]; `None` past the end.
    pub fn from_index(index: usize) -> Option<EventType> {
        EventType::ALL.get(index).copied()
    }
}

/// One validated behaviour event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: Option<String>,
    pub user_id: String,
    pub course_id: String,
    pub kind: EventType,
    /// Rating 1–5 for `rating`, fraction 0–1 for `watch`, free otherwise.
    pub value: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub rec_id: Option<String>,
}

impl Event {
    /// A fingerprint of what the event says apart from its time: user,
    /// course, type and value (xxh3-64 over their bytes). An `event_id`
    /// sent again with another fingerprint, or another explicit `ts`, is a
    /// conflict rather than a duplicate.
    pub fn body_hash(&self) -> i64 {
        let mut buf = Vec::with_capacity(self.user_id.len() + self.course_id.len() + 24);
        for part in [
            self.user_id.as_bytes(),
            self.course_id.as_bytes(),
            self.kind.as_str().as_bytes(),
        ] {
            buf.extend_from_slice(part);
            buf.push(0);
        }
        match self.value {
            Some(v) => {
                buf.push(1);
                buf.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            None => buf.push(0),
        }
        xxhash_rust::xxh3::xxh3_64(&buf) as i64
    }
}

/// Course difficulty.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Level {
    Beginner,
    Intermediate,
    Advanced,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Level> {
        s.parse().ok()
    }
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Course {
    pub id: String,
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    pub level: Level,
    pub price_cents: i64,
    pub active: bool,
    /// Course ids to own before this one (DESIGN "Learning paths"). Ids not
    /// in the catalog yet are kept and count once they exist; the catalog
    /// refuses a cycle.
    #[serde(default)]
    pub prerequisites: Vec<String>,
}

/// Optional user attributes used for cold start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserAttrs {
    pub interests: Vec<String>,
    pub level: Option<Level>,
}

/// Events of one type by one user on one course, summed in the store.
/// Training reads these instead of raw rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeAgg {
    pub user_id: String,
    pub course_id: String,
    pub kind: EventType,
    pub count: u32,
    pub value_sum: f64,
    pub value_max: f64,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
    /// Events of this group in the last 30 and 90 days before the query ran.
    pub count_30d: u32,
    pub count_90d: u32,
}

/// A [`TypeAgg`] with borrowed ids: what training derives from its
/// interned cells, millions at a time, without owning a `String` each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggView<'a> {
    pub user_id: &'a str,
    pub course_id: &'a str,
    pub kind: EventType,
    pub count: u32,
    pub value_sum: f64,
    pub value_max: f64,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
    pub count_30d: u32,
    pub count_90d: u32,
}

impl<'a> From<&'a TypeAgg> for AggView<'a> {
    fn from(a: &'a TypeAgg) -> AggView<'a> {
        AggView {
            user_id: &a.user_id,
            course_id: &a.course_id,
            kind: a.kind,
            count: a.count,
            value_sum: a.value_sum,
            value_max: a.value_max,
            first_ts_ms: a.first_ts_ms,
            last_ts_ms: a.last_ts_ms,
            count_30d: a.count_30d,
            count_90d: a.count_90d,
        }
    }
}

impl<'a> From<&AggView<'a>> for AggView<'a> {
    fn from(a: &AggView<'a>) -> AggView<'a> {
        *a
    }
}

/// True when free text (a course title, say) has no control characters
/// other than tab and newline; NUL in particular is refused by Postgres.
pub fn valid_text(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
}

/// Why one field of one item was rejected.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    /// The item's position in a batch (0-based); absent for a single item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: impl Into<String>) -> FieldError {
        FieldError {
            index: None,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_names() {
        for &t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                t.as_str(),
                "serde and strum agree"
            );
            assert_eq!(EventType::ALL[t.index()], t);
        }
        assert_eq!(EventType::parse("like"), None);
    }

    #[test]
    fn text_refuses_nul_but_keeps_line_breaks() {
        assert!(valid_text("Async Rust\n2nd edition\t"));
        assert!(!valid_text("Async\0Rust"));
        assert!(!valid_text("bell\u{7}"));
    }
}
