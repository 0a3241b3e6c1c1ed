//! Criterion benchmarks of training and serving-time maths.
//! cargo bench --bench als   (ML-100K is read from ../shared/datasets/ml-100k
//! relative to the crate root; that group is skipped when it is absent)

use courserec::eval::{movielens, synthetic};
use courserec::model::{fit, fold_in, top_n, AlsParams, CosineIndex, Csr, Factors, TopIndex};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::Path;

fn random_factors(n: usize, k: usize, seed: u64) -> Factors {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Factors {
        n,
        k,
        data: (0..n * k).map(|_| rng.random_range(-0.5f32..0.5)).collect(),
    }
}

fn bench_fit(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    let p = AlsParams::default(); // 64 factors, 15 iterations
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ml-100k");
    if let Ok(d) = movielens::load(&dir) {
        let ui = d.to_csr();
        g.bench_function("ml100k_64f_15it", |b| {
            b.iter(|| fit(black_box(&ui), &p, |_, _| {}).unwrap())
        });
    }
    let t = synthetic::generate(20_000, 5_000, 500_000, 1);
    let ui = Csr::from_triples(20_000, 5_000, &t);
    g.bench_function("synthetic_20k_5k_500k_64f_15it", |b| {
        b.iter(|| fit(black_box(&ui), &p, |_, _| {}).unwrap())
    });
    g.finish();
}

fn bench_serving(c: &mut Criterion) {
    let items = random_factors(20_000, 64, 2);
    let user = random_factors(1, 64, 3).data;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut owned: Vec<u32> = (0..50).map(|_| rng.random_range(0..20_000)).collect();
    owned.sort_unstable();
    c.bench_function("top10_of_20k_64f_50_excluded", |b| {
        b.iter(|| top_n(black_box(&user), &items, 10, |i| owned.binary_search(&i).is_ok()))
    });
    let index = TopIndex::new(&items);
    c.bench_function("index_top10_of_20k_64f_50_excluded", |b| {
        b.iter(|| index.top_n(black_box(&user), 10, |i| owned.binary_search(&i).is_ok()))
    });
    c.bench_function("index_build_20k_64f", |b| {
        b.iter(|| TopIndex::new(black_box(&items)))
    });
    let users = random_factors(100_000, 64, 5);
    c.bench_function("audience_top100_of_100k_users", |b| {
        b.iter(|| top_n(black_box(&items.data[..64]), &users, 100, |_| false))
    });
    let gram = items.gram();
    let events: Vec<(u32, f32)> = owned.iter().map(|&i| (i, 1.0 + (i % 10) as f32)).collect();
    let p = AlsParams::default();
    c.bench_function("fold_in_50_events_64f", |b| {
        b.iter(|| fold_in(&items, &gram, black_box(&events), &p).unwrap())
    });
    let idx = CosineIndex::new(&items);
    c.bench_function("similar10_of_20k_64f", |b| {
        b.iter(|| idx.similar(black_box(123), 10, |_| false))
    });
}

criterion_group!(benches, bench_fit, bench_serving);
criterion_main!(benches);
