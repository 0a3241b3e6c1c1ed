//! Erasure keeps every learner's own row: a table whose every cell is a
//! function of the learner it belongs to, restricted to random subsets.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::marketing::offer::OfferShares;
use crate::marketing::predict::Scores;
use crate::marketing::rfm::{Rfm, RfmGroup};

const K: usize = 3;
const COURSES: usize = 11;
const CATEGORIES: usize = 4;

/// The learner id of original row `i`, and back.
fn id(i: usize) -> String {
    format!("u{i}")
}

fn origin(id: &str) -> usize {
    id[1..].parse().unwrap()
}

/// Learner i's history: two courses with weight i (one when they coincide).
fn history_row(i: usize) -> Vec<(u32, f32)> {
    let mut cols = vec![(i % COURSES) as u32, ((i * 3 + 1) % COURSES) as u32];
    cols.sort_unstable();
    cols.dedup();
    cols.into_iter().map(|c| (c, i as f32 + 0.5)).collect()
}

fn rfm(i: usize) -> Rfm {
    Rfm {
        r: (i % 5 + 1) as u8,
        f: (i / 5 % 5 + 1) as u8,
        m: (i / 25 % 5 + 1) as u8,
        group: RfmGroup::ALL[i % RfmGroup::ALL.len()],
    }
}

/// n learners, every column's value in row i a function of i.
fn table(n: usize) -> Learners {
    let ids: Vec<String> = (0..n).map(id).collect();
    let factors = Factors {
        n,
        k: K,
        data: (0..n * K).map(|x| x as f32).collect(),
    };
    let mut triples = Vec::new();
    let mut owned = Vec::new();
    for i in 0..n {
        triples.extend(history_row(i).into_iter().map(|(c, w)| (i as u32, c, w)));
        if i.is_multiple_of(2) {
            owned.push((i as u32, (i % COURSES) as u32, 1.0));
        }
    }
    let marketing = MarketingColumns {
        scores: Scores {
            purchase: (0..n).map(|i| i as f32 / 1000.0).collect(),
            // NaN (not active lately) for some learners, as in production.
            churn: (0..n)
                .map(|i| {
                    if i.is_multiple_of(6) {
                        f32::NAN
                    } else {
                        1.0 / (i as f32 + 1.0)
                    }
                })
                .collect(),
            spend_cents: (0..n).map(|i| i as i64 * 7).collect(),
            rfm: (0..n).map(rfm).collect(),
        },
        last_active_ms: (0..n)
            .map(|i| {
                if i.is_multiple_of(9) {
                    i64::MIN
                } else {
                    i as i64 * 3
                }
            })
            .collect(),
        offers: OfferShares {
            beta: 10.0,
            log_norm: (0..n).map(|i| -(i as f32)).collect(),
            n_categories: CATEGORIES,
            category_share: (0..n * CATEGORIES).map(|x| x as f32 + 0.25).collect(),
        },
        uplift: Some(crate::marketing::uplift::UpliftColumns {
            effect_base: (0..n).map(|i| i as f32 * 0.5).collect(),
            control_base: (0..n).map(|i| -(i as f32)).collect(),
            n_categories: CATEGORIES,
            category_share: (0..n * CATEGORIES).map(|x| x as f32 * 2.0).collect(),
        }),
    };
    Learners::new(
        ids,
        factors,
        Csr::from_triples(n, COURSES, &triples),
        Csr::from_triples(n, COURSES, &owned),
    )
    .with_segments((0..n).map(|i| (i % 7) as u32).collect())
    .with_marketing(marketing)
}

/// Row u of `t` is exactly learner `origin(ids[u])`'s row of [`table`].
fn assert_own_row(t: &Learners, u: usize) {
    let i = origin(&t.ids[u]);
    assert_eq!(t.index[&t.ids[u]], u as u32, "index of u{i}");
    let want: Vec<f32> = (i * K..(i + 1) * K).map(|x| x as f32).collect();
    assert_eq!(t.factors.row(u), &want[..], "factors of u{i}");
    let (cols, vals) = t.history.row(u);
    let got: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
    assert_eq!(got, history_row(i), "history of u{i}");
    let owns: &[u32] = if i.is_multiple_of(2) {
        &[(i % COURSES) as u32]
    } else {
        &[]
    };
    assert_eq!(t.taken_row(u as u32), owns, "taken of u{i}");
    assert_eq!(t.segment_of(u as u32), Some((i % 7) as u32), "segment of u{i}");
    let m = t.marketing.as_ref().unwrap();
    assert_eq!(
        m.scores.purchase[u].to_bits(),
        (i as f32 / 1000.0).to_bits(),
        "purchase of u{i}"
    );
    let churn = if i.is_multiple_of(6) {
        f32::NAN
    } else {
        1.0 / (i as f32 + 1.0)
    };
    assert_eq!(m.scores.churn[u].to_bits(), churn.to_bits(), "churn of u{i}");
    assert_eq!(m.scores.spend_cents[u], i as i64 * 7, "spend of u{i}");
    assert_eq!(m.scores.rfm[u], rfm(i), "rfm of u{i}");
    let day = if i.is_multiple_of(9) {
        i64::MIN
    } else {
        i as i64 * 3
    };
    assert_eq!(m.last_active_ms[u], day, "last activity of u{i}");
    assert_eq!(m.offers.log_norm[u], -(i as f32), "normaliser of u{i}");
    for c in 0..CATEGORIES {
        let want = (i * CATEGORIES + c) as f32 + 0.25;
        assert_eq!(m.offers.category(u, c), want, "category {c} share of u{i}");
    }
}

const N: usize = 97;

#[test]
fn erasing_random_subsets_keeps_every_learner_s_own_row() {
    let full = table(N);
    for u in 0..N {
        assert_own_row(&full, u);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(26);
    for round in 0..300 {
        // Erase a random subset, then (sometimes) another from what is left,
        // as successive erasures rewrite the persisted snapshot.
        let mut t = full.select(&(0..N).collect::<Vec<_>>());
        let mut gone: HashSet<String> = HashSet::new();
        for _ in 0..rng.random_range(1..=3) {
            let mut ids = t.ids.clone();
            ids.shuffle(&mut rng);
            let k = rng.random_range(0..=ids.len());
            let drop: HashSet<String> = ids.into_iter().take(k).collect();
            match t.without(&drop) {
                Some(next) => t = next,
                None => assert!(drop.is_empty(), "round {round}: nothing dropped"),
            }
            gone.extend(drop);
        }
        t.check().unwrap();
        assert_eq!(t.len(), N - gone.len(), "round {round}");
        assert!(
            t.ids.iter().all(|u| !gone.contains(u)),
            "round {round}: an erased learner stayed"
        );
        let order: Vec<usize> = t.ids.iter().map(|u| origin(u)).collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "round {round}: order changed"
        );
        for u in 0..t.len() {
            assert_own_row(&t, u);
        }
    }
}

#[test]
fn erasing_nobody_gives_none_and_everybody_an_empty_table() {
    let t = table(5);
    assert!(t.without(&HashSet::from(["nobody".to_string()])).is_none());
    let all: HashSet<String> = t.ids.iter().cloned().collect();
    let empty = t.without(&all).unwrap();
    empty.check().unwrap();
    assert!(empty.is_empty() && empty.index.is_empty());
    assert_eq!(empty.marketing.unwrap().offers.category_share.len(), 0);
}

#[test]
fn a_decoded_table_whose_columns_disagree_is_refused() {
    let good = postcard::to_stdvec(&table(6)).unwrap();
    let mut back: Learners = postcard::from_bytes(&good).unwrap();
    back.restore().unwrap();
    assert_eq!(back.index["u4"], 4);

    let short = |f: &dyn Fn(&mut Learners)| {
        let mut t = table(6);
        f(&mut t);
        let bytes = postcard::to_stdvec(&t).unwrap();
        let mut back: Learners = postcard::from_bytes(&bytes).unwrap();
        back.restore().unwrap_err().column
    };
    assert_eq!(short(&|t| t.ids.truncate(5)), "factors");
    assert_eq!(
        short(&|t| {
            t.segment.as_mut().unwrap().pop();
        }),
        "segment"
    );
    assert_eq!(
        short(&|t| {
            t.marketing.as_mut().unwrap().scores.rfm.pop();
        }),
        "rfm"
    );
    assert_eq!(
        short(&|t| {
            t.marketing.as_mut().unwrap().last_active_ms.push(0);
        }),
        "last_active_ms"
    );
    assert_eq!(
        short(&|t| {
            t.marketing.as_mut().unwrap().offers.category_share.pop();
        }),
        "category_share"
    );
    assert_eq!(
        short(&|t| {
            t.factors.data.pop();
        }),
        "factors.data"
    );
}

#[test]
#[should_panic(expected = "segment has 2 rows")]
fn building_a_table_with_a_short_column_panics() {
    let _ = Learners::new(
        vec![id(0), id(1), id(2)],
        Factors::zeros(3, 2),
        Csr::from_triples(3, 1, &[]),
        Csr::from_triples(3, 1, &[]),
    )
    .with_segments(vec![0, 1]);
}
