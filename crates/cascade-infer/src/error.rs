//! The encoder's error type.

use std::path::PathBuf;

/// Why the sentence encoder could not be loaded or could not encode.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file the model needs is not in the model directory (the model is not installed, or
    /// only partly).
    #[error(
        "model file {} is missing: run scripts/install-model.sh to install {} \
         (it installs into ${}, default ~/.cache/cascade/models/{})",
        path.display(),
        crate::MODEL_NAME,
        crate::MODEL_DIR_ENV,
        crate::MODEL_NAME
    )]
    MissingModelFile {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// A model file exists but could not be read.
    #[error("cannot read model file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The model's `config.json` is not a BERT configuration.
    #[error("invalid model configuration {}: {source}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What was wrong with it.
        source: serde_json::Error,
    },
    /// The model's `tokenizer.json` could not be loaded.
    #[error("cannot load tokenizer {}: {source}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        source: tokenizers::Error,
    },
    /// The weights do not fit the configuration (corrupt, truncated or another model).
    #[error("cannot load model weights {}: {source}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong.
        source: candle_core::Error,
    },
    /// A text could not be tokenized.
    #[error("cannot tokenize text: {0}")]
    Tokenize(#[source] tokenizers::Error),
    /// The forward pass failed.
    #[error("inference failed: {0}")]
    Inference(#[from] candle_core::Error),
}
