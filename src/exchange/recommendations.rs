//! The batch export's file formats: CSV (one row per list item, header
//! `user_id,rank,course_id,score,rule_id,explored`) or Parquet with the
//! same columns (nullable `rule_id`). Rows are written as they come, and
//! Parquet row groups are cut at [`ROW_GROUP`] rows, so memory holds at
//! most one row group whatever the export's size.

use std::io::Write;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::serve::export::ExportRow;

/// Rows per Parquet row group.
pub const ROW_GROUP: usize = 65_536;

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("course_id", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("rule_id", DataType::Utf8, true),
        Field::new("explored", DataType::Boolean, false),
    ]))
}

/// Writes export rows to `W` in one format.
pub enum RowWriter<W: Write + Send> {
    Csv(Box<csv::Writer<W>>),
    Parquet(Box<ArrowWriter<W>>, SchemaRef),
}

impl<W: Write + Send> RowWriter<W> {
    pub fn new(format: Format, out: W) -> anyhow::Result<RowWriter<W>> {
        Ok(match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(["user_id", "rank", "course_id", "score", "rule_id", "explored"])?;
                RowWriter::Csv(Box::new(w))
            }
            Format::Parquet => {
                let schema = schema();
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP))
                    .build();
                RowWriter::Parquet(
                    Box::new(ArrowWriter::try_new(out, schema.clone(), Some(props))?),
                    schema,
                )
            }
        })
    }

    pub fn write(&mut self, rows: &[ExportRow]) -> anyhow::Result<()> {
        match self {
            RowWriter::Csv(w) => {
                for r in rows {
                    w.write_record([
                        r.user_id.as_str(),
                        &r.rank.to_string(),
                        &r.course_id,
                        &format!("{:.6}", r.score),
                        r.rule_id.as_deref().unwrap_or(""),
                        if r.explored { "true" } else { "false" },
                    ])?;
                }
                w.flush()?;
            }
            RowWriter::Parquet(w, schema) => {
                if rows.is_empty() {
                    return Ok(());
                }
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.user_id.as_str()),
                    )),
                    Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.rank))),
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.course_id.as_str()),
                    )),
                    Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.score))),
                    Arc::new(StringArray::from_iter(rows.iter().map(|r| r.rule_id.as_deref()))),
                    Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.explored)))),
                ];
                w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
            }
        }
        Ok(())
    }

    /// Ends the file (Parquet's footer) and returns the sink.
    pub fn finish(self) -> anyhow::Result<W> {
        match self {
            RowWriter::Csv(w) => Ok(w.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?),
            RowWriter::Parquet(w, _) => Ok(w.into_inner()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<ExportRow> {
        vec![
            ExportRow {
                user_id: "u,1".into(),
                rank: 1,
                course_id: "c1".into(),
                score: 0.5,
                rule_id: Some("r".into()),
                explored: false,
            },
            ExportRow {
                user_id: "u,1".into(),
                rank: 2,
                course_id: "c2".into(),
                score: 0.25,
                rule_id: None,
                explored: true,
            },
        ]
    }

    #[test]
    fn csv_quotes_ids_and_leaves_no_rule_empty() {
        let mut w = RowWriter::new(Format::Csv, Vec::new()).unwrap();
        w.write(&rows()).unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "user_id,rank,course_id,score,rule_id,explored\n\"u,1\",1,c1,0.500000,r,false\n\"u,1\",2,c2,0.250000,,true\n"
        );
    }

    #[test]
    fn parquet_round_trips() {
        let mut w = RowWriter::new(Format::Parquet, Vec::new()).unwrap();
        w.write(&rows()).unwrap();
        let bytes = axum::body::Bytes::from(w.finish().unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n, 2);
    }
}
