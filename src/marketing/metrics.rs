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
