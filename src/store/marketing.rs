//! What marketing reads and writes: campaigns with their frozen members,
//! and the payments a campaign report counts.

use super::{on_pool, Store};

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
}

/// A purchase or refund of the offer by a member: (user, in control,
/// course, type, ts_ms, course price in cents).
pub type PaymentRow = (String, bool, String, String, i64, i64);

const CAMPAIGN_COLUMNS: &str = "id, name, course_id, category, audience, discount_pct, control_share, \
     seed, model_version, created_ms, ends_ms";

/// Rows per member insert statement (3 parameters each).
const MEMBERS_PER_STATEMENT: usize = 5_000;

impl Store {
    /// Stores a campaign and its members (user, in control) in one transaction.
    pub async fn create_campaign(&self, c: &StoredCampaign, members: &[(String, bool)]) -> sqlx::Result<()> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO campaigns (id, name, course_id, category, audience, discount_pct, control_share, \
                 seed, model_version, created_ms, ends_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
            .execute(&mut *tx)
            .await?;
            for chunk in members.chunks(MEMBERS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO campaign_members (campaign_id, user_id, control) ");
                qb.push_values(chunk, |mut b, (u, control)| {
                    b.push_bind(&c.id).push_bind(u).push_bind(*control);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn list_campaigns(&self) -> sqlx::Result<Vec<StoredCampaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_ms DESC, id");
        on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)
    }

    pub async fn get_campaign(&self, id: &str) -> sqlx::Result<Option<StoredCampaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)
    }

    /// Members now in (treatment, control); erased learners are gone.
    pub async fn campaign_sizes(&self, id: &str) -> sqlx::Result<(i64, i64)> {
        let rows: Vec<(bool, i64)> = on_pool!(self, p => {
            sqlx::query_as("SELECT control, COUNT(*) FROM campaign_members WHERE campaign_id = $1 GROUP BY control")
                .bind(id)
                .fetch_all(p)
                .await?
        });
        let of = |arm: bool| rows.iter().find(|r| r.0 == arm).map_or(0, |r| r.1);
        Ok((of(false), of(true)))
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

    /// Every purchase and refund of the campaign's offer by its members,
    /// before the start too (ownership as of the start decides whether a
    /// purchase in the window is a conversion), with the course's price.
    pub async fn campaign_payments(&self, c: &StoredCampaign) -> sqlx::Result<Vec<PaymentRow>> {
        let (offer_sql, offer) = match (&c.course_id, &c.category) {
            (Some(course), _) => ("e.course_id = $2", course.clone()),
            (None, Some(cat)) => ("k.category = $2", cat.clone()),
            (None, None) => ("$2 = $2", String::new()),
        };
        let sql = format!(
            "SELECT m.user_id, m.control, e.course_id, e.type, e.ts_ms, k.price_cents \
             FROM campaign_members m JOIN events e ON e.user_id = m.user_id \
             JOIN courses k ON k.id = e.course_id \
             WHERE m.campaign_id = $1 AND e.type IN ('purchase', 'refund') AND {offer_sql}"
        );
        on_pool!(self, p => {
            sqlx::query_as(&sql).bind(&c.id).bind(&offer).fetch_all(p).await
        })
    }
}
