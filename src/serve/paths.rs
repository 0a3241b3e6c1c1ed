//! Learning paths on the serving snapshot: a learner's plan to a goal and
//! what learners take after a course, over the live catalog (prerequisites
//! are metadata: a catalog edit applies at once) and the snapshot's order
//! model.

use std::sync::Arc;

use super::snapshot::{CourseSide, ModelSnapshot};
use crate::domain::Level;
use crate::paths::order::{category_ids, Transitions};
use crate::paths::{plan, Goal, Plan, PlanCourses, PlanError};

/// The planner's view of a course side, built once per side.
#[derive(Debug)]
pub struct PlanData {
    prereqs: Vec<Vec<u32>>,
    level: Vec<u8>,
    category: Vec<u32>,
    takeable: Vec<bool>,
    popularity: Vec<f32>,
}

fn level_rank(l: Level) -> u8 {
    match l {
        Level::Beginner => 0,
        Level::Intermediate => 1,
        Level::Advanced => 2,
    }
}

impl PlanData {
    fn new(side: &CourseSide) -> PlanData {
        let takeable: Vec<bool> = side.meta.iter().map(|m| m.servable()).collect();
        // A prerequisite counts while it is in the catalog and can be taken.
        let prereqs = side
            .meta
            .iter()
            .map(|m| {
                m.prerequisites
                    .iter()
                    .filter_map(|p| side.index.get(p).copied())
                    .filter(|&j| takeable[j as usize])
                    .collect()
            })
            .collect();
        PlanData {
            prereqs,
            level: side.meta.iter().map(|m| level_rank(m.level)).collect(),
            category: category_ids(
                side.meta
                    .iter()
                    .map(|m| if m.listed { m.category.as_str() } else { "" }),
            ),
            takeable,
            popularity: side.popularity.clone(),
        }
    }

    fn courses<'a>(&'a self, affinity: Option<&'a [f32]>, order_weight: f32) -> PlanCourses<'a> {
        PlanCourses {
            prereqs: &self.prereqs,
            level: &self.level,
            category: &self.category,
            takeable: &self.takeable,
            popularity: &self.popularity,
            affinity,
            order_weight,
        }
    }

    /// Course `i`'s prerequisites that count and `owned` (sorted) lacks.
    pub fn missing<'a>(&'a self, i: u32, owned: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        self.prereqs[i as usize]
            .iter()
            .copied()
            .filter(move |p| owned.binary_search(p).is_err())
    }

    /// True when `owned` (sorted) holds every prerequisite of course `i`
    /// that counts.
    pub fn ready(&self, i: u32, owned: &[u32]) -> bool {
        self.prereqs[i as usize]
            .iter()
            .all(|p| owned.binary_search(p).is_ok())
    }
}

/// The side's planner data (built on first use).
pub fn plan_data(side: &CourseSide) -> &Arc<PlanData> {
    side.plan_data.get_or_init(|| Arc::new(PlanData::new(side)))
}

/// Where a learner wants to get, as the request names it.
pub enum PathGoal<'a> {
    Course(&'a str),
    Category(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("no course {0:?} in the catalog")]
    UnknownCourse(String),
    #[error("no course of category {0:?} can be taken")]
    UnknownCategory(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Empty transitions, for a snapshot without an order model.
fn no_order(n: usize) -> Transitions {
    Transitions::build(std::iter::empty(), n, &vec![crate::paths::order::NO_CATEGORY; n])
}

/// The plan to `goal` for a learner who owns `owned` (sorted), took
/// `history` (oldest first) and has the factor `factor` (if any).
pub fn plan_for(
    snap: &ModelSnapshot,
    owned: &[u32],
    history: &[u32],
    factor: Option<&[f32]>,
    goal: PathGoal,
    max_steps: usize,
) -> Result<Plan, PathError> {
    let side = &snap.courses;
    let data = plan_data(side);
    let goal = match goal {
        PathGoal::Course(id) => match side.index.get(id) {
            Some(&i) if side.meta[i as usize].servable() => Goal::Course(i),
            _ => return Err(PathError::UnknownCourse(id.to_string())),
        },
        PathGoal::Category(name) => {
            let first =
                (0..side.ids.len()).find(|&i| side.meta[i].servable() && side.meta[i].category == name);
            match first {
                Some(i) => Goal::Category(data.category[i]),
                None => return Err(PathError::UnknownCategory(name.to_string())),
            }
        }
    };
    let empty;
    let order = match &snap.paths {
        Some(p) => &p.transitions,
        None => {
            empty = no_order(side.ids.len());
            &empty
        }
    };
    // The learner's scores for the goal category's courses (others stay 0:
    // the prior is only read there).
    let affinity: Option<Vec<f32>> = factor.filter(|_| snap.is_model()).map(|f| {
        let mut a = vec![0f32; side.ids.len()];
        let wanted = match goal {
            Goal::Category(cat) => Some(cat),
            Goal::Course(_) => None,
        };
        for (i, slot) in a.iter_mut().enumerate() {
            if wanted.is_none_or(|cat| data.category[i] == cat) {
                *slot = crate::model::topn::dot(f, side.factors.row(i));
            }
        }
        a
    });
    // The weight the next-course holdout chose for order against factors.
    let order_weight = snap
        .paths
        .as_ref()
        .and_then(|p| p.report.as_ref())
        .map_or(0.5, |r| r.blend_weight);
    Ok(plan(
        &data.courses(affinity.as_deref(), order_weight),
        order,
        owned,
        history,
        goal,
        max_steps,
    )?)
}

/// What learners took right after course `id`: (course, share of its
/// learners) for courses that can be taken, most frequent first, at most
/// `n`. `None` when the course is not in the catalog.
pub fn next_after(snap: &ModelSnapshot, id: &str, n: usize) -> Option<Vec<(u32, f32)>> {
    let side = &snap.courses;
    let &i = side.index.get(id)?;
    if !side.meta[i as usize].listed {
        return None;
    }
    let Some(p) = &snap.paths else {
        return Some(vec![]);
    };
    let mut out: Vec<(u32, f32)> = p
        .transitions
        .next_shares(i)
        .into_iter()
        .filter(|&(j, _)| side.meta.get(j as usize).is_some_and(|m| m.servable()))
        .collect();
    out.truncate(n);
    Some(out)
}
