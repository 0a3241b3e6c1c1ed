//! Tests of the CG solver against the exact oracle on small problems.

use super::als::{fit, AlsModel, AlsParams, Confidence, FitError};
use super::csr::Csr;
use super::exact::{fit_exact, loss};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_problem(n_users: usize, n_items: usize, density: f64, seed: u64) -> Csr {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = Vec::new();
    for u in 0..n_users {
        for i in 0..n_items {
            if rng.random_bool(density) {
                t.push((u as u32, i as u32, rng.random_range(1.0f32..5.0)));
            }
        }
    }
    Csr::from_triples(n_users, n_items, &t)
}

fn small_params() -> AlsParams {
    AlsParams {
        factors: 6,
        iterations: 5,
        regularization: 0.1,
        alpha: 2.0,
        cg_steps: 3,
        ..AlsParams::default()
    }
}

fn score(m: &AlsModel, u: usize, i: usize) -> f32 {
    m.users
        .row(u)
        .iter()
        .zip(m.items.row(i))
        .map(|(a, b)| a * b)
        .sum()
}

#[test]
fn cg_with_enough_steps_matches_exact() {
    let ui = random_problem(30, 20, 0.3, 7);
    for conf in [Confidence::Linear, Confidence::Log] {
        // CG is exact after k steps in exact arithmetic; 2k leaves margin for f32.
        let p = AlsParams {
            confidence: conf,
            cg_steps: 12,
            ..small_params()
        };
        let cg = fit(&ui, &p, |_, _| {}).unwrap();
        let ex = fit_exact(&ui, &p, |_, _| {}).unwrap();
        for u in 0..30 {
            for i in 0..20 {
                let (a, b) = (score(&cg, u, i), score(&ex, u, i));
                assert!((a - b).abs() < 2e-3, "u{u} i{i}: cg {a} vs exact {b}");
            }
        }
        let (lc, le) = (loss(&ui, &p, &cg), loss(&ui, &p, &ex));
        assert!((lc - le).abs() < 1e-3 * le, "{lc} vs {le}");
    }
}

#[test]
fn exact_loss_never_increases() {
    let ui = random_problem(25, 15, 0.25, 3);
    let p = AlsParams {
        iterations: 8,
        ..small_params()
    };
    let mut losses = Vec::new();
    fit_exact(&ui, &p, |_, m| losses.push(loss(&ui, &p, m))).unwrap();
    for w in losses.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-9), "loss went up: {losses:?}");
    }
}

#[test]
fn three_cg_steps_get_close_to_exact_loss() {
    let ui = random_problem(40, 30, 0.2, 11);
    let p = AlsParams {
        iterations: 15,
        ..small_params()
    };
    let cg = fit(&ui, &p, |_, _| {}).unwrap();
    let ex = fit_exact(&ui, &p, |_, _| {}).unwrap();
    let (lc, le) = (loss(&ui, &p, &cg), loss(&ui, &p, &ex));
    assert!(lc <= le * 1.05, "cg {lc} vs exact {le}");
}

#[test]
fn checkerboard_withheld_item_ranks_first() {
    // Users 0–9 take items 0–4, users 10–19 take items 5–9; user 0 lacks item 0.
    let mut t = Vec::new();
    for u in 0..20u32 {
        let base = if u < 10 { 0 } else { 5 };
        for i in base..base + 5 {
            if !(u == 0 && i == 0) {
                t.push((u, i, 1.0));
            }
        }
    }
    let ui = Csr::from_triples(20, 10, &t);
    let p = AlsParams {
        factors: 4,
        iterations: 10,
        alpha: 10.0,
        ..AlsParams::default()
    };
    let m = fit(&ui, &p, |_, _| {}).unwrap();
    let best = (0..10)
        .filter(|&i| !(1..5).contains(&i))
        .max_by(|&a, &b| score(&m, 0, a).total_cmp(&score(&m, 0, b)));
    assert_eq!(best, Some(0));
}

#[test]
fn nan_weight_fails_the_fit() {
    let ui = Csr::from_triples(2, 2, &[(0, 0, 1.0), (1, 1, f32::NAN)]);
    assert_eq!(
        fit(&ui, &small_params(), |_, _| {}),
        Err(FitError::NonFiniteInput { row: 1, col: 1 })
    );
}

#[test]
fn overflowing_confidence_reports_non_finite_factors() {
    let ui = random_problem(10, 10, 0.5, 1);
    let p = AlsParams {
        confidence: Confidence::Linear,
        alpha: 3e38,
        ..small_params()
    };
    assert!(matches!(fit(&ui, &p, |_, _| {}), Err(FitError::NonFinite { .. })));
}

#[test]
fn same_seed_same_factors_on_any_thread_count() {
    let ui = random_problem(300, 80, 0.1, 5);
    let p = small_params();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fit(&ui, &p, |_, _| {}).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
    let mut calls = Vec::new();
    fit(&ui, &p, |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls.last(), Some(&(5, 5)));
}

#[test]
fn the_64_factor_kernels_give_the_same_factors_on_any_thread_count() {
    // k = 64 takes the fixed-length CG row (fused multiply-adds with FMA).
    let ui = random_problem(120, 70, 0.15, 9);
    let p = AlsParams {
        factors: 64,
        iterations: 3,
        ..AlsParams::default()
    };
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fit(&ui, &p, |_, _| {}).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}
