//! Times `fit` on ML-100K (all ratings as weight 1): wall and process CPU.
//! cargo run --release --example fit_time -- [DIR] [REPEATS]

use courserec::eval::movielens;
use courserec::model::{fit, AlsParams};
use std::time::Instant;

/// Process CPU seconds (user + system) from /proc/self/stat, 10 ms ticks.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let mut a = std::env::args().skip(1);
    let dir = a.next().unwrap_or_else(|| "../shared/datasets/ml-100k".into());
    let reps: usize = a.next().and_then(|v| v.parse().ok()).unwrap_or(5);
    let d = movielens::load(dir.as_ref()).unwrap();
    let ui = d.to_csr();
    let p = AlsParams::default();
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        fit(&ui, &p, |_, _| {}).unwrap();
        println!(
            "fit {:.3} s wall, {:.2} s cpu",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
}
