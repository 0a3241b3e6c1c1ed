//! Training past one machine: the interactions the training sees, written
//! as Parquet for Spark, pandas or `implicit` (`courserec
//! export-interactions`).

mod columns;
pub mod export;

pub use export::{export, ExportReport};
