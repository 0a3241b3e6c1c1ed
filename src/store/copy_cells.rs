//! Rollup cells from Postgres's binary COPY format. A training reads every
//! cell (millions): COPY skips the per-row message, row object and
//! by-name column lookup of a query, and the nine NOT NULL fixed-width
//! columns decode by position. Format: PostgreSQL docs, "COPY", section
//! "Binary Format".

use super::rollup::KeyedCell;

/// `COPY (…) TO STDOUT (FORMAT binary)` of the rollup's cells whose
/// heap page is in `pages` (a TID range scan reads only those pages), in
/// the column order [`CellDecoder`] expects. COPY takes no parameters;
/// the bounds are integers formatted here.
pub(super) fn copy_cells(pages: std::ops::Range<Option<i64>>) -> String {
    let mut filter = Vec::new();
    if let Some(low) = pages.start {
        filter.push(format!("ctid >= '({low},0)'::tid"));
    }
    if let Some(high) = pages.end {
        filter.push(format!("ctid < '({high},0)'::tid"));
    }
    let filter = if filter.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filter.join(" AND "))
    };
    format!(
        "COPY (SELECT learner_key, course_key, type, day, n, value_sum, value_max, \
         first_ts_ms, last_ts_ms FROM event_days{filter}) TO STDOUT (FORMAT binary)"
    )
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags (i32), header extension length (i32).
const HEADER: usize = SIGNATURE.len() + 8;
/// Byte width of each column, in order.
const WIDTHS: [usize; 9] = [4, 4, 2, 4, 8, 8, 8, 8, 8];
/// Field count (i16), then a length (i32) and the value of each column.
const ROW: usize = 2 + 9 * 4 + 4 + 4 + 2 + 4 + 8 * 5;

/// Decodes the COPY stream chunk by chunk; rows may span chunks.
#[derive(Debug, Default)]
pub(super) struct CellDecoder {
    pending: Vec<u8>,
    header_read: bool,
    finished: bool,
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().expect("bounds checked by the caller")
}

impl CellDecoder {
    /// Decodes every whole row of `chunk` (with what an earlier chunk
    /// left) into `each`. Fails on a stream that is not this COPY's: a bad
    /// signature, a row of another shape, a NULL, or data after the end.
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(KeyedCell)) -> Result<(), String> {
        if self.finished && !chunk.is_empty() {
            return Err("data after the end of the COPY stream".into());
        }
        self.pending.extend_from_slice(chunk);
        let buf = &self.pending[..];
        let mut at = 0;
        if !self.header_read {
            if buf.len() < HEADER {
                return Ok(());
            }
            if &buf[..SIGNATURE.len()] != SIGNATURE {
                return Err("not a binary COPY stream".into());
            }
            // Bits 16–31 of the flags mark critical format changes (16: OIDs
            // in every row); a reader must stop at any of them.
            let flags = u32::from_be_bytes(be(buf, SIGNATURE.len()));
            if flags >> 16 != 0 {
                return Err(format!("binary COPY flags {flags:#x} are not supported"));
            }
            let extension = usize::try_from(i32::from_be_bytes(be(buf, SIGNATURE.len() + 4)))
                .map_err(|_| "a negative COPY header extension length".to_string())?;
            if buf.len() < HEADER + extension {
                return Ok(());
            }
            at = HEADER + extension;
            self.header_read = true;
        }
        while buf.len() - at >= 2 {
            let fields = i16::from_be_bytes(be(buf, at));
            if fields == -1 {
                self.finished = true;
                at += 2;
                break;
            }
            if fields != WIDTHS.len() as i16 {
                return Err(format!("a row of {fields} columns, expected {}", WIDTHS.len()));
            }
            if buf.len() - at < ROW {
                break;
            }
            let mut p = at + 2;
            let mut col = [0usize; 9];
            for (i, &w) in WIDTHS.iter().enumerate() {
                let len = i32::from_be_bytes(be(buf, p));
                if len != w as i32 {
                    return Err(format!("column {i}: {len} bytes, expected {w}"));
                }
                col[i] = p + 4;
                p += 4 + w;
            }
            each(KeyedCell {
                learner_key: i32::from_be_bytes(be(buf, col[0])),
                course_key: i32::from_be_bytes(be(buf, col[1])),
                kind: i16::from_be_bytes(be(buf, col[2])),
                day: i32::from_be_bytes(be(buf, col[3])),
                n: i64::from_be_bytes(be(buf, col[4])),
                value_sum: f64::from_be_bytes(be(buf, col[5])),
                value_max: f64::from_be_bytes(be(buf, col[6])),
                first_ts_ms: i64::from_be_bytes(be(buf, col[7])),
                last_ts_ms: i64::from_be_bytes(be(buf, col[8])),
            });
            at = p;
        }
        if self.finished && at != buf.len() {
            return Err("data after the end of the COPY stream".into());
        }
        self.pending.drain(..at);
        Ok(())
    }

    /// Whether the stream ended with its trailer and nothing is left over.
    pub fn finish(&self) -> Result<(), String> {
        if self.finished && self.pending.is_empty() {
            Ok(())
        } else {
            Err("the COPY stream ended inside a row".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges_become_tid_bounds() {
        assert!(!copy_cells(None..None).contains("WHERE"));
        assert!(copy_cells(None..Some(7)).contains("FROM event_days WHERE ctid < '(7,0)'::tid)"));
        assert!(copy_cells(Some(7)..None).contains("FROM event_days WHERE ctid >= '(7,0)'::tid)"));
        let both = copy_cells(Some(1)..Some(9));
        assert!(
            both.contains("ctid >= '(1,0)'::tid AND ctid < '(9,0)'::tid"),
            "{both}"
        );
    }

    fn encode(cells: &[KeyedCell]) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend(0i32.to_be_bytes());
        b.extend(0i32.to_be_bytes());
        for c in cells {
            b.extend(9i16.to_be_bytes());
            let mut field = |v: &[u8]| {
                b.extend((v.len() as i32).to_be_bytes());
                b.extend(v);
            };
            field(&c.learner_key.to_be_bytes());
            field(&c.course_key.to_be_bytes());
            field(&c.kind.to_be_bytes());
            field(&c.day.to_be_bytes());
            field(&c.n.to_be_bytes());
            field(&c.value_sum.to_be_bytes());
            field(&c.value_max.to_be_bytes());
            field(&c.first_ts_ms.to_be_bytes());
            field(&c.last_ts_ms.to_be_bytes());
        }
        b.extend((-1i16).to_be_bytes());
        b
    }

    fn cell(i: i32) -> KeyedCell {
        KeyedCell {
            learner_key: i,
            course_key: -i,
            kind: (i % 8) as i16,
            day: 20_000 + i,
            n: i64::from(i) * 3,
            value_sum: f64::from(i) * 0.5,
            value_max: -0.25,
            first_ts_ms: 1_700_000_000_000 + i64::from(i),
            last_ts_ms: i64::MAX - i64::from(i),
        }
    }

    #[test]
    fn rows_decode_whatever_the_chunk_boundaries() {
        let cells: Vec<KeyedCell> = (0..5).map(cell).collect();
        let bytes = encode(&cells);
        for size in [1, 7, ROW - 1, ROW, ROW + 1, bytes.len()] {
            let mut d = CellDecoder::default();
            let mut got = Vec::new();
            for chunk in bytes.chunks(size) {
                d.feed(chunk, |c| got.push(c)).unwrap();
            }
            d.finish().unwrap();
            assert_eq!(got, cells, "chunks of {size}");
        }
    }

    #[test]
    fn streams_of_another_shape_are_refused() {
        let good = encode(&[cell(1)]);
        let mut d = CellDecoder::default();
        assert!(d.feed(b"PGCOPY\nXXXXXXXXXXXXXXXXXXXX", |_| {}).is_err());
        // Rows with OIDs (flag bit 16).
        let mut oids = good.clone();
        oids[SIGNATURE.len() + 1] = 1;
        assert!(CellDecoder::default().feed(&oids, |_| {}).is_err());
        // A NULL in the first column (length −1).
        let mut null = good.clone();
        null[HEADER + 2..HEADER + 6].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(CellDecoder::default().feed(&null, |_| {}).is_err());
        // Cut inside the row: no error until the end, then one.
        let mut d = CellDecoder::default();
        d.feed(&good[..HEADER + 10], |_| {}).unwrap();
        assert!(d.finish().is_err());
        // Anything after the trailer.
        let mut d = CellDecoder::default();
        d.feed(&good, |_| {}).unwrap();
        assert!(d.feed(&[0], |_| {}).is_err());
    }
}
