//! The learner table: every per-learner column of a model snapshot (ids,
//! factors, histories, owned courses, taste segment, marketing scores,
//! last activity, offer shares), one row per learner the model was trained
//! on. Every restriction (erasure), encode and decode goes through this one
//! type, so no column can be left behind or shifted against the others.
//! Pure: no I/O.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::marketing::columns::MarketingColumns;
use crate::model::{select_rows, Csr, Factors};

#[cfg(test)]
mod tests;

/// Learners known at training time, row `u` of every column is learner `u`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Learners {
    pub ids: Vec<String>,
    pub factors: Factors,
    /// Interaction weights per learner (row) and course (column).
    pub history: Csr,
    /// Courses each learner has taken (purchased or rated), excluded from
    /// lists; each valued by its rank in the order taken (1 first).
    pub taken: Csr,
    /// Taste segment id of each learner; `None` without a segmentation.
    pub segment: Option<Vec<u32>>,
    /// Scores, activity and offer shares; `None` without marketing predictions.
    pub marketing: Option<MarketingColumns>,
    /// Courses each learner dismissed since their last positive event on
    /// them (column = course index, value 1), left out of lists; `None`
    /// when no learner dismissed anything.
    #[serde(default)]
    pub dismissed: Option<Csr>,
    /// Row of each id; derived from `ids`, rebuilt on decode.
    #[serde(skip)]
    pub index: HashMap<String, u32>,
}

/// Columns of a learner table whose lengths disagree: the table is not used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("learner table columns disagree: {ids} ids but {column} has {rows} rows")]
pub struct ColumnMismatch {
    pub ids: usize,
    pub column: &'static str,
    pub rows: usize,
}

fn index_of(ids: &[String]) -> HashMap<String, u32> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i as u32))
        .collect()
}

impl Learners {
    /// A table of the learners' ids, factors, histories and owned courses,
    /// without segments or marketing columns (see [`Learners::with_segments`]
    /// and [`Learners::with_marketing`]).
    ///
    /// # Panics
    /// If the columns disagree in length.
    pub fn new(ids: Vec<String>, factors: Factors, history: Csr, taken: Csr) -> Learners {
        Learners::checked(Learners {
            index: HashMap::new(),
            ids,
            factors,
            history,
            taken,
            segment: None,
            marketing: None,
            dismissed: None,
        })
    }

    /// This table with each learner's dismissed courses.
    ///
    /// # Panics
    /// If `dismissed` is not one row per learner.
    pub fn with_dismissed(mut self, dismissed: Csr) -> Learners {
        self.dismissed = (dismissed.nnz() > 0).then_some(dismissed);
        Learners::checked(self)
    }

    /// This table with each learner's taste segment id.
    ///
    /// # Panics
    /// If `segment` is not one id per learner.
    pub fn with_segments(mut self, segment: Vec<u32>) -> Learners {
        self.segment = Some(segment);
        Learners::checked(self)
    }

    /// This table with each learner's marketing columns.
    ///
    /// # Panics
    /// If a column is not one row per learner.
    pub fn with_marketing(mut self, marketing: MarketingColumns) -> Learners {
        self.marketing = Some(marketing);
        Learners::checked(self)
    }

    /// `t`, checked, with its index (built once: adding a column keeps it).
    fn checked(mut t: Learners) -> Learners {
        if let Err(e) = t.check() {
            panic!("{e}");
        }
        if t.index.len() != t.ids.len() {
            t.index = index_of(&t.ids);
        }
        t
    }

    /// Number of learners.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every column's name and number of rows.
    fn lengths(&self) -> Vec<(&'static str, usize)> {
        let Learners {
            ids,
            factors,
            history,
            taken,
            segment,
            marketing,
            dismissed,
            index: _,
        } = self;
        let mut out = vec![
            ("ids", ids.len()),
            ("factors", factors.n),
            ("history", history.n_rows),
            ("taken", taken.n_rows),
        ];
        if factors.data.len() != factors.n * factors.k {
            out.push(("factors.data", usize::MAX));
        }
        if let Some(s) = segment {
            out.push(("segment", s.len()));
        }
        if let Some(m) = marketing {
            out.extend(m.lengths());
        }
        if let Some(d) = dismissed {
            out.push(("dismissed", d.n_rows));
        }
        out
    }

    /// Ok when every column has one row per learner.
    pub fn check(&self) -> Result<(), ColumnMismatch> {
        let ids = self.ids.len();
        match self.lengths().into_iter().find(|&(_, n)| n != ids) {
            Some((column, rows)) => Err(ColumnMismatch { ids, column, rows }),
            None => Ok(()),
        }
    }

    /// Checks a decoded table and rebuilds its index; an error when the
    /// columns disagree (the caller then falls back, e.g. to an older
    /// snapshot or to training).
    pub fn restore(&mut self) -> Result<(), ColumnMismatch> {
        self.check()?;
        self.index = index_of(&self.ids);
        Ok(())
    }

    /// The rows `keep` (learner indices, in that order) of every column.
    pub fn select(&self, keep: &[usize]) -> Learners {
        let Learners {
            ids,
            factors,
            history,
            taken,
            segment,
            marketing,
            dismissed,
            index: _,
        } = self;
        Learners::checked(Learners {
            ids: select_rows(ids, 1, keep),
            factors: factors.select(keep),
            history: history.select(keep),
            taken: taken.select(keep),
            segment: segment.as_ref().map(|s| select_rows(s, 1, keep)),
            marketing: marketing.as_ref().map(|m| m.select(keep)),
            dismissed: dismissed.as_ref().map(|d| d.select(keep)),
            index: HashMap::new(),
        })
    }

    /// This table without the learners named in `drop`, order kept; `None`
    /// when it holds none of them.
    pub fn without(&self, drop: &HashSet<String>) -> Option<Learners> {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| !drop.contains(&self.ids[i]))
            .collect();
        (keep.len() < self.len()).then(|| self.select(&keep))
    }

    /// Courses learner `u` has taken, in the order taken (oldest first).
    pub fn taken_in_order(&self, u: u32) -> Vec<u32> {
        let (cols, ranks) = self.taken.row(u as usize);
        let mut order: Vec<(f32, u32)> = ranks.iter().copied().zip(cols.iter().copied()).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        order.into_iter().map(|o| o.1).collect()
    }

    /// Courses learner `u` has taken, sorted.
    pub fn taken_row(&self, u: u32) -> &[u32] {
        self.taken.row(u as usize).0
    }

    /// Courses learner `u` dismissed, sorted.
    pub fn dismissed_row(&self, u: u32) -> &[u32] {
        self.dismissed.as_ref().map_or(&[], |d| d.row(u as usize).0)
    }

    /// Taste segment id of learner `u`, if segmented.
    pub fn segment_of(&self, u: u32) -> Option<u32> {
        self.segment.as_ref()?.get(u as usize).copied()
    }
}
