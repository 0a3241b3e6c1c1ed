//! Fold-in: a factor for a user the snapshot does not know yet (or whose
//! events are newer than it), solved against the fixed course factors.

use super::live::Folded;
use super::snapshot::ModelSnapshot;
use crate::domain::{TypeAgg, UserAttrs};
use crate::model::{fold_in_with_negatives, Interactions};

/// Builds a user's serving state from their stored aggregates.
pub fn fold(
    snap: &ModelSnapshot,
    aggs: &[TypeAgg],
    attrs: Option<UserAttrs>,
    mark: i64,
    now_ms: i64,
) -> Folded {
    let inter = Interactions::build(aggs, &[], &snap.weights, now_ms);
    let courses = &snap.courses;
    let mut history = Vec::new();
    let mut taken = Vec::new();
    let mut order = Vec::new();
    for e in &inter.entries {
        let Some(&i) = courses.index.get(&inter.courses[e.course as usize]) else {
            continue;
        };
        if e.weight > 0.0 {
            history.push((i, e.weight));
        }
        if e.taken {
            taken.push(i);
            order.push((e.start_ms, i));
        }
    }
    let mut dismissed: Vec<u32> = Interactions::dismissed_courses(aggs)
        .into_iter()
        .filter_map(|id| courses.index.get(id).copied())
        .collect();
    dismissed.sort_unstable();
    taken.sort_unstable();
    order.sort_unstable();
    history.sort_unstable_by_key(|h| h.0);
    // Folding against zero factors (a popularity snapshot) says nothing.
    let factor = if history.is_empty() || !snap.is_model() {
        None
    } else {
        let negatives: Vec<(u32, f32)> = dismissed.iter().map(|&c| (c, snap.weights.dismiss)).collect();
        fold_in_with_negatives(
            &courses.factors,
            &courses.gram,
            &history,
            &negatives,
            &snap.params,
        )
        .ok()
    };
    Folded {
        version: snap.version,
        mark,
        factor,
        taken,
        order: order.into_iter().map(|o| o.1).collect(),
        history,
        dismissed,
        attrs,
    }
}
