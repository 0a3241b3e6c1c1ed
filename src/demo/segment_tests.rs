//! Segmentation end to end on synthetic users in the demo's planted taste
//! groups: the groups are recovered, and segment ids survive a retrain.

use super::synthetic;
use crate::segment::ari::adjusted_rand_index;
use crate::segment::{segment_users, KChoice, Profile, SegmentParams, Segmentation};

fn params() -> SegmentParams {
    // Smaller than the defaults so the suite stays quick in debug builds.
    SegmentParams {
        sample_size: 1000,
        silhouette_size: 600,
        k_max: 8,
        n_init: 2,
        ..SegmentParams::default()
    }
}

#[test]
fn recovers_planted_groups_without_and_with_factors() {
    let s = synthetic::users(2000, 16, 1);
    let (seg, assignment) = segment_users(&[], 0, &s.profiles, &params(), None, 3);
    assert_eq!(seg.segments.len(), 5, "{:?}", seg.k_scores);
    assert!(adjusted_rand_index(&s.groups, &assignment) > 0.95);
    let (seg, assignment) = segment_users(&s.factors, 16, &s.profiles, &params(), None, 3);
    assert_eq!(seg.segments.len(), 5, "{:?}", seg.k_scores);
    assert!(adjusted_rand_index(&s.groups, &assignment) > 0.95);
    let total: u32 = seg.segments.iter().map(|x| x.size).sum();
    assert_eq!(total, 2000);
    assert_eq!(
        seg.segments.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    // Labels name the group's categories, e.g. "rust + go + algo · …".
    assert!(
        seg.segments
            .iter()
            .any(|x| x.label.starts_with("rust") || x.label.contains("+ rust")),
        "{:?}",
        seg.segments
    );
}

#[test]
fn fixed_k_and_new_user_assignment() {
    let s = synthetic::users(1000, 8, 2);
    let p = SegmentParams {
        k: KChoice::Fixed(4),
        ..params()
    };
    let (seg, assignment) = segment_users(&s.factors, 8, &s.profiles, &p, None, 1);
    assert_eq!(seg.segments.len(), 4);
    let agree = (0..1000)
        .filter(|&i| seg.assign(Some(&s.factors[i * 8..(i + 1) * 8]), &s.profiles[i]) == assignment[i]);
    assert_eq!(agree.count(), 1000, "a fitted user projects to its own segment");
}

#[test]
fn ids_survive_a_retrain_on_barely_changed_permuted_data() {
    let s = synthetic::users(1500, 8, 4);
    let (first, first_assignment) = segment_users(&s.factors, 8, &s.profiles, &params(), None, 1);
    // Retrain: users in reverse order, 3% of them gone, another seed.
    let keep: Vec<usize> = (0..1500).rev().filter(|i| i % 33 != 0).collect();
    let profiles: Vec<Profile> = keep.iter().map(|&i| s.profiles[i].clone()).collect();
    let factors: Vec<f32> = keep
        .iter()
        .flat_map(|&i| s.factors[i * 8..(i + 1) * 8].to_vec())
        .collect();
    let (second, second_assignment) = segment_users(&factors, 8, &profiles, &params(), Some(&first), 99);
    let same = keep
        .iter()
        .enumerate()
        .filter(|(j, &i)| second_assignment[*j] == first_assignment[i])
        .count();
    assert_eq!(same, keep.len(), "every user keeps its segment id");
    assert_eq!(second.next_id, first.next_id);
    // Against an unrelated previous segmentation nothing matches: fresh ids.
    let (other, _) = segment_users(
        &[],
        0,
        &synthetic::users(300, 0, 5).profiles,
        &SegmentParams {
            k: KChoice::Fixed(2),
            ..params()
        },
        None,
        1,
    );
    let (third, _) = segment_users(
        &factors,
        8,
        &profiles,
        &SegmentParams {
            max_match_distance: 0.01,
            ..params()
        },
        Some(&other),
        1,
    );
    assert!(third.segments.iter().all(|x| x.id >= other.next_id));
}

#[test]
fn serializes_compactly_and_round_trips() {
    let s = synthetic::users(500, 8, 6);
    let (seg, _) = segment_users(&s.factors, 8, &s.profiles, &params(), None, 1);
    let bytes = postcard::to_stdvec(&seg).unwrap();
    let back: Segmentation = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, seg);
    assert!(serde_json::to_string(&seg.segments)
        .unwrap()
        .contains("\"label\""));
}
