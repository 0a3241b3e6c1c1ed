//! Time-decayed course popularity: the cold-start fallback and the baseline
//! every model must beat.

use super::interactions::Interaction;
use super::topn::top_n_scores;

/// Per course: Σ weight × 0.5^(age / half_life), age from each interaction's
/// latest event to `now_ms`. `None` (or a non-positive half-life) disables
/// decay; future timestamps count as age 0.
pub fn popularity(
    entries: &[Interaction],
    n_courses: usize,
    now_ms: i64,
    half_life_days: Option<f64>,
) -> Vec<f32> {
    let mut s = vec![0f64; n_courses];
    for e in entries {
        let decay = match half_life_days {
            Some(h) if h > 0.0 => 0.5f64.powf((now_ms - e.ts_ms).max(0) as f64 / 86_400_000.0 / h),
            _ => 1.0,
        };
        // Accumulate in f64: millions of small terms would lose precision in f32.
        s[e.course as usize] += f64::from(e.weight.max(0.0)) * decay;
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
        Interaction {
            user: 0,
            course,
            weight,
            ts_ms,
            taken: false,
        }
    }

    #[test]
    fn decays_by_half_life() {
        let es = [e(0, 4.0, 10 * DAY), e(0, 4.0, 0), e(1, 2.0, 10 * DAY)];
        // Course 0: 4 + 4 × 0.5 = 6 with a 10-day half-life at day 10.
        assert_eq!(popularity(&es, 3, 10 * DAY, Some(10.0)), vec![6.0, 2.0, 0.0]);
        assert_eq!(popularity(&es, 3, 10 * DAY, None), vec![8.0, 2.0, 0.0]);
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
