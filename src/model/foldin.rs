//! Fold-in: factors for a user who is not in the model (or whose events
//! changed since training), from one exact least-squares solve against the
//! fixed item factors. Cost: O(events · k² + k³), well under 1 ms at k = 64.

use super::als::{AlsParams, FitError};
use super::exact::solve_row_with_negatives;
use super::factors::Factors;

/// The user vector minimising the ALS objective given `items` fixed.
/// `gram` is `items.gram()` (YᵀY without λ), computed once per model.
/// `events` are (course index, weight) pairs; duplicates are summed and
/// weights ≤ 0 ignored. No events gives the zero vector.
pub fn fold_in(
    items: &Factors,
    gram: &[f32],
    events: &[(u32, f32)],
    params: &AlsParams,
) -> Result<Vec<f32>, FitError> {
    fold_in_with_negatives(items, gram, events, &[], params)
}

/// [`fold_in`] with known negatives (dismissed courses): (course index,
/// weight) pairs solved with preference 0 and confidence 1 + α·f(weight),
/// so the factor turns away from them and their close neighbours. A
/// course both positive and negative counts as negative only. No positive
/// event gives the zero vector, whatever the negatives.
pub fn fold_in_with_negatives(
    items: &Factors,
    gram: &[f32],
    events: &[(u32, f32)],
    negatives: &[(u32, f32)],
    params: &AlsParams,
) -> Result<Vec<f32>, FitError> {
    let k = items.k;
    assert_eq!(gram.len(), k * k, "gram does not match the item factors");
    let mut ev: Vec<(u32, f32)> = events.to_vec();
    ev.sort_unstable_by_key(|e| e.0);
    let mut cols: Vec<u32> = Vec::with_capacity(ev.len());
    let mut weights: Vec<f32> = Vec::with_capacity(ev.len());
    for (c, w) in ev {
        if !w.is_finite() {
            return Err(FitError::NonFiniteInput {
                row: 0,
                col: c as usize,
            });
        }
        assert!((c as usize) < items.n, "course index out of range");
        if cols.last() == Some(&c) {
            *weights.last_mut().unwrap() += w;
        } else {
            cols.push(c);
            weights.push(w);
        }
    }
    let (cols, cm1): (Vec<u32>, Vec<f32>) = cols
        .into_iter()
        .zip(weights)
        .filter(|e| e.1 > 0.0 && !negatives.iter().any(|n| n.0 == e.0))
        .map(|(c, w)| (c, params.confidence_minus_one(w)))
        .unzip();
    if cols.is_empty() {
        return Ok(vec![0.0; k]);
    }
    let mut g = gram.to_vec();
    for a in 0..k {
        g[a * k + a] += params.regularization;
    }
    let (neg, neg_cm1): (Vec<u32>, Vec<f32>) = negatives
        .iter()
        .filter(|n| n.1 > 0.0 && n.1.is_finite() && (n.0 as usize) < items.n)
        .map(|&(c, w)| (c, params.confidence_minus_one(w)))
        .unzip();
    let x = solve_row_with_negatives(&g, items, &cols, &cm1, &neg, &neg_cm1).ok_or(FitError::Singular)?;
    if x.iter().all(|v| v.is_finite()) {
        Ok(x)
    } else {
        Err(FitError::NonFinite { iteration: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::als::fit;
    use crate::model::csr::Csr;
    use crate::model::exact::solve_row;

    #[test]
    fn a_negative_turns_the_factor_away_from_the_course() {
        // Course 0 and 1 point the same way, 2 elsewhere: the user took 0
        // and 2; dismissing 1 lowers 1's score (and 0's, its neighbour).
        let items = Factors {
            n: 3,
            k: 2,
            data: vec![1.0, 0.1, 0.9, 0.2, 0.0, 1.0],
        };
        let p = AlsParams {
            factors: 2,
            ..AlsParams::default()
        };
        let g = items.gram();
        let score = |x: &[f32], i: usize| x[0] * items.row(i)[0] + x[1] * items.row(i)[1];
        let plain = fold_in(&items, &g, &[(0, 1.0), (2, 1.0)], &p).unwrap();
        let neg = fold_in_with_negatives(&items, &g, &[(0, 1.0), (2, 1.0)], &[(1, 4.0)], &p).unwrap();
        assert!(score(&neg, 1) < 0.95 * score(&plain, 1), "{plain:?} {neg:?}");
        assert!(score(&neg, 0) < score(&plain, 0));
        // Negatives alone say nothing to rank on.
        assert_eq!(
            fold_in_with_negatives(&items, &g, &[], &[(1, 4.0)], &p).unwrap(),
            [0.0, 0.0]
        );
    }

    #[test]
    fn reproduces_the_trained_user_after_a_final_exact_sweep() {
        // With items fixed, fold-in is exactly the ALS user update, so folding
        // in a training user must match solving that row with the oracle.
        let t: Vec<(u32, u32, f32)> = (0..12u32)
            .flat_map(|u| {
                (0..8u32)
                    .filter(move |i| (u + i) % 3 != 0)
                    .map(move |i| (u, i, 1.0 + (i % 2) as f32))
            })
            .collect();
        let ui = Csr::from_triples(12, 8, &t);
        let p = AlsParams {
            factors: 4,
            iterations: 4,
            ..AlsParams::default()
        };
        let m = fit(&ui, &p, |_, _| {}).unwrap();
        let gram = m.items.gram();
        let (cols, w) = ui.row(5);
        let events: Vec<(u32, f32)> = cols.iter().copied().zip(w.iter().copied()).collect();
        let x = fold_in(&m.items, &gram, &events, &p).unwrap();
        let mut g = gram.clone();
        (0..4).for_each(|a| g[a * 4 + a] += p.regularization);
        let cm1: Vec<f32> = w.iter().map(|&v| p.confidence_minus_one(v)).collect();
        let want = solve_row(&g, &m.items, cols, &cm1).unwrap();
        assert_eq!(x, want);
        // Splitting a weight into two events gives the same vector.
        let mut split = events.clone();
        split[0].1 /= 2.0;
        split.push(split[0]);
        let x2 = fold_in(&m.items, &gram, &split, &p).unwrap();
        assert!(x.iter().zip(&x2).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn empty_zero_and_nan_events() {
        let items = Factors {
            n: 2,
            k: 2,
            data: vec![1.0, 0.0, 0.0, 1.0],
        };
        let g = items.gram();
        let p = AlsParams {
            factors: 2,
            regularization: 0.1,
            ..AlsParams::default()
        };
        assert_eq!(fold_in(&items, &g, &[], &p).unwrap(), vec![0.0, 0.0]);
        assert_eq!(fold_in(&items, &g, &[(1, 0.0)], &p).unwrap(), vec![0.0, 0.0]);
        assert!(matches!(
            fold_in(&items, &g, &[(0, f32::NAN)], &p),
            Err(FitError::NonFiniteInput { .. })
        ));
        let x = fold_in(&items, &g, &[(0, 3.0)], &p).unwrap();
        assert!(x[0] > 0.5 && x[1].abs() < 1e-6, "{x:?}");
    }
}
