//! Item–item cosine similarity in factor space ("people who took this also
//! took"), via unit-normalised item vectors computed once per model.

use super::factors::Factors;
use super::topn::top_n;

/// Item factors scaled to unit length. Zero (or non-finite) vectors carry no
/// information: such items are similar to nothing and never a neighbour.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineIndex {
    unit: Factors,
    informative: Vec<bool>,
}

impl CosineIndex {
    /// Normalises every row of `items` once.
    pub fn new(items: &Factors) -> CosineIndex {
        let mut unit = items.clone();
        let mut informative = vec![false; items.n];
        for (row, info) in unit.data.chunks_exact_mut(items.k.max(1)).zip(&mut informative) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 && norm.is_finite() {
                row.iter_mut().for_each(|v| *v /= norm);
                *info = true;
            } else {
                row.iter_mut().for_each(|v| *v = 0.0);
            }
        }
        CosineIndex { unit, informative }
    }

    /// True when `item` has a non-zero factor to compare.
    pub fn informative(&self, item: u32) -> bool {
        self.informative.get(item as usize).copied().unwrap_or(false)
    }

    /// The `n` items most similar to `item` (cosine, best first), never the
    /// item itself, items without information, nor those for which
    /// `exclude` is true. Empty when `item` itself carries no information.
    pub fn similar(&self, item: u32, n: usize, exclude: impl Fn(u32) -> bool + Sync) -> Vec<(u32, f32)> {
        if !self.informative(item) {
            return vec![];
        }
        let q = self.unit.row(item as usize);
        top_n(q, &self.unit, n, |i| {
            i == item || !self.informative(i) || exclude(i)
        })
    }

    /// Unit vectors, e.g. to score against an averaged query.
    pub fn unit(&self) -> &Factors {
        &self.unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_angle_not_length() {
        // Item 1 points the same way as item 0 but is 10× longer; item 2 is at
        // 45°, item 3 opposite, item 4 zero.
        let items = Factors {
            n: 5,
            k: 2,
            data: vec![1.0, 0.0, 10.0, 0.0, 1.0, 1.0, -1.0, 0.0, 0.0, 0.0],
        };
        let idx = CosineIndex::new(&items);
        let got = idx.similar(0, 3, |_| false);
        // The zero item 4 is never a neighbour, nor has any.
        assert_eq!(got.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(idx.similar(4, 3, |_| false).is_empty() && !idx.informative(4));
        assert!((got[0].1 - 1.0).abs() < 1e-6 && (got[1].1 - 0.5f32.sqrt()).abs() < 1e-6);
        assert_eq!(idx.similar(0, 1, |i| i == 1)[0].0, 2);
    }
}
