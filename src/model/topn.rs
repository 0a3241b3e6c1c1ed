//! Exact top-N retrieval: score every row of a factor matrix against a query
//! and keep the best `n` in a bounded min-heap.
//!
//! Used for user → courses (≈20k rows) and course → users audiences (≈100k
//! rows), so large matrices are scanned in parallel chunks. Ties break towards
//! the lower index, which makes results independent of the chunking.

use super::als::Factors;
/// The auto-vectorised dot product used for scoring, for callers that
/// rescore a few rows themselves.
pub use super::vecops::dot;
use super::vecops::{dispatch, Isa, Kernel};
use rayon::prelude::*;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A scored row; ordered by score, then by *lower* index being better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hit(pub(super) f32, pub(super) u32);

impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Hit {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// Bounded collection of the `n` best hits seen so far.
pub(super) struct TopK {
    n: usize,
    heap: BinaryHeap<Reverse<Hit>>,
}

impl TopK {
    pub(super) fn new(n: usize) -> TopK {
        TopK {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        }
    }

    /// True when `h` would enter the heap; cheap, so filters run only then.
    #[inline]
    pub(super) fn admits(&self, h: Hit) -> bool {
        self.heap.len() < self.n || self.heap.peek().is_some_and(|m| h > m.0)
    }

    #[inline]
    pub(super) fn push(&mut self, h: Hit) {
        self.heap.push(Reverse(h));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    /// True once `n` hits are held.
    #[inline]
    pub(super) fn is_full(&self) -> bool {
        self.heap.len() >= self.n
    }

    /// The worst held score (−∞ when empty).
    #[inline]
    pub(super) fn min_score(&self) -> f32 {
        self.heap.peek().map_or(f32::NEG_INFINITY, |m| m.0 .0)
    }

    pub(super) fn into_sorted(self) -> Vec<(u32, f32)> {
        // `into_sorted_vec` of `Reverse` is best-first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(Hit(s, i))| (i, s))
            .collect()
    }
}

/// Above this many multiply-adds (rows × k) the scan is split across the
/// rayon pool. The scan is bound by memory bandwidth and the FP units of a
/// single core (on the 2-core dev VM a 20k × 64 scan takes ~200–350 µs;
/// see the report in `benches/als.rs`), so splitting helps big matrices
/// such as 100k-user audiences. Course lists (≤ 32k rows at k = 64) stay on
/// the calling thread: pool jobs could queue behind a training run.
const PAR_WORK: usize = 64 * 32 * 1024;

fn scan(
    query: &[f32],
    rows: &Factors,
    start: usize,
    end: usize,
    n: usize,
    exclude: &(impl Fn(u32) -> bool + Sync),
) -> TopK {
    // AVX2 when available: the same unfused arithmetic in wider registers,
    // so the same scores bit for bit.
    dispatch(Scan {
        query,
        rows,
        start,
        end,
        n,
        exclude,
    })
}

/// The arguments of [`scan`], as a [`Kernel`].
struct Scan<'a, E> {
    query: &'a [f32],
    rows: &'a Factors,
    start: usize,
    end: usize,
    n: usize,
    exclude: &'a E,
}

impl<E: Fn(u32) -> bool> Kernel for Scan<'_, E> {
    type Output = TopK;
    #[inline(always)]
    fn run<const FMA: bool>(self, _: Isa) -> TopK {
        let Scan {
            query,
            rows,
            start,
            end,
            n,
            exclude,
        } = self;
        let mut top = TopK::new(n);
        let k = rows.k;
        for (off, row) in rows.data[start * k..end * k].chunks_exact(k).enumerate() {
            let i = (start + off) as u32;
            let h = Hit(dot(query, row), i);
            if top.admits(h) && !exclude(i) {
                top.push(h);
            }
        }
        top
    }
}

/// The `n` rows with the highest `query · row`, best first, skipping rows for
/// which `exclude(index)` is true (owned, inactive, the item itself, …).
/// NaN scores sort above everything, so callers should pass finite factors.
pub fn top_n(
    query: &[f32],
    rows: &Factors,
    n: usize,
    exclude: impl Fn(u32) -> bool + Sync,
) -> Vec<(u32, f32)> {
    assert_eq!(query.len(), rows.k, "query has the wrong dimension");
    if n == 0 {
        return Vec::new();
    }
    let threads = rayon::current_num_threads();
    if rows.n * rows.k <= PAR_WORK || threads == 1 {
        return scan(query, rows, 0, rows.n, n, &exclude).into_sorted();
    }
    // Ties break by index, so any chunking gives the same answer.
    let per = rows.n.div_ceil(threads * 2);
    let chunks: Vec<TopK> = (0..rows.n.div_ceil(per))
        .into_par_iter()
        .map(|c| scan(query, rows, c * per, ((c + 1) * per).min(rows.n), n, &exclude))
        .collect();
    let mut top = TopK::new(n);
    for h in chunks.into_iter().flat_map(|t| t.heap.into_iter()) {
        if top.admits(h.0) {
            top.push(h.0);
        }
    }
    top.into_sorted()
}

/// The `n` best of precomputed `scores` (e.g. popularity), best first.
pub fn top_n_scores(scores: &[f32], n: usize, exclude: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    let mut top = TopK::new(n);
    for (i, &s) in scores.iter().enumerate() {
        let h = Hit(s, i as u32);
        if n > 0 && top.admits(h) && !exclude(i as u32) {
            top.push(h);
        }
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_best_rows_in_order_and_honours_the_filter() {
        // Row i scores i·1 + (10 − i)·0 against query (1, 0).
        let rows = Factors {
            n: 10,
            k: 2,
            data: (0..10).flat_map(|i| [i as f32, 1.0]).collect(),
        };
        assert_eq!(
            top_n(&[1.0, 0.0], &rows, 3, |_| false),
            vec![(9, 9.0), (8, 8.0), (7, 7.0)]
        );
        assert_eq!(
            top_n(&[1.0, 0.0], &rows, 2, |i| i == 9 || i == 7),
            vec![(8, 8.0), (6, 6.0)]
        );
        assert_eq!(top_n(&[1.0, 0.0], &rows, 20, |i| i > 1), vec![(1, 1.0), (0, 0.0)]);
        assert!(top_n(&[1.0, 0.0], &rows, 0, |_| false).is_empty());
    }

    #[test]
    fn ties_prefer_the_lower_index_and_parallel_matches_serial() {
        let n = PAR_WORK * 3 + 17;
        let rows = Factors {
            n,
            k: 1,
            data: (0..n).map(|i| ((i * 7919) % 1000) as f32).collect(),
        };
        let got = top_n(&[1.0], &rows, 5, |i| i % 2 == 1);
        let mut want: Vec<(u32, f32)> = (0..n as u32)
            .filter(|i| i % 2 == 0)
            .map(|i| (i, rows.data[i as usize]))
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        want.truncate(5);
        assert_eq!(got, want);
        assert_eq!(
            top_n_scores(&[1.0, 3.0, 3.0, 2.0], 2, |_| false),
            vec![(1, 3.0), (2, 3.0)]
        );
    }
}
