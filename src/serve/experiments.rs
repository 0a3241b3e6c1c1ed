//! The running experiment, held in memory so `/recommend` reads it without
//! touching the store.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::experiment::{assign, ExperimentSpec, Status, VariantSpec};

#[derive(Debug)]
pub struct Running {
    pub id: String,
    pub spec: ExperimentSpec,
}

impl Running {
    /// The variant `user` sees; the same on every call and every replica.
    pub fn variant_for(&self, user: &str) -> &VariantSpec {
        &self.spec.variants[assign(&self.id, user, &self.spec.variants)]
    }
}

#[derive(Default)]
pub struct Experiments {
    current: ArcSwapOption<Running>,
    /// Serializes changes, so memory follows the order the store saw.
    pub changing: tokio::sync::Mutex<()>,
}

impl Experiments {
    pub fn current(&self) -> Option<Arc<Running>> {
        self.current.load_full()
    }

    pub fn set(&self, running: Option<Running>) {
        self.current.store(running.map(Arc::new));
    }

    /// Applies one stored experiment: it runs now, or it stopped (and was
    /// the running one).
    pub fn apply(&self, id: &str, spec: &ExperimentSpec) {
        if spec.status == Status::Running {
            self.set(Some(Running {
                id: id.to_string(),
                spec: spec.clone(),
            }));
        } else if self.current().is_some_and(|r| r.id == id) {
            self.set(None);
        }
    }
}
