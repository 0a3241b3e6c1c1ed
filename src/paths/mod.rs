//! Learning paths: prerequisites between courses, the order learners take
//! courses in (an order-aware next-course model), plans from what a
//! learner owns to a goal, and the next-course holdout that says whether
//! order helps. Pure: no I/O.

pub mod evaluate;
pub mod graph;
pub mod order;
pub mod planner;

pub use evaluate::{NextCourseReport, ShuffleTest};
pub use order::{PathModel, Transitions};
pub use planner::{plan, Goal, Plan, PlanCourses, PlanError, Reason, Step};
