//! What an experiment is: named variants with weights, each serving one
//! recommendation arm, and which variant is the control.

use serde::{Deserialize, Serialize};

use crate::domain::valid_id;

/// How a variant builds its lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The normal chain: personalized, fold-in, interests, popular.
    Model,
    /// Time-decayed popularity for everyone (owned courses still excluded).
    Popular,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    /// Relative share of users, 1 to [`MAX_WEIGHT`].
    pub weight: u32,
    #[serde(default = "default_arm")]
    pub arm: Arm,
    /// MMR diversity forced on this variant's lists (0 to 1); `None` keeps
    /// what the request asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<f32>,
}

fn default_arm() -> Arm {
    Arm::Model
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub variants: Vec<VariantSpec>,
    /// The variant others are compared with; the first one when absent.
    #[serde(default)]
    pub control: Option<String>,
    #[serde(default)]
    pub status: Status,
}

pub const MAX_VARIANTS: usize = 10;
pub const MAX_WEIGHT: u32 = 10_000;
const MAX_NAME: usize = 64;

impl ExperimentSpec {
    /// Every problem with the spec, as (field, reason); empty when valid.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |f: String, r: &str| out.push((f, r.to_string()));
        if !(2..=MAX_VARIANTS).contains(&self.variants.len()) {
            bad("variants".into(), "must list 2 to 10 variants");
        }
        for (i, v) in self.variants.iter().enumerate() {
            let f = |name: &str| format!("variants[{i}].{name}");
            if v.name.is_empty() || v.name.len() > MAX_NAME || !valid_id(&v.name) {
                bad(f("name"), "must be 1 to 64 characters");
            } else if self.variants[..i].iter().any(|w| w.name == v.name) {
                bad(f("name"), "is used by an earlier variant");
            }
            if !(1..=MAX_WEIGHT).contains(&v.weight) {
                bad(f("weight"), "must be an integer from 1 to 10000");
            }
            if v.diversity.is_some_and(|d| !(0.0..=1.0).contains(&d)) {
                bad(f("diversity"), "must be a number from 0 to 1");
            }
        }
        if let Some(c) = &self.control {
            if !self.variants.iter().any(|v| &v.name == c) {
                bad("control".into(), "must name one of the variants");
            }
        }
        out
    }

    /// The control variant's name (the spec must be valid).
    pub fn control_name(&self) -> &str {
        self.control.as_deref().unwrap_or(&self.variants[0].name)
    }

    /// True when the two specs split and serve users the same way; only
    /// the status may change once an experiment exists.
    pub fn same_design(&self, other: &ExperimentSpec) -> bool {
        self.variants == other.variants && self.control_name() == other.control_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> ExperimentSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_valid_spec_has_no_problems_and_defaults() {
        let s = spec(serde_json::json!({"variants": [
            {"name": "control", "weight": 1},
            {"name": "popular", "weight": 1, "arm": "popular"}
        ]}));
        assert!(s.problems().is_empty());
        assert_eq!(s.control_name(), "control");
        assert_eq!(s.status, Status::Running);
        assert_eq!(s.variants[0].arm, Arm::Model);
    }

    #[test]
    fn every_problem_is_listed() {
        let s = spec(serde_json::json!({"control": "nope", "variants": [
            {"name": "a", "weight": 0},
            {"name": "a", "weight": 20000, "diversity": 1.5}
        ]}));
        let fields: Vec<String> = s.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            [
                "variants[0].weight",
                "variants[1].name",
                "variants[1].weight",
                "variants[1].diversity",
                "control"
            ]
        );
        let one = spec(serde_json::json!({"variants": [{"name": "a", "weight": 1}]}));
        assert_eq!(one.problems()[0].0, "variants");
    }

    #[test]
    fn only_the_status_may_change() {
        let a =
            spec(serde_json::json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}));
        let mut b = a.clone();
        b.status = Status::Stopped;
        b.control = Some("a".into());
        assert!(a.same_design(&b));
        b.variants[1].weight = 2;
        assert!(!a.same_design(&b));
    }
}
