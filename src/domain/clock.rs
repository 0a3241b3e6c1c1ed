//! The wall clock, in the unit stored everywhere.

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

use chrono::{Datelike, Months, NaiveDate};

/// One UTC day, ms.
pub const DAY_MS: i64 = 86_400_000;

/// The first day of the UTC month holding `ms` (Unix ms); the epoch's
/// month for a time chrono cannot represent.
pub fn month_start(ms: i64) -> NaiveDate {
    let d = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive();
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("day 1 exists")
}

/// Unix ms at 00:00 UTC of `day`.
pub fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// The retention cutoff, Unix ms: the start of the UTC month `months`
/// before the month of `now_ms`, so the current month and the `months`
/// before it are kept whole. `None` when `months` is 0 (keep everything).
pub fn retention_cutoff_ms(now_ms: i64, months: u32) -> Option<i64> {
    if months == 0 {
        return None;
    }
    let cutoff = month_start(now_ms).checked_sub_months(Months::new(months))?;
    Some(day_start_ms(cutoff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_the_current_month_and_the_months_before_it() {
        // 2026-03-15T12:00:00Z with 2 months kept: cut at 2026-01-01.
        assert_eq!(retention_cutoff_ms(1_773_576_000_000, 2), Some(1_767_225_600_000));
        // Across a year boundary: 2026-01-01T00:00:00Z, 1 month: 2025-12-01.
        assert_eq!(retention_cutoff_ms(1_767_225_600_000, 1), Some(1_764_547_200_000));
        assert_eq!(retention_cutoff_ms(1_773_576_000_000, 0), None);
    }
}
