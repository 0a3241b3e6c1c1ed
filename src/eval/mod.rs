//! Offline evaluation: dataset loading, holdout splits, ranking metrics and the protocol.

pub mod evaluate;
pub mod metrics;
pub mod movielens;
pub mod split;
pub mod synthetic;

pub use evaluate::{evaluate, run_offline, EvalReport, OfflineError, OfflineReport};
pub use metrics::Metrics;
pub use split::{Split, SplitKind, SplitParams};
