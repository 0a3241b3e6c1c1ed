//! Backtest metrics of a probability forecast against what happened: AUC,
//! log loss, Brier score, expected calibration error, top-decile lift.

use serde::{Deserialize, Serialize};

/// Quality of one forecast on one backtest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Area under the ROC curve (Mann–Whitney, ties count half); 0.5 = chance.
    pub auc: f64,
    /// Mean negative log-likelihood (nats), probabilities clipped to [1e-12, 1−1e-12].
    pub log_loss: f64,
    /// Mean squared error of the probability.
    pub brier: f64,
    /// Expected calibration error over 10 equal-width bins, weighted by size.
    pub ece: f64,
    /// Positive rate among the top 10 % by forecast over the overall rate.
    pub top_decile_lift: f64,
    /// Learners scored and positives among them.
    pub n: usize,
    pub positives: usize,
}

impl Quality {
    /// (metric name, value) pairs, as Prometheus labels them.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("auc", self.auc),
            ("log_loss", self.log_loss),
            ("brier", self.brier),
            ("ece", self.ece),
            ("top_decile_lift", self.top_decile_lift),
        ]
    }
}

/// AUC by ranks: the probability that a random positive outranks a random
/// negative. `None` unless both classes occur.
pub fn auc(p: &[f64], y: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        // Tied block i..=j shares the mean of ranks i+1..=j+1.
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * order[i..=j].iter().filter(|&&k| y[k]).count() as f64;
        i = j + 1;
    }
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let neg = y.len() as f64 - pos;
    (pos > 0.0 && neg > 0.0).then(|| (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Expected calibration error over `bins` equal-width bins of the forecast.
pub fn ece(p: &[f64], y: &[bool], bins: usize) -> f64 {
    let mut sum = vec![(0.0, 0.0, 0usize); bins];
    for (&pi, &yi) in p.iter().zip(y) {
        let b = ((pi * bins as f64) as usize).min(bins - 1);
        sum[b].0 += pi;
        sum[b].1 += f64::from(u8::from(yi));
        sum[b].2 += 1;
    }
    let n = p.len().max(1) as f64;
    sum.iter()
        .filter(|s| s.2 > 0)
        .map(|s| (s.0 - s.1).abs() / n)
        .sum()
}

/// Positive rate of the top `fraction` by forecast over the overall rate.
pub fn lift(p: &[f64], y: &[bool], fraction: f64) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let k = ((p.len() as f64 * fraction).ceil() as usize).clamp(1, p.len().max(1));
    let rate = |ix: &[usize]| ix.iter().filter(|&&i| y[i]).count() as f64 / ix.len().max(1) as f64;
    let overall = rate(&order);
    if overall > 0.0 {
        rate(&order[..k.min(order.len())]) / overall
    } else {
        0.0
    }
}

/// Every metric at once; `None` unless both outcomes occur.
pub fn quality(p: &[f64], y: &[bool]) -> Option<Quality> {
    let auc = auc(p, y)?;
    let n = p.len() as f64;
    let clip = |x: f64| x.clamp(1e-12, 1.0 - 1e-12);
    let log_loss = p
        .iter()
        .zip(y)
        .map(|(&pi, &yi)| -if yi { clip(pi).ln() } else { (1.0 - clip(pi)).ln() })
        .sum::<f64>()
        / n;
    let brier = p
        .iter()
        .zip(y)
        .map(|(&pi, &yi)| (pi - f64::from(u8::from(yi))).powi(2))
        .sum::<f64>()
        / n;
    Some(Quality {
        auc,
        log_loss,
        brier,
        ece: ece(p, y, 10),
        top_decile_lift: lift(p, y, 0.1),
        n: p.len(),
        positives: y.iter().filter(|&&b| b).count(),
    })
}

/// Quality of a spend forecast (cents per learner) against what was spent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpendQuality {
    /// Mean absolute error, cents per learner.
    pub mae_cents: f64,
    /// Root mean squared error, cents per learner.
    pub rmse_cents: f64,
    /// Spearman rank correlation of forecast and spend (ties by mean rank);
    /// 0 when either is constant.
    pub spearman: f64,
    /// Total forecast over total spent (1 = right in aggregate; 0 when
    /// nothing was spent).
    pub total_ratio: f64,
    pub n: usize,
}

impl SpendQuality {
    /// (metric name, value) pairs, as Prometheus labels them.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("mae_cents", self.mae_cents),
            ("rmse_cents", self.rmse_cents),
            ("spearman", self.spearman),
            ("total_ratio", self.total_ratio),
        ]
    }
}

/// Ranks 1..=n with ties given their mean rank.
fn mean_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        order[i..=j].iter().for_each(|&k| r[k] = mid);
        i = j + 1;
    }
    r
}

/// Spearman's ρ: the Pearson correlation of mean ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (mean_ranks(a), mean_ranks(b));
    let n = ra.len().max(1) as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va > 0.0 && vb > 0.0 {
        cov / (va * vb).sqrt()
    } else {
        0.0
    }
}

/// Every spend metric of `forecast` against `actual` (both cents per learner).
pub fn spend_quality(forecast: &[f64], actual: &[f64]) -> SpendQuality {
    let n = forecast.len().max(1) as f64;
    let (mut abs, mut sq) = (0.0, 0.0);
    for (f, a) in forecast.iter().zip(actual) {
        abs += (f - a).abs();
        sq += (f - a).powi(2);
    }
    let spent: f64 = actual.iter().sum();
    SpendQuality {
        mae_cents: abs / n,
        rmse_cents: (sq / n).sqrt(),
        spearman: spearman(forecast, actual),
        total_ratio: if spent > 0.0 {
            forecast.iter().sum::<f64>() / spent
        } else {
            0.0
        },
        n: forecast.len(),
    }
}
