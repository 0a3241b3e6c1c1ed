//! Event ingestion: parsing at the edge, then group-committed writes.

pub mod impressions;
pub mod parse;
pub mod writer;

pub use parse::{parse_body, BodyError, Limits};
pub use writer::{IngestQueue, Written};
