//! The installed model, loaded once per test binary.

use std::sync::OnceLock;

use cascade_infer::{TextEncoder, default_model_dir};

/// The encoder over the installed model. Panics, failing the test, when the model is not
/// installed: these tests need the real model and are never skipped.
pub fn encoder() -> &'static TextEncoder {
    static ENCODER: OnceLock<TextEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        let dir = default_model_dir();
        TextEncoder::load(&dir).unwrap_or_else(|err| {
            panic!(
                "these tests need the all-MiniLM-L6-v2 model in {}: run scripts/install-model.sh \
                 (or point CASCADE_MODEL_DIR at an installed copy). Loading failed with: {err}",
                dir.display()
            )
        })
    })
}

/// The dot product, which is the cosine for unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The largest absolute difference between two vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
