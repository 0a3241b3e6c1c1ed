//! Courses and user attributes.

use super::{guarded_tx, now_ms, on_pool, Store};
use crate::domain::id_hash::ErasureKey;
use crate::domain::{Course, Level, UserAttrs};

type CourseRow = (String, String, String, String, String, i64, bool, String);

const COURSE_COLUMNS: &str = "id, title, category, tags, level, price_cents, active, prerequisites";

fn course_from_row(r: CourseRow) -> Course {
    Course {
        id: r.0,
        title: r.1,
        category: r.2,
        tags: serde_json::from_str(&r.3).unwrap_or_default(),
        level: Level::parse(&r.4).unwrap_or(Level::Beginner),
        price_cents: r.5,
        active: r.6,
        prerequisites: serde_json::from_str(&r.7).unwrap_or_default(),
    }
}

// Insert, and update only when the insert found the id taken: whether a
// course is new comes from the row count, not from timestamps (two writes
// in one millisecond looked like a creation).
const INSERT_COURSE: &str =
    "INSERT INTO courses (id, title, category, tags, level, price_cents, active, created_ms, updated_ms, prerequisites) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) ON CONFLICT (id) DO NOTHING";
const UPDATE_COURSE: &str = "UPDATE courses SET title = $2, category = $3, tags = $4, level = $5, \
     price_cents = $6, active = $7, updated_ms = $8, prerequisites = $9 WHERE id = $1";
// A price change starts a new row of the course's price history (campaign
// reports value each conversion at the price of its time).
const RECORD_PRICE: &str = "INSERT INTO course_prices (course_id, from_ms, price_cents) \
     SELECT $1, $2, $3 WHERE COALESCE((SELECT price_cents FROM course_prices WHERE course_id = $1 \
     ORDER BY from_ms DESC LIMIT 1), -1) <> $3 \
     ON CONFLICT (course_id, from_ms) DO UPDATE SET price_cents = excluded.price_cents";

impl Store {
    /// Creates or replaces courses in one transaction; returns, per course,
    /// whether it was new.
    pub async fn upsert_courses(&self, courses: &[Course]) -> sqlx::Result<Vec<bool>> {
        let now = now_ms();
        on_pool!(self, p => guarded_tx!(p, tx => {
            let mut created = Vec::with_capacity(courses.len());
            for c in courses {
                let tags = serde_json::to_string(&c.tags).expect("strings serialize");
                let prerequisites = serde_json::to_string(&c.prerequisites).expect("strings serialize");
                let mut new = true;
                for sql in [INSERT_COURSE, UPDATE_COURSE] {
                    let done = sqlx::query(sql)
                        .bind(&c.id)
                        .bind(&c.title)
                        .bind(&c.category)
                        .bind(&tags)
                        .bind(c.level.as_str())
                        .bind(c.price_cents)
                        .bind(c.active)
                        .bind(now)
                        .bind(&prerequisites)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 1 {
                        break;
                    }
                    new = false;
                }
                sqlx::query(RECORD_PRICE)
                    .bind(&c.id)
                    .bind(now)
                    .bind(c.price_cents)
                    .execute(&mut *tx)
                    .await?;
                created.push(new);
            }
            created
        }))
    }

    /// Every course's prerequisites (id → ids), for the cycle check.
    pub async fn prerequisite_graph(&self) -> sqlx::Result<std::collections::HashMap<String, Vec<String>>> {
        on_pool!(self, p => {
            let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, prerequisites FROM courses WHERE prerequisites <> '[]'")
                .fetch_all(p)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(id, p)| (id, serde_json::from_str(&p).unwrap_or_default()))
                .collect())
        })
    }

    pub async fn get_course(&self, id: &str) -> sqlx::Result<Option<Course>> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1");
        on_pool!(self, p => {
            let row: Option<CourseRow> = sqlx::query_as(&sql).bind(id).fetch_optional(p).await?;
            Ok(row.map(course_from_row))
        })
    }

    /// A cheap fingerprint of the catalog (row count, latest update): it
    /// changes with every upsert and delete.
    pub async fn catalog_fingerprint(&self) -> sqlx::Result<(i64, i64)> {
        on_pool!(self, p => {
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(updated_ms), 0) FROM courses").fetch_one(p).await
        })
    }

    /// Hashes of users erased after erasure number `seq`, and the highest
    /// number seen.
    pub async fn erasures_since(&self, seq: i64) -> sqlx::Result<(Vec<i64>, i64)> {
        let rows: Vec<(i64, i64)> = on_pool!(self, p => {
            sqlx::query_as("SELECT seq, user_hash FROM erasures WHERE seq > $1 AND keyed").bind(seq).fetch_all(p).await
        })?;
        let high = rows.iter().map(|r| r.0).max().unwrap_or(seq);
        Ok((rows.into_iter().map(|r| r.1).collect(), high))
    }

    /// Hashes of users erased at or after `ms`.
    pub async fn erasures_after_ms(&self, ms: i64) -> sqlx::Result<Vec<i64>> {
        on_pool!(self, p => {
            sqlx::query_scalar("SELECT user_hash FROM erasures WHERE erased_ms >= $1 AND keyed").bind(ms).fetch_all(p).await
        })
    }

    pub async fn list_courses(&self) -> sqlx::Result<Vec<Course>> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses ORDER BY id");
        on_pool!(self, p => {
            let rows: Vec<CourseRow> = sqlx::query_as(&sql).fetch_all(p).await?;
            Ok(rows.into_iter().map(course_from_row).collect())
        })
    }

    /// The catalog, newest course first (ties by id): popularity ties,
    /// such as courses nobody has touched yet, then favour new courses.
    pub async fn list_courses_newest_first(&self) -> sqlx::Result<Vec<Course>> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses ORDER BY created_ms DESC, id");
        on_pool!(self, p => {
            let rows: Vec<CourseRow> = sqlx::query_as(&sql).fetch_all(p).await?;
            Ok(rows.into_iter().map(course_from_row).collect())
        })
    }

    /// Removes a course from the catalog; its events stay in the log.
    pub async fn delete_course(&self, id: &str) -> sqlx::Result<bool> {
        on_pool!(self, p => guarded_tx!(p, tx => {
            let r = sqlx::query("DELETE FROM courses WHERE id = $1").bind(id).execute(&mut *tx).await?;
            r.rows_affected() > 0
        }))
    }

    pub async fn put_user(&self, id: &str, attrs: &UserAttrs) -> sqlx::Result<()> {
        self.put_users(&[(id.to_string(), attrs.clone())]).await
    }

    /// Creates or replaces user attributes in one transaction.
    pub async fn put_users(&self, users: &[(String, UserAttrs)]) -> sqlx::Result<()> {
        let now = now_ms();
        on_pool!(self, p => guarded_tx!(p, tx => {
            for (id, attrs) in users {
                sqlx::query(
                    "INSERT INTO users (id, interests, level, updated_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET interests = excluded.interests, level = excluded.level, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(id)
                .bind(serde_json::to_string(&attrs.interests).expect("strings serialize"))
                .bind(attrs.level.map(Level::as_str))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }))
    }

    pub async fn get_user(&self, id: &str) -> sqlx::Result<Option<UserAttrs>> {
        on_pool!(self, p => {
            let row: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT interests, level FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(p)
                    .await?;
            Ok(row.map(|(interests, level)| UserAttrs {
                interests: serde_json::from_str(&interests).unwrap_or_default(),
                level: level.as_deref().and_then(Level::parse),
            }))
        })
    }

    /// Deletes the experiment impressions and served lists of every stored
    /// form of `id`.
    pub async fn delete_impressions_of(&self, id: &str) -> sqlx::Result<()> {
        for form in crate::domain::id_forms(id) {
            on_pool!(self, p => sqlx::query("DELETE FROM impressions WHERE user_id = $1").bind(&form).execute(p).await.map(|_| ()))?;
            on_pool!(self, p => sqlx::query("DELETE FROM served_lists WHERE user_id = $1").bind(&form).execute(p).await.map(|_| ()))?;
        }
        Ok(())
    }

    /// Erases a user's events (raw and rolled up) and attributes in one transaction, recording
    /// the keyed hash of the id. Returns whether anything was there.
    pub async fn delete_user(&self, id: &str, key: &ErasureKey) -> sqlx::Result<bool> {
        // Postgres keeps event ids apart from the partitioned log.
        let claimed_ids = matches!(self, Store::Postgres(_)).then_some(
            "DELETE FROM event_ids WHERE event_id IN \
             (SELECT event_id FROM events WHERE user_id = $1 AND event_id IS NOT NULL)",
        );
        // Every stored spelling of the person (rows from before ids were
        // normalised at the edge may hold a decomposed one).
        let forms = crate::domain::id_forms(id);
        on_pool!(self, p => guarded_tx!(p, tx => {
            // Queues behind a running compaction, which could write the
            // learner's cells back (see `rollup`).
            sqlx::query("UPDATE rollup_state SET seq = seq WHERE id = 1").execute(&mut *tx).await?;
            let mut erased = 0;
            for id in &forms {
                if let Some(sql) = claimed_ids {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                let events = sqlx::query("DELETE FROM events WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                let cells = sqlx::query(
                    "DELETE FROM event_days WHERE learner_key = (SELECT key FROM learner_keys WHERE id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM learner_keys WHERE id = $1").bind(id).execute(&mut *tx).await?;
                let attrs = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM impressions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM served_lists WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM campaign_members WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO erasures (user_hash, erased_ms, keyed) VALUES ($1, $2, TRUE)")
                    .bind(key.hash(id))
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                erased += events.rows_affected() + cells.rows_affected() + attrs.rows_affected();
            }
            erased > 0
        }))
    }
}
