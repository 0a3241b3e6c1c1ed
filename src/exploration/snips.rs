//! Self-normalised inverse propensity scoring (SNIPS; Swaminathan &
//! Joachims 2015): the click or purchase rate per served slot that another
//! policy would have had, from the slots this one logged, each weighted by
//! w = π_target(course in slot) / π_logged(course in slot):
//! θ̂ = Σ w·r / Σ w. The 95 % interval is the delta method's for a ratio of
//! sums, clustered by list (slots of one list share a learner), so it
//! does not claim the precision of independent slots.

use serde::Serialize;

use super::{propensity_under, SlotKind};

/// One logged slot and what followed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedSlot {
    pub kind: SlotKind,
    /// Its propensity under the serving policy (0..1].
    pub propensity: f64,
    pub clicked: bool,
    pub purchased: bool,
}

/// One served list: its slots and the pool exploration drew from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedList {
    pub slots: Vec<LoggedSlot>,
    pub pool_size: usize,
}

/// An estimated rate per served slot, in 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RateEstimate {
    pub value: f64,
    /// 95 % interval, clamped to 0..1.
    pub ci: [f64; 2],
}

/// What a policy would have had on the logged lists.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PolicyEstimate {
    /// The exploration share of the policy evaluated.
    pub exploration: f64,
    pub click_rate: RateEstimate,
    pub purchase_rate: RateEstimate,
    /// (Σw)²/Σw²: how many slots the estimate is worth.
    pub effective_sample_size: f64,
}

/// What the served-list log says (`GET /model` → `offline_policy`): the
/// logged click and purchase rates per served slot, and SNIPS estimates of
/// the rates under other exploration shares over the same lists.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OfflinePolicy {
    /// Days of served lists read.
    pub days: u32,
    pub lists: usize,
    pub slots: usize,
    /// Slots filled by exploration.
    pub explored_slots: usize,
    /// The share lists were served with (the configuration at training).
    pub serving_exploration: f64,
    pub logged_click_rate: Option<RateEstimate>,
    pub logged_purchase_rate: Option<RateEstimate>,
    /// One per exploration share evaluated, 0 (no exploration) first.
    pub estimates: Vec<PolicyEstimate>,
    /// How the estimates are made.
    pub method: String,
}

/// The exploration shares an [`OfflinePolicy`] evaluates: none, the
/// serving share, and 0.05, 0.1, 0.2 (at most 0.5).
pub fn evaluated_shares(serving: f64) -> Vec<f64> {
    let mut out = vec![0.0, 0.05, 0.1, 0.2, serving.clamp(0.0, 0.5)];
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    out
}

/// The log's figures; `None` without a served slot.
pub fn offline_policy(lists: &[LoggedList], serving: f64, days: u32) -> Option<OfflinePolicy> {
    let slots: usize = lists.iter().map(|l| l.slots.len()).sum();
    if slots == 0 {
        return None;
    }
    let plain = |f: fn(&LoggedSlot) -> bool| {
        let per_list: Vec<(f64, f64)> = lists
            .iter()
            .map(|l| {
                (
                    l.slots.iter().filter(|s| f(s)).count() as f64,
                    l.slots.len() as f64,
                )
            })
            .collect();
        ratio(&per_list)
    };
    Some(OfflinePolicy {
        days,
        lists: lists.len(),
        slots,
        explored_slots: lists
            .iter()
            .flat_map(|l| &l.slots)
            .filter(|s| s.kind == SlotKind::Explored)
            .count(),
        serving_exploration: serving,
        logged_click_rate: plain(|s| s.clicked),
        logged_purchase_rate: plain(|s| s.purchased),
        estimates: evaluated_shares(serving)
            .into_iter()
            .filter_map(|t| estimate(lists, t))
            .collect(),
        method:
            "self-normalised inverse propensity scoring over served slots (Swaminathan & Joachims 2015), \
                 95% delta-method interval clustered by list"
                .into(),
    })
}

/// Ratio estimate of Σ A / Σ B over clusters, with its delta-method 95 %
/// interval; `None` without weight.
pub fn ratio(clusters: &[(f64, f64)]) -> Option<RateEstimate> {
    let b: f64 = clusters.iter().map(|c| c.1).sum();
    if b <= 0.0 {
        return None;
    }
    let theta = clusters.iter().map(|c| c.0).sum::<f64>() / b;
    let n = clusters.len() as f64;
    let ss: f64 = clusters.iter().map(|&(a, w)| (a - theta * w).powi(2)).sum();
    let var = if n > 1.0 {
        ss / (b * b) * n / (n - 1.0)
    } else {
        f64::INFINITY
    };
    let half = 1.959_964 * var.sqrt();
    Some(RateEstimate {
        value: theta,
        ci: [(theta - half).max(0.0), (theta + half).min(1.0)],
    })
}

/// SNIPS estimate of the rates a policy exploring with `share` (over the
/// same ranked lists and pools) would have had; `None` when no logged
/// slot has support under it.
pub fn estimate(lists: &[LoggedList], share: f64) -> Option<PolicyEstimate> {
    let mut clicks = Vec::with_capacity(lists.len());
    let mut buys = Vec::with_capacity(lists.len());
    let (mut sw, mut sw2) = (0.0, 0.0);
    for l in lists {
        let (mut a_click, mut a_buy, mut b) = (0.0, 0.0, 0.0);
        for s in &l.slots {
            if s.propensity <= 0.0 {
                continue;
            }
            let w = propensity_under(s.kind, share, l.pool_size, l.slots.len()) / s.propensity;
            b += w;
            a_click += w * f64::from(u8::from(s.clicked));
            a_buy += w * f64::from(u8::from(s.purchased));
            sw2 += w * w;
        }
        sw += b;
        clicks.push((a_click, b));
        buys.push((a_buy, b));
    }
    Some(PolicyEstimate {
        exploration: share,
        click_rate: ratio(&clicks)?,
        purchase_rate: ratio(&buys)?,
        effective_sample_size: if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::super::{explore, SplitMix};
    use super::*;

    #[test]
    fn the_ratio_and_its_interval_by_hand() {
        // Σa = 3, Σb = 6: θ = .5; residuals (1 − 1, 2 − 1.5, 0 − 0.5)
        // → ss = .5, var = .5/36 · 3/2, half = 1.96 · .1443 = .2829.
        let r = ratio(&[(1.0, 2.0), (2.0, 3.0), (0.0, 1.0)]).unwrap();
        assert!((r.value - 0.5).abs() < 1e-12);
        assert!((r.ci[1] - 0.5 - 0.282_9).abs() < 1e-3, "{:?}", r.ci);
        assert_eq!(ratio(&[]), None);
    }

    #[test]
    fn on_policy_weights_are_one() {
        let l = LoggedList {
            slots: vec![
                LoggedSlot {
                    kind: SlotKind::Ranked,
                    propensity: 0.9,
                    clicked: true,
                    purchased: false,
                },
                LoggedSlot {
                    kind: SlotKind::Explored,
                    propensity: 0.01,
                    clicked: false,
                    purchased: false,
                },
            ],
            pool_size: 10,
        };
        let e = estimate(&[l.clone(), l], 0.1).unwrap();
        assert!((e.click_rate.value - 0.5).abs() < 1e-12);
        assert!((e.effective_sample_size - 4.0).abs() < 1e-9);
        // No exploration: only ranked slots count.
        let e0 = estimate(
            &[LoggedList {
                slots: vec![],
                pool_size: 10,
            }],
            0.0,
        );
        assert_eq!(e0, None);
    }

    /// A position-based click model: P(click) = examination(k) ·
    /// attraction(course), attraction higher for ranked courses.
    fn simulate(seed: u64, lists: usize, share: f64) -> (Vec<LoggedList>, Vec<f64>) {
        let mut rng = SplitMix::new(seed);
        let pool: Vec<u32> = (100..160).collect();
        let attraction = |c: u32| {
            if c < 100 {
                0.30 - 0.02 * c as f64
            } else {
                0.02 + 0.002 * (c - 100) as f64
            }
        };
        let exam = |k: usize| 1.0 / (1.0 + k as f64).sqrt();
        let ranked: Vec<u32> = (0..10).collect();
        let out = (0..lists)
            .map(|i| {
                let slots = explore(&ranked, &[false; 10], &pool, share, seed ^ (i as u64) << 8);
                LoggedList {
                    slots: slots
                        .iter()
                        .enumerate()
                        .map(|(k, s)| {
                            let p = exam(k) * attraction(s.course);
                            let clicked = rng.next_f64() < p;
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
            .collect();
        // The true click rate per slot of a policy exploring with share t.
        let pool_mean = pool.iter().map(|&c| attraction(c)).sum::<f64>() / pool.len() as f64;
        let truth = [0.0, 0.05, 0.2, 0.5]
            .iter()
            .map(|&t| {
                (0..10)
                    .map(|k| exam(k) * ((1.0 - t) * attraction(ranked[k]) + t * pool_mean))
                    .sum::<f64>()
                    / 10.0
            })
            .collect();
        (out, truth)
    }

    #[test]
    fn recovers_another_shares_click_rate_on_a_known_click_model() {
        let (logs, truth) = simulate(11, 20_000, 0.2);
        for (i, t) in [0.0, 0.05, 0.2, 0.5].into_iter().enumerate() {
            let e = estimate(&logs, t).unwrap();
            let rel = (e.click_rate.value - truth[i]).abs() / truth[i];
            assert!(rel < 0.05, "share {t}: {:?} against {}", e.click_rate, truth[i]);
            assert!(
                e.click_rate.ci[0] <= truth[i] && truth[i] <= e.click_rate.ci[1],
                "share {t}"
            );
        }
    }
}
