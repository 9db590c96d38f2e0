//! Cascade's neural inference: the built-in sentence encoder.
//!
//! [`TextEncoder`] runs all-MiniLM-L6-v2 (a 6-layer BERT) with candle on the CPU and turns texts
//! into 384-dimensional, L2-normalised sentence embeddings, as sentence-transformers does for
//! this model: texts are truncated to [`MAX_TOKENS`] tokens, the last hidden states are averaged
//! over the attention mask, and the mean is scaled to unit length. The dot product of two
//! embeddings is therefore their cosine similarity.
//!
//! The model is not bundled: `scripts/install-model.sh` installs it into
//! [`default_model_dir`], where [`TextEncoder::load`] expects it.

mod batch;
mod encoder;
mod error;
mod model_files;
pub mod onnx;
mod pooling;
mod tokenize;

pub use encoder::TextEncoder;
pub use error::EncoderError;
pub use model_files::{MODEL_DIR_ENV, MODEL_NAME, default_model_dir};
pub use tokenize::MAX_TOKENS;
