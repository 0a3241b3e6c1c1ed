use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fit::{fit_uplift, learners_needed, PastCampaign, PastMember, UpliftInput};
use super::qini::Estimate;
use super::*;
use crate::domain::{EventType, DAY_MS};
use crate::marketing::features::{DayRow, Histories};
use crate::marketing::MarketingSettings;

fn constant(p: f64) -> LinearModel {
    LinearModel {
        intercept: (p / (1.0 - p)).ln(),
        ..LinearModel::constant(&[])
    }
}

fn two_model(p_t: f64, p_c: f64) -> UpliftModel {
    UpliftModel {
        method: Method::TwoModel,
        effect: constant(p_t),
        control: constant(p_c),
        min_effect: 0.02,
        base_rate: 0.1,
        mean_discount_pct: 20.0,
        bins: Vec::new(),
    }
}

#[test]
fn responses_fall_into_the_four_groups() {
    let row = [0.0; N_UPLIFT_FEATURES];
    let cases = [
        (0.30, 0.05, ResponseGroup::Persuadable),
        (0.05, 0.30, ResponseGroup::DoNotDisturb),
        (0.41, 0.40, ResponseGroup::SureThing),
        (0.02, 0.02, ResponseGroup::LostCause),
    ];
    for (p_t, p_c, group) in cases {
        let m = two_model(p_t, p_c);
        let r = m.predict(&row);
        assert!((r.uplift - (p_t - p_c)).abs() < 1e-12);
        assert!((r.p_treated() - p_t).abs() < 1e-12);
        assert_eq!(m.group(&r), group, "{p_t} {p_c}");
    }
}

#[test]
fn incremental_value_charges_the_discount_given_to_sure_things() {
    // p_C = .2, uplift = .1 at price 100 with 50 % off: the treated pay
    // .3 × 50 = 15, the control would have paid .2 × 100 = 20: −5. Cost:
    // .3 × 50 = 15.
    let r = Response {
        p_control: 0.2,
        uplift: 0.1,
    };
    assert!((r.incremental_value_cents(100.0, 0.5) + 5.0).abs() < 1e-12);
    assert!((r.discount_cost_cents(100.0, 0.5) - 15.0).abs() < 1e-12);
    // Without a discount the value is the uplift times the price.
    assert!((r.incremental_value_cents(100.0, 0.0) - 10.0).abs() < 1e-12);
}

#[test]
fn the_learner_part_plus_the_offer_part_is_the_whole_prediction() {
    let mut m = two_model(0.3, 0.1);
    m.effect = LinearModel {
        columns: vec![0, HISTORY_COLUMNS, HISTORY_COLUMNS + 1],
        mean: vec![1.0, 0.2, 0.5],
        scale: vec![2.0, 0.1, 0.25],
        weights: vec![0.5, 1.0, -0.3],
        intercept: -1.0,
        activity: None,
    };
    let offer = OfferFeatures {
        discount: 0.3,
        category: 1,
        category_offer: true,
    };
    let mut row = [0.0; N_UPLIFT_FEATURES];
    row[0] = 2.5;
    offer_columns(&mut row, &offer, 0.75);
    let (e, c) = m.learner_part(&row);
    let cols = UpliftColumns {
        effect_base: vec![e],
        control_base: vec![c],
        n_categories: 2,
        category_share: vec![0.25, 0.75],
    };
    let whole = m.predict(&row);
    let split = m.score(&cols, 0, &offer).unwrap();
    assert!((whole.uplift - split.uplift).abs() < 1e-6, "{whole:?} {split:?}");
    let unscored = UpliftColumns {
        effect_base: vec![f32::NAN],
        ..cols.clone()
    };
    assert_eq!(m.score(&unscored, 0, &offer), None);
    assert_eq!(cols.select(&[0, 0]).category_share, [0.25, 0.75, 0.25, 0.75]);
    assert!(cols.lengths().iter().all(|(_, n)| *n == 1));
    // With bins, the split still adds up.
    m.bins = (0..HISTORY_COLUMNS)
        .map(|j| vec![j as f64, 2.0 + j as f64])
        .collect();
    let w = expanded_width(&m.bins);
    m.control = LinearModel {
        columns: vec![HISTORY_COLUMNS + 1, w - 2],
        mean: vec![0.3, 0.5],
        scale: vec![0.5, 0.2],
        weights: vec![0.7, 0.4],
        intercept: -2.0,
        activity: None,
    };
    let (e, c) = m.learner_part(&row);
    let cols = UpliftColumns {
        effect_base: vec![e],
        control_base: vec![c],
        ..cols
    };
    let (whole, split) = (m.predict(&row), m.score(&cols, 0, &offer).unwrap());
    assert!(
        (whole.p_control - split.p_control).abs() < 1e-6,
        "{whole:?} {split:?}"
    );
}

#[test]
fn rows_expand_into_quantile_bins() {
    let rows: Vec<UpliftRow> = (0..8)
        .map(|i| {
            let mut r = [0.0; N_UPLIFT_FEATURES];
            r[0] = i as f64;
            r[HISTORY_COLUMNS] = 0.25;
            r
        })
        .collect();
    let bins = bin_edges(&rows);
    // Column 0: values 0..7, edges at the 2nd, 4th and 6th: 2, 4, 6;
    // the constant columns keep one edge.
    assert_eq!(bins[0], [2.0, 4.0, 6.0]);
    assert_eq!(bins[1], [0.0]);
    let x = expand(&rows[5], &bins);
    assert_eq!(x.len(), expanded_width(&bins));
    assert_eq!(x[0], 5.0);
    // Value 5 is past edges 2 and 4: bin 2, the second indicator of
    // column 0 (bin 0 is the reference).
    assert_eq!(&x[HISTORY_COLUMNS..HISTORY_COLUMNS + 3], &[0.0, 1.0, 0.0]);
    assert!(expand(&rows[1], &bins)[HISTORY_COLUMNS..HISTORY_COLUMNS + 3]
        .iter()
        .all(|&v| v == 0.0));
    assert_eq!(x[x.len() - 3], 0.25);
}

#[test]
fn learners_needed_scales_with_the_squared_noise_to_signal() {
    let e = |value, se| Estimate {
        value,
        ci: [value - 1.96 * se, value + 1.96 * se],
        se,
    };
    // se = value / 1.96 · 2: the interval is twice too wide; 4 × n needed.
    assert_eq!(learners_needed(1000, &[&e(0.01, 0.02 / 1.96)]), Some(3000));
    assert_eq!(learners_needed(1000, &[&e(0.01, 0.001)]), Some(0));
    assert_eq!(learners_needed(1000, &[&e(-0.01, 0.001)]), None);
    // A lower bound just below 0 asks for a few more, never for none.
    let skewed = Estimate {
        value: 0.01,
        ci: [-0.0001, 0.02],
        se: 0.004,
    };
    assert_eq!(learners_needed(1000, &[&skewed]), Some(21));
}

/// Four response types, visible in behaviour: persuadables leave carts,
/// sure things buy, lost causes barely come, do-not-disturbs watch and
/// rate a lot but buy when left alone.
const TYPES: [(f64, f64); 4] = [(0.35, 0.05), (0.42, 0.40), (0.02, 0.02), (0.05, 0.25)];

fn history(kind: usize, start: i32, rng: &mut ChaCha8Rng) -> Vec<DayRow> {
    let row = |day, course, kind, value_max| DayRow {
        day,
        course,
        kind,
        count: 1,
        value_max,
        last_ms: 0,
    };
    let mut rows = Vec::new();
    for day in start..start + 60 {
        let c = rng.random_range(0..4u32);
        match kind {
            0 if rng.random_bool(0.3) => {
                rows.push(row(day, c, EventType::View, 0.0));
                rows.push(row(day, c, EventType::AddToCart, 0.0));
            }
            1 if rng.random_bool(0.2) => {
                rows.push(row(day, c, EventType::View, 0.0));
                rows.push(row(day, c, EventType::Purchase, 0.0));
            }
            2 if day == start => rows.push(row(day, c, EventType::View, 0.0)),
            3 if rng.random_bool(0.4) => {
                rows.push(row(day, c, EventType::Watch, 0.9));
                rows.push(row(day, c, EventType::Rating, 5.0));
            }
            _ => {}
        }
    }
    rows.sort_by_key(|r| (r.day, r.course, r.kind.index()));
    rows
}

#[test]
fn planted_response_types_are_learned_and_pass_the_gate() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = 2000;
    let kind = |u: usize| u % 4;
    let histories = Histories::from_nested((0..n).map(|u| history(kind(u), 900, &mut rng)).collect());
    let courses: Vec<CourseInfo> = (0..4)
        .map(|c| CourseInfo {
            category: c / 2,
            price_cents: 5000,
        })
        .collect();
    let campaigns: Vec<PastCampaign> = (0..3)
        .map(|j| PastCampaign {
            created_ms: (960 + j) * DAY_MS,
            category: (j % 2) as usize,
            category_offer: true,
            members: (0..n)
                .map(|u| {
                    let treated = rng.random_bool(0.5);
                    let (p_t, p_c) = TYPES[kind(u)];
                    PastMember {
                        user: u as u32,
                        discount_pct: treated.then_some(25.0),
                        converted: rng.random_bool(if treated { p_t } else { p_c }),
                    }
                })
                .collect(),
        })
        .collect();
    let active = MarketingSettings::default().activity_mask();
    let input = UpliftInput {
        histories: &histories,
        courses: &courses,
        n_categories: 2,
        active: &active,
        campaigns: &campaigns,
        propensity: None,
    };
    let s = MarketingSettings::default();
    let f = fit_uplift(&input, &s, 1);
    assert_eq!(f.report.status, "published", "{:?}", f.report);
    assert!(f.passed);
    assert_eq!(f.report.validation, "leave_one_campaign_out");
    assert_eq!(f.report.campaigns, 3);
    let m = f.model.expect("published");
    // Scored as of the last campaign's start: each type's mean uplift and group.
    let offer = OfferFeatures {
        discount: 0.25,
        category: 0,
        category_offer: true,
    };
    let mut mean = [0.0; 4];
    let mut groups = vec![Vec::new(); 4];
    for u in 0..n {
        let h = History {
            rows: histories.get(u),
            active: &active,
        };
        let full = crate::marketing::features::features(&h, 962, &courses, 2, None).unwrap();
        let mut row = [0.0; N_UPLIFT_FEATURES];
        row[..HISTORY_COLUMNS].copy_from_slice(&full[..HISTORY_COLUMNS]);
        let share = category_shares(&h, 962, &courses, 2)[0];
        offer_columns(&mut row, &offer, share);
        let r = m.predict(&row);
        mean[kind(u)] += r.uplift / (n / 4) as f64;
        groups[kind(u)].push(m.group(&r));
    }
    assert!(mean[0] > 0.15 && mean[3] < -0.08, "{mean:?}");
    assert!(mean[1].abs() < 0.08 && mean[2].abs() < 0.05, "{mean:?}");
    let majority = |g: &[ResponseGroup], want| g.iter().filter(|&&x| x == want).count() * 2 > g.len();
    assert!(majority(&groups[0], ResponseGroup::Persuadable));
    assert!(majority(&groups[3], ResponseGroup::DoNotDisturb));
    // Without enough randomised learners nothing is fitted.
    let few = [PastCampaign {
        members: campaigns[0].members[..150].to_vec(),
        ..campaigns[0].clone()
    }];
    let small = fit_uplift(
        &UpliftInput {
            campaigns: &few,
            ..input
        },
        &s,
        1,
    );
    assert!(small.model.is_none() && !small.passed);
    assert_eq!(small.report.status, "insufficient_data");
}
