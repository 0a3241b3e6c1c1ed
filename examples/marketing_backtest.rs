//! The marketing backtest on the demo data. For each seed:
//! - `service`: the training pipeline the service runs (no store) on the
//!   demo's past: each prediction's backtest on [T−H, T) against its
//!   recency–frequency baseline, after recalibration, and the spend backtest;
//! - `future`: the same pure pipeline's predictions as of T against the
//!   demo's simulated future (never loaded), beside the recency–frequency
//!   baselines fitted on the latest window and trailing 90-day spend.
//!
//! Then scoring and audience timings at 100,000 learners.
//! cargo run --release --example marketing_backtest -- [USERS] [SEEDS]

use courserec::config::TrainSettings;
use courserec::demo::{generate, DemoSize};
use courserec::marketing::metrics::{quality, spend_quality};
use courserec::marketing::synthetic::{baseline_outcomes, outcomes, Outcomes};
use courserec::retrain::days::DayData;
use courserec::retrain::pipeline::{train, TrainInput};
use serde_json::{json, Value};

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (users, seeds) = (arg(1, 5000), arg(2, 1));
    // Midnight, so the day T starts exactly at `now`.
    let now = courserec::domain::now_ms().div_euclid(86_400_000) * 86_400_000;
    let runs: Vec<Value> = (0..seeds as u64)
        .map(|k| backtest(courserec::demo::DEMO_SEED + k, users, now))
        .collect();
    println!("{}", serde_json::to_string_pretty(&json!(runs)).unwrap());
    scale();
}

/// Forecast against outcome, model beside baseline, for one prediction.
fn compare(model: &(Vec<f64>, Vec<bool>), baseline: &(Vec<f64>, Vec<bool>)) -> Value {
    let (m, b) = (quality(&model.0, &model.1), quality(&baseline.0, &baseline.1));
    json!({
        "model": m, "baseline": b,
        "auc_ratio": m.zip(b).map(|(m, b)| m.auc / b.auc),
    })
}

fn future_json(o: &Outcomes, b: &Outcomes) -> Value {
    json!({
        "purchase": compare(&o.purchase, &b.purchase),
        "churn": compare(&o.churn, &b.churn),
        "spend_90d": {
            "model": spend_quality(&o.spend.0, &o.spend.1),
            "baseline_trailing_90d": spend_quality(&b.spend.0, &b.spend.1),
        },
    })
}

fn backtest(seed: u64, users: usize, now: i64) -> Value {
    let data = generate(
        seed,
        &DemoSize {
            users,
            future_days: 90,
            ..DemoSize::default()
        },
        now,
    );
    let day_data = DayData::from_events(&data.events);
    let input = TrainInput {
        catalog: data.courses.clone(),
        trained_seq: 0,
        // The last moment seen, so T is the day that starts at `now`.
        read_at_ms: now - 1,
        n_events: data.events.len() as i64,
        version: 1,
        days: day_data,
        progress: None,
        campaigns: Vec::new(),
    };
    let started = std::time::Instant::now();
    let settings = TrainSettings::default();
    let snap = train(input, &settings, None).expect("training publishes");
    let training_seconds = started.elapsed().as_secs_f64();
    let mk = snap.marketing.as_ref().expect("marketing predictions");

    let planted = courserec::demo::truth::planted(&data, now - 1);
    let seen = planted.seen();
    let s = &settings.marketing;
    let p = courserec::marketing::predict::predict(&planted.data(&seen), s, None);
    let future = future_json(&outcomes(&planted, &p, s, Some), &baseline_outcomes(&planted, s));
    json!({
        "seed": seed,
        "users": users,
        "events": data.events.len(),
        "future_events": data.future.len(),
        "training_seconds": training_seconds,
        "service": mk.summary(),
        "future": future,
    })
}

/// Scoring and one audience query at 100,000 synthetic learners, medians
/// of five runs (`cargo bench --bench marketing` measures the same).
fn scale() {
    use courserec::marketing::audience::{Filter, MarketingModel, Offer, Ranking};
    use courserec::marketing::columns::MarketingColumns;
    use courserec::marketing::offer::{Catalogue, NormaliserSampling, OfferShares};
    use courserec::marketing::predict::{predict, score_all};
    use courserec::marketing::{synthetic, MarketingSettings};
    use rand::SeedableRng;
    let n = 100_000;
    let planted = synthetic::generate(n, 1, 20_000, 150, 28);
    let seen = planted.seen();
    let s = MarketingSettings::default();
    let d = planted.data(&seen);
    let t = std::time::Instant::now();
    let p = predict(&d, &s, None);
    let pipeline = t.elapsed().as_secs_f64();
    let score = median_secs(5, || {
        let out = score_all(&d, &s, p.chosen());
        assert_eq!(out.purchase.len(), n);
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let users = courserec::model::Factors::random(n, 64, &mut rng);
    let courses = courserec::model::Factors::random(planted.courses.len(), 64, &mut rng);
    let taken = courserec::model::Csr::from_triples(n, planted.courses.len(), &[]);
    let category: Vec<u32> = planted.courses.iter().map(|c| c.category).collect();
    let offered = vec![true; planted.courses.len()];
    let catalogue = Catalogue {
        factors: &courses,
        category: &category,
        offered: &offered,
        n_categories: 8,
    };
    let (offers, _) = OfferShares::build(&users, &taken, &catalogue, 10.0, &NormaliserSampling::default());
    let (predictions, scores) = p.split();
    let model = MarketingModel {
        predictions,
        categories: (0..8).map(|i| format!("cat{i}")).collect(),
        course_category: category,
        today: planted.today,
        cutoff_ms: i64::from(planted.today) * courserec::domain::DAY_MS,
        uplift: None,
        uplift_from_this_training: false,
        uplift_report: None,
    };
    let columns = MarketingColumns {
        scores,
        last_active_ms: vec![i64::from(planted.today - 3) * courserec::domain::DAY_MS; n],
        offers,
        uplift: None,
    };
    let segments: Vec<u32> = (0..n as u32).map(|u| u % 7).collect();
    let offer = Offer::Course {
        factor: courses.row(3),
        price_cents: 4900,
        category: 3,
    };
    let audience = median_secs(5, || {
        let m = model.rank(
            &users,
            Some(segments.as_slice()),
            &columns,
            &offer,
            &Filter::default(),
            (Ranking::ExpectedValue, 0.0),
            |u| u % 50 == 0,
        );
        assert!(m.len() > n / 2);
    });
    println!(
        "{}",
        serde_json::json!({
            "learners": n,
            "pipeline_with_backtest_seconds": pipeline,
            "score_median_seconds": score,
            "audience_course_median_seconds": audience,
        })
    );
}

/// Median of `runs` timings of `f`, seconds.
pub fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}
