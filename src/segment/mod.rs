//! User segmentation: k-means over ALS factors and behaviour profiles, with
//! k chosen by silhouette, ids kept stable across retrains, readable labels.

pub mod ari;
pub mod features;
pub mod kmeans;
pub mod labels;
pub mod matching;
pub mod params;
pub mod profile;
pub mod silhouette;
pub mod summary;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use features::{FeatureSpace, ACTIVITY_DIM};
use labels::ActivitySummary;
pub use params::{KChoice, SegmentError, SegmentParams};
pub use profile::{build_profile, build_profiles, course_index, CategoryShare, CourseIndex, Profile};
use silhouette::{choose_k, KSearchParams};
pub use summary::activity_summary;
use summary::signature;

/// One segment as shown to operators and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Stable across retrains as long as the segment still exists.
    pub id: u32,
    pub label: String,
    pub size: u32,
    /// Fraction of all users.
    pub share: f32,
    /// Up to five categories by mean share, largest first.
    pub top_categories: Vec<CategoryShare>,
    pub activity: ActivitySummary,
    /// Mean category shares, aligned with `FeatureSpace::categories`.
    pub category_mix: Vec<f32>,
}

/// A fitted segmentation, persisted in the model snapshot (postcard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// Sorted by id.
    pub segments: Vec<Segment>,
    /// segments.len() × space.dim() row-major, row i belongs to segments[i].
    pub centroids: Vec<f32>,
    pub space: FeatureSpace,
    /// First id a later retrain may hand out.
    pub next_id: u32,
    /// Silhouette of the chosen k on the sample.
    pub silhouette: f32,
    /// (k, silhouette) for every k tried.
    pub k_scores: Vec<(u32, f32)>,
    pub overall: ActivitySummary,
}

impl Segmentation {
    /// Segment id of a user not in the fit (nearest centroid). A missing
    /// factor counts as zeros. Returns 0 for an empty segmentation.
    pub fn assign(&self, factor: Option<&[f32]>, profile: &Profile) -> u32 {
        let d = self.space.dim();
        if self.segments.is_empty() {
            return 0;
        }
        let mut x = vec![0.0f32; d];
        self.space.project(factor, profile, &mut x);
        let (j, _) = kmeans::nearest(&self.centroids, d, &x);
        self.segments[j].id
    }

    /// The segment with this id.
    pub fn segment(&self, id: u32) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// Sets every segment's `size` and `share` (of all members) from the
    /// segment ids of the members there are now, one per learner: after an
    /// erasure the figures drop with the member lists. Ids no segment has
    /// are not counted.
    pub fn recount(&mut self, members: impl IntoIterator<Item = u32>) {
        let mut sizes = vec![0u32; self.segments.len()];
        for id in members {
            if let Ok(j) = self.segments.binary_search_by_key(&id, |s| s.id) {
                sizes[j] += 1;
            }
        }
        let total: u32 = sizes.iter().sum();
        for (s, n) in self.segments.iter_mut().zip(sizes) {
            s.size = n;
            s.share = n as f32 / total.max(1) as f32;
        }
    }
}

/// Segments users. `user_factors` is n × `k` row-major (n = profiles.len())
/// or empty. With `previous`, segments that still exist keep their ids.
/// Returns the segmentation and each user's segment id (aligned with
/// `profiles`).
///
/// # Panics
/// If `user_factors` is neither empty nor n × `k` long.
pub fn segment_users(
    user_factors: &[f32],
    k: usize,
    profiles: &[Profile],
    params: &SegmentParams,
    previous: Option<&Segmentation>,
    seed: u64,
) -> (Segmentation, Vec<u32>) {
    let n = profiles.len();
    assert!(
        user_factors.is_empty() || user_factors.len() == n * k,
        "user_factors must be n × k"
    );
    let space = FeatureSpace::fit(user_factors, k, profiles, params.weights);
    let d = space.dim();
    let x = space.matrix(user_factors, profiles);
    let overall = activity_summary(profiles.iter());

    let (mut centroids, mut assignment, silhouette, k_scores) = if n == 0 {
        (Vec::new(), Vec::new(), 0.0, Vec::new())
    } else {
        let range = match params.k {
            KChoice::Auto => params.k_min..=params.k_max,
            KChoice::Fixed(k) => k..=k,
        };
        let sp = KSearchParams {
            sample_size: params.sample_size,
            silhouette_size: params.silhouette_size,
            n_init: params.n_init,
            max_iter: params.max_iter,
        };
        let search = choose_k(&x, d, range, &sp, seed);
        let sil = search
            .scores
            .iter()
            .find(|(k, _)| *k == search.k)
            .map_or(0.0, |s| s.1);
        let scores = search.scores.iter().map(|&(k, s)| (k as u32, s)).collect();
        // The sample fit is already close; a few passes over everyone settle it.
        let full = kmeans::lloyd(&x, d, search.fit.centroids, params.full_max_iter, 1e-4);
        (full.centroids, full.assignment, sil, scores)
    };

    // Per-cluster statistics.
    let kk = centroids.len() / d.max(1);
    let c = space.categories.len();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); kk];
    for (i, &l) in assignment.iter().enumerate() {
        members[l as usize].push(i);
    }
    let mut segments: Vec<Segment> = members
        .iter()
        .map(|m| {
            let mut mix = vec![0.0f32; c];
            for &i in m {
                for s in &profiles[i].interests {
                    if let Ok(j) = space.categories.binary_search(&s.category) {
                        mix[j] += s.share / m.len() as f32;
                    }
                }
            }
            let mut top: Vec<CategoryShare> = space
                .categories
                .iter()
                .zip(&mix)
                .filter(|(_, s)| **s > 0.01)
                .map(|(cat, s)| CategoryShare {
                    category: cat.clone(),
                    share: *s,
                })
                .collect();
            top.sort_by(|a, b| b.share.total_cmp(&a.share));
            top.truncate(5);
            let activity = activity_summary(m.iter().map(|&i| &profiles[i]));
            Segment {
                id: 0,
                label: labels::label(&top, &activity, &overall),
                size: m.len() as u32,
                share: m.len() as f32 / n.max(1) as f32,
                top_categories: top,
                activity,
                category_mix: mix,
            }
        })
        .collect();

    // Stable ids.
    let (ids, next_id) = match previous {
        Some(prev) if !prev.segments.is_empty() => {
            let mut all = prev.space.categories.clone();
            all.extend(space.categories.iter().cloned());
            all.sort();
            all.dedup();
            let sig_len = all.len() + 3;
            let old: Vec<f32> = prev
                .segments
                .iter()
                .flat_map(|s| signature(s, &prev.space.categories, &all))
                .collect();
            let new: Vec<f32> = segments
                .iter()
                .flat_map(|s| signature(s, &space.categories, &all))
                .collect();
            let old_ids: Vec<u32> = prev.segments.iter().map(|s| s.id).collect();
            matching::match_ids(
                &old,
                &old_ids,
                &new,
                sig_len,
                params.max_match_distance,
                prev.next_id,
            )
        }
        _ => ((0..kk as u32).collect(), kk as u32),
    };
    for (s, id) in segments.iter_mut().zip(&ids) {
        s.id = *id;
    }
    assignment.iter_mut().for_each(|l| *l = ids[*l as usize]);

    // Present segments by id, centroids in the same order, labels unique.
    let mut order: Vec<usize> = (0..kk).collect();
    order.sort_by_key(|&j| ids[j]);
    let mut sorted_centroids = Vec::with_capacity(centroids.len());
    for &j in &order {
        sorted_centroids.extend_from_slice(&centroids[j * d..(j + 1) * d]);
    }
    centroids = sorted_centroids;
    let mut segments: Vec<Segment> = order.iter().map(|&j| segments[j].clone()).collect();
    let mut names: Vec<String> = segments.iter().map(|s| s.label.clone()).collect();
    labels::dedupe(&mut names);
    segments.iter_mut().zip(names).for_each(|(s, l)| s.label = l);
    debug_assert_eq!(d, space.factor_dim + c + ACTIVITY_DIM);

    let segmentation = Segmentation {
        segments,
        centroids,
        space,
        next_id,
        silhouette,
        k_scores,
        overall,
    };
    (segmentation, assignment)
}
