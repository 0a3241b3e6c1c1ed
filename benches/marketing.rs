//! Marketing at 100,000 learners: scoring every learner as of T (target
//! ≤ 2 s), the whole pipeline with its backtest fits, one audience query
//! ranked by expected value (target ≤ 50 ms), and uplift: scoring every
//! learner's uplift columns (≤ 2 s) and an uplift-ranked audience (≤ 50 ms).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

use courserec::marketing::audience::{Filter, MarketingModel, Offer, Ranking};
use courserec::marketing::classifier::LinearModel;
use courserec::marketing::columns::MarketingColumns;
use courserec::marketing::offer::{Catalogue, NormaliserSampling, OfferShares};
use courserec::marketing::predict::{predict, score_all};
use courserec::marketing::uplift::{
    columns as uplift_columns, expanded_width, Method, UpliftModel, HISTORY_COLUMNS,
};
use courserec::marketing::{synthetic, MarketingSettings};
use courserec::model::Factors;
use rand::SeedableRng;

fn bench(c: &mut Criterion) {
    let planted = synthetic::generate(100_000, 1, 20_000, 150, 28);
    let seen = planted.seen();
    let s = MarketingSettings::default();
    let d = planted.data(&seen);
    let p = predict(&d, &s, None);
    let mut g = c.benchmark_group("marketing");
    g.sample_size(10);
    g.bench_function("score_100k_learners", |b| {
        b.iter(|| {
            let out = score_all(black_box(&d), &s, p.chosen());
            black_box(out.purchase.len())
        })
    });
    g.bench_function("pipeline_100k_learners_with_backtest", |b| {
        b.iter(|| black_box(predict(black_box(&d), &s, None).purchase.len()))
    });

    let k = 64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let users = Factors::random(100_000, k, &mut rng);
    let n_courses = planted.courses.len();
    let courses = Factors::random(n_courses, k, &mut rng);
    let taken = courserec::model::Csr::from_triples(100_000, n_courses, &[]);
    let category: Vec<u32> = planted.courses.iter().map(|c| c.category).collect();
    let offered = vec![true; n_courses];
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
        uplift: None,
        uplift_from_this_training: false,
        uplift_report: None,
        cutoff_ms: i64::from(planted.today) * courserec::domain::DAY_MS,
    };
    // An uplift model over every column, three bin edges a history
    // column as a fit makes: as costly to score as any fit.
    let bins = vec![vec![0.5, 1.0, 2.0]; HISTORY_COLUMNS];
    let width = expanded_width(&bins);
    let linear = |sign: f64| LinearModel {
        columns: (0..width).collect(),
        mean: vec![0.5; width],
        scale: vec![1.0; width],
        weights: (0..width).map(|j| sign * 0.01 * j as f64).collect(),
        intercept: -2.0,
        activity: None,
    };
    let uplift = UpliftModel {
        method: Method::TwoModel,
        effect: linear(1.0),
        control: linear(-1.0),
        min_effect: 0.02,
        base_rate: 0.05,
        mean_discount_pct: 20.0,
        bins,
    };
    let active = s.activity_mask();
    g.bench_function("uplift_columns_100k_learners", |b| {
        b.iter(|| {
            let cols = uplift_columns(&uplift, &seen, &planted.courses, 8, &active, planted.today);
            black_box(cols.effect_base.len())
        })
    });
    let uplift_cols = uplift_columns(&uplift, &seen, &planted.courses, 8, &active, planted.today);
    let model = MarketingModel {
        uplift: Some(uplift),
        ..model
    };
    let columns = MarketingColumns {
        scores,
        last_active_ms: vec![i64::from(planted.today - 3) * courserec::domain::DAY_MS; 100_000],
        offers,
        uplift: Some(uplift_cols),
    };
    let segments: Vec<u32> = (0..100_000).map(|u| u % 7).collect();
    let offer = Offer::Course {
        factor: courses.row(3),
        price_cents: 4900,
        category: 3,
    };
    let filter = Filter {
        min_purchase_probability: Some(0.0001),
        ..Filter::default()
    };
    // Every 50th learner owns the course; one ranking of the others.
    let rank = |ranking| {
        let ranked = model.rank(
            &users,
            Some(&segments),
            &columns,
            &offer,
            &filter,
            (ranking, 0.2),
            |u| u % 50 == 0,
        );
        ranked.len()
    };
    g.bench_function("audience_course_100k_learners", |b| {
        b.iter(|| black_box(rank(Ranking::ExpectedValue)))
    });
    g.bench_function("audience_uplift_100k_learners", |b| {
        b.iter(|| black_box(rank(Ranking::Uplift)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
