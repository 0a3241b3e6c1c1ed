//! Segmentation tests: unit tests per module in submodules, small cases
//! here; the end-to-end tests on planted groups are in `demo` (they need its
//! synthetic users).

mod features;
pub(crate) mod kmeans;
mod profile;

use super::*;

#[test]
fn params_from_config() {
    let p: SegmentParams = serde_json::from_str(r#"{"k": "auto", "k_max": 8}"#).unwrap();
    assert_eq!((p.k, p.k_min, p.k_max), (KChoice::Auto, 2, 8));
    let p: SegmentParams = serde_json::from_str(r#"{"k": 6}"#).unwrap();
    assert_eq!(p.k, KChoice::Fixed(6));
    assert!(serde_json::from_str::<SegmentParams>(r#"{"k": "six"}"#).is_err());
    assert!(SegmentParams {
        k_min: 5,
        k_max: 3,
        ..SegmentParams::default()
    }
    .validate()
    .is_err());
    assert!(SegmentParams::default().validate().is_ok());
}

#[test]
fn empty_and_tiny_inputs() {
    let (seg, assignment) = segment_users(&[], 0, &[], &SegmentParams::default(), None, 1);
    assert!(seg.segments.is_empty() && assignment.is_empty());
    assert_eq!(seg.assign(None, &Profile::default()), 0);
    let profiles: Vec<Profile> = ["rust", "go", "python"]
        .iter()
        .enumerate()
        .map(|(i, c)| Profile {
            user_id: format!("u{i}"),
            interests: vec![CategoryShare {
                category: c.to_string(),
                share: 1.0,
            }],
            events_90d: 10 * (i as u32 + 1),
            ..Profile::default()
        })
        .collect();
    let (seg, assignment) = segment_users(&[], 0, &profiles, &SegmentParams::default(), None, 1);
    assert_eq!(assignment.len(), 3);
    // Recounting the fit's own members changes nothing; without the first
    // member its segment shrinks by one and the shares follow.
    let mut same = seg.clone();
    same.recount(assignment.iter().copied());
    assert_eq!(same, seg);
    let mut less = seg.clone();
    less.recount(assignment[1..].iter().copied());
    for s in &less.segments {
        let was = seg.segment(s.id).unwrap().size;
        let want = if s.id == assignment[0] { was - 1 } else { was };
        assert_eq!(s.size, want);
        assert!((s.share - want as f32 / 2.0).abs() < 1e-6);
    }
}

#[test]
fn recount_counts_members_by_segment_id_and_ignores_unknown_ids() {
    let (mut seg, _) = segment_users(&[], 0, &[], &SegmentParams::default(), None, 1);
    let blank = |id| super::Segment {
        id,
        label: String::new(),
        size: 0,
        share: 0.0,
        top_categories: vec![],
        activity: Default::default(),
        category_mix: vec![],
    };
    seg.segments = vec![blank(2), blank(5)];
    seg.recount([5, 2, 5, 5, 9]);
    let got: Vec<(u32, u32, f32)> = seg.segments.iter().map(|s| (s.id, s.size, s.share)).collect();
    assert_eq!(got, vec![(2, 1, 0.25), (5, 3, 0.75)]);
    seg.recount([]);
    assert!(seg.segments.iter().all(|s| s.size == 0 && s.share == 0.0));
}
