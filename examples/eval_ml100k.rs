//! Offline evaluation on a MovieLens directory; optionally writes the exact
//! split as TSVs so `bench/compare_implicit.py` trains on the same data, and
//! repeats the fit to report a median training time.
//!
//! cargo run --release --example eval_ml100k -- [--data DIR] [--split random|temporal]
//!     [--seed N] [--k N] [--dump DIR] [--repeat N] [--json] [--factors N]
//!     [--iterations N] [--reg X] [--alpha X] [--confidence log|linear] [--eps X]

use courserec::eval::{evaluate, movielens, split::split, SplitKind, SplitParams};
use courserec::model::interactions::csr_of;
use courserec::model::{fit, AlsParams, Confidence};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = PathBuf::from("../shared/datasets/ml-100k");
    let (mut kind, mut seed, mut k, mut dump, mut json, mut repeat) =
        (SplitKind::Random, 42u64, 10usize, None, false, 1usize);
    let mut p = AlsParams::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = v()?.into(),
            "--split" => {
                kind = if v()? == "temporal" {
                    SplitKind::Temporal
                } else {
                    SplitKind::Random
                }
            }
            "--seed" => seed = v()?.parse()?,
            "--k" => k = v()?.parse()?,
            "--dump" => dump = Some(PathBuf::from(v()?)),
            "--repeat" => repeat = v()?.parse()?,
            "--factors" => p.factors = v()?.parse()?,
            "--iterations" => p.iterations = v()?.parse()?,
            "--reg" => p.regularization = v()?.parse()?,
            "--alpha" => p.alpha = v()?.parse()?,
            "--eps" => p.eps = v()?.parse()?,
            "--cg-steps" => p.cg_steps = v()?.parse()?,
            "--confidence" => {
                p.confidence = if v()? == "linear" {
                    Confidence::Linear
                } else {
                    Confidence::Log
                }
            }
            "--json" => json = true,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let d = movielens::load(&data)?;
    let s = split(&d.entries, kind, &SplitParams::default(), seed);
    let (nu, ni) = (d.users.len(), d.courses.len());
    if let Some(dir) = dump {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("meta.txt"), format!("{nu}\t{ni}\n"))?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("train.tsv"))?);
        for e in &s.train {
            writeln!(f, "{}\t{}\t{}", e.user, e.course, e.weight)?;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("test.tsv"))?);
        for (u, items) in &s.test {
            for i in items {
                writeln!(f, "{u}\t{i}")?;
            }
        }
    }
    let r = evaluate(nu, ni, &s, &p, k, 1.0)?;
    let ui = csr_of(&s.train, nu, ni);
    let mut times = vec![r.fit_seconds];
    for _ in 1..repeat {
        let t = Instant::now();
        fit(&ui, &p, |_, _| {})?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let (m, b) = (&r.model, &r.popularity);
    if json {
        let out = serde_json::json!({"split": kind, "k": k, "params": p, "model": m, "popularity": b, "fit_median_s": median, "fit_s": times});
        println!("{out}");
    } else {
        println!(
            "rust {kind:?}: ndcg@{k} {:.4} p@{k} {:.4} map {:.4} recall {:.4} | popularity ndcg {:.4} p {:.4} | fit median {median:.3} s of {}",
            m.ndcg, m.precision, m.map, m.recall, b.ndcg, b.precision, times.len()
        );
    }
    Ok(())
}
