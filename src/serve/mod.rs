//! Serving from memory: the published snapshot, what changed since it was
//! trained, and the list building on top of them.

pub mod audience;
pub mod catalog;
mod content;
mod erase;
pub mod experiments;
pub mod export;
pub mod fatigue;
pub mod foldin;
pub mod live;
mod overlay;
pub mod paths;
pub mod personal;
pub mod recommend;
pub mod rulebook;
pub mod segments;
pub mod snapshot;
pub mod user_view;

pub use live::Live;
pub use recommend::{Query, Strategy};
