//! The marketing half of a training: the log's per-day cells indexed by the
//! snapshot's users and courses, then the pure `marketing` pipeline.

use rayon::prelude::*;

use super::days::DayData;
use crate::marketing::audience::MarketingModel;
use crate::marketing::features::{CourseInfo, DayRow};
use crate::marketing::offer::{Catalogue, OfferShares};
use crate::marketing::predict::{predict, LearnerData};
use crate::marketing::MarketingSettings;
use crate::serve::snapshot::{CourseSide, UserSide};

/// Predictions, RFM and offer shares for every snapshot user as of day
/// `today` (the first day not seen). `days` is consumed: its cells are
/// copied into per-learner histories and freed before the fits run.
pub fn build(
    days: DayData,
    users: &UserSide,
    courses: &CourseSide,
    s: &MarketingSettings,
    today: i32,
    previous: Option<&MarketingModel>,
) -> MarketingModel {
    let mut categories: Vec<String> = courses.meta.iter().map(|m| m.category.clone()).collect();
    categories.sort_unstable();
    categories.dedup();
    let course_category: Vec<u32> = courses
        .meta
        .iter()
        .map(|m| categories.binary_search(&m.category).unwrap_or(0) as u32)
        .collect();
    let infos: Vec<CourseInfo> = courses
        .meta
        .iter()
        .zip(&course_category)
        .map(|(m, &category)| CourseInfo {
            category,
            price_cents: m.price_cents,
        })
        .collect();
    // Day-store indices to snapshot indices (None: not in the snapshot).
    let user_of: Vec<Option<u32>> = days
        .user_ids
        .iter()
        .map(|u| users.index.get(u).copied())
        .collect();
    let course_of: Vec<Option<u32>> = days
        .course_ids
        .iter()
        .map(|c| courses.index.get(c).copied())
        .collect();
    // Exact capacities: at scale, growth by doubling left a third of the
    // histories' memory unused.
    let mut lengths = vec![0usize; users.ids.len()];
    for c in &days.rows {
        if let (Some(u), Some(_)) = (user_of[c.user as usize], course_of[c.course as usize]) {
            lengths[u as usize] += 1;
        }
    }
    let mut histories: Vec<Vec<DayRow>> = lengths.into_iter().map(Vec::with_capacity).collect();
    for c in &days.rows {
        if let (Some(u), Some(course)) = (user_of[c.user as usize], course_of[c.course as usize]) {
            histories[u as usize].push(DayRow {
                day: c.day,
                course,
                kind: c.kind,
                count: c.count,
                value_max: c.value_max,
            });
        }
    }
    drop(days);
    histories.par_iter_mut().for_each(|h| h.sort_by_key(|r| r.day));
    let data = LearnerData {
        histories: &histories,
        courses: &infos,
        n_categories: categories.len(),
        today,
    };
    let predictions = predict(&data, s, previous.map(|p| &p.predictions));
    let active = s.activity_mask();
    let last_active_day = histories
        .iter()
        .map(|h| {
            h.iter()
                .rev()
                .find(|r| active[r.kind.index()])
                .map_or(i32::MIN, |r| r.day)
        })
        .collect();
    let offered: Vec<bool> = courses.meta.iter().map(|m| m.servable()).collect();
    let catalogue = Catalogue {
        factors: &courses.factors,
        category: &course_category,
        offered: &offered,
        n_categories: categories.len(),
    };
    let (offers, audit) = OfferShares::build(
        &users.factors,
        &users.taken,
        &catalogue,
        s.course_softmax_beta,
        &s.offer_normaliser,
    );
    if audit.sampled {
        tracing::info!(
            learners_exact = audit.learners_exact,
            learners_checked = audit.learners_checked,
            median_relative_error = audit.median_relative_error,
            max_relative_error = audit.max_relative_error,
            max_category_error = audit.max_category_error,
            "offer normaliser sampled"
        );
    }
    MarketingModel {
        predictions,
        offers,
        categories,
        course_category,
        last_active_day,
        today,
    }
}
