//! The ONNX runtime's error type.

use std::path::PathBuf;

/// Why an ONNX model could not be loaded or run. Every message names the model file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("cannot read ONNX model {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an ONNX model (not an ONNX protobuf, or one without a graph).
    #[error("{} is not an ONNX model: {reason}", path.display())]
    NotOnnx {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The model's inputs or outputs are not the ones a scoring model has: one float32 input
    /// `[batch, width]`, one float32 output `[batch]` or `[batch, 1]`.
    #[error("ONNX model {}: {reason}", path.display())]
    Signature {
        /// The file.
        path: PathBuf,
        /// Which input or output is wrong, and how.
        reason: String,
    },
    /// tract could not type, optimise or plan the graph (an unsupported operator, shapes
    /// that do not fit).
    #[error("ONNX model {}: cannot {stage}: {reason}", path.display())]
    Build {
        /// The file.
        path: PathBuf,
        /// What was being done: `parse the graph`, `optimise the graph`, `plan the graph`.
        stage: &'static str,
        /// tract's error, with its causes.
        reason: String,
    },
    /// The rows given to [`super::OnnxModel::run`] are not `rows` rows of the model's width.
    #[error(
        "ONNX model {}: expected {rows} rows of {expected} features ({} values), found {found} \
         values",
        path.display(),
        rows.saturating_mul(*expected)
    )]
    Width {
        /// The file.
        path: PathBuf,
        /// The model's width: values per row.
        expected: usize,
        /// How many rows the caller said there are.
        rows: usize,
        /// How many values the caller gave.
        found: usize,
    },
    /// Running the graph failed, or it gave an output of the wrong size.
    #[error("ONNX model {}: inference failed: {reason}", path.display())]
    Run {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
