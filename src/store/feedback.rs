//! Merchandising rules and the served-list log (slots and propensities)
//! that the off-policy estimate reads.

use serde::{Deserialize, Serialize};

use super::{guarded_tx, on_pool, Store};
use crate::exploration::snips::{LoggedList, LoggedSlot};
use crate::exploration::SlotKind;
use crate::rules::Rule;

/// Most served lists one off-policy estimate reads (the latest ones).
pub const MAX_LOGGED_LISTS: i64 = 200_000;

/// A served `/recommend` list as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedList {
    pub rec_id: String,
    pub user_id: String,
    pub ts_ms: i64,
    /// The exploration share it was served under.
    pub exploration: f64,
    /// Size of the exploration pool (0: nothing could be explored).
    pub pool_size: i32,
    pub strategy: String,
    pub items: Vec<ServedItem>,
}

/// One item of a served list, at its position (the array index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedItem {
    #[serde(rename = "c")]
    pub course_id: String,
    #[serde(rename = "k")]
    pub kind: SlotKind,
    #[serde(rename = "p")]
    pub propensity: f64,
}

/// A stored rule with its bookkeeping times.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub rule: Rule,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type RuleRow = (String, i64, i64);

fn rule_of(row: RuleRow) -> Option<StoredRule> {
    match serde_json::from_str(&row.0) {
        Ok(rule) => Some(StoredRule {
            rule,
            created_at_ms: row.1,
            updated_at_ms: row.2,
        }),
        Err(e) => {
            tracing::error!(error = %e, "a stored rule could not be read; it is ignored");
            None
        }
    }
}

/// (rec_id, course_id, type) of a click or a purchase not refunded since.
type Outcome = (String, String, String);

/// The SQL condition on `e` (an event) for an [`Outcome`].
const OUTCOME: &str = "(e.type = 'click' OR (e.type = 'purchase' AND NOT EXISTS (SELECT 1 FROM events r \
     WHERE r.user_id = e.user_id AND r.course_id = e.course_id AND r.type = 'refund' AND r.ts_ms >= e.ts_ms)))";

/// Each (tag, rec_id, pool size, items JSON) list with its slots marked
/// clicked or bought from the outcomes carrying its rec_id.
fn with_outcomes(lists: &[(String, String, i32, String)], outcomes: &[Outcome]) -> Vec<(String, LoggedList)> {
    let mut by_list: std::collections::HashMap<&str, Vec<(&str, bool)>> = std::collections::HashMap::new();
    for (rec, course, kind) in outcomes {
        by_list.entry(rec).or_default().push((course, kind == "purchase"));
    }
    lists
        .iter()
        .map(|(tag, rec, pool, items)| {
            let items: Vec<ServedItem> = serde_json::from_str(items).unwrap_or_default();
            let hits = by_list.get(rec.as_str());
            let did = |c: &str, buy: bool| hits.is_some_and(|h| h.iter().any(|&(hc, b)| hc == c && b == buy));
            let list = LoggedList {
                slots: items
                    .iter()
                    .map(|i| LoggedSlot {
                        kind: i.kind,
                        propensity: i.propensity,
                        clicked: did(&i.course_id, false),
                        purchased: did(&i.course_id, true),
                    })
                    .collect(),
                pool_size: (*pool).max(0) as usize,
            };
            (tag.clone(), list)
        })
        .collect()
}

impl Store {
    /// Creates or replaces a rule; true when it was created. Refuses (Ok
    /// false, nothing written) a new rule past `max_rules`.
    pub async fn put_rule(&self, rule: &Rule, now_ms: i64, max_rules: usize) -> sqlx::Result<Option<bool>> {
        let spec = serde_json::to_string(rule).expect("rules serialize");
        on_pool!(self, p => guarded_tx!(p, tx => {
            // A write first: SQLite takes the write lock now rather than
            // failing to upgrade a read lock while another writer holds it.
            let exists = sqlx::query("UPDATE rules SET updated_at_ms = updated_at_ms WHERE id = $1")
                .bind(&rule.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rules").fetch_one(&mut *tx).await?;
            if !exists && count as usize >= max_rules {
                None
            } else {
                sqlx::query(
                    "INSERT INTO rules (id, spec, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $3) \
                     ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&rule.id)
                .bind(&spec)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                Some(!exists)
            }
        }))
    }

    /// Every stored rule, by id.
    pub async fn list_rules(&self) -> sqlx::Result<Vec<StoredRule>> {
        let rows: Vec<RuleRow> = on_pool!(self, p => {
            sqlx::query_as("SELECT spec, created_at_ms, updated_at_ms FROM rules ORDER BY id").fetch_all(p).await
        })?;
        Ok(rows.into_iter().filter_map(rule_of).collect())
    }

    pub async fn get_rule(&self, id: &str) -> sqlx::Result<Option<StoredRule>> {
        let row: Option<RuleRow> = on_pool!(self, p => {
            sqlx::query_as("SELECT spec, created_at_ms, updated_at_ms FROM rules WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
        })?;
        Ok(row.and_then(rule_of))
    }

    /// Deletes a rule; true when it existed.
    pub async fn delete_rule(&self, id: &str) -> sqlx::Result<bool> {
        let n = on_pool!(self, p => {
            sqlx::query("DELETE FROM rules WHERE id = $1").bind(id).execute(p).await.map(|d| d.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// (count, latest update): changes whenever a rule is added, changed
    /// or deleted, so a replica's poll knows to reload.
    pub async fn rules_fingerprint(&self) -> sqlx::Result<(i64, i64)> {
        on_pool!(self, p => {
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(updated_at_ms), 0) FROM rules").fetch_one(p).await
        })
    }

    /// Logs served lists in one transaction.
    pub async fn insert_served_lists(&self, rows: &[ServedList]) -> sqlx::Result<()> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            for chunk in rows.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO served_lists (rec_id, user_id, ts_ms, exploration, pool_size, strategy, items) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(&r.rec_id)
                        .push_bind(&r.user_id)
                        .push_bind(r.ts_ms)
                        .push_bind(r.exploration)
                        .push_bind(r.pool_size)
                        .push_bind(&r.strategy)
                        .push_bind(serde_json::to_string(&r.items).expect("items serialize"));
                });
                qb.push(" ON CONFLICT (rec_id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
        }))
    }

    /// The latest served lists since `since_ms` (at most
    /// [`MAX_LOGGED_LISTS`]), each slot with whether its course was
    /// clicked and bought (net of refunds) by the learner from that list
    /// (the event's `rec_id`): the off-policy estimate's input.
    pub async fn logged_lists(&self, since_ms: i64) -> sqlx::Result<Vec<LoggedList>> {
        type ListRow = (String, String, i32, String);
        let lists: Vec<ListRow> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT '', rec_id, pool_size, items FROM served_lists WHERE ts_ms >= $1 \
                 ORDER BY ts_ms DESC LIMIT $2",
            )
            .bind(since_ms)
            .bind(MAX_LOGGED_LISTS)
            .fetch_all(p)
            .await
        })?;
        let outcomes: Vec<Outcome> = on_pool!(self, p => {
            sqlx::query_as(&format!(
                "SELECT e.rec_id, e.course_id, e.type FROM events e \
                 JOIN served_lists s ON s.rec_id = e.rec_id AND s.user_id = e.user_id \
                 WHERE s.ts_ms >= $1 AND {OUTCOME}"
            ))
            .bind(since_ms)
            .fetch_all(p)
            .await
        })?;
        Ok(with_outcomes(&lists, &outcomes)
            .into_iter()
            .map(|l| l.1)
            .collect())
    }

    /// The served lists of an experiment (at most [`MAX_LOGGED_LISTS`]),
    /// each with its variant and outcomes, as [`Store::logged_lists`].
    pub async fn experiment_lists(&self, experiment_id: &str) -> sqlx::Result<Vec<(String, LoggedList)>> {
        type ListRow = (String, String, i32, String);
        let lists: Vec<ListRow> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT i.variant, s.rec_id, s.pool_size, s.items FROM served_lists s \
                 JOIN impressions i ON i.rec_id = s.rec_id WHERE i.experiment_id = $1 LIMIT $2",
            )
            .bind(experiment_id)
            .bind(MAX_LOGGED_LISTS)
            .fetch_all(p)
            .await
        })?;
        let outcomes: Vec<Outcome> = on_pool!(self, p => {
            sqlx::query_as(&format!(
                "SELECT e.rec_id, e.course_id, e.type FROM events e \
                 JOIN impressions i ON i.rec_id = e.rec_id AND i.user_id = e.user_id \
                 WHERE i.experiment_id = $1 AND {OUTCOME}"
            ))
            .bind(experiment_id)
            .fetch_all(p)
            .await
        })?;
        Ok(with_outcomes(&lists, &outcomes))
    }

    /// Deletes served lists older than `before_ms`; how many.
    pub async fn expire_served_lists(&self, before_ms: i64) -> sqlx::Result<u64> {
        on_pool!(self, p => {
            sqlx::query("DELETE FROM served_lists WHERE ts_ms < $1")
                .bind(before_ms)
                .execute(p)
                .await
                .map(|d| d.rows_affected())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_logged_compactly() {
        let i = ServedItem {
            course_id: "c1".into(),
            kind: SlotKind::Explored,
            propensity: 0.01,
        };
        assert_eq!(
            serde_json::to_string(&[i]).unwrap(),
            r#"[{"c":"c1","k":"explored","p":0.01}]"#
        );
    }
}
