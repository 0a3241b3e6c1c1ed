//! A campaign request, checked: every field error at once, and the offer
//! the audience may repeat (DESIGN: an audience's `course_id` or
//! `category` must equal the offer's).

use serde::{Deserialize, Serialize};

use crate::domain::FieldError;
use crate::marketing::audience::Filter;

/// The `audience` of a campaign: the `/audiences` filters, and optionally
/// the offer again. Read through a map so that an unknown filter is still
/// refused (serde's `flatten` would let it pass).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct CampaignAudience {
    /// Must equal the campaign's `course_id` when given.
    pub course_id: Option<String>,
    /// Must equal the campaign's `category` (in any case) when given.
    pub category: Option<String>,
    #[serde(flatten)]
    pub filter: Filter,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for CampaignAudience {
    type Error = String;

    fn try_from(mut m: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let mut text = |key: &str| match m.remove(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{key} must be a string")),
        };
        let (course_id, category) = (text("course_id")?, text("category")?);
        let filter = serde_json::from_value(serde_json::Value::Object(m)).map_err(|e| e.to_string())?;
        Ok(CampaignAudience {
            course_id,
            category,
            filter,
        })
    }
}

/// One offer of a campaign with several: its name, discount and share of
/// the treated learners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmDraft {
    /// 1 to 64 characters, unique in the campaign.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// Percent, 0 to 100; absent: no discount.
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub discount_pct: Option<f64>,
    /// Share of the treated learners, above 0; the arms' shares sum to 1.
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub share: f64,
}

/// How the audience is ranked before `size` and `budget_cents` cut it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::AsRefStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Targeting {
    /// By expected value: P(buying the offer) × its price.
    #[default]
    Propensity,
    /// By the expected incremental value of the offer (uplift model).
    Uplift,
    /// In a seeded random order.
    Random,
}

/// At most this many arms.
pub const MAX_ARMS: usize = 8;

/// A campaign as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct CampaignDraft {
    pub name: String,
    pub course_id: Option<String>,
    pub category: Option<String>,
    pub audience: CampaignAudience,
    pub size: Option<usize>,
    pub control_share: Option<f64>,
    pub discount_pct: Option<f64>,
    /// RFC 3339.
    pub ends_at: Option<String>,
    pub arms: Option<Vec<ArmDraft>>,
    pub targeting: Option<Targeting>,
    pub budget_cents: Option<i64>,
}

/// What is offered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum OfferSpec {
    Course(String),
    Category(String),
}

/// A campaign that passed [`check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignSpec {
    /// Trimmed, 1 to 200 characters.
    pub name: String,
    pub offer: OfferSpec,
    pub filter: Filter,
    /// Keep at most this many learners (≥ 1); `None`: all.
    pub size: Option<usize>,
    /// In (0, 1); default 0.1.
    pub control_share: f64,
    /// 0 to 100: the discount of a one-arm campaign.
    pub discount_pct: Option<f64>,
    /// ms since the epoch, after `now`; `None`: now + the horizon.
    pub ends_ms: Option<i64>,
    /// At least one; shares sum to 1.
    pub arms: Vec<ArmDraft>,
    pub targeting: Targeting,
    /// Stop adding learners once the expected discount cost reaches this
    /// (cents, at least 1); `None`: no budget.
    pub budget_cents: Option<i64>,
}

impl CampaignSpec {
    /// The discount of each arm as a fraction, 0..1.
    pub fn arm_discounts(&self) -> Vec<f64> {
        self.arms
            .iter()
            .map(|a| a.discount_pct.unwrap_or(0.0) / 100.0)
            .collect()
    }

    /// The share-weighted mean discount of the arms, fraction 0..1.
    pub fn mean_discount(&self) -> f64 {
        self.arms
            .iter()
            .map(|a| a.share * a.discount_pct.unwrap_or(0.0) / 100.0)
            .sum()
    }
}

/// The arms of a stored campaign: its `arms` JSON, or one arm at
/// `discount_pct` (campaigns from before arms, and one-arm campaigns).
pub fn stored_arms(json: Option<&str>, discount_pct: Option<f64>) -> Vec<ArmDraft> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| {
            vec![ArmDraft {
                name: "treatment".into(),
                discount_pct,
                share: 1.0,
            }]
        })
}

/// Checks the arms (when given) against a top-level discount; one arm
/// named `treatment` with that discount when absent.
fn check_arms(
    arms: Option<Vec<ArmDraft>>,
    discount_pct: Option<f64>,
    errs: &mut Vec<FieldError>,
) -> Vec<ArmDraft> {
    let Some(mut arms) = arms else {
        return vec![ArmDraft {
            name: "treatment".into(),
            discount_pct,
            share: 1.0,
        }];
    };
    if discount_pct.is_some() {
        errs.push(FieldError::new(
            "discount_pct",
            "give each arm its discount_pct instead",
        ));
    }
    if arms.is_empty() || arms.len() > MAX_ARMS {
        errs.push(FieldError::new("arms", format!("give 1 to {MAX_ARMS} arms")));
    }
    for a in &mut arms {
        a.name = a.name.trim().to_string();
    }
    let mut names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    if names.iter().any(|n| n.is_empty() || n.chars().count() > 64) || names.windows(2).any(|w| w[0] == w[1])
    {
        errs.push(FieldError::new(
            "arms.name",
            "names must be 1 to 64 characters and unique",
        ));
    }
    if arms
        .iter()
        .any(|a| a.discount_pct.is_some_and(|p| !(0.0..=100.0).contains(&p)))
    {
        errs.push(FieldError::new("arms.discount_pct", "must be from 0 to 100"));
    }
    let total: f64 = arms.iter().map(|a| a.share).sum();
    if arms.iter().any(|a| !(a.share > 0.0 && a.share <= 1.0)) || (total - 1.0).abs() > 1e-6 {
        errs.push(FieldError::new(
            "arms.share",
            "each share must be above 0 and they must sum to 1",
        ));
    }
    arms
}

impl CampaignSpec {
    /// A stable fingerprint of the request (xxh3 of its canonical JSON),
    /// for `Idempotency-Key` replays.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).expect("plain data serializes");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes()))
    }
}

/// Checks `d` at time `now_ms`; every invalid field is listed.
pub fn check(d: CampaignDraft, now_ms: i64) -> Result<CampaignSpec, Vec<FieldError>> {
    let mut errs = Vec::new();
    let name = d.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errs.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let offer = match (d.course_id, d.category) {
        (Some(c), None) if !c.is_empty() => Some(OfferSpec::Course(c)),
        (None, Some(c)) if !c.trim().is_empty() => Some(OfferSpec::Category(c)),
        _ => {
            errs.push(FieldError::new(
                "course_id",
                "give exactly one of course_id and category",
            ));
            None
        }
    };
    let a = &d.audience;
    let key = crate::domain::category_key;
    let clash = match &offer {
        Some(OfferSpec::Course(c)) => (a.course_id.as_ref().is_some_and(|x| x != c) || a.category.is_some())
            .then_some((
                "audience.course_id",
                "an audience's course_id must equal the campaign's, and it takes no category",
            )),
        Some(OfferSpec::Category(c)) => {
            (a.category.as_ref().is_some_and(|x| key(x) != key(c)) || a.course_id.is_some()).then_some((
                "audience.category",
                "an audience's category must equal the campaign's, and it takes no course_id",
            ))
        }
        None => None,
    };
    if let Some((field, reason)) = clash {
        errs.push(FieldError::new(field, reason));
    }
    let control_share = d.control_share.unwrap_or(0.1);
    if !(control_share > 0.0 && control_share < 1.0) {
        errs.push(FieldError::new("control_share", "must be above 0 and below 1"));
    }
    if d.discount_pct.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
        errs.push(FieldError::new("discount_pct", "must be from 0 to 100"));
    }
    if d.size == Some(0) {
        errs.push(FieldError::new("size", "must be at least 1"));
    }
    let prob = |x: Option<f64>| x.is_some_and(|p| !(0.0..=1.0).contains(&p));
    if prob(a.filter.min_purchase_probability) || prob(a.filter.min_churn_probability) {
        errs.push(FieldError::new("audience", "probabilities must be from 0 to 1"));
    }
    let ends_ms = d
        .ends_at
        .as_deref()
        .and_then(|s| match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.timestamp_millis() > now_ms => Some(t.timestamp_millis()),
            _ => {
                errs.push(FieldError::new(
                    "ends_at",
                    "must be an RFC 3339 time in the future",
                ));
                None
            }
        });
    let arms = check_arms(d.arms, d.discount_pct, &mut errs);
    if d.budget_cents.is_some_and(|b| b < 1) {
        errs.push(FieldError::new("budget_cents", "must be at least 1"));
    }
    match offer {
        Some(offer) if errs.is_empty() => Ok(CampaignSpec {
            name,
            offer,
            filter: d.audience.filter,
            size: d.size,
            control_share,
            discount_pct: d.discount_pct,
            ends_ms,
            arms,
            targeting: d.targeting.unwrap_or_default(),
            budget_cents: d.budget_cents,
        }),
        _ => Err(errs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> CampaignDraft {
        CampaignDraft {
            name: " Spring ".into(),
            category: Some("Rust".into()),
            ..CampaignDraft::default()
        }
    }

    #[test]
    fn a_valid_draft_is_trimmed_and_defaulted() {
        let s = check(draft(), 0).unwrap();
        assert_eq!(s.name, "Spring");
        assert_eq!(s.offer, OfferSpec::Category("Rust".into()));
        assert_eq!(s.control_share, 0.1);
        assert_eq!(s.fingerprint(), check(draft(), 5).unwrap().fingerprint());
        let other = CampaignDraft {
            discount_pct: Some(10.0),
            ..draft()
        };
        assert_ne!(s.fingerprint(), check(other, 0).unwrap().fingerprint());
    }

    #[test]
    fn every_invalid_field_is_named() {
        let d = CampaignDraft {
            name: "  ".into(),
            course_id: Some("c1".into()),
            category: Some("rust".into()),
            control_share: Some(1.0),
            discount_pct: Some(120.0),
            size: Some(0),
            ends_at: Some("1970-01-01T00:00:00Z".into()),
            ..CampaignDraft::default()
        };
        let errs = check(d, 1_000).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "course_id",
                "control_share",
                "discount_pct",
                "size",
                "ends_at"
            ]
        );
    }

    #[test]
    fn the_audience_may_repeat_the_offer_but_not_contradict_it() {
        let with = |course_id: Option<&str>, category: Option<&str>| CampaignDraft {
            audience: CampaignAudience {
                course_id: course_id.map(Into::into),
                category: category.map(Into::into),
                filter: Filter::default(),
            },
            ..draft()
        };
        assert!(check(with(None, Some("rust")), 0).is_ok());
        assert!(check(with(None, Some("RUST")), 0).is_ok());
        let errs = check(with(None, Some("go")), 0).unwrap_err();
        assert_eq!(errs[0].field, "audience.category");
        assert!(check(with(Some("c1"), None), 0).is_err());
        let course = CampaignDraft {
            course_id: Some("c1".into()),
            category: None,
            ..with(Some("c1"), None)
        };
        assert!(check(course.clone(), 0).is_ok());
        let wrong = CampaignDraft {
            audience: CampaignAudience {
                course_id: Some("c2".into()),
                ..CampaignAudience::default()
            },
            ..course
        };
        assert!(check(wrong, 0).is_err());
    }

    #[test]
    fn arms_are_checked_and_default_to_one() {
        let one = check(draft(), 0).unwrap();
        assert_eq!(one.arms.len(), 1);
        assert_eq!((one.arms[0].name.as_str(), one.arms[0].share), ("treatment", 1.0));
        assert_eq!(one.targeting, Targeting::Propensity);
        let arm = |name: &str, pct: f64, share: f64| ArmDraft {
            name: name.into(),
            discount_pct: Some(pct),
            share,
        };
        let two = check(
            CampaignDraft {
                arms: Some(vec![arm("ten", 10.0, 0.5), arm(" thirty ", 30.0, 0.5)]),
                targeting: Some(Targeting::Uplift),
                ..draft()
            },
            0,
        )
        .unwrap();
        assert_eq!(two.arms[1].name, "thirty");
        assert!((two.mean_discount() - 0.2).abs() < 1e-12);
        assert_eq!(two.arm_discounts(), [0.1, 0.3]);
        let bad = CampaignDraft {
            arms: Some(vec![arm("a", 120.0, 0.7), arm("a", 10.0, 0.7)]),
            discount_pct: Some(5.0),
            budget_cents: Some(0),
            ..draft()
        };
        let fields: Vec<String> = check(bad, 0).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "discount_pct",
                "arms.name",
                "arms.discount_pct",
                "arms.share",
                "budget_cents"
            ]
        );
    }

    #[test]
    fn the_audience_refuses_unknown_filters() {
        let ok: CampaignAudience =
            serde_json::from_str(r#"{"category": "rust", "segment": 2, "rfm": ["loyal"]}"#).unwrap();
        assert_eq!(ok.filter.segment, Some(2));
        assert!(serde_json::from_str::<CampaignAudience>(r#"{"segmnt": 2}"#).is_err());
        assert!(serde_json::from_str::<CampaignAudience>(r#"{"segment": "2"}"#).is_err());
    }
}
