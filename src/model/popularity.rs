//! Time-decayed course popularity: the cold-start fallback and the baseline
//! every model must beat.

use super::interactions::Interaction;
use super::topn::top_n_scores;

/// Per course: how many learners took it, recent ones counting more:
/// Σ over (user, course) interactions of min(1, weight / `full_weight`) ×
/// 0.5^(age / half_life), age from the pair's latest event to `now_ms`.
/// One learner adds at most 1 however many events they sent (a buyer
/// counts fully when `full_weight` is the purchase weight, a browser a
/// fraction), so one account cannot make a course popular. A non-positive
/// `full_weight` counts every learner with a positive weight as 1. `None`
/// (or a non-positive half-life) disables decay; future timestamps count
/// as age 0.
pub fn popularity(
    entries: &[Interaction],
    n_courses: usize,
    now_ms: i64,
    half_life_days: Option<f64>,
    full_weight: f32,
) -> Vec<f32> {
    let mut s = vec![0f64; n_courses];
    for e in entries.iter().filter(|e| e.weight > 0.0) {
        let decay = match half_life_days {
            Some(h) if h > 0.0 => 0.5f64.powf((now_ms - e.ts_ms).max(0) as f64 / 86_400_000.0 / h),
            _ => 1.0,
        };
        let share = if full_weight > 0.0 {
            (e.weight / full_weight).min(1.0)
        } else {
            1.0
        };
        // Accumulate in f64: millions of small terms would lose precision in f32.
        s[e.course as usize] += f64::from(share) * decay;
    }
    s.into_iter().map(|v| v as f32).collect()
}

/// The `n` most popular courses not excluded, best first.
pub fn top_popular(scores: &[f32], n: usize, exclude: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    top_n_scores(scores, n, exclude)
}

/// The `n` most popular courses whose category (indexed like `scores`) is
/// `category`, best first.
pub fn top_in_category(
    scores: &[f32],
    categories: &[String],
    category: &str,
    n: usize,
    exclude: impl Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    top_n_scores(scores, n, |i| {
        categories.get(i as usize).is_none_or(|c| c != category) || exclude(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn e(course: u32, weight: f32, ts_ms: i64) -> Interaction {
        learner(0, course, weight, ts_ms)
    }

    fn learner(user: u32, course: u32, weight: f32, ts_ms: i64) -> Interaction {
        Interaction {
            user,
            course,
            weight,
            ts_ms,
            start_ms: ts_ms,
            taken: false,
        }
    }

    #[test]
    fn decays_by_half_life() {
        let es = [e(0, 4.0, 10 * DAY), e(0, 4.0, 0), e(1, 2.0, 10 * DAY)];
        // Course 0: 4 + 4 × 0.5 = 6 with a 10-day half-life at day 10.
        assert_eq!(popularity(&es, 3, 10 * DAY, Some(10.0), 4.0), vec![1.5, 0.5, 0.0]);
        assert_eq!(popularity(&es, 3, 10 * DAY, None, 4.0), vec![2.0, 0.5, 0.0]);
    }

    #[test]
    fn counts_learners_not_events() {
        // One learner with a huge weight (25 purchases summed by an older
        // aggregation) against four buyers of course 1.
        let mut es = vec![learner(0, 0, 250.0, 0)];
        es.extend((1..5).map(|u| learner(u, 1, 10.0, 0)));
        es.push(learner(5, 2, 1.0, 0)); // one view: a tenth of a learner
        assert_eq!(popularity(&es, 3, 0, None, 10.0), vec![1.0, 4.0, 0.1]);
        assert_eq!(popularity(&es, 3, 0, None, 0.0), vec![1.0, 4.0, 1.0]);
    }

    #[test]
    fn ranks_overall_and_within_a_category() {
        let scores = [5.0, 1.0, 3.0, 4.0];
        let cats: Vec<String> = ["a", "b", "a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(top_popular(&scores, 2, |i| i == 0), vec![(3, 4.0), (2, 3.0)]);
        assert_eq!(
            top_in_category(&scores, &cats, "b", 5, |_| false),
            vec![(3, 4.0), (1, 1.0)]
        );
        assert_eq!(
            top_in_category(&scores, &cats, "a", 5, |i| i == 0),
            vec![(2, 3.0)]
        );
    }
}
