//! The demo's ground truth in the marketing pipeline's terms: its past and
//! simulated future as per-day rows with the kind of every learner, for
//! tests and the backtest example (never loaded or served).

use crate::domain::EventType;
use crate::marketing::features::{CourseInfo, DayRow};
use crate::marketing::synthetic::Planted;

use super::DemoData;

/// The demo platform's past and simulated future as day rows, with T
/// the first day after `now_ms` (events of the current day after
/// `now_ms` are moved to T, so [`Planted::seen`] is exactly the past).
/// Learners in demo user order; courses in catalog order, categories
/// by sorted name, as the training indexes them.
/// (learner, course, event type, day) of a day cell.
type DayKey = (usize, u32, EventType, i32);

pub fn planted(data: &DemoData, now_ms: i64) -> Planted {
    use std::collections::HashMap;
    const DAY: i64 = 86_400_000;
    let mut names: Vec<&str> = data.courses.iter().map(|c| c.category.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let courses: Vec<CourseInfo> = data
        .courses
        .iter()
        .map(|c| CourseInfo {
            category: names.binary_search(&c.category.as_str()).unwrap_or(0) as u32,
            price_cents: c.price_cents,
        })
        .collect();
    let course_ix: HashMap<&str, u32> = data
        .courses
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    let user_ix: HashMap<&str, usize> = data
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.0.as_str(), i))
        .collect();
    let today = (now_ms.div_euclid(DAY) + 1) as i32;
    // (learner, course, type, day) → (count, largest value, last event's ms within the day).
    let mut days: HashMap<DayKey, (u32, f32, i32)> = HashMap::new();
    for (e, future) in data
        .events
        .iter()
        .map(|e| (e, false))
        .chain(data.future.iter().map(|e| (e, true)))
    {
        let day = e.ts_ms.div_euclid(DAY) as i32;
        let day = if future { day.max(today) } else { day };
        let r = days
            .entry((
                user_ix[e.user_id.as_str()],
                course_ix[e.course_id.as_str()],
                e.kind,
                day,
            ))
            .or_insert((0, 0.0, 0));
        r.0 += 1;
        r.1 = r.1.max(e.value.unwrap_or(0.0) as f32);
        r.2 = r.2.max((e.ts_ms - i64::from(day) * DAY).clamp(0, DAY - 1) as i32);
    }
    let mut histories = vec![Vec::new(); data.users.len()];
    for ((u, course, kind, day), (count, value_max, last_ms)) in days {
        histories[u].push(DayRow {
            day,
            course,
            kind,
            count,
            value_max,
            last_ms,
        });
    }
    // A total order, so the rows (and all that follows) are reproducible.
    for h in &mut histories {
        h.sort_by_key(|r| (r.day, r.course, r.kind.index()));
    }
    Planted {
        histories,
        courses,
        n_categories: names.len(),
        today,
        kind: data.kinds.iter().map(|k| k.1).collect(),
    }
}
