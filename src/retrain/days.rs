//! The training's view of the event log: rollup cells (one per learner,
//! course, event type and UTC day) keyed by dense indices, so each cell
//! costs 36 bytes and no `String`; each text id is read once, from the
//! store's key tables, and the few cells after the watermark are interned.
//! Recommender aggregates and the marketing histories are both derived
//! from it.

use std::collections::HashMap;

use rayon::slice::ParallelSliceMut;

use crate::domain::{AggView, EventType, DAY_MS};
use crate::store::{DayCell, DaySink, KeyedCell};

/// One cell with interned ids; times are offsets within `day`, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub user: u32,
    pub course: u32,
    pub kind: EventType,
    /// Days since the Unix epoch.
    pub day: i32,
    pub count: u32,
    pub value_max: f32,
    pub value_sum: f32,
    first_ms: i32,
    last_ms: i32,
}

impl Cell {
    pub fn first_ts_ms(&self) -> i64 {
        i64::from(self.day) * DAY_MS + i64::from(self.first_ms)
    }

    pub fn last_ts_ms(&self) -> i64 {
        i64::from(self.day) * DAY_MS + i64::from(self.last_ms)
    }

    fn key(&self) -> (u32, u32, usize, i32) {
        (self.user, self.course, self.kind.index(), self.day)
    }

    /// Adds `other`, a second part of the same cell.
    fn absorb(&mut self, other: &Cell) {
        self.count += other.count;
        self.value_sum += other.value_sum;
        self.value_max = self.value_max.max(other.value_max);
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

/// Every cell of the log, interned; call [`DayData::finish`] after the last push.
#[derive(Debug, Default)]
pub struct DayData {
    users: HashMap<String, u32>,
    pub user_ids: Vec<String>,
    courses: HashMap<String, u32>,
    pub course_ids: Vec<String>,
    /// Store key → dense index (`u32::MAX` for a key not seen).
    by_learner_key: Vec<u32>,
    by_course_key: Vec<u32>,
    /// After `finish`: sorted by (user, course, type, day), one per cell.
    pub rows: Vec<Cell>,
}

fn intern(id: String, index: &mut HashMap<String, u32>, ids: &mut Vec<String>) -> u32 {
    if let Some(&i) = index.get(&id) {
        return i;
    }
    let i = ids.len() as u32;
    ids.push(id.clone());
    index.insert(id, i);
    i
}

/// Records that store key `key` is dense index `index`.
fn map_key(key: i32, index: u32, map: &mut Vec<u32>) {
    let Ok(k) = usize::try_from(key) else {
        return;
    };
    if map.len() <= k {
        map.resize(k + 1, u32::MAX);
    }
    map[k] = index;
}

fn lookup(key: i32, map: &[u32]) -> Option<u32> {
    let i = *map.get(usize::try_from(key).ok()?)?;
    (i != u32::MAX).then_some(i)
}

impl DaySink for DayData {
    fn learner(&mut self, key: i32, id: String) {
        let i = intern(id, &mut self.users, &mut self.user_ids);
        map_key(key, i, &mut self.by_learner_key);
    }

    fn course(&mut self, key: i32, id: String) {
        let i = intern(id, &mut self.courses, &mut self.course_ids);
        map_key(key, i, &mut self.by_course_key);
    }

    /// Unknown event types and keys are skipped.
    fn cell(&mut self, r: KeyedCell) {
        let (Some(user), Some(course), Some(kind)) = (
            lookup(r.learner_key, &self.by_learner_key),
            lookup(r.course_key, &self.by_course_key),
            usize::try_from(r.kind).ok().and_then(EventType::from_index),
        ) else {
            return;
        };
        let base = i64::from(r.day) * DAY_MS;
        self.rows.push(Cell {
            user,
            course,
            kind,
            day: r.day,
            count: r.n as u32,
            value_max: r.value_max as f32,
            value_sum: r.value_sum as f32,
            first_ms: (r.first_ts_ms - base) as i32,
            last_ms: (r.last_ts_ms - base) as i32,
        });
    }

    fn tail(&mut self, r: DayCell) {
        self.push(r);
    }
}

impl DayData {
    /// The cells of `events` (one per event, merged by [`DayData::finish`]),
    /// as if read from a store: for examples and benchmarks that start
    /// from generated events.
    pub fn from_events(events: &[crate::domain::Event]) -> DayData {
        let mut d = DayData::default();
        for e in events {
            d.push(DayCell {
                user_id: e.user_id.clone(),
                course_id: e.course_id.clone(),
                kind: e.kind.as_str().to_string(),
                day: e.ts_ms.div_euclid(DAY_MS),
                n: 1,
                value_sum: e.value.unwrap_or(0.0),
                value_max: e.value.unwrap_or(0.0),
                first_ts_ms: e.ts_ms,
                last_ts_ms: e.ts_ms,
            });
        }
        d.finish();
        d
    }

    /// Adds one cell with text ids; unknown event types are skipped.
    pub fn push(&mut self, r: DayCell) {
        let Some(kind) = EventType::parse(&r.kind) else {
            return;
        };
        let base = r.day * DAY_MS;
        let user = intern(r.user_id, &mut self.users, &mut self.user_ids);
        let course = intern(r.course_id, &mut self.courses, &mut self.course_ids);
        self.rows.push(Cell {
            user,
            course,
            kind,
            day: r.day as i32,
            count: r.n as u32,
            value_max: r.value_max as f32,
            value_sum: r.value_sum as f32,
            first_ms: (r.first_ts_ms - base) as i32,
            last_ms: (r.last_ts_ms - base) as i32,
        });
    }

    /// Sorts the cells and merges the parts of one cell (the rollup's and
    /// the unrolled tail's); drops the id lookups, which are no longer needed.
    pub fn finish(&mut self) {
        // Millions of cells at scale: sorted on the rayon pool.
        self.rows.par_sort_unstable_by_key(Cell::key);
        self.rows.dedup_by(|later, kept| {
            if later.key() == kept.key() {
                kept.absorb(later);
                true
            } else {
                false
            }
        });
        // Growth by doubling can leave up to half the capacity unused.
        self.rows.shrink_to_fit();
        self.users = HashMap::new();
        self.courses = HashMap::new();
        self.by_learner_key = Vec::new();
        self.by_course_key = Vec::new();
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Events in the log (the sum of the cells' counts).
    pub fn n_events(&self) -> i64 {
        self.rows.iter().map(|c| i64::from(c.count)).sum()
    }

    /// Per (user, course, type) sums over all days, as of `now_ms`, in
    /// (user, course, type) order, computed as they are read (nothing is
    /// stored). The 30- and 90-day counts take a cell whole when its last
    /// event is inside the window, so on the boundary day they count by
    /// day, not by millisecond. Needs [`DayData::finish`] first.
    pub fn aggregates(&self, now_ms: i64) -> Aggregates<'_> {
        Aggregates {
            data: self,
            at: 0,
            now_ms,
        }
    }
}

/// The iterator of [`DayData::aggregates`].
#[derive(Clone)]
pub struct Aggregates<'a> {
    data: &'a DayData,
    at: usize,
    now_ms: i64,
}

impl<'a> Iterator for Aggregates<'a> {
    type Item = AggView<'a>;

    fn next(&mut self) -> Option<AggView<'a>> {
        let rows = &self.data.rows;
        let first = rows.get(self.at)?;
        let mut a = AggView {
            user_id: &self.data.user_ids[first.user as usize],
            course_id: &self.data.course_ids[first.course as usize],
            kind: first.kind,
            count: 0,
            value_sum: 0.0,
            value_max: 0.0,
            first_ts_ms: i64::MAX,
            last_ts_ms: i64::MIN,
            count_30d: 0,
            count_90d: 0,
        };
        let key = (first.user, first.course, first.kind);
        for c in rows[self.at..]
            .iter()
            .take_while(|c| (c.user, c.course, c.kind) == key)
        {
            self.at += 1;
            a.count += c.count;
            a.value_sum += f64::from(c.value_sum);
            a.value_max = a.value_max.max(f64::from(c.value_max));
            a.first_ts_ms = a.first_ts_ms.min(c.first_ts_ms());
            a.last_ts_ms = a.last_ts_ms.max(c.last_ts_ms());
            if c.last_ts_ms() > self.now_ms - 30 * DAY_MS {
                a.count_30d += c.count;
            }
            if c.last_ts_ms() > self.now_ms - 90 * DAY_MS {
                a.count_90d += c.count;
            }
        }
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(user: &str, kind: &str, day: i64, n: i64, value: f64, first: i64, last: i64) -> DayCell {
        DayCell {
            user_id: user.into(),
            course_id: "c".into(),
            kind: kind.into(),
            day,
            n,
            value_sum: value * n as f64,
            value_max: value,
            first_ts_ms: day * DAY_MS + first,
            last_ts_ms: day * DAY_MS + last,
        }
    }

    #[test]
    fn two_parts_of_a_cell_merge_and_days_sum_into_one_aggregate() {
        let mut d = DayData::default();
        d.push(cell("u", "watch", 10, 2, 0.5, 100, 200));
        d.push(cell("u", "watch", 100, 1, 0.9, 5, 5));
        d.push(cell("u", "watch", 10, 1, 0.25, 50, 300)); // tail part of day 10
        d.push(cell("v", "view", 100, 3, 0.0, 0, 10));
        d.push(cell("u", "nonsense", 100, 3, 0.0, 0, 10));
        d.finish();
        assert_eq!(d.len(), 3);
        assert_eq!(d.n_events(), 7);
        let day10 = d.rows[0];
        assert_eq!((day10.day, day10.count), (10, 3));
        assert_eq!(day10.first_ts_ms(), 10 * DAY_MS + 50);
        assert_eq!(day10.last_ts_ms(), 10 * DAY_MS + 300);
        assert!((day10.value_sum - 1.25).abs() < 1e-6);

        let now = 101 * DAY_MS;
        let aggs: Vec<AggView> = d.aggregates(now).collect();
        assert_eq!(aggs.len(), 2);
        let u = &aggs[0];
        assert_eq!((u.user_id, u.kind, u.count), ("u", EventType::Watch, 4));
        assert!((u.value_sum - 2.15).abs() < 1e-6, "{}", u.value_sum);
        assert!((u.value_max - 0.9).abs() < 1e-6);
        assert_eq!(u.first_ts_ms, 10 * DAY_MS + 50);
        assert_eq!(u.last_ts_ms, 100 * DAY_MS + 5);
        // Day 10 is 91 days back: outside both windows.
        assert_eq!((u.count_30d, u.count_90d), (1, 1));
        assert_eq!((aggs[1].user_id, aggs[1].count), ("v", 3));
    }

    #[test]
    fn keyed_cells_join_the_tail_of_the_same_learner() {
        let mut d = DayData::default();
        d.learner(7, "u".into());
        d.learner(2, "v".into());
        d.course(3, "c".into());
        let keyed = |learner_key, kind: EventType, n| KeyedCell {
            learner_key,
            course_key: 3,
            kind: kind.index() as i16,
            day: 10,
            n,
            value_sum: 0.0,
            value_max: 0.0,
            first_ts_ms: 10 * DAY_MS + 100,
            last_ts_ms: 10 * DAY_MS + 200,
        };
        d.cell(keyed(7, EventType::View, 2));
        d.cell(keyed(2, EventType::Purchase, 1));
        d.cell(keyed(99, EventType::View, 5)); // no such key: skipped
        d.tail(cell("u", "view", 10, 1, 0.0, 50, 50));
        d.finish();
        assert_eq!(d.len(), 2);
        assert_eq!(d.n_events(), 4);
        let u = d
            .rows
            .iter()
            .find(|c| d.user_ids[c.user as usize] == "u")
            .unwrap();
        assert_eq!(
            (u.kind, u.count, u.first_ts_ms()),
            (EventType::View, 3, 10 * DAY_MS + 50)
        );
        let v = d
            .rows
            .iter()
            .find(|c| d.user_ids[c.user as usize] == "v")
            .unwrap();
        assert_eq!(
            (v.kind, d.course_ids[v.course as usize].as_str()),
            (EventType::Purchase, "c")
        );
    }

    #[test]
    fn times_before_1970_survive_the_day_offsets() {
        let mut d = DayData::default();
        // Truncating division puts -1 ms on day 0 with a negative offset.
        d.push(cell("u", "view", 0, 1, 0.0, -1, -1));
        d.finish();
        assert_eq!(d.rows[0].first_ts_ms(), -1);
    }
}
