//! Timing each phase of a training: wall time and the process's peak
//! resident memory while it ran.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::serve::snapshot::TrainingPhase;

/// The phase a running training is in, and since when: what `GET /model`
/// shows while a training runs. One per trainer, shared with its runs.
#[derive(Debug, Default)]
pub struct Progress(Mutex<Option<(&'static str, Instant, usize)>>);

impl Progress {
    /// Notes that the training entered phase `name` (`compact`, `read`,
    /// `build`, `evaluate`, `fit`, `segment`, `persist`) after `done` phases.
    pub fn mark(&self, name: &'static str, done: usize) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((name, Instant::now(), done));
    }

    /// The running phase: name, seconds in it, phases done before it.
    pub fn current(&self) -> Option<(&'static str, f64, usize)> {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.map(|(name, since, done)| (name, since.elapsed().as_secs_f64(), done))
    }

    /// Notes that no training runs.
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The phases of one training, in the order they ran, and where the
/// running one is shown (none in a training nobody watches).
#[derive(Debug, Default)]
pub struct Phases(pub Vec<TrainingPhase>, pub Option<Arc<Progress>>);

impl Phases {
    /// Marks the start of phase `name`: resets the peak-memory mark and
    /// shows the phase as the running one.
    pub fn begin(&self, name: &'static str) -> Instant {
        crate::memory::reset_peak();
        if let Some(p) = &self.1 {
            p.mark(name, self.0.len());
        }
        Instant::now()
    }

    /// Records the phase `name` begun at `started`.
    pub fn end(&mut self, name: &str, started: Instant) {
        self.record(name, started.elapsed().as_secs_f64());
    }

    /// Records the phase `name` that took `seconds` in all, with the peak
    /// since the last [`Phases::begin`]: phases that ran side by side
    /// share that peak.
    pub fn record(&mut self, name: &str, seconds: f64) {
        self.0.push(TrainingPhase {
            name: name.to_string(),
            seconds,
            peak_rss_bytes: crate::memory::peak_rss_bytes().unwrap_or(0),
        });
    }

    /// Awaits `f` as the phase `name`.
    pub async fn run_async<R>(&mut self, name: &'static str, f: impl std::future::Future<Output = R>) -> R {
        let started = self.begin(name);
        let r = f.await;
        self.end(name, started);
        r
    }

    /// Runs `f` as the phase `name`.
    pub fn run<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let started = self.begin(name);
        let r = f();
        self.end(name, started);
        r
    }
}

/// "read 1.20 s 310 MiB, fit 4.02 s 512 MiB, …" for the log line.
pub fn summary(phases: &[TrainingPhase]) -> String {
    phases
        .iter()
        .map(|p| format!("{} {:.2} s {} MiB", p.name, p.seconds, p.peak_rss_bytes >> 20))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_recorded_in_order_and_summarised() {
        let mut p = Phases::default();
        let x = p.run("fit", || 2 + 2);
        assert_eq!(x, 4);
        let t = p.begin("persist");
        p.end("persist", t);
        let names: Vec<&str> = p.0.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fit", "persist"]);
        let s = summary(&[TrainingPhase {
            name: "read".into(),
            seconds: 1.234,
            peak_rss_bytes: 310 << 20,
        }]);
        assert_eq!(s, "read 1.23 s 310 MiB");
    }
}
