//! Matrix factorisation recall: implicit-feedback alternating least squares.
//!
//! The model of Hu, Koren & Volinsky ("Collaborative Filtering for Implicit Feedback
//! Datasets", 2008): every observed (user, item) pair is a preference of 1 held with
//! confidence `1 + alpha * weight`, every other pair a preference of 0 held with confidence 1.
//! Training alternates between solving all user vectors against fixed item vectors and the
//! reverse; each vector is solved by a few conjugate-gradient steps warm-started from its
//! previous value, as the `implicit` library does.

mod ids;
mod matrix;
mod recall;
mod solve;
mod topk;
mod train;

pub use ids::IdMap;
pub use recall::{ALS, AlsRecall};
pub use train::{AlsConfig, AlsError, AlsModel, Interaction};
