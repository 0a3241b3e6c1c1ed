//! A fitted (or trial) BG/BB model with its ln Γ values tabulated. Every
//! ln B of the likelihood has the form ln Γ(p + i) for a parameter p and a
//! whole number of days i, so one run of ln Γ(p), ln Γ(p+1), … per
//! parameter (ln Γ(z+1) = ln Γ(z) + ln z) replaces twelve ln Γ per learner.

use libm::lgamma;

use super::{BgBb, Rf};

/// Tables cover summaries with n up to this many days; longer ones
/// (over 11 years of tenure) are computed directly.
pub const DAYS_TABULATED: u32 = 4096;

/// ln Γ(z + i) for i in 0..=n.
fn ln_gamma_run(z: f64, n: u32) -> Vec<f64> {
    let mut run = Vec::with_capacity(n as usize + 1);
    let mut v = lgamma(z);
    for i in 0..=n {
        run.push(v);
        v += (z + f64::from(i)).ln();
    }
    run
}

/// `model` with ln Γ(α+i), ln Γ(β+i), ln Γ(α+β+i), ln Γ(δ+i),
/// ln Γ(γ+δ+i) and ln Γ(γ+1+δ+i) for i in 0..=n_max.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub model: BgBb,
    a: Vec<f64>,
    b: Vec<f64>,
    ab: Vec<f64>,
    d: Vec<f64>,
    gd: Vec<f64>,
    g1d: Vec<f64>,
    ln_gamma_g: f64,
    ln_gamma_g1: f64,
    norm: f64,
}

impl Prepared {
    /// Tables for summaries with n ≤ `n_max` (others fall back to ln Γ).
    pub fn new(model: BgBb, n_max: u32) -> Prepared {
        let BgBb {
            alpha,
            beta,
            gamma,
            delta,
        } = model;
        Prepared {
            model,
            a: ln_gamma_run(alpha, n_max),
            b: ln_gamma_run(beta, n_max),
            ab: ln_gamma_run(alpha + beta, n_max),
            d: ln_gamma_run(delta, n_max),
            gd: ln_gamma_run(gamma + delta, n_max),
            g1d: ln_gamma_run(gamma + 1.0 + delta, n_max),
            ln_gamma_g: lgamma(gamma),
            ln_gamma_g1: lgamma(gamma + 1.0),
            norm: model.ln_norm(),
        }
    }

    /// [`BgBb::direct_betas`] by lookup.
    fn betas(&self, r: Rf) -> (f64, f64) {
        if r.n as usize >= self.a.len() {
            return self.model.direct_betas(r);
        }
        let (x, n, tx) = (r.x as usize, r.n as usize, r.tx as usize);
        (
            self.a[x] + self.b[n - x] - self.ab[n] + self.ln_gamma_g + self.d[n] - self.gd[n],
            self.a[x] + self.b[tx - x] - self.ab[tx] + self.ln_gamma_g1 + self.d[tx] - self.g1d[tx],
        )
    }

    /// [`BgBb::ln_likelihood`].
    pub fn ln_likelihood(&self, r: Rf) -> f64 {
        self.model.ln_alive_and_likelihood(r, self.betas(r), self.norm).1
    }

    /// [`BgBb::p_inactive_and_alive`].
    pub fn p_inactive_and_alive(&self, r: Rf, h: u32) -> (f64, f64) {
        let (alive, ll) = self.model.ln_alive_and_likelihood(r, self.betas(r), self.norm);
        let alive = self.model.p_alive_from(r, alive, ll);
        (self.model.p_inactive_given_alive(r, h, alive), alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabulated_values_match_direct_ones() {
        let m = BgBb {
            alpha: 0.7,
            beta: 2.3,
            gamma: 0.4,
            delta: 11.0,
        };
        let p = Prepared::new(m, 300);
        for (x, tx, n) in [
            (0, 0, 0),
            (0, 0, 30),
            (3, 17, 40),
            (40, 200, 300),
            (5, 120, 400),
            (9, 9, 9),
        ] {
            let r = Rf { x, tx, n };
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
            assert!(close(p.ln_likelihood(r), m.ln_likelihood(r)), "{r:?}");
            let (i, a) = p.p_inactive_and_alive(r, 28);
            assert!(close(i, m.p_inactive(r, 28)) && close(a, m.p_alive(r)), "{r:?}");
        }
    }
}
