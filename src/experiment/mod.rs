//! A/B experiments on recommendation strategies, as pure logic: the spec
//! and its validation, stable assignment of users to variants, and the
//! statistics of the report. Storage and HTTP live elsewhere.

pub mod assign;
pub mod report;
pub mod sequential;
pub mod spec;
pub mod stats;

pub use assign::assign;
pub use report::{alpha, build_report, srm, VariantCounts};
pub use spec::{Arm, ExperimentSpec, Status, VariantSpec};
