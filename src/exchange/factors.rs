//! Factor files: Parquet with `id` (utf8) and `factors` (list<float32>,
//! every row the same length), one row per learner or course. Read and
//! validated in full before anything else happens.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

/// Factors read from one file: row `i` of `data` (`k` values) is `ids[i]`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorTable {
    pub ids: Vec<String>,
    pub k: usize,
    /// `ids.len() × k`, row-major.
    pub data: Vec<f32>,
}

impl FactorTable {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.k..(i + 1) * self.k]
    }
}

/// What is wrong with a factor file's content.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("no column `{0}`")]
    MissingColumn(&'static str),
    #[error("column `{column}` is {found}, expected {expected}")]
    WrongType {
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("no rows")]
    Empty,
    #[error("row {row}: null id or factors")]
    Null { row: usize },
    #[error("row {row} (`{id}`): no factors")]
    NoFactors { row: usize, id: String },
    #[error("row {row} (`{id}`): {len} factors where the first row has {k}")]
    Ragged {
        row: usize,
        id: String,
        len: usize,
        k: usize,
    },
    #[error("row {row} (`{id}`): factor {index} is not finite")]
    NonFinite { row: usize, id: String, index: usize },
    #[error("id `{id}` appears twice (rows {first} and {row})")]
    Duplicate { id: String, first: usize, row: usize },
}

/// Why a factor file was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum FactorFileError {
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: Problem },
    #[error("{path}: not a readable Parquet file: {error}")]
    Unreadable { path: PathBuf, error: String },
    #[error("learner factors have {users} dimensions, course factors {courses}")]
    Dimensions { users: usize, courses: usize },
}

/// Builds a [`FactorTable`] row by row, refusing what would make it invalid.
#[derive(Debug, Default)]
pub struct TableBuilder {
    ids: Vec<String>,
    seen: HashMap<String, usize>,
    k: Option<usize>,
    data: Vec<f32>,
}

impl TableBuilder {
    /// Appends row `ids.len()`: `id` must be new, `values` non-empty, finite
    /// and as long as the first row's. Ids are compared in NFC, as at the
    /// service's edge, so two spellings of one id are a duplicate.
    pub fn push(&mut self, id: &str, values: &[f32]) -> Result<(), Problem> {
        let id = &*crate::domain::nfc(id);
        let row = self.ids.len();
        let k = *self.k.get_or_insert(values.len());
        if values.is_empty() {
            return Err(Problem::NoFactors { row, id: id.into() });
        }
        if values.len() != k {
            let (id, len) = (id.into(), values.len());
            return Err(Problem::Ragged { row, id, len, k });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(Problem::NonFinite {
                row,
                id: id.into(),
                index,
            });
        }
        if let Some(&first) = self.seen.get(id) {
            return Err(Problem::Duplicate {
                id: id.into(),
                first,
                row,
            });
        }
        self.seen.insert(id.to_owned(), row);
        self.ids.push(id.to_owned());
        self.data.extend_from_slice(values);
        Ok(())
    }

    /// The table; at least one row.
    pub fn finish(self) -> Result<FactorTable, Problem> {
        match self.k {
            Some(k) if !self.ids.is_empty() => Ok(FactorTable {
                ids: self.ids,
                k,
                data: self.data,
            }),
            _ => Err(Problem::Empty),
        }
    }
}

/// Reads and validates a factor file. `factors` may be `list<float32>` or
/// `fixed_size_list<float32>`; other columns are ignored.
pub fn read(path: &Path) -> Result<FactorTable, FactorFileError> {
    let unreadable = |e: &dyn std::fmt::Display| FactorFileError::Unreadable {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let invalid = |problem| FactorFileError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let file = File::open(path).map_err(|e| unreadable(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    check_schema(builder.schema()).map_err(invalid)?;
    let mut table = TableBuilder::default();
    for batch in builder.build().map_err(|e| unreadable(&e))? {
        let batch = batch.map_err(|e| unreadable(&e))?;
        push_batch(&mut table, &batch).map_err(invalid)?;
    }
    table.finish().map_err(invalid)
}

fn check_schema(schema: &Schema) -> Result<(), Problem> {
    let id = schema
        .field_with_name("id")
        .map_err(|_| Problem::MissingColumn("id"))?;
    if id.data_type() != &DataType::Utf8 {
        return Err(Problem::WrongType {
            column: "id",
            found: id.data_type().to_string(),
            expected: "utf8",
        });
    }
    let f = schema
        .field_with_name("factors")
        .map_err(|_| Problem::MissingColumn("factors"))?;
    let ok = match f.data_type() {
        DataType::List(inner) | DataType::FixedSizeList(inner, _) => inner.data_type() == &DataType::Float32,
        _ => false,
    };
    if !ok {
        return Err(Problem::WrongType {
            column: "factors",
            found: f.data_type().to_string(),
            expected: "list<float32>",
        });
    }
    Ok(())
}

fn push_batch(table: &mut TableBuilder, batch: &RecordBatch) -> Result<(), Problem> {
    let ids = batch.column_by_name("id").ok_or(Problem::MissingColumn("id"))?;
    let ids = ids.as_any().downcast_ref::<StringArray>().expect("checked: utf8");
    let factors = batch
        .column_by_name("factors")
        .ok_or(Problem::MissingColumn("factors"))?;
    let row_of = |i: usize| -> Option<ArrayRef> {
        if let Some(l) = factors.as_any().downcast_ref::<ListArray>() {
            l.is_valid(i).then(|| l.value(i))
        } else {
            let l = factors.as_any().downcast_ref::<FixedSizeListArray>()?;
            l.is_valid(i).then(|| l.value(i))
        }
    };
    for i in 0..batch.num_rows() {
        let row = table.ids.len();
        let (Some(values), true) = (row_of(i), ids.is_valid(i)) else {
            return Err(Problem::Null { row });
        };
        let values = values
            .as_any()
            .downcast_ref::<Float32Array>()
            .expect("checked: float32");
        if values.null_count() > 0 {
            return Err(Problem::Null { row });
        }
        table.push(ids.value(i), values.values())?;
    }
    Ok(())
}

/// Writes `rows` (id, factors) as a factor file, without validating them
/// (tests write invalid files with it too). Errors: the file cannot be
/// written.
pub fn write(path: &Path, rows: &[(&str, &[f32])]) -> anyhow::Result<()> {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("factors", DataType::List(item.clone()), false),
    ]));
    let mut ids = StringBuilder::new();
    let mut lists = ListBuilder::new(Float32Builder::new()).with_field(item);
    for (id, values) in rows {
        ids.append_value(id);
        lists.values().append_slice(values);
        lists.append(true);
    }
    let cols: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(lists.finish())];
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let mut w = ArrowWriter::try_new(File::create(path)?, schema, None)?;
    w.write(&batch)?;
    w.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_table_keeps_rows_in_order() {
        let mut b = TableBuilder::default();
        b.push("a", &[1.0, 2.0]).unwrap();
        b.push("b", &[3.0, 4.0]).unwrap();
        let t = b.finish().unwrap();
        assert_eq!((t.ids.len(), t.k), (2, 2));
        assert_eq!(t.row(1), &[3.0, 4.0]);
    }

    #[test]
    fn ragged_non_finite_duplicate_and_empty_rows_are_refused() {
        let mut b = TableBuilder::default();
        b.push("a", &[1.0, 2.0]).unwrap();
        assert!(matches!(
            b.push("b", &[1.0]),
            Err(Problem::Ragged {
                row: 1,
                len: 1,
                k: 2,
                ..
            })
        ));
        assert!(matches!(
            b.push("b", &[1.0, f32::NAN]),
            Err(Problem::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            b.push("c", &[f32::INFINITY, 0.0]),
            Err(Problem::NonFinite { .. })
        ));
        assert!(matches!(
            b.push("a", &[0.0, 0.0]),
            Err(Problem::Duplicate { first: 0, row: 1, .. })
        ));
        assert_eq!(TableBuilder::default().finish(), Err(Problem::Empty));
        let mut z = TableBuilder::default();
        assert!(matches!(z.push("a", &[]), Err(Problem::NoFactors { .. })));
    }

    #[test]
    fn a_written_file_reads_back_and_a_wrong_schema_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.parquet");
        write(&p, &[("a", &[1.0, 2.0]), ("b", &[3.0, 4.0])]).unwrap();
        let t = read(&p).unwrap();
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(t.data, [1.0, 2.0, 3.0, 4.0]);
        write(&p, &[("a", &[1.0, 2.0]), ("a", &[3.0, 4.0])]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        std::fs::write(&p, b"not parquet").unwrap();
        assert!(matches!(read(&p), Err(FactorFileError::Unreadable { .. })));
    }
}
