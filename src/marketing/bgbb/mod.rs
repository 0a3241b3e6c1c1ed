//! The beta-geometric/beta-Bernoulli (BG/BB) model of repeat activity in
//! discrete time: Fader, Hardie & Shang (2010), "Customer-Base Analysis in
//! a Discrete-Time Noncontractual Setting", Marketing Science 29(6).
//!
//! Each day is an opportunity. A learner who is still "alive" is active on
//! it with probability p; at the start of each later day they drop out for
//! good with probability θ. Across learners p ~ Beta(α, β) and
//! θ ~ Beta(γ, δ). Fitted by maximum likelihood on each learner's
//! (x, tₓ, n), it turns recency, frequency and tenure into P(alive) and
//! P(no activity in the next H days), the churn model's strongest inputs:
//! it tells a learner who is always slow from one who stopped. Pure.

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use libm::lgamma;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod prepared;

pub use prepared::Prepared;
use prepared::DAYS_TABULATED;

/// One learner's activity summary as of a cutoff, in days after their
/// first active day (day 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rf {
    /// Active days after day 0.
    pub x: u32,
    /// The last active day (0 when day 0 was the only one); `tx ≤ n`.
    pub tx: u32,
    /// Days observed after day 0 (the opportunities); `x ≤ n`.
    pub n: u32,
}

impl Rf {
    /// From a learner's distinct active days before `cutoff`, ascending.
    /// `None` without any.
    pub fn from_days(days: &[i32], cutoff: i32) -> Option<Rf> {
        let first = *days.first()?;
        let last = *days.last()?;
        Some(Rf {
            x: (days.len() - 1) as u32,
            tx: (last - first) as u32,
            n: (cutoff - 1 - first).max(last - first) as u32,
        })
    }
}

/// Fitted BG/BB parameters, all > 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBb {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
}

fn ln_beta(a: f64, b: f64) -> f64 {
    lgamma(a) + lgamma(b) - lgamma(a + b)
}

/// ln(e^a + e^b) without overflow.
fn ln_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// Parameters are searched in log space and kept in this range, so a
/// flat likelihood (θ → 0 with γ, δ → ∞) cannot run off to infinity.
const LN_RANGE: (f64, f64) = (-6.9, 16.1);

impl BgBb {
    fn from_ln(p: &[f64]) -> BgBb {
        let e = |v: f64| v.clamp(LN_RANGE.0, LN_RANGE.1).exp();
        BgBb {
            alpha: e(p[0]),
            beta: e(p[1]),
            gamma: e(p[2]),
            delta: e(p[3]),
        }
    }

    /// ln B(α, β) + ln B(γ, δ): the denominators every learner's terms
    /// share, computed once per call instead of once per term.
    fn ln_norm(&self) -> f64 {
        ln_beta(self.alpha, self.beta) + ln_beta(self.gamma, self.delta)
    }

    /// The likelihood's two sums of ln B for one summary (eq. 5):
    /// ln B(α+x, β+n−x) + ln B(γ, δ+n) (alive through day n) and
    /// ln B(α+x, β+tₓ−x) + ln B(γ+1, δ+tₓ) (gone at the start of tₓ+1).
    fn direct_betas(&self, r: Rf) -> (f64, f64) {
        let (x, n, tx) = (f64::from(r.x), f64::from(r.n), f64::from(r.tx));
        let (a, b, g, d) = (self.alpha, self.beta, self.gamma, self.delta);
        (
            ln_beta(a + x, b + n - x) + ln_beta(g, d + n),
            ln_beta(a + x, b + tx - x) + ln_beta(g + 1.0, d + tx),
        )
    }

    /// ln of the "alive through day n" term of the likelihood (eq. 5),
    /// B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ), and ln L; `betas` are
    /// [`BgBb::direct_betas`] (or the same from tables), `norm`
    /// [`BgBb::ln_norm`].
    fn ln_alive_and_likelihood(&self, r: Rf, betas: (f64, f64), norm: f64) -> (f64, f64) {
        let (x, tx) = (f64::from(r.x), f64::from(r.tx));
        let (a, b, g, d) = (self.alpha, self.beta, self.gamma, self.delta);
        let alive = betas.0 - norm;
        if r.n == r.tx {
            return (alive, alive);
        }
        // i = 0: dropped out at the start of day tₓ + 1. The sum over the
        // possible dropout days runs by the ratio B(a, b+1) = B(a, b)·b/(a+b),
        // so it costs one multiply per day instead of six ln Γ.
        let first = betas.1 - norm;
        let (mut term, mut sum) = (1.0f64, 1.0f64);
        for i in 0..r.n - r.tx - 1 {
            let i = f64::from(i);
            term *= (b + tx - x + i) / (a + b + tx + i) * ((d + tx + i) / (g + 1.0 + d + tx + i));
            sum += term;
        }
        (alive, ln_add(alive, first + sum.ln()))
    }

    /// ln L(α, β, γ, δ | x, tₓ, n), eq. 5 of the paper.
    pub fn ln_likelihood(&self, r: Rf) -> f64 {
        self.ln_alive_and_likelihood(r, self.direct_betas(r), self.ln_norm())
            .1
    }

    /// P(alive at the start of day n+1 | x, tₓ, n), eq. 11; 0..1.
    pub fn p_alive(&self, r: Rf) -> f64 {
        let (alive, ll) = self.ln_alive_and_likelihood(r, self.direct_betas(r), self.ln_norm());
        self.p_alive_from(r, alive, ll)
    }

    /// Eq. 11 from the likelihood's parts.
    fn p_alive_from(&self, r: Rf, ln_alive: f64, ln_likelihood: f64) -> f64 {
        let n = f64::from(r.n);
        let survive = ((self.delta + n) / (self.gamma + self.delta + n)).ln();
        (ln_alive + survive - ln_likelihood).exp().clamp(0.0, 1.0)
    }

    /// P(no active day among days n+1 … n+h | x, tₓ, n), 0..1: dropped out
    /// already, or still there and either quiet for all h days or quiet
    /// until dropping out among them. Given alive at n+1, the posterior is
    /// p ~ Beta(α+x, β+n−x) and θ ~ Beta(γ, δ+n+1), independent.
    pub fn p_inactive(&self, r: Rf, h: u32) -> f64 {
        self.p_inactive_and_alive(r, h).0
    }

    /// (P(inactive over h days), P(alive)) for one summary, sharing the
    /// likelihood, which costs O(n − tₓ): half the work of calling
    /// [`BgBb::p_inactive`] and [`BgBb::p_alive`] apart.
    pub fn p_inactive_and_alive(&self, r: Rf, h: u32) -> (f64, f64) {
        let alive = self.p_alive(r);
        (self.p_inactive_given_alive(r, h, alive), alive)
    }

    fn p_inactive_given_alive(&self, r: Rf, h: u32, alive: f64) -> f64 {
        if h == 0 {
            return 1.0;
        }
        let (x, n) = (f64::from(r.x), f64::from(r.n));
        let (pa, pb) = (self.alpha + x, self.beta + n - x);
        let (tg, td) = (self.gamma, self.delta + n + 1.0);
        // quiet_j = E[(1−p)^j]; stay_j = E[(1−θ)^j]; drop_j = E[θ(1−θ)^(j−1)].
        let (mut quiet, mut stay) = (1.0f64, 1.0f64);
        let mut drop = tg / (tg + td);
        let mut p0 = 0.0;
        for j in 1..=h {
            let m = f64::from(j - 1);
            quiet *= (pb + m) / (pa + pb + m);
            if j < h {
                // Quiet for j days, then gone at the start of day j+1.
                p0 += quiet * drop;
                drop *= (td + m) / (tg + 1.0 + td + m);
                stay *= (td + m) / (tg + td + m);
            }
        }
        p0 += quiet * stay;
        ((1.0 - alive) + alive * p0).clamp(0.0, 1.0)
    }

    /// Maximum-likelihood fit (Nelder–Mead in log space, `argmin`) on
    /// learners' summaries. Identical summaries are pooled, and at most
    /// `max_learners` are used, evenly strided, so the cost does not grow
    /// with the platform. `None` with fewer than 10 learners or when the
    /// optimizer fails.
    pub fn fit(rfs: &[Rf], max_learners: usize) -> Option<BgBb> {
        if rfs.len() < 10 {
            return None;
        }
        let step = rfs.len().div_ceil(max_learners.max(1));
        let mut pooled: std::collections::HashMap<Rf, f64> = std::collections::HashMap::new();
        for r in rfs.iter().step_by(step) {
            *pooled.entry(*r).or_default() += 1.0;
        }
        // Longer tenures than the tables fall back to ln Γ (one bad first
        // day must not make every trial allocate a huge table).
        let n_max = pooled.keys().map(|r| r.n).max().unwrap_or(0).min(DAYS_TABULATED);
        let mut cost = Cost {
            rows: pooled.into_iter().collect(),
            n_max,
        };
        // A total order: the fit must not depend on hash order.
        cost.rows.sort_by_key(|(r, _)| (r.n, r.tx, r.x));
        let start = [0.0, 0.7, 1.0, 3.0];
        let mut simplex = vec![start.to_vec()];
        for k in 0..4 {
            let mut v = start.to_vec();
            v[k] += 1.0;
            simplex.push(v);
        }
        let solver = NelderMead::new(simplex).with_sd_tolerance(1e-7).ok()?;
        let res = Executor::new(cost, solver)
            .configure(|s| s.max_iters(600))
            .run()
            .ok()?;
        let best = res.state().best_param.clone()?;
        let fitted = BgBb::from_ln(&best);
        fitted
            .alpha
            .is_finite()
            .then_some(fitted)
            .filter(|f| [f.beta, f.gamma, f.delta].iter().all(|v| v.is_finite()))
    }
}

/// The negative log-likelihood of pooled summaries, for `argmin`.
struct Cost {
    rows: Vec<(Rf, f64)>,
    /// Largest n among the rows: the length of the ln Γ tables.
    n_max: u32,
}

impl CostFunction for Cost {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let m = Prepared::new(BgBb::from_ln(p), self.n_max);
        let ll: f64 = self.rows.par_iter().map(|(r, w)| w * m.ln_likelihood(*r)).sum();
        // Outside the box the clamped parameters repeat; push the search back.
        let out: f64 = p
            .iter()
            .map(|v| (v - v.clamp(LN_RANGE.0, LN_RANGE.1)).powi(2))
            .sum();
        Ok(if ll.is_finite() { -ll + out } else { f64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rf(x: u32, tx: u32, n: u32) -> Rf {
        Rf { x, tx, n }
    }

    #[test]
    fn summaries_from_days() {
        assert_eq!(Rf::from_days(&[], 10), None);
        assert_eq!(Rf::from_days(&[3], 10), Some(rf(0, 0, 6)));
        assert_eq!(Rf::from_days(&[3, 5, 9], 10), Some(rf(2, 6, 6)));
    }

    /// With n = 1 the likelihood has two outcomes per x, enumerated by
    /// hand: x = 1 needs alive on day 1 and active; x = 0 is alive and
    /// quiet, or gone. Summed over x they must make 1.
    #[test]
    fn likelihood_by_hand_for_one_day() {
        let m = BgBb {
            alpha: 2.0,
            beta: 3.0,
            gamma: 1.5,
            delta: 4.0,
        };
        // E[p] = 2/5, E[1−θ] = 4/5.5.
        let (ep, estay) = (2.0 / 5.0, 4.0 / 5.5);
        let active = m.ln_likelihood(rf(1, 1, 1)).exp();
        let quiet = m.ln_likelihood(rf(0, 0, 1)).exp();
        assert!((active - ep * estay).abs() < 1e-12, "{active}");
        assert!((quiet - (1.0 - ep * estay)).abs() < 1e-12, "{quiet}");
        // Active on day 1: certainly alive then, so P(alive at 2) = E[1−θ | survived 1].
        let survive = (4.0 + 1.0) / (1.5 + 4.0 + 1.0);
        assert!((m.p_alive(rf(1, 1, 1)) - survive).abs() < 1e-12);
    }

    /// P(no activity in h days) against a brute-force sum over p and θ on a
    /// grid of the two Beta densities.
    #[test]
    fn p_inactive_matches_numeric_integration() {
        let m = BgBb {
            alpha: 1.2,
            beta: 2.5,
            gamma: 1.3,
            delta: 6.0,
        };
        let (r, h) = (rf(3, 5, 9), 4u32);
        let beta_pdf =
            |v: f64, a: f64, b: f64| ((a - 1.0) * v.ln() + (b - 1.0) * (1.0 - v).ln() - ln_beta(a, b)).exp();
        let grid = 400;
        let (mut num_alive_quiet, mut num_alive, mut den) = (0.0, 0.0, 0.0);
        for i in 0..grid {
            let p = (i as f64 + 0.5) / grid as f64;
            for j in 0..grid {
                let t = (j as f64 + 0.5) / grid as f64;
                let w = beta_pdf(p, m.alpha, m.beta) * beta_pdf(t, m.gamma, m.delta);
                // Likelihood of (x, tx, n) given p, θ (eq. 3 of the paper).
                let (x, tx, n) = (3.0, 5.0, 9.0);
                let mut l = p.powf(x) * (1.0 - p).powf(n - x) * (1.0 - t).powf(n);
                for k in 0..(9 - 5) {
                    l += p.powf(x) * (1.0 - p).powf(tx - x + k as f64) * t * (1.0 - t).powf(tx + k as f64);
                }
                let alive = p.powf(x) * (1.0 - p).powf(n - x) * (1.0 - t).powf(n + 1.0);
                // Quiet over h days given alive at n+1.
                let mut q = (1.0 - p).powi(h as i32) * (1.0 - t).powi(h as i32 - 1);
                for k in 1..h as i32 {
                    q += (1.0 - p).powi(k) * (1.0 - t).powi(k - 1) * t;
                }
                den += w * l;
                num_alive += w * alive;
                num_alive_quiet += w * alive * q;
            }
        }
        let (pa, p0) = (num_alive / den, num_alive_quiet / num_alive);
        let want = (1.0 - pa) + pa * p0;
        assert!((m.p_alive(r) - pa).abs() < 2e-3, "{} {pa}", m.p_alive(r));
        assert!(
            (m.p_inactive(r, h) - want).abs() < 2e-3,
            "{} {want}",
            m.p_inactive(r, h)
        );
    }

    /// Learners simulated from known parameters: the fit recovers the
    /// mean activity rate and ranks a stopped learner above a slow one.
    #[test]
    fn fit_recovers_a_simulated_population() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (a, b) = (2.0, 6.0); // E[p] = 0.25
        let mut rfs = Vec::new();
        for _ in 0..3000 {
            // Beta(2, 6) as the 2nd smallest of 7 uniforms.
            let mut u: Vec<f64> = (0..7).map(|_| rng.random::<f64>()).collect();
            u.sort_by(f64::total_cmp);
            let p = u[1];
            let n = rng.random_range(20..60u32);
            let drop_day = if rng.random::<f64>() < 0.3 {
                rng.random_range(1..=n)
            } else {
                n + 1
            };
            let mut days = vec![0];
            for d in 1..=n {
                if d < drop_day && rng.random::<f64>() < p {
                    days.push(d as i32);
                }
            }
            rfs.push(Rf::from_days(&days, n as i32 + 1).unwrap());
        }
        let m = BgBb::fit(&rfs, 10_000).expect("fits");
        let mean_p = m.alpha / (m.alpha + m.beta);
        assert!((mean_p - a / (a + b)).abs() < 0.05, "{m:?}");
        // 10 active days out of 40, then 20 silent days: likely gone.
        let stopped = rf(10, 20, 40);
        // 3 active days spread over 40, the last yesterday.
        let slow = rf(3, 40, 40);
        assert!(m.p_inactive(stopped, 14) > m.p_inactive(slow, 14), "{m:?}");
        assert!(m.p_alive(stopped) < m.p_alive(rf(10, 40, 40)));
        // Too few learners to fit.
        assert!(BgBb::fit(&rfs[..5], 100).is_none());
    }
}
