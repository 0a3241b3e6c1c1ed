//! What exploration costs and what its logs can tell, measured three ways:
//!
//! 1. Holdout NDCG@10 on MovieLens-100K (random split, iALS) when the
//!    served lists explore at shares 0, 0.05, 0.1 and 0.2 over the less
//!    popular half of the catalogue, as `/recommend` does.
//! 2. Off-policy accuracy: on a simulated platform with a known
//!    position-based click model, lists logged at share 0.05 estimate (by
//!    SNIPS) the click rate of shares 0 and 0.2; over repeated simulations,
//!    how often the estimate is within ±10 % of the truth and how often
//!    its 95 % interval covers it.
//! 3. Cold courses: courses with no interactions never enter a ranked
//!    list; how many get their first click under each share.
//!
//! cargo run --release --example exploration_sim -- [RUNS] [LISTS]

use courserec::eval::metrics::MetricsAcc;
use courserec::eval::{evaluate::evaluate_model, movielens, split::split, SplitKind, SplitParams};
use courserec::exploration::snips::{estimate, LoggedList, LoggedSlot};
use courserec::exploration::{daily_seed, explore, SplitMix};
use courserec::model::topn::top_n;
use courserec::model::AlsParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let lists: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    ndcg_cost()?;
    off_policy(runs, lists);
    cold_courses(lists);
    Ok(())
}

fn ndcg_cost() -> Result<(), Box<dyn std::error::Error>> {
    let d = movielens::load(std::path::Path::new("../shared/datasets/ml-100k"))?;
    let s = split(&d.entries, SplitKind::Random, &SplitParams::default(), 42);
    let test = s.test.clone();
    let train = s.train.clone();
    let (nu, ni) = (d.users.len(), d.courses.len());
    let (report, m) = evaluate_model(nu, ni, s, &AlsParams::default(), 10, 1.0)?;
    let mut pop = vec![0f32; ni];
    let mut owned: Vec<Vec<u32>> = vec![vec![]; nu];
    for e in &train {
        pop[e.course as usize] += 1.0;
        owned[e.user as usize].push(e.course);
    }
    owned.iter_mut().for_each(|o| o.sort_unstable());
    let mut sorted = pop.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[ni / 2];
    println!(
        "== 1. holdout NDCG@10 on ML-100K (random split), iALS {:.4} without exploration in the evaluation",
        report.model.ndcg
    );
    for share in [0.0, 0.05, 0.1, 0.2] {
        let mut acc = MetricsAcc::new(10, ni);
        for (u, held) in &test {
            let own = &owned[*u as usize];
            let ranked: Vec<u32> = top_n(m.users.row(*u as usize), &m.items, 10, |i| {
                own.binary_search(&i).is_ok()
            })
            .into_iter()
            .map(|h| h.0)
            .collect();
            let pool: Vec<u32> = (0..ni as u32)
                .filter(|&i| {
                    pop[i as usize] <= median && own.binary_search(&i).is_err() && !ranked.contains(&i)
                })
                .collect();
            let served: Vec<u32> = explore(
                &ranked,
                &vec![false; ranked.len()],
                &pool,
                share,
                daily_seed(&u.to_string(), 0),
            )
            .iter()
            .map(|s| s.course)
            .collect();
            acc.add(&served, held);
        }
        let m = acc.finish();
        println!(
            "exploration {share:.2}: ndcg@10 {:.4}  coverage {:.3}",
            m.ndcg, m.coverage
        );
    }
    Ok(())
}

/// A platform: attraction of course c for a learner of taste t, and the
/// chance a slot at position k is examined.
struct Platform {
    attraction: Vec<Vec<f64>>,
    ranked: Vec<Vec<u32>>,
    pool: Vec<u32>,
}

const POSITIONS: usize = 10;

fn exam(k: usize) -> f64 {
    1.0 / (1.0 + k as f64).powf(0.7)
}

fn platform(seed: u64) -> Platform {
    let mut rng = SplitMix::new(seed);
    let (tastes, courses) = (8usize, 300usize);
    let attraction: Vec<Vec<f64>> = (0..tastes)
        .map(|_| {
            (0..courses)
                .map(|_| 0.01 + 0.25 * rng.next_f64().powi(3))
                .collect()
        })
        .collect();
    // The ranker knows the first 200 courses (noisily); 200.. are cold.
    let ranked = attraction
        .iter()
        .map(|a| {
            let mut known: Vec<(u32, f64)> = (0..200u32)
                .map(|c| (c, a[c as usize] + 0.05 * rng.next_f64()))
                .collect();
            known.sort_by(|x, y| y.1.total_cmp(&x.1));
            known.into_iter().take(POSITIONS).map(|x| x.0).collect()
        })
        .collect();
    Platform {
        attraction,
        ranked,
        pool: (150..300).collect(),
    }
}

/// Lists served at `share`, with clicks drawn from the click model; the
/// learner of list i has taste i mod 8.
fn log(p: &Platform, share: f64, lists: usize, seed: u64) -> Vec<LoggedList> {
    let mut rng = SplitMix::new(seed ^ 0xa5a5);
    (0..lists)
        .map(|i| {
            let t = i % p.attraction.len();
            let ranked = &p.ranked[t];
            let pool: Vec<u32> = p.pool.iter().copied().filter(|c| !ranked.contains(c)).collect();
            let slots = explore(
                ranked,
                &[false; POSITIONS],
                &pool,
                share,
                seed.wrapping_mul(31).wrapping_add(i as u64),
            );
            LoggedList {
                slots: slots
                    .iter()
                    .enumerate()
                    .map(|(k, s)| {
                        let clicked = rng.next_f64() < exam(k) * p.attraction[t][s.course as usize];
                        LoggedSlot {
                            kind: s.kind,
                            propensity: s.propensity,
                            clicked,
                            purchased: clicked && rng.next_f64() < 0.1,
                        }
                    })
                    .collect(),
                pool_size: pool.len(),
            }
        })
        .collect()
}

/// The exact click rate per slot of exploring at `share`.
fn truth(p: &Platform, share: f64) -> f64 {
    let tastes = p.attraction.len();
    (0..tastes)
        .map(|t| {
            let pool: Vec<u32> = p
                .pool
                .iter()
                .copied()
                .filter(|c| !p.ranked[t].contains(c))
                .collect();
            let pool_mean =
                pool.iter().map(|&c| p.attraction[t][c as usize]).sum::<f64>() / pool.len() as f64;
            (0..POSITIONS)
                .map(|k| {
                    exam(k) * ((1.0 - share) * p.attraction[t][p.ranked[t][k] as usize] + share * pool_mean)
                })
                .sum::<f64>()
                / POSITIONS as f64
        })
        .sum::<f64>()
        / tastes as f64
}

fn off_policy(runs: usize, lists: usize) {
    println!("\n== 2. SNIPS from lists logged at share 0.05: {runs} simulations of {lists} lists x {POSITIONS} slots");
    for target in [0.0, 0.2] {
        let (mut within, mut covered) = (0, 0);
        let mut rel_errors = Vec::new();
        let mut widths = Vec::new();
        for r in 0..runs {
            let p = platform(1000 + r as u64);
            let logs = log(&p, 0.05, lists, r as u64);
            let t = truth(&p, target);
            let e = estimate(&logs, target).expect("slots logged");
            let rel = (e.click_rate.value - t).abs() / t;
            rel_errors.push(rel);
            widths.push((e.click_rate.ci[1] - e.click_rate.ci[0]) / t);
            within += usize::from(rel <= 0.10);
            covered += usize::from(e.click_rate.ci[0] <= t && t <= e.click_rate.ci[1]);
        }
        rel_errors.sort_by(f64::total_cmp);
        widths.sort_by(f64::total_cmp);
        println!(
            "target share {target:.2}: within ±10% in {within}/{runs}, interval covers the truth in {covered}/{runs} ({:.1}%), median |error| {:.2}%, median interval width {:.1}% of the truth",
            100.0 * covered as f64 / runs as f64,
            100.0 * rel_errors[runs / 2],
            100.0 * widths[runs / 2]
        );
    }
}

fn cold_courses(lists: usize) {
    println!("\n== 3. cold courses (200..299, never ranked) with a first click, over {lists} lists");
    let p = platform(7);
    for share in [0.0, 0.05, 0.1] {
        let logs = log(&p, share, lists, 3);
        let mut first: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        // Replay the same draws to see which course each click was on.
        for (i, l) in logs.iter().enumerate() {
            let t = i % p.attraction.len();
            let ranked = &p.ranked[t];
            let pool: Vec<u32> = p.pool.iter().copied().filter(|c| !ranked.contains(c)).collect();
            let slots = explore(
                ranked,
                &[false; POSITIONS],
                &pool,
                share,
                3u64.wrapping_mul(31).wrapping_add(i as u64),
            );
            for (s, logged) in slots.iter().zip(&l.slots) {
                if logged.clicked && s.course >= 200 {
                    first.entry(s.course).or_insert(i);
                }
            }
        }
        let mut at: Vec<usize> = first.values().copied().collect();
        at.sort_unstable();
        let median = at.get(at.len() / 2).copied();
        println!(
            "exploration {share:.2}: {} of 100 cold courses clicked; median list of the first click {}",
            first.len(),
            median.map_or("-".into(), |m| m.to_string())
        );
    }
}
