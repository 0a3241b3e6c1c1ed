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
    /// 0 to 100.
    pub discount_pct: Option<f64>,
    /// ms since the epoch, after `now`; `None`: now + the horizon.
    pub ends_ms: Option<i64>,
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
    match offer {
        Some(offer) if errs.is_empty() => Ok(CampaignSpec {
            name,
            offer,
            filter: d.audience.filter,
            size: d.size,
            control_share,
            discount_pct: d.discount_pct,
            ends_ms,
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
    fn the_audience_refuses_unknown_filters() {
        let ok: CampaignAudience =
            serde_json::from_str(r#"{"category": "rust", "segment": 2, "rfm": ["loyal"]}"#).unwrap();
        assert_eq!(ok.filter.segment, Some(2));
        assert!(serde_json::from_str::<CampaignAudience>(r#"{"segmnt": 2}"#).is_err());
        assert!(serde_json::from_str::<CampaignAudience>(r#"{"segment": "2"}"#).is_err());
    }
}
