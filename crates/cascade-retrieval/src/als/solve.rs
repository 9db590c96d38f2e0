//! One row's least-squares problem, solved by conjugate gradient.
//!
//! For a user (or item) with observed columns `i` of weight `w_i` and confidence
//! `c_i = 1 + alpha · w_i`, against fixed factors `Y`, the vector `x` solves
//! `(Yᵀ Y + reg · I + Σ (c_i − 1) y_i y_iᵀ) x = Σ c_i y_i`. `Yᵀ Y + reg · I` is shared by every
//! row, so each step costs one `f × f` product plus one pass over the row's own columns.

use super::matrix::{axpy, dot, mat_vec};

/// Residuals below this squared norm end the iteration early.
const CONVERGED: f32 = 1e-20;

/// Solves rows against fixed factors.
pub(crate) struct Solver<'a> {
    /// The fixed factors, row-major, `factors` per row.
    pub(crate) y: &'a [f32],
    /// `Yᵀ Y + reg · I`, row-major.
    pub(crate) yty: &'a [f32],
    /// The confidence scale.
    pub(crate) alpha: f32,
}

impl Solver<'_> {
    fn factor(&self, col: u32, factors: usize) -> &[f32] {
        let start = col as usize * factors;
        &self.y[start..start + factors]
    }

    /// `A · v` for this row's matrix `A = Yᵀ Y + reg · I + Σ (c_i − 1) y_i y_iᵀ`.
    fn apply(&self, cols: &[u32], weights: &[f32], v: &[f32], out: &mut [f32]) {
        mat_vec(self.yty, v, out);
        for (&col, &w) in cols.iter().zip(weights) {
            let y = self.factor(col, v.len());
            axpy(self.alpha * w * dot(y, v), y, out);
        }
    }

    /// Improves `x` by at most `steps` conjugate-gradient steps, starting from its current value.
    pub(crate) fn solve(&self, cols: &[u32], weights: &[f32], x: &mut [f32], steps: usize) {
        let factors = x.len();
        let mut r = vec![0.0; factors];
        self.apply(cols, weights, x, &mut r);
        for v in &mut r {
            *v = -*v;
        }
        for (&col, &w) in cols.iter().zip(weights) {
            axpy(1.0 + self.alpha * w, self.factor(col, factors), &mut r);
        }
        let mut p = r.clone();
        let mut ap = vec![0.0; factors];
        let mut rs_old = dot(&r, &r);
        for _ in 0..steps {
            if rs_old < CONVERGED {
                break;
            }
            self.apply(cols, weights, &p, &mut ap);
            let step = rs_old / dot(&p, &ap);
            axpy(step, &p, x);
            axpy(-step, &ap, &mut r);
            let rs_new = dot(&r, &r);
            let beta = rs_new / rs_old;
            for (p, r) in p.iter_mut().zip(&r) {
                *p = r + beta * *p;
            }
            rs_old = rs_new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::matrix::gram;

    #[test]
    fn converges_to_the_normal_equations_solution() {
        // Y = [[1, 0], [0, 1], [1, 1]], reg 0.1, alpha 1, the row saw column 0 with weight 1.
        let y = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let yty = gram(&y, 2, 0.1);
        let solver = Solver {
            y: &y,
            yty: &yty,
            alpha: 1.0,
        };
        let mut x = [0.0; 2];
        solver.solve(&[0], &[1.0], &mut x, 10);
        // A = [[2.1 + 1, 1], [1, 2.1]], b = [2, 0].
        let det = 3.1 * 2.1 - 1.0;
        let expected = [2.0 * 2.1 / det, -2.0 / det];
        for (got, want) in x.iter().zip(expected) {
            assert!((got - want).abs() < 1e-5, "{x:?} vs {expected:?}");
        }
    }
}
