//! The sparse interaction matrix in compressed-row form, and dense row-major factor blocks.

/// A sparse matrix in compressed sparse row form: row `r` holds the columns
/// `cols[offsets[r]..offsets[r + 1]]` with the matching `values`.
pub(crate) struct Csr {
    offsets: Vec<usize>,
    cols: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// Builds a `rows`-row matrix from `(row, col, value)` triples; repeated cells add up.
    pub(crate) fn from_triples(
        rows: usize,
        triples: impl Iterator<Item = (u32, u32, f32)>,
    ) -> Self {
        let mut sorted: Vec<(u32, u32, f32)> = triples.collect();
        sorted.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut offsets = vec![0; rows + 1];
        let mut cols = Vec::with_capacity(sorted.len());
        let mut values: Vec<f32> = Vec::with_capacity(sorted.len());
        let mut last = None;
        for (r, c, v) in sorted {
            if last == Some((r, c)) {
                *values.last_mut().expect("a previous cell") += v;
                continue;
            }
            last = Some((r, c));
            offsets[r as usize + 1] += 1;
            cols.push(c);
            values.push(v);
        }
        for r in 0..rows {
            offsets[r + 1] += offsets[r];
        }
        Self {
            offsets,
            cols,
            values,
        }
    }

    /// The columns and values of row `r`.
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.offsets[r]..self.offsets[r + 1];
        (&self.cols[span.clone()], &self.values[span])
    }

    /// The transpose, with `cols` rows.
    pub(crate) fn transpose(&self, cols: usize) -> Self {
        let rows = self.offsets.len() - 1;
        let triples = (0..rows).flat_map(|r| {
            let (cs, vs) = self.row(r);
            cs.iter().zip(vs).map(move |(&c, &v)| (c, r as u32, v))
        });
        Self::from_triples(cols, triples)
    }
}

/// The dot product of two equally long vectors.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += a * x`.
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// The `factors × factors` Gram matrix `Yᵀ Y + reg · I` of a row-major block `y`.
pub(crate) fn gram(y: &[f32], factors: usize, reg: f32) -> Vec<f32> {
    let mut g = vec![0.0f64; factors * factors];
    for row in y.chunks_exact(factors) {
        for (i, &a) in row.iter().enumerate() {
            let line = &mut g[i * factors..(i + 1) * factors];
            for (cell, &b) in line.iter_mut().zip(row) {
                *cell += f64::from(a) * f64::from(b);
            }
        }
    }
    for i in 0..factors {
        g[i * factors + i] += f64::from(reg);
    }
    g.into_iter().map(|v| v as f32).collect()
}

/// `out = m · x` for a square row-major `m`.
pub(crate) fn mat_vec(m: &[f32], x: &[f32], out: &mut [f32]) {
    for (o, line) in out.iter_mut().zip(m.chunks_exact(x.len())) {
        *o = dot(line, x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_sums_repeats_and_transposes() {
        let m = Csr::from_triples(3, [(2, 1, 1.0), (0, 0, 2.0), (2, 1, 0.5)].into_iter());
        assert_eq!(m.row(0), (&[0][..], &[2.0][..]));
        assert_eq!(m.row(1), (&[][..], &[][..]));
        assert_eq!(m.row(2), (&[1][..], &[1.5][..]));
        let t = m.transpose(2);
        assert_eq!(t.row(1), (&[2][..], &[1.5][..]));
    }

    #[test]
    fn gram_is_yty_plus_ridge() {
        let y = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(gram(&y, 2, 0.5), [10.5, 14.0, 14.0, 20.5]);
    }
}
