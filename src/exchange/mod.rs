//! Training past one machine: the interactions the training sees, written
//! as Parquet for Spark, pandas or `implicit` (`courserec
//! export-interactions`), and learner and course factors trained there read
//! back (`courserec import-factors`) and published only through the same
//! evaluation gate as a training here.

mod columns;
pub mod export;
pub mod factors;
pub mod import;
pub mod recommendations;

pub use export::{export, ExportReport};
pub use import::{import_factors, ImportCounts, ImportError, ImportReport};
