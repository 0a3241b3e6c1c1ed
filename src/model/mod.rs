//! Recommendation model maths: interactions, sparse matrices, implicit ALS, scoring.
//! Everything here is pure (no I/O) and deterministic for a given seed.

pub mod als;
#[cfg(test)]
mod als_tests;
mod cg;
pub mod csr;
pub mod exact;
pub mod factors;
pub mod foldin;
pub mod interactions;
#[cfg(test)]
mod interactions_tests;
pub mod ownership;
pub mod popularity;
pub mod similar;
pub mod topindex;
#[cfg(target_arch = "x86_64")]
mod topindex_avx2;
mod topindex_scores;
#[cfg(test)]
mod topindex_tests;
pub mod topn;
pub(crate) mod vecops;

pub use als::{fit, AlsModel, AlsParams, Confidence, FitError};
pub use csr::Csr;
pub use factors::{select_rows, Factors};
pub use foldin::{fold_in, fold_in_with_negatives};
pub use interactions::{Interaction, Interactions, Weights};
pub use ownership::{ownership, ownership_from_latest, Ownership, Payment, PaymentEvent};
pub use similar::CosineIndex;
pub use topindex::TopIndex;
pub use topn::top_n;
