//! Summaries of groups of users: mean activity, and the retrain-independent
//! signature of a segment used to keep its id.

use super::labels::ActivitySummary;
use super::profile::Profile;
use super::Segment;

/// Mean activity of the given profiles.
pub fn activity_summary<'a>(profiles: impl Iterator<Item = &'a Profile>) -> ActivitySummary {
    let (mut n, mut spend, mut buyers, mut ev30, mut rec, mut nrec) =
        (0usize, 0.0f64, 0usize, 0.0f64, 0.0f64, 0usize);
    for p in profiles {
        n += 1;
        spend += p.spend_cents as f64;
        buyers += usize::from(p.spend_cents > 0);
        ev30 += f64::from(p.events_30d);
        if let Some(r) = p.recency_days {
            rec += f64::from(r);
            nrec += 1;
        }
    }
    let nf = n.max(1) as f64;
    ActivitySummary {
        mean_spend_cents: spend / nf,
        buyer_share: (buyers as f64 / nf) as f32,
        mean_events_30d: (ev30 / nf) as f32,
        mean_recency_days: (rec / nrec.max(1) as f64) as f32,
    }
}

/// Retrain-independent description of a segment used to match ids: its
/// category mix by name plus a lightly weighted, log-scaled activity.
/// ALS factors are left out because a retrain may rotate their basis.
pub(crate) fn signature(seg: &Segment, categories: &[String], all_categories: &[String]) -> Vec<f32> {
    let mut v: Vec<f32> = all_categories
        .iter()
        .map(|c| {
            categories
                .iter()
                .position(|x| x == c)
                .map_or(0.0, |j| seg.category_mix[j])
        })
        .collect();
    let a = &seg.activity;
    let w = 0.25;
    v.push(w * ((a.mean_spend_cents / 100.0).ln_1p() / 201f64.ln()) as f32);
    v.push(w * a.mean_events_30d.ln_1p() / 51f32.ln());
    v.push(w * a.mean_recency_days.ln_1p() / 91f32.ln());
    v
}
