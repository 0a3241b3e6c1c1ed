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
    let seg = segment_users(&[], 0, &[], &SegmentParams::default(), None, 1);
    assert!(seg.segments.is_empty() && seg.assignment.is_empty());
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
    let seg = segment_users(&[], 0, &profiles, &SegmentParams::default(), None, 1);
    assert_eq!(seg.assignment.len(), 3);
}
