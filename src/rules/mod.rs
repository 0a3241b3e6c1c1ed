//! Merchandising rules (DESIGN "Feedback, merchandising rules and
//! exploration"): boost, bury, pin or block courses or a category, for
//! some taste segments, within a time window. This module holds the rule
//! as stored and its validation; `engine` applies active rules to a
//! ranked candidate pool. Pure: no I/O.

pub mod engine;

use serde::{Deserialize, Serialize};

use crate::domain::{category_key, normalize_id, FieldError};

/// Most rules stored at once: the engine reads every active one per list.
pub const MAX_RULES: usize = 1_000;
/// Most course ids one rule may name.
pub const MAX_RULE_COURSES: usize = 1_000;
/// Largest boost or bury weight; 1 already moves a course past any other
/// (weights add to a relevance normalised to 0..1).
pub const MAX_WEIGHT: f64 = 100.0;
/// Deepest position a pin may name (1-based); lists hold at most 100.
pub const MAX_POSITION: u32 = 100;

/// What a rule does to the courses it names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// Adds `weight` to the course's relevance (normalised to 0..1 over the
    /// candidates), so weight 1 ranks it above every unboosted course.
    Boost,
    /// Subtracts `weight` from the relevance.
    Bury,
    /// Places the course at `position` (1-based).
    Pin,
    /// Never lists the course.
    Block,
}

/// A rule as `PUT /rules/{id}` receives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDraft {
    pub action: Action,
    /// The courses it applies to; give these or `category`, not both.
    pub course_ids: Option<Vec<String>>,
    /// Every course of this category.
    pub category: Option<String>,
    /// Boost or bury: how far, > 0 (relevance is 0..1 over the candidates).
    pub weight: Option<f64>,
    /// Pin: the 1-based position (1 to 100).
    pub position: Option<u32>,
    /// Only for learners of these taste segments; absent: everyone.
    pub segments: Option<Vec<u32>>,
    /// RFC 3339; absent: active from now on.
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at`; absent: until deleted.
    pub ends_at: Option<String>,
}

/// What a rule names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Course ids (NFC), in the order given: a pin places them in it.
    Courses(Vec<String>),
    /// A category key (trimmed, lower case, NFC).
    Category(String),
}

/// A validated rule; times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub action: Action,
    pub target: Target,
    /// Boost or bury weight; 0 for pin and block.
    pub weight: f64,
    /// Pin position (1-based); 0 for other actions.
    pub position: u32,
    /// Taste segments it is limited to; empty: every learner.
    pub segments: Vec<u32>,
    pub starts_ms: Option<i64>,
    pub ends_ms: Option<i64>,
}

impl Rule {
    /// In force at `now_ms` (start inclusive, end exclusive).
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.starts_ms.is_none_or(|s| s <= now_ms) && self.ends_ms.is_none_or(|e| now_ms < e)
    }

    /// Applies to a learner of `segment` (`None`: no learner, or one
    /// without a segment, who only gets rules for everyone).
    pub fn applies_to(&self, segment: Option<u32>) -> bool {
        self.segments.is_empty() || segment.is_some_and(|s| self.segments.contains(&s))
    }
}

fn parse_time(field: &str, v: &Option<String>, errs: &mut Vec<FieldError>) -> Option<i64> {
    let raw = v.as_ref()?;
    match chrono::DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(t.timestamp_millis()),
        Err(_) => {
            errs.push(FieldError::new(field, "must be an RFC 3339 time"));
            None
        }
    }
}

impl RuleDraft {
    /// The rule named `id`, or every field at fault (the whole list, so a
    /// client fixes them in one go).
    pub fn validate(self, id: &str) -> Result<Rule, Vec<FieldError>> {
        let mut errs = Vec::new();
        let target = match (self.course_ids, self.category) {
            (Some(_), Some(_)) | (None, None) => {
                errs.push(FieldError::new(
                    "course_ids",
                    "give course_ids or category, not both",
                ));
                None
            }
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_RULE_COURSES {
                    errs.push(FieldError::new(
                        "course_ids",
                        format!("must hold 1 to {MAX_RULE_COURSES} ids"),
                    ));
                }
                let mut out: Vec<String> = Vec::with_capacity(ids.len());
                for (i, raw) in ids.iter().enumerate() {
                    match normalize_id(raw) {
                        Some(c) if !out.contains(&c) => out.push(c),
                        Some(_) => {}
                        None => errs.push(FieldError::new(
                            "course_ids",
                            format!("item {i} is not an id (1 to 128 characters, no surrounding whitespace)"),
                        )),
                    }
                }
                Some(Target::Courses(out))
            }
            (None, Some(c)) => {
                let key = category_key(&c);
                if key.is_empty() || key.chars().count() > 128 {
                    errs.push(FieldError::new("category", "must be 1 to 128 characters"));
                }
                Some(Target::Category(key))
            }
        };
        let weighted = matches!(self.action, Action::Boost | Action::Bury);
        let weight = match (weighted, self.weight) {
            (true, Some(w)) if w.is_finite() && w > 0.0 && w <= MAX_WEIGHT => w,
            (true, Some(_)) => {
                errs.push(FieldError::new(
                    "weight",
                    format!("must be > 0 and at most {MAX_WEIGHT}"),
                ));
                0.0
            }
            (true, None) => {
                errs.push(FieldError::new("weight", "boost and bury need a weight"));
                0.0
            }
            (false, Some(_)) => {
                errs.push(FieldError::new("weight", "only boost and bury take a weight"));
                0.0
            }
            (false, None) => 0.0,
        };
        let pin = self.action == Action::Pin;
        let position = match (pin, self.position) {
            (true, Some(p)) if (1..=MAX_POSITION).contains(&p) => p,
            (true, _) => {
                errs.push(FieldError::new(
                    "position",
                    format!("pin needs a position from 1 to {MAX_POSITION}"),
                ));
                0
            }
            (false, Some(_)) => {
                errs.push(FieldError::new("position", "only pin takes a position"));
                0
            }
            (false, None) => 0,
        };
        let mut segments = self.segments.unwrap_or_default();
        segments.sort_unstable();
        segments.dedup();
        if segments.len() > 1_000 {
            errs.push(FieldError::new("segments", "at most 1000 segment ids"));
        }
        let starts_ms = parse_time("starts_at", &self.starts_at, &mut errs);
        let ends_ms = parse_time("ends_at", &self.ends_at, &mut errs);
        if let (Some(s), Some(e)) = (starts_ms, ends_ms) {
            if e <= s {
                errs.push(FieldError::new("ends_at", "must be after starts_at"));
            }
        }
        match target {
            Some(target) if errs.is_empty() => Ok(Rule {
                id: id.to_string(),
                action: self.action,
                target,
                weight,
                position,
                segments,
                starts_ms,
                ends_ms,
            }),
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(json: &str) -> RuleDraft {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_valid_rule_is_normalised() {
        let r = draft(r#"{"action":"boost","category":" Rust ","weight":0.5,"segments":[3,1,3]}"#)
            .validate("r1")
            .unwrap();
        assert_eq!(r.target, Target::Category("rust".into()));
        assert_eq!(r.segments, [1, 3]);
        assert!(r.active_at(0));
        let pin = draft(r#"{"action":"pin","course_ids":["a","b","a"],"position":2}"#)
            .validate("p")
            .unwrap();
        assert_eq!(pin.target, Target::Courses(vec!["a".into(), "b".into()]));
        assert_eq!(pin.position, 2);
    }

    #[test]
    fn every_fault_is_reported_at_once() {
        let errs = draft(
            r#"{"action":"pin","course_ids":[],"category":"x","weight":2,
                "starts_at":"2026-01-02T00:00:00Z","ends_at":"2026-01-01T00:00:00Z"}"#,
        )
        .validate("bad")
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["course_ids", "weight", "position", "ends_at"]);
        for bad in [
            r#"{"action":"boost","category":"x"}"#,
            r#"{"action":"boost","category":"x","weight":0}"#,
            r#"{"action":"bury","category":"x","weight":1e9}"#,
            r#"{"action":"block","course_ids":[" a"]}"#,
            r#"{"action":"block","category":"  "}"#,
            r#"{"action":"block","category":"x","starts_at":"tomorrow"}"#,
            r#"{"action":"pin","category":"x","position":0}"#,
        ] {
            assert!(draft(bad).validate("x").is_err(), "{bad}");
        }
    }

    #[test]
    fn window_and_segments_decide_where_a_rule_applies() {
        let r = draft(
            r#"{"action":"block","category":"x","segments":[2],
                "starts_at":"1970-01-01T00:00:01Z","ends_at":"1970-01-01T00:00:02Z"}"#,
        )
        .validate("w")
        .unwrap();
        assert!(!r.active_at(999) && r.active_at(1000) && r.active_at(1999) && !r.active_at(2000));
        assert!(r.applies_to(Some(2)) && !r.applies_to(Some(1)) && !r.applies_to(None));
    }
}
