//! Text to token ids: the model's WordPiece tokenizer, truncating to [`MAX_TOKENS`].

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use crate::EncoderError;

/// The most tokens (special tokens included) the encoder reads from one text; the rest is cut
/// off, as sentence-transformers does for this model (`max_seq_length` 256).
pub const MAX_TOKENS: usize = 256;

/// The tokenizer, set to truncate and not to pad (batches are padded later, with [`TextTokenizer::pad_id`]).
#[derive(Debug)]
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, replacing its own truncation and padding settings.
    pub fn load(path: &Path) -> Result<Self, EncoderError> {
        let error = |source| EncoderError::Tokenizer {
            path: path.to_path_buf(),
            source,
        };
        let mut inner = Tokenizer::from_file(path).map_err(error)?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(error)?;
        inner.with_padding(None);
        let pad_id = inner.token_to_id("[PAD]").unwrap_or(0);
        Ok(Self { inner, pad_id })
    }

    /// The token ids of `text`, with `[CLS]` and `[SEP]`, at most [`MAX_TOKENS`] of them.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, EncoderError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(EncoderError::Tokenize)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The id that fills padded positions.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
}
