//! Stable segment ids across retrains: new clusters are matched one-to-one
//! to the previous ones (Hungarian algorithm, minimum total distance), and
//! take over their ids; unmatched or too distant clusters get fresh ids.

use pathfinding::prelude::{kuhn_munkres, Matrix};

use super::kmeans::sq_dist;

/// Distances are turned into integer weights for `kuhn_munkres` with this
/// resolution; 1e-6 of a feature unit is far below anything meaningful.
const SCALE: f64 = 1e6;

/// Ids for the `new` points (m × d) given the `prev` points (p × d) and
/// their ids. A pair farther apart than `max_dist` is not a match. Fresh ids
/// start at `next_id`; returns the ids and the next unused id.
pub fn match_ids(
    prev: &[f32],
    prev_ids: &[u32],
    new: &[f32],
    d: usize,
    max_dist: f32,
    next_id: u32,
) -> (Vec<u32>, u32) {
    let p = prev.len() / d.max(1);
    let m = new.len() / d.max(1);
    assert_eq!(p, prev_ids.len(), "one id per previous centroid");
    let mut ids: Vec<Option<u32>> = vec![None; m];
    if p > 0 && m > 0 && d > 0 {
        let dist = |i: usize, j: usize| sq_dist(&prev[i * d..(i + 1) * d], &new[j * d..(j + 1) * d]).sqrt();
        // kuhn_munkres maximizes and needs rows ≤ columns: put the shorter
        // side on the rows and negate distances.
        let weight = |x: f32| -((f64::from(x) * SCALE).round() as i64);
        if p <= m {
            let w = Matrix::from_fn(p, m, |(i, j)| weight(dist(i, j)));
            let (_, cols) = kuhn_munkres(&w);
            for (i, j) in cols.into_iter().enumerate() {
                if dist(i, j) <= max_dist {
                    ids[j] = Some(prev_ids[i]);
                }
            }
        } else {
            let w = Matrix::from_fn(m, p, |(j, i)| weight(dist(i, j)));
            let (_, rows) = kuhn_munkres(&w);
            for (j, i) in rows.into_iter().enumerate() {
                if dist(i, j) <= max_dist {
                    ids[j] = Some(prev_ids[i]);
                }
            }
        }
    }
    // Fresh ids never reuse an old one, even one that disappeared.
    let mut next = prev_ids.iter().map(|&x| x + 1).max().unwrap_or(0).max(next_id);
    let out = ids
        .into_iter()
        .map(|id| {
            id.unwrap_or_else(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_and_slightly_moved_centroids_keep_ids() {
        let prev = [0.0, 0.0, 10.0, 0.0, 0.0, 10.0];
        let new = [0.1, 9.9, 0.2, 0.0, 9.8, 0.1];
        let (ids, next) = match_ids(&prev, &[7, 3, 5], &new, 2, 1.0, 8);
        assert_eq!(ids, vec![5, 7, 3]);
        assert_eq!(next, 8);
    }

    #[test]
    fn more_new_clusters_get_fresh_ids() {
        let prev = [0.0, 0.0, 10.0, 0.0];
        let new = [10.0, 0.5, 5.0, 5.0, 0.0, 0.5];
        let (ids, next) = match_ids(&prev, &[0, 1], &new, 2, 2.0, 2);
        assert_eq!(ids, vec![1, 2, 0]);
        assert_eq!(next, 3);
    }

    #[test]
    fn fewer_or_distant_clusters() {
        let prev = [0.0, 0.0, 10.0, 0.0, 0.0, 10.0];
        let new = [0.0, 9.0, 50.0, 50.0];
        let (ids, next) = match_ids(&prev, &[0, 1, 2], &new, 2, 2.0, 3);
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(next, 4);
        let (ids, _) = match_ids(&[], &[], &new, 2, 2.0, 0);
        assert_eq!(ids, vec![0, 1]);
    }
}
