//! Compressed sparse row matrix of `f32` values with `u32` column indices.

/// A CSR matrix: row `r` holds `indices[indptr[r]..indptr[r+1]]` (sorted,
/// unique) with values `data[..]` at the same positions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Csr {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl Csr {
    /// Builds a matrix from `(row, col, value)` triples, summing duplicates.
    /// Panics if a row or column is out of range (a caller bug, not data).
    pub fn from_triples(n_rows: usize, n_cols: usize, triples: &[(u32, u32, f32)]) -> Csr {
        Csr::from_triples_iter(n_rows, n_cols, triples.iter().copied())
    }

    /// [`Csr::from_triples`] of triples produced (twice) by `triples`, so a
    /// caller need not collect them first.
    pub fn from_triples_iter(
        n_rows: usize,
        n_cols: usize,
        triples: impl Iterator<Item = (u32, u32, f32)> + Clone,
    ) -> Csr {
        // Counting sort by row: O(nnz) and no big temporary besides the output.
        let mut indptr = vec![0usize; n_rows + 1];
        for (r, c, _) in triples.clone() {
            assert!(
                (r as usize) < n_rows && (c as usize) < n_cols,
                "triple out of range"
            );
            indptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; indptr[n_rows]];
        let mut data = vec![0f32; indptr[n_rows]];
        for (r, c, v) in triples {
            let p = &mut next[r as usize];
            indices[*p] = c;
            data[*p] = v;
            *p += 1;
        }
        // Sort each row by column and merge duplicates, compacting in place.
        let mut out = 0usize;
        let mut pairs: Vec<(u32, f32)> = Vec::new();
        let mut new_ptr = vec![0usize; n_rows + 1];
        for r in 0..n_rows {
            pairs.clear();
            pairs.extend((indptr[r]..indptr[r + 1]).map(|p| (indices[p], data[p])));
            pairs.sort_unstable_by_key(|p| p.0);
            let row_start = out;
            for &(c, v) in &pairs {
                if out > row_start && indices[out - 1] == c {
                    data[out - 1] += v;
                } else {
                    indices[out] = c;
                    data[out] = v;
                    out += 1;
                }
            }
            new_ptr[r + 1] = out;
        }
        indices.truncate(out);
        data.truncate(out);
        Csr {
            n_rows,
            n_cols,
            indptr: new_ptr,
            indices,
            data,
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The rows `keep`, in that order (same columns).
    pub fn select(&self, keep: &[usize]) -> Csr {
        let mut indptr = Vec::with_capacity(keep.len() + 1);
        indptr.push(0);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        for &r in keep {
            let (cols, vals) = self.row(r);
            indices.extend_from_slice(cols);
            data.extend_from_slice(vals);
            indptr.push(indices.len());
        }
        Csr {
            n_rows: keep.len(),
            n_cols: self.n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// Column indices and values of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// The transposed matrix (columns become rows), with sorted indices.
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        // Visiting rows in order leaves every output row sorted.
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let p = &mut next[c as usize];
                indices[*p] = r as u32;
                data[*p] = v;
                *p += 1;
            }
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_duplicates_and_sorts_rows() {
        let m = Csr::from_triples(3, 4, &[(0, 3, 1.0), (0, 1, 2.0), (2, 0, 1.0), (0, 3, 0.5)]);
        assert_eq!(m.indptr, vec![0, 2, 2, 3]);
        assert_eq!(m.row(0), (&[1u32, 3][..], &[2.0f32, 1.5][..]));
        assert_eq!(m.row(1).0.len(), 0);
        assert_eq!(m.nnz(), 3);
    }

    #[test]
    fn transpose_round_trips() {
        let m = Csr::from_triples(2, 3, &[(0, 2, 1.0), (1, 0, 2.0), (1, 2, 3.0)]);
        let t = m.transpose();
        assert_eq!((t.n_rows, t.n_cols), (3, 2));
        assert_eq!(t.row(2), (&[0u32, 1][..], &[1.0f32, 3.0][..]));
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn select_keeps_the_chosen_rows_in_order() {
        let m = Csr::from_triples(3, 2, &[(0, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0), (2, 1, 4.0)]);
        let r = m.select(&[2, 0]);
        assert_eq!((r.n_rows, r.n_cols), (2, 2));
        assert_eq!(r.row(0), (&[0u32, 1][..], &[3.0f32, 4.0][..]));
        assert_eq!(r.row(1), (&[0u32][..], &[1.0f32][..]));
    }
}
