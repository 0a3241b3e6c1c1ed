//! How values look on the wire: times as RFC 3339 strings, floats rounded
//! to what they mean, and the course card every list item carries.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Level;
use crate::serve::snapshot::CourseMeta;

/// Milliseconds since the epoch as RFC 3339 (UTC, millisecond precision).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A score to 4 significant digits: ranking scores and similarities have no
/// meaningful digits beyond that, and f32 noise (`0.14380000531673431`)
/// would otherwise leak into the JSON.
pub fn score(x: f32) -> f64 {
    significant(f64::from(x), 4)
}

/// A statistic (z, p-value) to 4 significant digits.
pub fn stat(x: f64) -> f64 {
    significant(x, 4)
}

/// A share, rate or probability (0..1) to 4 decimals.
pub fn share(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Seconds to milliseconds precision.
pub fn seconds(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() { x } else { 0.0 };
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// What a front end needs to render a course in a list, from the serving
/// catalog: no second request per item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseCard {
    pub course_id: String,
    pub title: String,
    pub category: String,
    pub level: Level,
    /// List price in cents.
    pub price_cents: i64,
}

impl CourseCard {
    pub fn new(id: &str, meta: &CourseMeta) -> CourseCard {
        CourseCard {
            course_id: id.to_string(),
            title: meta.title.clone(),
            category: meta.category.clone(),
            level: meta.level,
            price_cents: meta.price_cents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_keep_four_significant_digits() {
        assert_eq!(score(0.143_800_5), 0.1438);
        assert_eq!(score(12.345_67), 12.35);
        assert_eq!(score(-0.000_123_456), -0.000_123_5);
        assert_eq!(score(0.0), 0.0);
        assert_eq!(score(f32::NAN), 0.0);
        assert_eq!(share(0.123_456), 0.1235);
        assert_eq!(serde_json::to_string(&score(0.143_800_5)).unwrap(), "0.1438");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
