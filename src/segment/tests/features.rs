//! Unit tests of [`crate::segment::features`].

use crate::segment::features::*;
use crate::segment::profile::{CategoryShare, Profile};

fn prof(cat: &str, events: u32) -> Profile {
    Profile {
        interests: vec![CategoryShare {
            category: cat.into(),
            share: 1.0,
        }],
        events_30d: events,
        events_90d: events,
        recency_days: Some(1.0),
        ..Profile::default()
    }
}

#[test]
fn blocks_get_their_weight_as_total_variance() {
    let profiles = vec![prof("go", 1), prof("rust", 10), prof("go", 100), prof("rust", 3)];
    let factors = vec![1.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.5];
    let space = FeatureSpace::fit(&factors, 2, &profiles, FeatureWeights::default());
    assert_eq!(space.categories, vec!["go".to_string(), "rust".to_string()]);
    assert_eq!(space.dim(), 2 + 2 + ACTIVITY_DIM);
    let m = space.matrix(&factors, &profiles);
    let d = space.dim();
    let block_var = |lo: usize, hi: usize| -> f32 {
        (lo..hi)
            .map(|j| {
                let col: Vec<f32> = m.chunks_exact(d).map(|r| r[j]).collect();
                let mean = col.iter().sum::<f32>() / 4.0;
                col.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0
            })
            .sum()
    };
    assert!((block_var(0, 2) - 1.0).abs() < 1e-4);
    assert!((block_var(2, 4) - 1.0).abs() < 1e-4);
    // Recency is constant, so only frequency (2 features) has variance.
    assert!((block_var(4, d) - 0.35f32.powi(2) * 2.0 / 4.0).abs() < 1e-4);
}

#[test]
fn missing_factor_projects_to_zeros() {
    let profiles = vec![prof("go", 1), prof("rust", 2)];
    let space = FeatureSpace::fit(&[1.0, 0.0, 0.0, 1.0], 2, &profiles, FeatureWeights::default());
    let mut out = vec![9.0; space.dim()];
    space.project(None, &prof("elixir", 5), &mut out);
    assert_eq!(&out[..2], &[0.0, 0.0]);
    assert!(out.iter().all(|x| x.is_finite()));
}
