//! Domain types shared by storage, training and HTTP: events, courses, users,
//! key scopes; and the small helpers every layer uses (clock, id hashes,
//! weighted draws). Values of these types are valid by construction; parsing
//! happens at the edge.

mod catalog;
mod clock;
pub mod id_hash;
pub mod sample;
mod scope;

use serde::{Deserialize, Serialize};

pub use catalog::{category_key, CourseBody};
pub use clock::{day_start_ms, month_start, now_ms, retention_cutoff_ms, DAY_MS};
pub use scope::Scope;

/// Longest id accepted for users, courses, events and recommendations.
pub const MAX_ID_LEN: usize = 128;

/// What a user did to a course.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    View,
    Click,
    Favorite,
    AddToCart,
    Watch,
    Rating,
    Purchase,
    Refund,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::View,
        EventType::Click,
        EventType::Favorite,
        EventType::AddToCart,
        EventType::Watch,
        EventType::Rating,
        EventType::Purchase,
        EventType::Refund,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::View => "view",
            EventType::Click => "click",
            EventType::Favorite => "favorite",
            EventType::AddToCart => "add_to_cart",
            EventType::Watch => "watch",
            EventType::Rating => "rating",
            EventType::Purchase => "purchase",
            EventType::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Index into arrays laid out in the order of [`EventType::ALL`]. The
    /// rollup stores it as the type's code, so new types go at the end.
    pub fn index(self) -> usize {
        self as usize
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

/// Course difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Beginner,
    Intermediate,
    Advanced,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Beginner => "beginner",
            Level::Intermediate => "intermediate",
            Level::Advanced => "advanced",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        [Level::Beginner, Level::Intermediate, Level::Advanced]
            .into_iter()
            .find(|l| l.as_str() == s)
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

/// True when `s` is a usable id: 1–128 characters, not blank, no control
/// characters (so NUL, which Postgres text refuses and SQLite stores, is
/// refused at the edge and both stores accept the same ids).
pub fn valid_id(s: &str) -> bool {
    let n = s.chars().count();
    (1..=MAX_ID_LEN).contains(&n) && !s.trim().is_empty() && !s.chars().any(char::is_control)
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
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(EventType::ALL[t.index()], t);
        }
        assert_eq!(EventType::parse("like"), None);
    }

    #[test]
    fn ids_must_be_one_to_128_chars() {
        assert!(!valid_id(""));
        assert!(valid_id("a"));
        assert!(valid_id(&"x".repeat(128)));
        assert!(!valid_id(&"x".repeat(129)));
        assert!(!valid_id("a\nb"));
        assert!(!valid_id("a\0b"));
    }

    #[test]
    fn blank_ids_are_refused() {
        assert!(!valid_id(" "));
        assert!(!valid_id("\u{3000}"), "ideographic space is blank too");
        assert!(valid_id(" a "));
    }

    #[test]
    fn text_refuses_nul_but_keeps_line_breaks() {
        assert!(valid_text("Async Rust\n2nd edition\t"));
        assert!(!valid_text("Async\0Rust"));
        assert!(!valid_text("bell\u{7}"));
    }
}
