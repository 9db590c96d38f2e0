//! The user's profile vector of an item embedding and its cosine with a candidate's vector.
//!
//! The profile is the plain mean of the history items' unit-length vectors. Coarse rank
//! (`embedding_dot`) and vector recall weight recent items more, 1/(1+rank), over the ANN
//! index's vectors; a [`super::UserProfile`] cannot: it must not depend on the order its
//! history comes in (online newest first, offline replayed oldest first, one push at a time),
//! so that online serving, backfill and its leakage check all compute the same value.

/// The running mean direction of a set of vectors: the sum of their unit-length versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct MeanVector {
    sum: Vec<f64>,
    count: u32,
}

impl MeanVector {
    /// Adds `vector` as a unit-length vector; a zero, non-finite or differently sized vector
    /// is left out.
    pub(super) fn add(&mut self, vector: &[f32]) {
        let Some(norm) = norm(vector) else {
            return;
        };
        if self.count == 0 {
            self.sum = vec![0.0; vector.len()];
        } else if self.sum.len() != vector.len() {
            return;
        }
        for (total, x) in self.sum.iter_mut().zip(vector) {
            *total += f64::from(*x) / norm;
        }
        self.count += 1;
    }

    /// The cosine between the mean and `vector`; `None` when nothing was added, `vector` is
    /// zero or non-finite, the sizes differ or the vectors added cancel out.
    pub(super) fn cosine(&self, vector: &[f32]) -> Option<f64> {
        if self.count == 0 || self.sum.len() != vector.len() {
            return None;
        }
        let norm_sum = self.sum.iter().map(|x| x * x).sum::<f64>().sqrt();
        let norm_vector = norm(vector)?;
        if !norm_sum.is_normal() {
            return None;
        }
        let dot: f64 = self
            .sum
            .iter()
            .zip(vector)
            .map(|(a, b)| a * f64::from(*b))
            .sum();
        Some(dot / (norm_sum * norm_vector))
    }
}

/// The Euclidean length of `vector`, if it is finite and not zero.
fn norm(vector: &[f32]) -> Option<f64> {
    let norm = vector
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    norm.is_normal().then_some(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_unit_vectors_compared_by_cosine() {
        let mut mean = MeanVector::default();
        assert_eq!(mean.cosine(&[1.0, 0.0]), None, "nothing added");
        mean.add(&[3.0, 0.0]);
        mean.add(&[0.0, 0.5]);
        mean.add(&[0.0, 0.0]);
        mean.add(&[1.0, 2.0, 3.0]);
        mean.add(&[f32::NAN, 1.0]);
        // the unit vectors [1, 0] and [0, 1]: their mean points at 45°
        let cosine = mean.cosine(&[2.0, 2.0]).unwrap();
        assert!((cosine - 1.0).abs() < 1e-12, "{cosine}");
        let cosine = mean.cosine(&[1.0, 0.0]).unwrap();
        assert!((cosine - 0.5f64.sqrt()).abs() < 1e-12, "{cosine}");
        assert_eq!(mean.cosine(&[0.0, 0.0]), None, "a zero candidate vector");
        assert_eq!(mean.cosine(&[1.0]), None, "another size");
        let mut opposite = MeanVector::default();
        opposite.add(&[1.0, 0.0]);
        opposite.add(&[-1.0, 0.0]);
        assert_eq!(opposite.cosine(&[1.0, 0.0]), None, "cancelled out");
    }
}
