//! Synthetic training benchmark: `--dump DIR` writes a seeded data set as raw
//! little-endian arrays (users.u32, items.u32, weights.f32, meta.txt) that
//! `bench/compare_implicit.py` also reads; `--load DIR` times `fit` on it and
//! reports the process's peak RSS.
//!
//! cargo run --release --example synthetic -- --dump DIR [--users N] [--items N] [--nnz N] [--seed N]
//! cargo run --release --example synthetic -- --load DIR [--repeat N] [--json]

use courserec::eval::synthetic;
use courserec::model::{fit, AlsParams, Csr};
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut dump, mut load, mut json) = (None::<PathBuf>, None::<PathBuf>, false);
    let (mut users, mut items, mut nnz, mut seed, mut repeat) =
        (100_000usize, 20_000usize, 5_000_000usize, 42u64, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--dump" => dump = Some(v()?.into()),
            "--load" => load = Some(v()?.into()),
            "--users" => users = v()?.parse()?,
            "--items" => items = v()?.parse()?,
            "--nnz" => nnz = v()?.parse()?,
            "--seed" => seed = v()?.parse()?,
            "--repeat" => repeat = v()?.parse()?,
            "--json" => json = true,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    if let Some(dir) = dump {
        let t = synthetic::generate(users, items, nnz, seed);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("meta.txt"), format!("{users}\t{items}\n"))?;
        let us: Vec<u8> = t.iter().flat_map(|x| x.0.to_le_bytes()).collect();
        std::fs::write(dir.join("users.u32"), us)?;
        let is: Vec<u8> = t.iter().flat_map(|x| x.1.to_le_bytes()).collect();
        std::fs::write(dir.join("items.u32"), is)?;
        let ws: Vec<u8> = t.iter().flat_map(|x| x.2.to_le_bytes()).collect();
        std::fs::write(dir.join("weights.f32"), ws)?;
        return Ok(());
    }
    let dir = load.ok_or("pass --dump DIR or --load DIR")?;
    let meta = std::fs::read_to_string(dir.join("meta.txt"))?;
    let dims: Vec<usize> = meta
        .split_whitespace()
        .map(|v| v.parse())
        .collect::<Result<_, _>>()?;
    let read = |name: &str| -> Result<Vec<[u8; 4]>, std::io::Error> {
        Ok(std::fs::read(dir.join(name))?
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect())
    };
    let ui = {
        let (u, i, w) = (read("users.u32")?, read("items.u32")?, read("weights.f32")?);
        let t: Vec<(u32, u32, f32)> = u
            .iter()
            .zip(&i)
            .zip(&w)
            .map(|((u, i), w)| {
                (
                    u32::from_le_bytes(*u),
                    u32::from_le_bytes(*i),
                    f32::from_le_bytes(*w),
                )
            })
            .collect();
        Csr::from_triples(dims[0], dims[1], &t)
    };
    let p = AlsParams::default();
    let mut times = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        fit(&ui, &p, |_, _| {})?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let rss = peak_rss_mib();
    if json {
        println!(
            "{}",
            serde_json::json!({"nnz": ui.nnz(), "fit_median_s": median, "fit_s": times, "peak_rss_mib": rss})
        );
    } else {
        println!(
            "rust synthetic {}×{} nnz {}: fit median {median:.2} s of {}, peak RSS {rss:.0} MiB",
            dims[0],
            dims[1],
            ui.nnz(),
            times.len()
        );
    }
    Ok(())
}
