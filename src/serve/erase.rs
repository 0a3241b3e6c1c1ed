//! Erasure from a snapshot: a copy without some users (ids, factors,
//! histories, segment assignments), so a persisted snapshot never keeps an
//! erased user until newer trainings replace it.

use std::collections::HashSet;
use std::sync::Arc;

use super::snapshot::{ModelSnapshot, UserSide};
use crate::model::{Csr, Factors};

/// Rows of `m` whose index is in `keep`, in order.
fn csr_rows(m: &Csr, keep: &[usize]) -> Csr {
    let mut indptr = Vec::with_capacity(keep.len() + 1);
    indptr.push(0);
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for &r in keep {
        let (cols, vals) = m.row(r);
        indices.extend_from_slice(cols);
        data.extend_from_slice(vals);
        indptr.push(indices.len());
    }
    Csr {
        n_rows: keep.len(),
        n_cols: m.n_cols,
        indptr,
        indices,
        data,
    }
}

impl ModelSnapshot {
    /// This snapshot without the users named in `drop` (same version);
    /// `None` when it holds none of them.
    pub fn without_users(&self, drop: &HashSet<String>) -> Option<ModelSnapshot> {
        let u = &self.users;
        let keep: Vec<usize> = (0..u.ids.len()).filter(|&i| !drop.contains(&u.ids[i])).collect();
        if keep.len() == u.ids.len() {
            return None;
        }
        let k = u.factors.k;
        let mut factors = Factors::zeros(keep.len(), k);
        for (to, &from) in keep.iter().enumerate() {
            factors.data[to * k..(to + 1) * k].copy_from_slice(u.factors.row(from));
        }
        let users = UserSide::new(
            keep.iter().map(|&i| u.ids[i].clone()).collect(),
            factors,
            csr_rows(&u.history, &keep),
            csr_rows(&u.taken, &keep),
        );
        let segments = self.segments.as_ref().map(|s| {
            let mut s = (**s).clone();
            if s.assignment.len() == u.ids.len() {
                s.assignment = keep.iter().map(|&i| s.assignment[i]).collect();
            }
            Arc::new(s)
        });
        let mut out = self.with_courses(self.courses.with_meta(self.courses.meta.clone()));
        out.users = Arc::new(users);
        out.segments = segments;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_rows_keeps_the_chosen_rows_in_order() {
        let m = Csr::from_triples(3, 2, &[(0, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0), (2, 1, 4.0)]);
        let r = csr_rows(&m, &[0, 2]);
        assert_eq!(r.n_rows, 2);
        assert_eq!(r.row(0), (&[0u32][..], &[1.0f32][..]));
        assert_eq!(r.row(1), (&[0u32, 1][..], &[3.0f32, 4.0][..]));
    }
}
