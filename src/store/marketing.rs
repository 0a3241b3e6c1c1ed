//! What marketing reads and writes: campaigns with their frozen members,
//! and the payments a campaign report counts.

use std::collections::HashSet;

use super::{guarded_tx, on_pool, Store};
use crate::marketing::campaign::report::{Covariate, PaymentRow};
use crate::marketing::campaign::{draw_members, DrawPlan, Drawn};
use crate::model::ownership::Payment;

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredCampaign {
    pub id: String,
    pub name: String,
    pub course_id: Option<String>,
    pub category: Option<String>,
    /// JSON of the audience filters.
    pub audience: String,
    pub discount_pct: Option<f64>,
    pub control_share: f64,
    pub seed: i64,
    pub model_version: i64,
    pub created_ms: i64,
    pub ends_ms: i64,
    /// The offer's category in lower case, frozen at creation.
    pub offer_category: Option<String>,
    pub idempotency_key: Option<String>,
    /// [`crate::marketing::campaign::spec::CampaignSpec::fingerprint`].
    pub request_hash: Option<String>,
    /// Learners left out as controls of a running overlapping campaign.
    pub held_out_overlap: i64,
    /// JSON of the arms; `None`: one arm at `discount_pct`.
    pub arms: Option<String>,
    /// `propensity`, `uplift` or `random`.
    pub targeting: String,
    pub budget_cents: Option<i64>,
}

/// user, control, arm, course, type, time (ms), price (cents) of one payment row.
type PaymentTuple = (String, bool, i32, String, String, i64, Option<i64>);

/// A member as stored: in control, the treated arm, the targeting rank.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMember {
    pub user: String,
    pub control: bool,
    pub arm: usize,
    pub rank: Option<u32>,
}

/// What [`Store::create_campaign`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignCreation {
    /// Stored, with its members (user, in control).
    Created {
        members: Vec<Drawn>,
        held_out_overlap: usize,
    },
    /// A campaign with the same `Idempotency-Key` exists: this one.
    Replay(Box<StoredCampaign>),
    /// No candidate is left once the overlap is held out: nothing stored.
    Empty,
}

const CAMPAIGN_COLUMNS: &str = "id, name, course_id, category, audience, discount_pct, control_share, \
     seed, model_version, created_ms, ends_ms, offer_category, idempotency_key, request_hash, held_out_overlap, \
     arms, targeting, budget_cents";

/// Rows per member insert statement (5 parameters each).
const MEMBERS_PER_STATEMENT: usize = 5_000;

/// Serialises campaign creations on Postgres, so two at once cannot miss
/// each other's control groups ("coursq").
const CAMPAIGN_LOCK: i64 = 0x636f_7572_7371;

/// Members of the control group of a campaign running at $2, other than
/// $1, whose offer overlaps $1's: the same category ($3), or a course in
/// common.
const HELD_OUT_SQL: &str = "SELECT DISTINCT m.user_id FROM campaigns c \
     JOIN campaign_members m ON m.campaign_id = c.id \
     WHERE m.control AND c.id <> $1 AND c.created_ms <= $2 AND c.ends_ms > $2 \
     AND (c.offer_category = $3 OR EXISTS (SELECT 1 FROM campaign_offer_courses a \
          JOIN campaign_offer_courses b ON b.course_id = a.course_id \
          WHERE a.campaign_id = c.id AND b.campaign_id = $1))";

impl Store {
    /// Stores a campaign, the courses it offers (frozen) and its members in
    /// one transaction. The candidates (ranked learners) lose those in the
    /// control group of a running campaign for an overlapping offer; the
    /// rest are drawn into treatment or control by
    /// [`draw_members`] under `plan` (whose seed and control share must be
    /// the campaign's). When a campaign with the same
    /// `idempotency_key` committed first, nothing is written and that one
    /// is returned.
    pub async fn create_campaign(
        &self,
        c: &StoredCampaign,
        offer_courses: &[String],
        candidates: &[String],
        plan: &DrawPlan<'_>,
    ) -> sqlx::Result<CampaignCreation> {
        let outcome = on_pool!(self, p => guarded_tx!(p, tx => {
            if matches!(self, Store::Postgres(_)) {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CAMPAIGN_LOCK).execute(&mut *tx).await?;
            }
            let inserted = sqlx::query(
                "INSERT INTO campaigns (id, name, course_id, category, audience, discount_pct, control_share, \
                 seed, model_version, created_ms, ends_ms, offer_category, idempotency_key, request_hash, \
                 held_out_overlap, arms, targeting, budget_cents) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16, $17) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.course_id)
            .bind(&c.category)
            .bind(&c.audience)
            .bind(c.discount_pct)
            .bind(c.control_share)
            .bind(c.seed)
            .bind(c.model_version)
            .bind(c.created_ms)
            .bind(c.ends_ms)
            .bind(&c.offer_category)
            .bind(&c.idempotency_key)
            .bind(&c.request_hash)
            .bind(&c.arms)
            .bind(&c.targeting)
            .bind(c.budget_cents)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                // Another request with this key committed first.
                None
            } else {
                for chunk in offer_courses.chunks(MEMBERS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::new("INSERT INTO campaign_offer_courses (campaign_id, course_id) ");
                    qb.push_values(chunk, |mut b, course| {
                        b.push_bind(&c.id).push_bind(course);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                let held: HashSet<String> = sqlx::query_scalar(HELD_OUT_SQL)
                    .bind(&c.id)
                    .bind(c.created_ms)
                    .bind(&c.offer_category)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                let (members, held_out) = draw_members(candidates, &held, plan);
                if members.is_empty() {
                    for table in ["DELETE FROM campaign_offer_courses WHERE campaign_id = $1", "DELETE FROM campaigns WHERE id = $1"] {
                        sqlx::query(table).bind(&c.id).execute(&mut *tx).await?;
                    }
                }
                for chunk in members.chunks(MEMBERS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO campaign_members (campaign_id, user_id, control, arm, list_rank) ",
                    );
                    qb.push_values(chunk, |mut b, d| {
                        b.push_bind(&c.id)
                            .push_bind(&d.user)
                            .push_bind(d.control())
                            .push_bind(d.arm.map(|a| a as i32))
                            .push_bind(d.rank as i32);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE campaigns SET held_out_overlap = $2 WHERE id = $1")
                    .bind(&c.id)
                    .bind(held_out as i64)
                    .execute(&mut *tx)
                    .await?;
                Some((members, held_out))
            }
        }))?;
        match outcome {
            Some((members, _)) if members.is_empty() => Ok(CampaignCreation::Empty),
            Some((members, held_out_overlap)) => Ok(CampaignCreation::Created {
                members,
                held_out_overlap,
            }),
            None => {
                let key = c.idempotency_key.as_deref().unwrap_or_default();
                let first = self.campaign_by_idempotency_key(key).await?;
                Ok(CampaignCreation::Replay(Box::new(
                    first.ok_or(sqlx::Error::RowNotFound)?,
                )))
            }
        }
    }

    pub async fn campaign_by_idempotency_key(&self, key: &str) -> sqlx::Result<Option<StoredCampaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE idempotency_key = $1");
        on_pool!(self, p => sqlx::query_as(&sql).bind(key).fetch_optional(p).await)
    }

    pub async fn list_campaigns(&self) -> sqlx::Result<Vec<StoredCampaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_ms DESC, id");
        on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)
    }

    pub async fn get_campaign(&self, id: &str) -> sqlx::Result<Option<StoredCampaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)
    }

    /// Members now of each treated arm (`arms` of them) and of control.
    pub async fn campaign_arm_sizes(&self, id: &str, arms: usize) -> sqlx::Result<(Vec<u64>, u64)> {
        let rows: Vec<(bool, i32, i64)> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT control, COALESCE(arm, 0), COUNT(*) FROM campaign_members WHERE campaign_id = $1 \
                 GROUP BY control, COALESCE(arm, 0)",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        let mut treated = vec![0u64; arms.max(1)];
        let mut control = 0;
        for (is_control, arm, n) in rows {
            if is_control {
                control += n.max(0) as u64;
            } else if let Some(t) = treated.get_mut(arm.max(0) as usize) {
                *t += n.max(0) as u64;
            }
        }
        Ok((treated, control))
    }

    /// Every member of a campaign, by user id.
    pub async fn campaign_members(&self, id: &str) -> sqlx::Result<Vec<StoredMember>> {
        let rows: Vec<(String, bool, Option<i32>, Option<i32>)> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT user_id, control, arm, list_rank FROM campaign_members WHERE campaign_id = $1 ORDER BY user_id",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(user, control, arm, rank)| StoredMember {
                user,
                control,
                arm: arm.unwrap_or(0).max(0) as usize,
                rank: rank.map(|r| r.max(0) as u32),
            })
            .collect())
    }

    /// Campaigns whose window ended by `cutoff_ms`, latest first, at most `limit`.
    pub async fn ended_campaigns(&self, cutoff_ms: i64, limit: usize) -> sqlx::Result<Vec<StoredCampaign>> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE ends_ms <= $1 ORDER BY ends_ms DESC, id LIMIT $2"
        );
        on_pool!(self, p => sqlx::query_as(&sql).bind(cutoff_ms).bind(limit as i64).fetch_all(p).await)
    }

    /// Treatment members after `after` in user-id order, at most `limit`
    /// (`None`: all of them). Control members are never returned.
    pub async fn campaign_recipients(
        &self,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> sqlx::Result<Vec<String>> {
        on_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT user_id FROM campaign_members WHERE campaign_id = $1 AND NOT control \
                 AND user_id > $2 ORDER BY user_id LIMIT $3",
            )
            .bind(id)
            .bind(after.unwrap_or(""))
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(p)
            .await
        })
    }

    /// Every purchase and refund, by a member, of a course the campaign
    /// offered when it was created, before the start too (ownership as of
    /// the start decides whether a purchase in the window is a
    /// conversion), with the course's price in force at the event's time
    /// (the earliest known price when the event predates the history).
    /// Each offered course's history is cut into [from, next from)
    /// intervals (the first open to the past) and joined once, rather than
    /// looked up per event.
    pub async fn campaign_payments(&self, id: &str) -> sqlx::Result<Vec<PaymentRow>> {
        let rows: Vec<PaymentTuple> = on_pool!(self, p => {
            sqlx::query_as(
                "WITH prices AS (SELECT h.course_id, h.from_ms, h.price_cents, \
                   LEAD(h.from_ms) OVER (PARTITION BY h.course_id ORDER BY h.from_ms) AS to_ms, \
                   ROW_NUMBER() OVER (PARTITION BY h.course_id ORDER BY h.from_ms) AS n \
                   FROM course_prices h JOIN campaign_offer_courses q \
                   ON q.course_id = h.course_id AND q.campaign_id = $1) \
                 SELECT m.user_id, m.control, COALESCE(m.arm, 0), e.course_id, e.type, e.ts_ms, p.price_cents \
                 FROM campaign_members m JOIN events e ON e.user_id = m.user_id \
                 JOIN campaign_offer_courses o ON o.campaign_id = m.campaign_id AND o.course_id = e.course_id \
                 LEFT JOIN prices p ON p.course_id = e.course_id \
                   AND (e.ts_ms >= p.from_ms OR p.n = 1) AND (p.to_ms IS NULL OR e.ts_ms < p.to_ms) \
                 WHERE m.campaign_id = $1 AND e.type IN ('purchase', 'refund')",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(user, control, arm, course, kind, ts_ms, price)| {
                let kind = match kind.as_str() {
                    "purchase" => Payment::Purchase,
                    "refund" => Payment::Refund,
                    _ => return None,
                };
                Some(PaymentRow {
                    user,
                    control,
                    arm: arm.max(0) as usize,
                    course,
                    kind,
                    ts_ms,
                    price_cents: price.unwrap_or(0),
                })
            })
            .collect())
    }

    /// Per member with any: the distinct courses bought in [from_ms, to_ms)
    /// (the CUPED covariate of a report).
    pub async fn campaign_pre_period(
        &self,
        id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> sqlx::Result<Vec<Covariate>> {
        let rows: Vec<(String, bool, i64)> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT m.user_id, m.control, COUNT(DISTINCT e.course_id) \
                 FROM campaign_members m JOIN events e ON e.user_id = m.user_id \
                 WHERE m.campaign_id = $1 AND e.type = 'purchase' AND e.ts_ms >= $2 AND e.ts_ms < $3 \
                 GROUP BY m.user_id, m.control",
            )
            .bind(id)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(user, control, n)| Covariate {
                user,
                control,
                purchases: n.max(0) as u64,
            })
            .collect())
    }
}
