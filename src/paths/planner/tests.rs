use super::*;
use crate::paths::order::{Transitions, NO_CATEGORY};

/// One category (0) of six courses: 0, 1 beginner; 2, 3 intermediate;
/// 4, 5 advanced. 2 needs 0, 4 needs 2, 5 needs 3 and 1; 3 needs nothing.
/// Course 6 is another category's beginner course.
struct Fixture {
    prereqs: Vec<Vec<u32>>,
    level: Vec<u8>,
    category: Vec<u32>,
    takeable: Vec<bool>,
    popularity: Vec<f32>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            prereqs: vec![vec![], vec![], vec![0], vec![], vec![2], vec![3, 1], vec![]],
            level: vec![0, 0, 1, 1, 2, 2, 0],
            category: vec![0, 0, 0, 0, 0, 0, 1],
            takeable: vec![true; 7],
            popularity: vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.0],
        }
    }

    fn courses(&self) -> PlanCourses<'_> {
        PlanCourses {
            prereqs: &self.prereqs,
            level: &self.level,
            category: &self.category,
            takeable: &self.takeable,
            popularity: &self.popularity,
            affinity: None,
            order_weight: 0.5,
        }
    }
}

/// Learners who took the courses in these orders.
fn learned(seqs: &[&[u32]], category: &[u32]) -> Transitions {
    Transitions::build(seqs.iter().map(|s| s.to_vec()), category.len(), category)
}

fn ids(p: &Plan) -> Vec<u32> {
    p.steps.iter().map(|s| s.course).collect()
}

#[test]
fn a_course_goal_lists_missing_prerequisites_first() {
    let f = Fixture::new();
    let t = learned(&[], &f.category);
    let p = plan(&f.courses(), &t, &[], &[], Goal::Course(4), 8).unwrap();
    assert_eq!(ids(&p), [0, 2, 4]);
    assert_eq!(p.steps[0].reason, Reason::Prerequisite);
    assert_eq!(p.steps[1].reason, Reason::Prerequisite);
    assert_eq!(p.steps[2].reason, Reason::NextLevel);
    assert_eq!(p.steps[1].after, [0]);
    // Owning 0 leaves 2 and 4; 0 is in the track the learner owns.
    let p = plan(&f.courses(), &t, &[0], &[0], Goal::Course(4), 8).unwrap();
    assert_eq!(ids(&p), [2, 4]);
    assert_eq!(p.already_owned, [0]);
}

#[test]
fn an_owned_goal_has_no_steps() {
    let f = Fixture::new();
    let t = learned(&[], &f.category);
    let p = plan(&f.courses(), &t, &[0, 2, 4], &[0, 2, 4], Goal::Course(4), 8).unwrap();
    assert!(p.steps.is_empty());
    assert_eq!(p.already_owned, [0, 2, 4]);
    // Owning an advanced course completes the category.
    let p = plan(&f.courses(), &t, &[5], &[5], Goal::Category(0), 8).unwrap();
    assert!(p.steps.is_empty());
}

#[test]
fn a_goal_beyond_max_steps_names_the_shortest_length() {
    let f = Fixture::new();
    let t = learned(&[], &f.category);
    assert_eq!(
        plan(&f.courses(), &t, &[], &[], Goal::Course(5), 2),
        Err(PlanError::TooLong {
            shortest: 3,
            max_steps: 2
        })
    );
    // The category's shortest way up is 3 courses (0, 2, 4 or 1, 3, 5).
    assert_eq!(
        plan(&f.courses(), &t, &[], &[], Goal::Category(0), 1),
        Err(PlanError::TooLong {
            shortest: 3,
            max_steps: 1
        })
    );
}

#[test]
fn a_cycle_is_an_error_not_a_loop() {
    let mut f = Fixture::new();
    f.prereqs[0] = vec![4];
    let t = learned(&[], &f.category);
    assert!(matches!(
        plan(&f.courses(), &t, &[], &[], Goal::Course(4), 8),
        Err(PlanError::Cycle(_))
    ));
}

#[test]
fn levels_go_up_and_ties_follow_learned_order() {
    let f = Fixture::new();
    // 5 needs 3 and 1: both ready at once, beginner 1 before intermediate 3.
    let t = learned(&[], &f.category);
    let p = plan(&f.courses(), &t, &[], &[], Goal::Course(5), 8).unwrap();
    assert_eq!(ids(&p), [1, 3, 5]);
    let levels: Vec<u8> = p.steps.iter().map(|s| f.level[s.course as usize]).collect();
    assert!(levels.windows(2).all(|w| w[0] <= w[1]));
    // Two ready beginner courses for 4: after 3, which the learner owns,
    // learners took 1 more often than the more popular 0.
    let mut f = Fixture::new();
    f.prereqs[4] = vec![0, 1];
    let t = learned(&[&[3, 1], &[3, 1], &[3, 0]], &f.category);
    let p = plan(&f.courses(), &t, &[3], &[3], Goal::Course(4), 8).unwrap();
    assert_eq!(ids(&p), [1, 0, 4], "level first, then learned order");
    let none = learned(&[], &f.category);
    let p = plan(&f.courses(), &none, &[3], &[3], Goal::Course(4), 8).unwrap();
    assert_eq!(ids(&p), [0, 1, 4], "without order, the more popular");
}

#[test]
fn a_category_goal_follows_what_learners_took_next() {
    let f = Fixture::new();
    // Most learners go 1 → 0 → 3 → 2 → 4; the learner owns 1.
    let habit: &[u32] = &[1, 0, 3, 2, 4];
    let t = learned(&[habit, habit, habit, &[1, 3, 5]], &f.category);
    let p = plan(&f.courses(), &t, &[1], &[1], Goal::Category(0), 8).unwrap();
    assert_eq!(ids(&p), [0, 3, 2, 4]);
    assert_eq!(p.steps[0].reason, Reason::Prerequisite, "2 needs 0");
    assert_eq!(p.steps[1].reason, Reason::NextLevel);
    assert_eq!(p.steps[1].after, [0], "3 follows 0 in the track");
    assert_eq!(p.already_owned, [1]);
    // Without learned order: the shortest way to the top level, the more
    // popular top course first among equals (4 over 5).
    let none = learned(&[], &f.category);
    let p = plan(&f.courses(), &none, &[], &[], Goal::Category(0), 8).unwrap();
    assert_eq!(ids(&p), [0, 2, 4]);
    // The learned plan longer than max_steps gives way to the shortest:
    // owning 1, course 5 lacks only 3.
    let p = plan(&f.courses(), &t, &[1], &[1], Goal::Category(0), 3).unwrap();
    assert_eq!(ids(&p), [3, 5]);
}

#[test]
fn a_category_without_takeable_courses_cannot_be_planned() {
    let mut f = Fixture::new();
    f.takeable = vec![false; 7];
    let t = learned(&[], &f.category);
    assert_eq!(
        plan(&f.courses(), &t, &[], &[], Goal::Category(0), 8),
        Err(PlanError::NothingToTake)
    );
    let _ = NO_CATEGORY;
}
