//! The marketing columns of the learner table (`crate::learners`): each
//! learner's scores, last activity and offer shares. They are only ever
//! restricted as whole rows, with the table's other columns, so a learner
//! keeps their own values after an erasure.

use serde::{Deserialize, Serialize};

use super::offer::OfferShares;
use super::predict::Scores;
use super::uplift::UpliftColumns;
use crate::model::select_rows;

/// One row per learner, in the learner table's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketingColumns {
    /// P(purchase), P(churn), predicted spend (cents) and RFM.
    pub scores: Scores,
    /// Time of each learner's last activity, ms since the epoch
    /// (`i64::MIN` if none).
    pub last_active_ms: Vec<i64>,
    /// Softmax normalisers and category shares (`n_categories` per learner).
    pub offers: OfferShares,
    /// The learner half of the uplift model's predictors; `None` without one.
    #[serde(default)]
    pub uplift: Option<UpliftColumns>,
}

impl MarketingColumns {
    /// Every column's name and number of rows, to check they agree. A
    /// category-share block that is not a whole number of rows counts
    /// `usize::MAX` rows (never a learner count).
    pub fn lengths(&self) -> Vec<(&'static str, usize)> {
        let MarketingColumns {
            scores:
                Scores {
                    purchase,
                    churn,
                    spend_cents,
                    rfm,
                },
            last_active_ms,
            offers:
                OfferShares {
                    beta: _,
                    log_norm,
                    n_categories,
                    category_share,
                },
            uplift,
        } = self;
        let mut out = vec![
            ("purchase", purchase.len()),
            ("churn", churn.len()),
            ("spend_cents", spend_cents.len()),
            ("rfm", rfm.len()),
            ("last_active_ms", last_active_ms.len()),
            ("log_norm", log_norm.len()),
        ];
        let shares = category_share.len();
        match *n_categories {
            0 if shares == 0 => {}
            k if k > 0 && shares % k == 0 => out.push(("category_share", shares / k)),
            _ => out.push(("category_share", usize::MAX)),
        }
        if let Some(u) = uplift {
            out.extend(u.lengths());
        }
        out
    }

    /// The rows `keep`, in that order, of every column.
    pub fn select(&self, keep: &[usize]) -> MarketingColumns {
        let MarketingColumns {
            scores:
                Scores {
                    purchase,
                    churn,
                    spend_cents,
                    rfm,
                },
            last_active_ms,
            offers:
                OfferShares {
                    beta,
                    log_norm,
                    n_categories,
                    category_share,
                },
            uplift,
        } = self;
        MarketingColumns {
            scores: Scores {
                purchase: select_rows(purchase, 1, keep),
                churn: select_rows(churn, 1, keep),
                spend_cents: select_rows(spend_cents, 1, keep),
                rfm: select_rows(rfm, 1, keep),
            },
            last_active_ms: select_rows(last_active_ms, 1, keep),
            offers: OfferShares {
                beta: *beta,
                log_norm: select_rows(log_norm, 1, keep),
                n_categories: *n_categories,
                category_share: select_rows(category_share, *n_categories, keep),
            },
            uplift: uplift.as_ref().map(|u| u.select(keep)),
        }
    }
}
