//! The columns of the interactions file, one row per (learner, course) pair
//! of the training, built batch by batch.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, UInt32Array, UInt8Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use crate::domain::{AggView, EventType};
use crate::model::{AlsParams, Interactions};

/// Counts and time span of one pair, over its events of every type.
#[derive(Debug, Clone, Copy)]
pub(super) struct PairAgg {
    pub counts: [u32; EventType::ALL.len()],
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
}

impl Default for PairAgg {
    fn default() -> Self {
        PairAgg {
            counts: [0; EventType::ALL.len()],
            first_ts_ms: i64::MAX,
            last_ts_ms: i64::MIN,
        }
    }
}

/// The file's schema: ids, dense indices, confidence, preference, taken,
/// time span and one `n_<type>` count per event type. No column is nullable.
pub(super) fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("course_id", DataType::Utf8, false),
        Field::new("user_index", DataType::UInt32, false),
        Field::new("course_index", DataType::UInt32, false),
        Field::new("weight", DataType::Float32, false),
        Field::new("confidence", DataType::Float32, false),
        Field::new("preference", DataType::UInt8, false),
        Field::new("taken", DataType::Boolean, false),
        Field::new("holdout", DataType::Boolean, false),
        Field::new("first_ts_ms", DataType::Int64, false),
        Field::new("last_ts_ms", DataType::Int64, false),
    ];
    for &t in EventType::ALL {
        fields.push(Field::new(format!("n_{}", t.as_str()), DataType::UInt32, false));
    }
    Arc::new(Schema::new(fields))
}

/// The per-pair counts of `aggs`, aligned with `inter.entries`. Aggregates
/// of pairs the training left out (no weight, not taken) are skipped.
pub(super) fn pair_aggs<'a>(
    inter: &Interactions,
    aggs: impl IntoIterator<Item = AggView<'a>>,
) -> Vec<PairAgg> {
    let mut out = vec![PairAgg::default(); inter.entries.len()];
    for a in aggs {
        let (Some(&u), Some(&c)) = (
            inter.user_index.get(a.user_id),
            inter.course_index.get(a.course_id),
        ) else {
            continue;
        };
        let Ok(at) = inter
            .entries
            .binary_search_by_key(&(u, c), |e| (e.user, e.course))
        else {
            continue;
        };
        let p = &mut out[at];
        p.counts[a.kind.index()] += a.count;
        p.first_ts_ms = p.first_ts_ms.min(a.first_ts_ms);
        p.last_ts_ms = p.last_ts_ms.max(a.last_ts_ms);
    }
    out
}

/// Which of `inter.entries` the training's gate holds out (see
/// [`crate::retrain::pipeline::holdout_split`]), aligned with them.
pub(super) fn holdout_rows(inter: &Interactions, test: &[(u32, Vec<u32>)]) -> Vec<bool> {
    let mut out = vec![false; inter.entries.len()];
    for (user, courses) in test {
        for c in courses {
            if let Ok(at) = inter
                .entries
                .binary_search_by_key(&(*user, *c), |e| (e.user, e.course))
            {
                out[at] = true;
            }
        }
    }
    out
}

/// Rows `range` of `inter.entries` as one record batch of [`schema`].
/// `confidence` is `1 + alpha·f(weight)` as the fit uses it, 1 when the
/// pair has no positive weight (preference 0).
pub(super) fn batch(
    schema: &SchemaRef,
    inter: &Interactions,
    pairs: &[PairAgg],
    holdout: &[bool],
    range: Range<usize>,
    params: &AlsParams,
) -> Result<RecordBatch, ArrowError> {
    let entries = &inter.entries[range.clone()];
    let holdout = &holdout[range.clone()];
    let pairs = &pairs[range];
    let positive = |w: f32| w > 0.0;
    let mut cols: Vec<ArrayRef> = vec![
        strings(entries.iter().map(|e| inter.users[e.user as usize].as_str())),
        strings(entries.iter().map(|e| inter.courses[e.course as usize].as_str())),
        Arc::new(UInt32Array::from_iter_values(entries.iter().map(|e| e.user))),
        Arc::new(UInt32Array::from_iter_values(entries.iter().map(|e| e.course))),
        Arc::new(Float32Array::from_iter_values(entries.iter().map(|e| e.weight))),
        Arc::new(Float32Array::from_iter_values(entries.iter().map(|e| {
            if positive(e.weight) {
                1.0 + params.confidence_minus_one(e.weight)
            } else {
                1.0
            }
        }))),
        Arc::new(UInt8Array::from_iter_values(
            entries.iter().map(|e| u8::from(positive(e.weight))),
        )),
        Arc::new(BooleanArray::from_iter(entries.iter().map(|e| Some(e.taken)))),
        Arc::new(BooleanArray::from_iter(holdout.iter().map(|&h| Some(h)))),
        Arc::new(Int64Array::from_iter_values(pairs.iter().map(|p| p.first_ts_ms))),
        Arc::new(Int64Array::from_iter_values(pairs.iter().map(|p| p.last_ts_ms))),
    ];
    for &t in EventType::ALL {
        cols.push(Arc::new(UInt32Array::from_iter_values(
            pairs.iter().map(|p| p.counts[t.index()]),
        )));
    }
    RecordBatch::try_new(schema.clone(), cols)
}

fn strings<'a>(values: impl ExactSizeIterator<Item = &'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(values.len(), values.len() * 12);
    for v in values {
        b.append_value(v);
    }
    Arc::new(b.finish())
}
