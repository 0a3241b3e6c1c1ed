//! Grid search of ALS parameters on *validation* splits carved out of the
//! ML-100K training parts (the test parts are never looked at):
//! random: split(seed 42) → train → split again (seed 7);
//! temporal: temporal split → train → temporal split again.
//!
//! cargo run --release --example tune -- [DIR]
//! Grids come from TUNE_FACTORS, TUNE_REG, TUNE_ALPHA (comma lists) TUNE_ITERATIONS
//! and TUNE_CONFIDENCE (log, linear or both).

use courserec::eval::split::split;
use courserec::eval::{evaluate, movielens, SplitKind, SplitParams};
use courserec::model::{AlsParams, Confidence};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/datasets/ml-100k".into());
    let d = movielens::load(dir.as_ref()).unwrap();
    let sp = SplitParams::default();
    let (nu, ni) = (d.users.len(), d.courses.len());
    let rand_val = split(
        &split(&d.entries, SplitKind::Random, &sp, 42).train,
        SplitKind::Random,
        &sp,
        7,
    );
    let temp_val = split(
        &split(&d.entries, SplitKind::Temporal, &sp, 42).train,
        SplitKind::Temporal,
        &sp,
        7,
    );
    let list = |name: &str, default: &str| -> Vec<f32> {
        std::env::var(name)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let confs: Vec<Confidence> = match std::env::var("TUNE_CONFIDENCE").as_deref() {
        Ok("linear") => vec![Confidence::Linear],
        Ok("both") => vec![Confidence::Log, Confidence::Linear],
        _ => vec![Confidence::Log],
    };
    let its = list("TUNE_ITERATIONS", "15")[0] as usize;
    let mut rows = Vec::new();
    for factors in list("TUNE_FACTORS", "32,64,128") {
        let factors = factors as usize;
        for reg in list("TUNE_REG", "0.05,1,5,20") {
            for alpha in list("TUNE_ALPHA", "1,3,10,30") {
                for conf in confs.iter().copied() {
                    let p = AlsParams {
                        factors,
                        iterations: its,
                        regularization: reg,
                        alpha,
                        confidence: conf,
                        ..AlsParams::default()
                    };
                    let r = evaluate(nu, ni, &rand_val, &p, 10, 1.0).unwrap().model.ndcg;
                    let t = evaluate(nu, ni, &temp_val, &p, 10, 1.0).unwrap().model.ndcg;
                    println!(
                        "f {factors:3} reg {reg:5} alpha {alpha:4} {conf:?}: random {r:.4} temporal {t:.4}"
                    );
                    rows.push((r / 0.361 + t / 0.183, factors, reg, alpha, r, t));
                }
            }
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("best:");
    for r in rows.iter().take(8) {
        println!(
            "  f {:3} reg {:5} alpha {:4}: random {:.4} temporal {:.4}",
            r.1, r.2, r.3, r.4, r.5
        );
    }
}
