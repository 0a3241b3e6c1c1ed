//! Serving-side benchmarks at production scale: loading a persisted snapshot
//! of 100,000 users × 20,000 courses × 5,000,000 interactions, a marketing
//! audience over 100,000 users, and one full recommendation list.
//!   cargo bench --bench serving

use std::hint::black_box;
use std::sync::Arc;

use courserec::domain::Level;
use courserec::eval::synthetic;
use courserec::learners::Learners;
use courserec::model::{AlsParams, Csr, Factors, Weights};
use courserec::serve::recommend::{recommend, Context, Query, Who};
use courserec::serve::snapshot::{CourseMeta, CourseSide, ModelSnapshot};
use courserec::serve::Strategy;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_factors(n: usize, k: usize, seed: u64) -> Factors {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Factors {
        n,
        k,
        data: (0..n * k).map(|_| rng.random_range(-0.5f32..0.5)).collect(),
    }
}

fn big_snapshot() -> ModelSnapshot {
    let (n_users, n_courses, k) = (100_000, 20_000, 64);
    let triples = synthetic::generate(n_users, n_courses, 5_000_000, 7);
    let history = Csr::from_triples(n_users, n_courses, &triples);
    let taken: Vec<(u32, u32, f32)> = triples.iter().step_by(5).map(|&(u, c, _)| (u, c, 1.0)).collect();
    let taken = Csr::from_triples(n_users, n_courses, &taken);
    let meta = (0..n_courses)
        .map(|i| CourseMeta {
            title: format!("Course {i}"),
            category: format!("cat{}", i % 14),
            tags: vec![format!("tag{}", i % 40)],
            level: Level::Intermediate,
            price_cents: 4900,
            active: true,
            listed: true,
            trained: true,
            prerequisites: vec![],
        })
        .collect();
    let ids = (0..n_users).map(|i| format!("u{i:06}")).collect();
    let courses = CourseSide::new(
        (0..n_courses).map(|i| format!("c{i:05}")).collect(),
        random_factors(n_courses, k, 2),
        meta,
        vec![1.0; n_courses],
    );
    ModelSnapshot {
        version: 1,
        trained_at_ms: 0,
        trained_seq: 0,
        data_read_at_ms: 0,
        training_seconds: 0.0,
        n_events: 5_000_000,
        params: AlsParams::default(),
        weights: Weights::default(),
        metrics: None,
        baseline_metrics: None,
        users: Arc::new(Learners::new(ids, random_factors(n_users, k, 1), history, taken)),
        courses: Arc::new(courses),
        segments: None,
        segmentation_seconds: 0.0,
        phases: Vec::new(),
        basis: courserec::serve::snapshot::Basis::Model,
        marketing: None,
        paths: None,
        offline_policy: None,
    }
}

fn bench_serving(c: &mut Criterion) {
    let snap = big_snapshot();
    let bytes = snap.encode().unwrap();
    println!(
        "encoded snapshot: {:.1} MiB",
        bytes.len() as f64 / (1 << 20) as f64
    );
    let mut g = c.benchmark_group("serving");
    g.sample_size(10);
    g.bench_function("snapshot_decode_100k_users_20k_courses_5m", |b| {
        b.iter(|| ModelSnapshot::decode(black_box(&bytes)).unwrap())
    });
    let users = &snap.users;
    let course = 123usize;
    g.bench_function("audience_top100_over_100k_users", |b| {
        b.iter(|| {
            courserec::model::top_n(snap.courses.factors.row(course), &users.factors, 100, |u| {
                users.taken_row(u).binary_search(&(course as u32)).is_ok()
            })
        })
    });
    let user = 42usize;
    let who = Who::Factor {
        factor: users.factors.row(user),
        taken: users.taken_row(user as u32),
        took: users.taken_row(user as u32),
        order: std::borrow::Cow::Owned(users.taken_in_order(user as u32)),
        strategy: Strategy::Personalized,
    };
    let q = Query {
        n: 10,
        ..Default::default()
    };
    g.bench_function("recommend_top10_of_20k_courses", |b| {
        b.iter(|| recommend(&snap, black_box(&who), &q, &Context::default()))
    });
    // 50 rules (boosts, buries, blocks, a pin, category boosts), resolved
    // per list as the server does, 10 fatigued courses, exploration 0.05.
    let rules: Vec<courserec::rules::Rule> = (0..50)
        .map(|i| {
            let body = match i % 5 {
                0 => serde_json::json!({"action": "boost", "course_ids": [snap.courses.ids[i * 7].clone()], "weight": 0.3}),
                1 => serde_json::json!({"action": "bury", "course_ids": [snap.courses.ids[i * 11].clone()], "weight": 0.2}),
                2 => serde_json::json!({"action": "block", "course_ids": [snap.courses.ids[i * 13].clone()]}),
                3 => serde_json::json!({"action": "boost", "category": snap.courses.meta[i].category.clone(), "weight": 0.05}),
                _ => serde_json::json!({"action": "pin", "course_ids": [snap.courses.ids[i * 17].clone()], "position": 3}),
            };
            serde_json::from_value::<courserec::rules::RuleDraft>(body)
                .unwrap()
                .validate(&format!("r{i}"))
                .unwrap()
        })
        .collect();
    let fatigued: Vec<u32> = (0..10).map(|i| i * 100).collect();
    // Compiled once and reused, as the server's rule book does.
    let book = courserec::serve::rulebook::RuleBook::default();
    book.set(rules);
    g.bench_function(
        "recommend_top10_of_20k_courses_50_rules_fatigue_exploration",
        |b| {
            b.iter(|| {
                let compiled = book.compiled(&snap.courses, None, 0);
                let ctx = Context {
                    dismissed: &[],
                    fatigue: courserec::rules::engine::Fatigue {
                        courses: &fatigued,
                        penalty: 0.5,
                    },
                    rules: &compiled,
                    exploration: Some((0.05, 42)),
                };
                recommend(&snap, black_box(&who), &q, &ctx)
            })
        },
    );
    // A catalog delete now shares the derived indexes; the rebuild it used
    // to do is measured beside it.
    let side = &snap.courses;
    let victim = side.ids[77].clone();
    g.bench_function("catalog_delete_one_of_20k_courses", |b| {
        b.iter(|| courserec::serve::catalog::without_course(side, black_box(&victim)))
    });
    g.bench_function("catalog_rebuild_20k_courses", |b| {
        b.iter(|| {
            courserec::serve::snapshot::CourseSide::new(
                side.ids.clone(),
                side.factors.clone(),
                side.meta.clone(),
                side.popularity.clone(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_serving);
criterion_main!(benches);
