//! Every learner's list, as `/recommend` would serve it now, for the batch
//! export (`GET /recommendations/export`, `courserec
//! export-recommendations`). Lists are built a chunk of learners at a time
//! and handed on, so memory holds one chunk, not the export.

use super::personal::{learner_list, Shaping};
use super::recommend::Query;
use super::snapshot::ModelSnapshot;
use super::user_view::{user_view, who, Sources};
use crate::marketing::rfm::RfmGroup;

/// Learners per chunk.
pub const CHUNK: usize = 256;

/// One item of one learner's list.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub user_id: String,
    /// 1-based position in the list.
    pub rank: u32,
    pub course_id: String,
    pub score: f32,
    pub rule_id: Option<String>,
    pub explored: bool,
}

/// Which learners: everyone the model knows, or one taste segment, or one
/// RFM group.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub segment: Option<u32>,
    pub rfm: Option<RfmGroup>,
}

/// The learner rows of `snap` the selection keeps, in table order.
pub fn selected(snap: &ModelSnapshot, sel: &Selection) -> Vec<u32> {
    let users = &snap.users;
    let rfm = users.marketing.as_ref().map(|m| &m.scores.rfm);
    (0..users.len() as u32)
        .filter(|&u| sel.segment.is_none_or(|s| users.segment_of(u) == Some(s)))
        .filter(|&u| {
            sel.rfm
                .is_none_or(|g| rfm.and_then(|r| r.get(u as usize)).is_some_and(|r| r.group == g))
        })
        .collect()
}

/// The lists of learner rows `rows` under `q`, at `shaping.now_ms`: the same
/// fold-in, dismissals, fatigue, rules and exploration as `/recommend`.
/// Not impressions: nothing is logged or counted for fatigue.
pub async fn lists(
    src: &Sources<'_>,
    snap: &ModelSnapshot,
    rows: &[u32],
    q: &Query,
    shaping: Shaping,
    exclude_taken: bool,
) -> Vec<ExportRow> {
    let c = &snap.courses;
    let mut out = Vec::with_capacity(rows.len() * q.n);
    for &u in rows {
        let user = &snap.users.ids[u as usize];
        // Erased since this snapshot: not exported.
        if src.live.is_erased(user) {
            continue;
        }
        let view = user_view(src, snap, user).await;
        let who = who(snap, &view, exclude_taken);
        let listed = learner_list(src.live, snap, &view, &who, user, q, shaping);
        out.extend(listed.picks.into_iter().enumerate().map(|(i, p)| ExportRow {
            user_id: user.clone(),
            rank: i as u32 + 1,
            course_id: c.ids[p.course as usize].clone(),
            score: p.score,
            rule_id: p.rule,
            explored: p.slot == crate::exploration::SlotKind::Explored,
        }));
    }
    out
}
