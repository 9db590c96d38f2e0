//! Where the model lives on disk and which of its files the encoder reads.

use std::path::{Path, PathBuf};

use crate::EncoderError;

/// The model the encoder runs.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// The environment variable that overrides [`default_model_dir`] (as it does for
/// `scripts/install-model.sh`).
pub const MODEL_DIR_ENV: &str = "CASCADE_MODEL_DIR";

/// The directory `scripts/install-model.sh` installs the model into: `$CASCADE_MODEL_DIR` when
/// set and not empty, else `$HOME/.cache/cascade/models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache")
        .join("cascade")
        .join("models")
        .join(MODEL_NAME)
}

/// The files of an installed model, each checked to exist.
#[derive(Debug)]
pub(crate) struct ModelFiles {
    /// `config.json`: the BERT configuration.
    pub config: PathBuf,
    /// `tokenizer.json`: the WordPiece tokenizer.
    pub tokenizer: PathBuf,
    /// `model.safetensors`: the weights.
    pub weights: PathBuf,
}

impl ModelFiles {
    /// Finds the model's files in `dir`; the first one missing is an error naming it.
    pub fn locate(dir: &Path) -> Result<Self, EncoderError> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(EncoderError::MissingModelFile { path })
            }
        };
        Ok(Self {
            config: file("config.json")?,
            tokenizer: file("tokenizer.json")?,
            weights: file("model.safetensors")?,
        })
    }
}
