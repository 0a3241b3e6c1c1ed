//! RFM: recency, frequency and monetary scores 1–5 by quintile, and the
//! conventional named groups of the R × FM grid.
//!
//! R is days since the last activity (fewer is better), F the number of
//! courses owned (distinct purchases net of refunds), M the net spend.
//! Each score is 1 + ⌊5·b/n⌋, b = learners strictly worse: ties share a
//! score. F and M rank buyers among buyers (n = learners with F, or M,
//! above zero) and give 1 to learners with none: with most learners never
//! buying, ranking over everyone would put a one-course buyer in the top
//! quintiles, "champions" for a single purchase.
//!
//! Groups follow the widely used RFM segment map on R and FM = ⌈(F+M)/2⌉:
//!
//! | R \ FM | 1 | 2 | 3 | 4 | 5 |
//! |---|---|---|---|---|---|
//! | 5 | new | potential_loyalists | potential_loyalists | champions | champions |
//! | 4 | promising | potential_loyalists | potential_loyalists | loyal | loyal |
//! | 3 | about_to_sleep | about_to_sleep | need_attention | loyal | loyal |
//! | 2 | hibernating | hibernating | at_risk | at_risk | cannot_lose |
//! | 1 | lost | hibernating | at_risk | at_risk | cannot_lose |

use serde::{Deserialize, Serialize};

/// One learner's raw RFM inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    pub recency_days: f64,
    pub frequency: f64,
    pub monetary_cents: f64,
}

/// Scores 1–5 and the group name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rfm {
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub group: RfmGroup,
}

/// The named groups, serialized in snake_case as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RfmGroup {
    Champions,
    Loyal,
    PotentialLoyalists,
    New,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CannotLose,
    Hibernating,
    Lost,
}

impl RfmGroup {
    pub const ALL: [RfmGroup; 11] = [
        RfmGroup::Champions,
        RfmGroup::Loyal,
        RfmGroup::PotentialLoyalists,
        RfmGroup::New,
        RfmGroup::Promising,
        RfmGroup::NeedAttention,
        RfmGroup::AboutToSleep,
        RfmGroup::AtRisk,
        RfmGroup::CannotLose,
        RfmGroup::Hibernating,
        RfmGroup::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RfmGroup::Champions => "champions",
            RfmGroup::Loyal => "loyal",
            RfmGroup::PotentialLoyalists => "potential_loyalists",
            RfmGroup::New => "new",
            RfmGroup::Promising => "promising",
            RfmGroup::NeedAttention => "need_attention",
            RfmGroup::AboutToSleep => "about_to_sleep",
            RfmGroup::AtRisk => "at_risk",
            RfmGroup::CannotLose => "cannot_lose",
            RfmGroup::Hibernating => "hibernating",
            RfmGroup::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<RfmGroup> {
        RfmGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The group of an R score and an FM score (both 1–5), by the table above.
    pub fn of(r: u8, fm: u8) -> RfmGroup {
        use RfmGroup::*;
        match (r, fm) {
            (5, 1) => New,
            (4 | 5, 2 | 3) => PotentialLoyalists,
            (5, _) => Champions,
            (4, 1) => Promising,
            (3 | 4, 4 | 5) => Loyal,
            (3, 3) => NeedAttention,
            (3, _) => AboutToSleep,
            (_, 5) => CannotLose,
            (_, 3 | 4) => AtRisk,
            (1, 1) => Lost,
            _ => Hibernating,
        }
    }
}

/// Quintile scores of `values` where larger is better: 1 + ⌊5·b/n⌋ with
/// b the number of strictly smaller values.
pub fn quintile_scores(values: &[f64]) -> Vec<u8> {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = values.len().max(1);
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x < v);
            (1 + 5 * below / n).min(5) as u8
        })
        .collect()
}

/// [`quintile_scores`] of the values above zero among themselves; 1 for
/// the others (nothing bought, nothing spent).
pub fn positive_quintile_scores(values: &[f64]) -> Vec<u8> {
    let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
    let mut scores = quintile_scores(&positive).into_iter();
    values
        .iter()
        .map(|v| if *v > 0.0 { scores.next().unwrap_or(1) } else { 1 })
        .collect()
}

/// RFM scores and groups of every learner in `inputs`.
pub fn score(inputs: &[RfmInput]) -> Vec<Rfm> {
    // Fewer days since the last activity is better: score the negation.
    let r = quintile_scores(&inputs.iter().map(|i| -i.recency_days).collect::<Vec<_>>());
    let f = positive_quintile_scores(&inputs.iter().map(|i| i.frequency).collect::<Vec<_>>());
    let m = positive_quintile_scores(&inputs.iter().map(|i| i.monetary_cents).collect::<Vec<_>>());
    (0..inputs.len())
        .map(|i| {
            let fm = (f[i] + m[i]).div_ceil(2);
            Rfm {
                r: r[i],
                f: f[i],
                m: m[i],
                group: RfmGroup::of(r[i], fm),
            }
        })
        .collect()
}
