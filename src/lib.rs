//! courserec: course recommendations and user segments as an HTTP service.
//!
//! Pure math lives in `model`, `eval`, `segment`, `experiment` and `marketing`, seeded demo
//! data in `demo` (no I/O); `store`, `http`, `ingest`, `retrain` and `replica` do the I/O
//! around them, `startup` wires it together. `domain` sits beneath everything. The modules
//! depend on each other without cycles (`tests/layout.rs`).

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod eval;
pub mod exchange;
pub mod experiment;
pub mod exploration;
pub mod housekeeping;
pub mod http;
pub mod import;
pub mod ingest;
pub mod learners;
pub mod marketing;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod paths;
pub mod replica;
pub mod retrain;
pub mod rules;
pub mod segment;
pub mod serve;
pub mod startup;
pub mod store;
pub mod telemetry;
