//! `TopIndex` must return exactly what the plain scan returns: same items,
//! same f32 scores, same tie order, on random, tied and degenerate data.

use super::factors::Factors;
use super::topindex::TopIndex;
use super::topn::top_n;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Factors {
    // Row norms spread over two orders of magnitude, like trained factors.
    let mut data = Vec::with_capacity(n * k);
    for _ in 0..n {
        let s = 10f32.powf(rng.random_range(-1.0..1.0));
        data.extend((0..k).map(|_| s * rng.random_range(-0.5f32..0.5)));
    }
    Factors { n, k, data }
}

fn check(rows: &Factors, idx: &TopIndex, q: &[f32], n: usize, excl: &[u32]) {
    let ex = |i: u32| excl.binary_search(&i).is_ok();
    // Compared as bits so NaN scores compare equal to themselves.
    let bits = |v: Vec<(u32, f32)>| v.into_iter().map(|(i, s)| (i, s.to_bits())).collect::<Vec<_>>();
    assert_eq!(bits(idx.top_n(q, n, ex)), bits(top_n(q, rows, n, ex)), "n = {n}");
}

#[test]
fn matches_the_plain_scan_on_random_data() {
    for seed in 0..40u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = [64, 64, 32, 7, 1, 100][seed as usize % 6];
        let n = rng.random_range(1..3000);
        let rows = random(n, k, &mut rng);
        let idx = TopIndex::new(&rows);
        for _ in 0..5 {
            let q: Vec<f32> = (0..k).map(|_| rng.random_range(-1f32..1.0)).collect();
            let mut excl: Vec<u32> = (0..rng.random_range(0..60))
                .map(|_| rng.random_range(0..n as u32))
                .collect();
            excl.sort_unstable();
            for top in [1, 10, 50, n + 5] {
                check(&rows, &idx, &q, top, &excl);
            }
        }
    }
}

#[test]
fn ties_duplicates_and_exclusions_keep_the_scan_order() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let k = 64;
    // Few distinct rows, each repeated: many exactly equal scores.
    let base = random(20, k, &mut rng);
    let rows = Factors {
        n: 2000,
        k,
        data: (0..2000).flat_map(|i| base.row(i % 20).to_vec()).collect(),
    };
    let idx = TopIndex::new(&rows);
    for s in 0..20 {
        let q = base.row(s).to_vec();
        let excl: Vec<u32> = (0..2000).filter(|i| i % 7 == s as u32 % 7).collect();
        check(&rows, &idx, &q, 10, &excl);
        check(&rows, &idx, &q, 150, &[]);
    }
    // Everything excluded, or nothing left after exclusions.
    let all: Vec<u32> = (0..2000).collect();
    check(&rows, &idx, base.row(0), 10, &all);
}

#[test]
fn degenerate_queries_and_factors_fall_back_correctly() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut rows = random(500, 16, &mut rng);
    // Zero rows and a zero query.
    rows.data[..16 * 3].iter_mut().for_each(|v| *v = 0.0);
    let idx = TopIndex::new(&rows);
    check(&rows, &idx, &[0.0; 16], 10, &[]);
    let q: Vec<f32> = (0..16).map(|i| if i == 3 { 1e-30 } else { 0.0 }).collect();
    check(&rows, &idx, &q, 10, &[1, 2]);
    let q: Vec<f32> = (0..16).map(|i| (i as f32 - 8.0) * 1e5).collect();
    check(&rows, &idx, &q, 10, &[]);
    assert!(idx.top_n(&q, 0, |_| false).is_empty());
    // A NaN factor: the index defers to the scan's ordering.
    rows.data[40] = f32::NAN;
    let idx = TopIndex::new(&rows);
    check(&rows, &idx, &q, 5, &[]);
    let empty = Factors::zeros(0, 16);
    assert!(TopIndex::new(&empty).top_n(&q, 3, |_| false).is_empty());
}
