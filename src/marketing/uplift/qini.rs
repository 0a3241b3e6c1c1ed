//! Qini curves and the Qini coefficient (Radcliffe 2007), with a paired
//! Poisson bootstrap for intervals. Pure.
//!
//! Units are ranked by a targeting score, best first. At each depth k the
//! curve is the incremental conversions among the top k, counted the way
//! scikit-uplift counts them: Y_T(k) − Y_C(k) · N_T(k) / N_C(k) (the ratio
//! taken as 0 while no control unit is in the top k). The coefficient is
//! the area between that curve and the random-targeting line, with the
//! depth as a fraction of the units and the curve per unit of the whole
//! group: incremental conversions per unit, averaged over every depth.
//! Positive means the ranking finds the units the treatment moves.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One unit of a randomised comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub treated: bool,
    pub converted: bool,
}

/// Units ranked by `score`, best first; ties broken by `tie` (a hash of
/// the unit, so a constant score ranks at random, not in input order).
pub fn ranked(scores: &[f64], tie: &[u64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        scores[b].total_cmp(&scores[a]).then(tie[a].cmp(&tie[b]))
    });
    order
}

/// Weighted running sums of one prefix of a ranking.
#[derive(Debug, Clone, Copy, Default)]
struct Prefix {
    n_t: f64,
    n_c: f64,
    y_t: f64,
    y_c: f64,
}

impl Prefix {
    fn add(&mut self, u: Unit, w: f64) {
        let y = if u.converted { w } else { 0.0 };
        if u.treated {
            self.n_t += w;
            self.y_t += y;
        } else {
            self.n_c += w;
            self.y_c += y;
        }
    }

    /// Incremental conversions among these units.
    fn gain(&self) -> f64 {
        let ratio = if self.n_c > 0.0 { self.n_t / self.n_c } else { 0.0 };
        self.y_t - self.y_c * ratio
    }
}

/// The Qini coefficient of `units` taken in `order`, each weighted by
/// `weight[i]` (1 for the plain estimate, Poisson draws for a bootstrap
/// replicate). 0 for an empty or weightless group.
pub fn coefficient(units: &[Unit], order: &[u32], weight: impl Fn(usize) -> f64) -> f64 {
    let total: f64 = order.iter().map(|&i| weight(i as usize)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let (mut p, mut area, mut x, mut g) = (Prefix::default(), 0.0, 0.0, 0.0);
    for &i in order {
        let w = weight(i as usize);
        if w == 0.0 {
            continue;
        }
        p.add(units[i as usize], w);
        let (x1, g1) = (x + w / total, p.gain() / total);
        area += (x1 - x) * (g + g1) / 2.0;
        (x, g) = (x1, g1);
    }
    // The random line runs from 0 to the whole group's gain: area g / 2.
    area - g / 2.0
}

/// One point of a campaign's Qini curve by decile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QiniPoint {
    /// Share of the ranked members, 0.1 to 1.
    pub fraction: f64,
    pub treated_users: u64,
    pub control_users: u64,
    pub treated_conversions: u64,
    pub control_conversions: u64,
    /// Y_T − Y_C · N_T / N_C among the top `fraction`: conversions the
    /// offer added there.
    pub incremental_conversions: f64,
}

/// The Qini curve of `units` in `order` at each tenth of the ranking (the
/// top ⌈n·d/10⌉ units for d = 1..10); empty without units.
pub fn deciles(units: &[Unit], order: &[u32]) -> Vec<QiniPoint> {
    let n = order.len();
    if n == 0 {
        return Vec::new();
    }
    let mut p = Prefix::default();
    let mut out = Vec::with_capacity(10);
    let mut taken = 0;
    for d in 1..=10usize {
        let upto = (n * d).div_ceil(10);
        for &i in &order[taken..upto] {
            p.add(units[i as usize], 1.0);
        }
        taken = upto;
        out.push(QiniPoint {
            fraction: d as f64 / 10.0,
            treated_users: p.n_t as u64,
            control_users: p.n_c as u64,
            treated_conversions: p.y_t as u64,
            control_conversions: p.y_c as u64,
            incremental_conversions: p.gain(),
        });
    }
    out
}

/// A group of units (one campaign) and each candidate ranking of them.
pub struct Group<'a> {
    pub units: &'a [Unit],
    /// `orders[m]`: the units ranked by candidate m.
    pub orders: Vec<Vec<u32>>,
}

/// A Qini coefficient with its bootstrap spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    /// 2.5 % and 97.5 % percentiles of the bootstrap replicates.
    pub ci: [f64; 2],
    /// Standard deviation of the replicates.
    pub se: f64,
}

impl Estimate {
    fn of(value: f64, mut replicates: Vec<f64>) -> Estimate {
        replicates.sort_by(f64::total_cmp);
        let n = replicates.len();
        if n == 0 {
            return Estimate {
                value,
                ci: [value, value],
                se: 0.0,
            };
        }
        let at = |q: f64| replicates[((q * (n - 1) as f64).round() as usize).min(n - 1)];
        let mean = replicates.iter().sum::<f64>() / n as f64;
        let var = replicates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        Estimate {
            value,
            ci: [at(0.025), at(0.975)],
            se: var.sqrt(),
        }
    }

    /// Significantly above zero: the interval's lower end is.
    pub fn positive(&self) -> bool {
        self.ci[0] > 0.0
    }
}

/// Per candidate, the size-weighted mean Qini coefficient over the
/// groups, with its bootstrap; [`Compared::gain_over`] compares two
/// candidates on the same replicates. Replicates draw a
/// Poisson(1) weight per unit (the same weights for every candidate, so
/// differences are paired), seeded.
pub struct Compared {
    pub candidates: Vec<Estimate>,
    /// replicates[b][m]: candidate m's coefficient in replicate b.
    replicates: Vec<Vec<f64>>,
    plain: Vec<f64>,
}

impl Compared {
    /// Candidate `a`'s coefficient minus candidate `b`'s, with the paired
    /// bootstrap interval.
    pub fn gain_over(&self, a: usize, b: usize) -> Estimate {
        let diffs = self.replicates.iter().map(|r| r[a] - r[b]).collect();
        Estimate::of(self.plain[a] - self.plain[b], diffs)
    }
}

/// Poisson(1) by inversion: at most a few steps for λ = 1.
fn poisson1(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random();
    let (mut k, mut p) = (0u32, (-1.0f64).exp());
    let mut cdf = p;
    while u > cdf && k < 20 {
        k += 1;
        p /= f64::from(k);
        cdf += p;
    }
    f64::from(k)
}

/// Compares `candidates` rankings over `groups` with `replicates` bootstrap
/// draws (seeded by `seed`). Groups are weighted by their (bootstrap) size.
pub fn compare(groups: &[Group], candidates: usize, replicates: usize, seed: u64) -> Compared {
    let pooled = |weights: &[Vec<f64>]| -> Vec<f64> {
        let mut sum = vec![0.0; candidates];
        let mut total = 0.0;
        for (g, w) in groups.iter().zip(weights) {
            let size: f64 = w.iter().sum();
            total += size;
            for (m, s) in sum.iter_mut().enumerate() {
                *s += size * coefficient(g.units, &g.orders[m], |i| w[i]);
            }
        }
        sum.iter()
            .map(|s| if total > 0.0 { s / total } else { 0.0 })
            .collect()
    };
    let ones: Vec<Vec<f64>> = groups.iter().map(|g| vec![1.0; g.units.len()]).collect();
    let plain = pooled(&ones);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let reps: Vec<Vec<f64>> = (0..replicates)
        .map(|_| {
            let w: Vec<Vec<f64>> = groups
                .iter()
                .map(|g| g.units.iter().map(|_| poisson1(&mut rng)).collect())
                .collect();
            pooled(&w)
        })
        .collect();
    let candidates = (0..candidates)
        .map(|m| Estimate::of(plain[m], reps.iter().map(|r| r[m]).collect()))
        .collect();
    Compared {
        candidates,
        replicates: reps,
        plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(treated: bool, converted: bool) -> Unit {
        Unit { treated, converted }
    }

    #[test]
    fn the_coefficient_is_the_area_above_the_random_line() {
        // Two treated converters first, then two controls, one converting.
        let units = [u(true, true), u(true, true), u(false, true), u(false, false)];
        // Gains after each unit (ratio 0 until a control is in): 1, 2,
        // 2 − 1·2/1 = 0, 2 − 1·2/2 = 1; per unit of 4: .25, .5, 0, .25.
        // Trapezoids of width .25: (0+.25)/2 + (.25+.5)/2 + (.5+0)/2 +
        // (0+.25)/2 = .875 × .25 = .21875; random line: .25 / 2 = .125.
        let best = coefficient(&units, &[0, 1, 2, 3], |_| 1.0);
        assert!((best - 0.09375).abs() < 1e-12, "{best}");
        // The controls first. Gains: 0, 0 (no treated unit yet), then
        // 1 − 1·1/2 = .5 and 2 − 1·2/2 = 1; per unit 0, 0, .125, .25.
        // Area (.0625 + .1875) × .25 = .0625, minus .125: −.0625.
        let worst = coefficient(&units, &[2, 3, 1, 0], |_| 1.0);
        assert!((worst + 0.0625).abs() < 1e-12, "{worst}");
        assert!(best > worst);
        // A zero weight drops a unit.
        let without = coefficient(&units, &[0, 1, 2, 3], |i| if i == 3 { 0.0 } else { 1.0 });
        let shorter = coefficient(&units[..3], &[0, 1, 2], |_| 1.0);
        assert!((without - shorter).abs() < 1e-12);
    }

    #[test]
    fn deciles_count_cumulative_arms() {
        let units: Vec<Unit> = (0..20).map(|i| u(i % 2 == 0, i < 4)).collect();
        let order: Vec<u32> = (0..20).collect();
        let d = deciles(&units, &order);
        assert_eq!(d.len(), 10);
        // Top 2: unit 0 (treated, converted), unit 1 (control, converted).
        assert_eq!((d[0].treated_users, d[0].control_users), (1, 1));
        assert_eq!((d[0].treated_conversions, d[0].control_conversions), (1, 1));
        assert_eq!(d[0].incremental_conversions, 0.0);
        assert_eq!((d[9].treated_users, d[9].control_users), (10, 10));
        assert_eq!(d[9].fraction, 1.0);
        assert!(deciles(&units, &[]).is_empty());
    }

    #[test]
    fn ranking_breaks_ties_by_the_hash() {
        assert_eq!(ranked(&[0.5, 0.9, 0.5], &[7, 1, 3]), [1, 2, 0]);
    }

    #[test]
    fn a_ranking_that_finds_the_moved_units_wins_the_paired_bootstrap() {
        // 400 units: the first 100 are moved by treatment (convert only
        // when treated), the rest never convert.
        let units: Vec<Unit> = (0..400).map(|i| u(i % 2 == 0, i < 100 && i % 2 == 0)).collect();
        let good: Vec<u32> = (0..400).collect();
        let bad: Vec<u32> = (0..400).rev().collect();
        let g = Group {
            units: &units,
            orders: vec![good, bad],
        };
        let c = compare(&[g], 2, 200, 1);
        assert!(c.candidates[0].positive(), "{:?}", c.candidates[0]);
        assert!(c.candidates[1].value < 0.0);
        let gain = c.gain_over(0, 1);
        assert!(gain.positive() && gain.se > 0.0, "{gain:?}");
        // Same seed, same figures.
        let again = compare(
            &[Group {
                units: &units,
                orders: vec![(0..400).collect(), (0..400).rev().collect()],
            }],
            2,
            200,
            1,
        );
        assert_eq!(again.candidates, c.candidates);
    }
}
