//! Segmentation of 100,000 synthetic users (64 factors + profile features),
//! k chosen by silhouette over 2–12 on a sample (target ≤ 10 s), and the
//! default demo data set (target < 1 s).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

use courserec::demo::{synthetic, DemoSize};
use courserec::segment::{segment_users, SegmentParams};

fn bench(c: &mut Criterion) {
    let s = synthetic::users(100_000, 64, 1);
    let params = SegmentParams::default();
    let mut g = c.benchmark_group("segment");
    g.sample_size(10);
    g.bench_function("100k_users_64f_auto_k", |b| {
        b.iter(|| {
            let (seg, _) = segment_users(
                black_box(&s.factors),
                64,
                black_box(&s.profiles),
                &params,
                None,
                7,
            );
            black_box(seg.segments.len())
        })
    });
    g.bench_function("demo_generate_default", |b| {
        b.iter(|| {
            courserec::demo::generate(black_box(1), &DemoSize::default(), 1_767_225_600_000)
                .events
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
