//! Ranking metrics at K over the full catalogue (no sampled negatives),
//! following benfred/implicit's `ranking_metrics_at_k`:
//! - precision = Σ hits / Σ min(K, |test|) over users (micro-averaged, so a
//!   user with 2 test items can still reach 1.0);
//! - NDCG = DCG / IDCG with binary gains and IDCG over min(K, |test|) items;
//! - MAP = mean of Σᵢ (hits so far / rank) / min(K, |test|).
//!
//! Additionally recall = mean hits / |test|, F1 of the averaged precision and
//! recall, hit rate = share of users with a hit, coverage = share of the
//! catalogue recommended to anyone.

use serde::Serialize;

/// Averages over the evaluated users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Metrics {
    pub k: usize,
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    pub coverage: f64,
}

/// Accumulates one user at a time.
#[derive(Debug, Clone)]
pub struct MetricsAcc {
    k: usize,
    users: usize,
    hits: f64,
    prec_den: f64,
    recall: f64,
    ndcg: f64,
    ap: f64,
    hit_users: usize,
    recommended: Vec<bool>,
}

impl MetricsAcc {
    /// For a catalogue of `n_items` courses.
    pub fn new(k: usize, n_items: usize) -> MetricsAcc {
        MetricsAcc {
            k,
            users: 0,
            hits: 0.0,
            prec_den: 0.0,
            recall: 0.0,
            ndcg: 0.0,
            ap: 0.0,
            hit_users: 0,
            recommended: vec![false; n_items],
        }
    }

    /// Adds one user: `recs` best first (only the first K count), `test` sorted.
    /// Users without test items are skipped, as in implicit.
    pub fn add(&mut self, recs: &[u32], test: &[u32]) {
        if test.is_empty() {
            return;
        }
        let denom = self.k.min(test.len()) as f64;
        let idcg: f64 = (0..self.k.min(test.len()))
            .map(|i| 1.0 / (i as f64 + 2.0).log2())
            .sum();
        let (mut hits, mut ap, mut dcg) = (0.0, 0.0, 0.0);
        for (i, &r) in recs.iter().take(self.k).enumerate() {
            if let Some(seen) = self.recommended.get_mut(r as usize) {
                *seen = true;
            }
            if test.binary_search(&r).is_ok() {
                hits += 1.0;
                ap += hits / (i as f64 + 1.0);
                dcg += 1.0 / (i as f64 + 2.0).log2();
            }
        }
        self.users += 1;
        self.hits += hits;
        self.prec_den += denom;
        self.recall += hits / test.len() as f64;
        self.ndcg += dcg / idcg;
        self.ap += ap / denom;
        self.hit_users += usize::from(hits > 0.0);
    }

    /// The averages (all zero when no user was added).
    pub fn finish(&self) -> Metrics {
        let n = self.users.max(1) as f64;
        let precision = if self.prec_den > 0.0 {
            self.hits / self.prec_den
        } else {
            0.0
        };
        let recall = self.recall / n;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        let covered = self.recommended.iter().filter(|&&b| b).count();
        Metrics {
            k: self.k,
            users: self.users,
            precision,
            recall,
            f1,
            ndcg: self.ndcg / n,
            map: self.ap / n,
            hit_rate: self.hit_users as f64 / n,
            coverage: covered as f64 / self.recommended.len().max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn hand_computed_two_users() {
        let mut m = MetricsAcc::new(3, 10);
        // User A: test {1, 5}, recs [1, 2, 5] → hits at ranks 1 and 3.
        m.add(&[1, 2, 5], &[1, 5]);
        // User B: test {7, 8, 9, 4}, recs [0, 9, 3] → hit at rank 2.
        m.add(&[0, 9, 3], &[4, 7, 8, 9]);
        m.add(&[0, 1, 2], &[]);
        let r = m.finish();
        assert_eq!(r.users, 2);
        // Precision: (2 + 1) / (min(3,2) + min(3,4)) = 3/5.
        close(r.precision, 0.6);
        close(r.recall, (1.0 + 0.25) / 2.0);
        close(r.f1, 2.0 * 0.6 * 0.625 / 1.225);
        let l2 = |x: f64| x.log2();
        let ndcg_a = (1.0 + 1.0 / l2(4.0)) / (1.0 + 1.0 / l2(3.0));
        let ndcg_b = (1.0 / l2(3.0)) / (1.0 + 1.0 / l2(3.0) + 1.0 / l2(4.0));
        close(r.ndcg, (ndcg_a + ndcg_b) / 2.0);
        // AP: A = (1/1 + 2/3) / 2, B = (1/2) / 3.
        close(r.map, ((1.0 + 2.0 / 3.0) / 2.0 + 0.5 / 3.0) / 2.0);
        close(r.hit_rate, 1.0);
        // Recommended items {0,1,2,3,5,9} of 10 (the skipped user adds none).
        close(r.coverage, 0.6);
    }

    #[test]
    fn perfect_and_empty() {
        let mut m = MetricsAcc::new(10, 5);
        m.add(&[3], &[3]);
        let r = m.finish();
        close(r.precision, 1.0);
        close(r.ndcg, 1.0);
        close(r.map, 1.0);
        assert_eq!(MetricsAcc::new(10, 5).finish().users, 0);
    }
}
