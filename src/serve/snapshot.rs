//! `ModelSnapshot`: everything a request needs, immutable once published.
//! Catalog changes swap in a new course side without touching the user side.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Course, Level};
use crate::eval::metrics::Metrics;
pub use crate::learners::Learners;
use crate::marketing::audience::MarketingModel;
use crate::model::{AlsParams, CosineIndex, Csr, Factors, TopIndex, Weights};
use crate::segment::Segmentation;

/// Bumped whenever the encoding changes; older blobs are ignored at load.
const FORMAT: u32 = 10;

/// What a snapshot's lists rest on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Basis {
    /// Implicit-ALS factors that were evaluated on a holdout (and, unless
    /// configured otherwise, beat popularity there).
    Model,
    /// Popularity only: its factors are zeros and never ranked on. `code`
    /// (`no_model_yet`, `no_data`, `not_better_than_baseline`,
    /// `not_evaluated`) and `reason` say why no model serves.
    Popularity { code: String, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CourseMeta {
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    pub level: Level,
    pub price_cents: i64,
    pub active: bool,
    /// In the catalog now (events may name courses the catalog does not have).
    pub listed: bool,
    /// Has a factor learned from interactions (not derived from metadata).
    pub trained: bool,
    /// Course ids to own first, as the catalog lists them.
    pub prerequisites: Vec<String>,
}

impl CourseMeta {
    pub fn from_course(c: &Course, trained: bool) -> CourseMeta {
        CourseMeta {
            title: c.title.clone(),
            category: c.category.clone(),
            tags: c.tags.clone(),
            level: c.level,
            price_cents: c.price_cents,
            active: c.active,
            listed: true,
            trained,
            prerequisites: c.prerequisites.clone(),
        }
    }

    /// May be recommended.
    pub fn servable(&self) -> bool {
        self.listed && self.active
    }
}

/// Courses: learned or derived factors, metadata and popularity.
#[derive(Debug, Serialize, Deserialize)]
pub struct CourseSide {
    pub ids: Vec<String>,
    pub factors: Factors,
    pub meta: Vec<CourseMeta>,
    pub popularity: Vec<f32>,
    // Derived from `ids` and `factors` only, and shared (Arc) by copies that
    // change metadata alone, so a catalog edit does not rebuild them.
    #[serde(skip)]
    pub index: Arc<HashMap<String, u32>>,
    #[serde(skip)]
    pub cosine: Option<Arc<CosineIndex>>,
    /// YᵀY, shared by every fold-in against this course side.
    #[serde(skip)]
    pub gram: Arc<Vec<f32>>,
    /// Exact top-N over the factors with a quantized first pass.
    #[serde(skip)]
    pub top: Option<Arc<TopIndex>>,
    /// What the path planner reads of the catalog, built on first use
    /// (metadata, so a copy with other metadata starts without it).
    #[serde(skip)]
    pub plan_data: std::sync::OnceLock<Arc<crate::serve::paths::PlanData>>,
    /// Courses exploration may draw (see [`CourseSide::low_exposure`]),
    /// built on first use.
    #[serde(skip)]
    pub low_exposure: std::sync::OnceLock<Arc<Vec<u32>>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelSnapshot {
    pub version: i64,
    pub trained_at_ms: i64,
    /// Events up to this sequence number were read for training.
    pub trained_seq: i64,
    /// When the training read its data.
    pub data_read_at_ms: i64,
    pub training_seconds: f64,
    pub n_events: i64,
    pub params: AlsParams,
    pub weights: Weights,
    pub metrics: Option<Metrics>,
    pub baseline_metrics: Option<Metrics>,
    /// Every per-learner column (ids, factors, histories, segments,
    /// marketing scores, activity, offer shares), one row per learner.
    pub users: Arc<Learners>,
    pub courses: Arc<CourseSide>,
    /// The segments themselves; each learner's segment is in `users`.
    pub segments: Option<Arc<Segmentation>>,
    pub segmentation_seconds: f64,
    /// Wall time and peak memory of each phase of the training that made it.
    pub phases: Vec<TrainingPhase>,
    pub basis: Basis,
    /// The marketing models and backtests; each learner's predictions,
    /// RFM group, activity and offer shares are in `users`.
    pub marketing: Option<Arc<MarketingModel>>,
    /// Course transitions and the next-course holdout (learning paths).
    pub paths: Option<Arc<crate::paths::PathModel>>,
    /// What the served-list log says of other exploration shares.
    pub offline_policy: Option<crate::exploration::snips::OfflinePolicy>,
}

/// One phase of a training (read, evaluate, fit, segment, predict,
/// persist): wall seconds and the process's peak resident bytes during it
/// (0 where unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPhase {
    pub name: String,
    pub seconds: f64,
    pub peak_rss_bytes: u64,
}

fn index_of(ids: &[String]) -> HashMap<String, u32> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i as u32))
        .collect()
}

impl CourseSide {
    pub fn new(
        ids: Vec<String>,
        factors: Factors,
        meta: Vec<CourseMeta>,
        popularity: Vec<f32>,
    ) -> CourseSide {
        let mut side = CourseSide {
            ids,
            factors,
            meta,
            popularity,
            index: Arc::default(),
            cosine: None,
            gram: Arc::default(),
            top: None,
            plan_data: std::sync::OnceLock::new(),
            low_exposure: std::sync::OnceLock::new(),
        };
        side.rebuild();
        side
    }

    /// A copy with other metadata (same ids, same factors) that shares the
    /// derived indexes instead of rebuilding them.
    pub fn with_meta(&self, meta: Vec<CourseMeta>) -> CourseSide {
        assert_eq!(meta.len(), self.ids.len(), "one entry per course");
        CourseSide {
            ids: self.ids.clone(),
            factors: self.factors.clone(),
            meta,
            popularity: self.popularity.clone(),
            index: self.index.clone(),
            cosine: self.cosine.clone(),
            gram: self.gram.clone(),
            top: self.top.clone(),
            plan_data: std::sync::OnceLock::new(),
            low_exposure: std::sync::OnceLock::new(),
        }
    }

    /// Recomputes what is derived, not stored.
    fn rebuild(&mut self) {
        self.index = Arc::new(index_of(&self.ids));
        self.cosine = Some(Arc::new(CosineIndex::new(&self.factors)));
        self.gram = Arc::new(self.factors.gram());
        self.top = Some(Arc::new(TopIndex::new(&self.factors)));
    }

    pub fn cosine(&self) -> &CosineIndex {
        self.cosine.as_ref().expect("built in new() and decode()")
    }

    /// The servable courses exploration may draw: the less exposed half,
    /// popularity at or below the servable courses' median (so every
    /// course without interactions), sorted by index.
    pub fn low_exposure(&self) -> &[u32] {
        self.low_exposure.get_or_init(|| {
            let mut pops: Vec<f32> = (0..self.ids.len())
                .filter(|&i| self.meta[i].servable())
                .map(|i| self.popularity.get(i).copied().unwrap_or(0.0))
                .collect();
            if pops.is_empty() {
                return Arc::new(Vec::new());
            }
            let mid = pops.len() / 2;
            let median = *pops.select_nth_unstable_by(mid, f32::total_cmp).1;
            Arc::new(
                (0..self.ids.len() as u32)
                    .filter(|&i| {
                        self.meta[i as usize].servable()
                            && self.popularity.get(i as usize).copied().unwrap_or(0.0) <= median
                    })
                    .collect(),
            )
        })
    }

    pub fn top(&self) -> &TopIndex {
        self.top.as_ref().expect("built in new() and decode()")
    }
}

#[derive(Serialize)]
struct Encoded<'a> {
    format: u32,
    snapshot: &'a ModelSnapshot,
}

#[derive(Deserialize)]
struct Decoded {
    format: u32,
    snapshot: ModelSnapshot,
}

impl ModelSnapshot {
    /// Compact binary encoding (postcard) for persistence.
    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        Ok(postcard::to_stdvec(&Encoded {
            format: FORMAT,
            snapshot: self,
        })?)
    }

    pub fn decode(bytes: &[u8]) -> anyhow::Result<ModelSnapshot> {
        let d: Decoded = postcard::from_bytes(bytes)?;
        if d.format != FORMAT {
            anyhow::bail!("snapshot format {} is not {FORMAT}", d.format);
        }
        let mut s = d.snapshot;
        let users = Arc::get_mut(&mut s.users).expect("fresh");
        users.restore()?;
        if users.segment.is_some() != s.segments.is_some()
            || users.marketing.is_some() != s.marketing.is_some()
        {
            anyhow::bail!(
                "the learner table's segment or marketing columns do not match the snapshot's models"
            );
        }
        Arc::get_mut(&mut s.courses).expect("fresh").rebuild();
        Ok(s)
    }

    /// True when lists may rank on the factors (see [`Basis`]).
    pub fn is_model(&self) -> bool {
        self.basis == Basis::Model
    }

    /// This snapshot with another course side (catalog changes between trainings).
    pub fn with_courses(&self, courses: CourseSide) -> ModelSnapshot {
        self.with_sides(self.users.clone(), Arc::new(courses))
    }

    /// What a later training reads of this model (version, basis, segment
    /// ids, the marketing models) without its user and course sides, which
    /// are most of its memory (about 200 MiB at 200,000 learners × 20,000
    /// courses, k = 64). For a process that trains and exits: it serves
    /// nothing, so it need not hold the factors while it trains.
    pub fn training_basis(&self) -> ModelSnapshot {
        let k = self.users.factors.k;
        let no_history = || Csr::from_triples(0, 0, &[]);
        let users = Learners::new(Vec::new(), Factors::zeros(0, k), no_history(), no_history());
        let courses = CourseSide::new(Vec::new(), Factors::zeros(0, k), Vec::new(), Vec::new());
        self.with_sides(Arc::new(users), Arc::new(courses))
    }

    fn with_sides(&self, users: Arc<Learners>, courses: Arc<CourseSide>) -> ModelSnapshot {
        ModelSnapshot {
            version: self.version,
            trained_at_ms: self.trained_at_ms,
            trained_seq: self.trained_seq,
            data_read_at_ms: self.data_read_at_ms,
            training_seconds: self.training_seconds,
            n_events: self.n_events,
            params: self.params.clone(),
            weights: self.weights.clone(),
            metrics: self.metrics.clone(),
            baseline_metrics: self.baseline_metrics.clone(),
            users,
            courses,
            segments: self.segments.clone(),
            segmentation_seconds: self.segmentation_seconds,
            phases: self.phases.clone(),
            basis: self.basis.clone(),
            marketing: self.marketing.clone(),
            paths: self.paths.clone(),
            offline_policy: self.offline_policy.clone(),
        }
    }
}
