//! The content factor of courses the model has not trained (new ones, at
//! training and on a live catalog edit alike): the weighted mean of the
//! trained courses' factors by category match plus tag overlap (Jaccard), computed from per-category sums and an inverted tag index, so
//! a course costs the courses it shares a tag with, not the whole catalog,
//! and ids are compared as integers, not strings.

use std::collections::HashMap;

use super::snapshot::CourseSide;

/// Category ids, tag ids and sums over the trained courses of one side.
pub struct ContentIndex {
    k: usize,
    category: Vec<u32>,
    /// Each course's tags, as the catalog lists them (multiplicity kept).
    tags: Vec<Vec<u32>>,
    /// Per category: the sum of its trained courses' factors (k each) and their number.
    category_sum: Vec<f32>,
    category_n: Vec<f32>,
    /// Per tag: trained courses listing it, once per listing.
    postings: Vec<Vec<u32>>,
}

fn intern<'a>(name: &'a str, ids: &mut HashMap<&'a str, u32>) -> u32 {
    let next = ids.len() as u32;
    *ids.entry(name).or_insert(next)
}

impl ContentIndex {
    /// Indexes `side`'s courses: O(courses × k + tags).
    pub fn new(side: &CourseSide) -> ContentIndex {
        let k = side.factors.k;
        let (mut categories, mut tag_ids) = (HashMap::new(), HashMap::new());
        let category: Vec<u32> = side
            .meta
            .iter()
            .map(|m| intern(&m.category, &mut categories))
            .collect();
        let tags: Vec<Vec<u32>> = side
            .meta
            .iter()
            .map(|m| m.tags.iter().map(|t| intern(t, &mut tag_ids)).collect())
            .collect();
        let mut category_sum = vec![0f32; categories.len() * k];
        let mut category_n = vec![0f32; categories.len()];
        let mut postings = vec![Vec::new(); tag_ids.len()];
        for (i, m) in side.meta.iter().enumerate() {
            if !m.trained {
                continue;
            }
            let c = category[i] as usize;
            category_n[c] += 1.0;
            for (a, f) in category_sum[c * k..(c + 1) * k]
                .iter_mut()
                .zip(side.factors.row(i))
            {
                *a += f;
            }
            for &t in &tags[i] {
                postings[t as usize].push(i as u32);
            }
        }
        ContentIndex {
            k,
            category,
            tags,
            category_sum,
            category_n,
            postings,
        }
    }

    /// Course `j`'s content factor from the other trained courses of `side`
    /// (the side indexed), k values; zero when none is alike. `shared` is
    /// scratch of one slot per course, all 0, and is left so.
    pub fn factor_of(&self, side: &CourseSide, j: usize, shared: &mut [u32]) -> Vec<f32> {
        let k = self.k;
        let c = self.category[j] as usize;
        let own = side.meta[j].trained;
        let mut acc: Vec<f32> = self.category_sum[c * k..(c + 1) * k]
            .iter()
            .map(|s| super::catalog::CATEGORY_WEIGHT * s)
            .collect();
        let mut total = super::catalog::CATEGORY_WEIGHT * (self.category_n[c] - f32::from(u8::from(own)));
        if own {
            for (a, f) in acc.iter_mut().zip(side.factors.row(j)) {
                *a -= super::catalog::CATEGORY_WEIGHT * f;
            }
        }
        // The query's tags as a set, as `alike` takes them.
        let mut mine: Vec<u32> = self.tags[j].clone();
        mine.sort_unstable();
        mine.dedup();
        let mut touched = Vec::new();
        for &t in &mine {
            for &i in &self.postings[t as usize] {
                if i as usize == j {
                    continue;
                }
                if shared[i as usize] == 0 {
                    touched.push(i);
                }
                shared[i as usize] += 1;
            }
        }
        for &i in &touched {
            let s = shared[i as usize] as f32;
            shared[i as usize] = 0;
            let union = (mine.len() + self.tags[i as usize].len()) as f32 - s;
            let w = super::catalog::TAG_WEIGHT * (s / union);
            for (a, f) in acc.iter_mut().zip(side.factors.row(i as usize)) {
                *a += w * f;
            }
            total += w;
        }
        if total > 0.0 {
            acc.iter_mut().for_each(|a| *a /= total);
        } else {
            acc.iter_mut().for_each(|a| *a = 0.0);
        }
        acc
    }
}
