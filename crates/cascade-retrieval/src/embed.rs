//! Item text into vectors: the built-in text encoder applied to the fields `TextEncoderConf`
//! names, for items at import and write time and for search queries.

use std::path::PathBuf;

use cascade_core::Item;
use cascade_core::config::TextEncoderConf;
use cascade_core::item_text::item_text;
use cascade_infer::{EncoderError, TextEncoder, default_model_dir};

/// Why the encoder is not available, or could not embed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model could not be loaded or run.
    #[error("text encoder: {0}")]
    Encoder(#[from] EncoderError),
    /// The declared embedding has another dimension than the model produces.
    #[error(
        "ItemSchema.Embeddings declares `{embedding}` with {declared} dimensions; the text encoder produces {model}"
    )]
    Dimensions {
        /// The embedding name.
        embedding: String,
        /// The declared dimension.
        declared: usize,
        /// The model's dimension.
        model: usize,
    },
}

/// Embeds item text into one named embedding.
#[derive(Debug)]
pub struct ItemEmbedder {
    encoder: TextEncoder,
    embedding: String,
    fields: Vec<String>,
    batch_size: usize,
}

impl ItemEmbedder {
    /// Loads the model that `conf` names (or the default model directory) and checks its
    /// dimension against the `declared` one.
    pub fn load(conf: &TextEncoderConf, declared: usize) -> Result<Self, EmbedError> {
        let dir: PathBuf = conf.model_dir.clone().unwrap_or_else(default_model_dir);
        let encoder = TextEncoder::load(&dir)?;
        if encoder.dimension() != declared {
            return Err(EmbedError::Dimensions {
                embedding: conf.embedding.clone(),
                declared,
                model: encoder.dimension(),
            });
        }
        Ok(Self {
            encoder,
            embedding: conf.embedding.clone(),
            fields: conf.fields.clone(),
            batch_size: conf.batch_size.max(1),
        })
    }

    /// The embedding it fills.
    pub fn embedding(&self) -> &str {
        &self.embedding
    }

    /// The text embedded for `item`: its configured fields joined by ". "; `None` when they
    /// are all empty.
    pub fn text_of(&self, item: &Item) -> Option<String> {
        item_text(&self.fields, |name| item.fields.get(name).cloned())
    }

    /// Whether `item` has text to embed but no vector yet.
    pub fn needs_vector(&self, item: &Item) -> bool {
        !item.embeddings.contains_key(&self.embedding) && self.text_of(item).is_some()
    }

    /// Fills the embedding of every item that [needs one](Self::needs_vector), in batches;
    /// returns how many were filled. A vector supplied with the item is kept.
    pub fn fill(&self, items: &mut [Item]) -> Result<usize, EmbedError> {
        let pending: Vec<(usize, String)> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.embeddings.contains_key(&self.embedding))
            .filter_map(|(i, item)| Some((i, self.text_of(item)?)))
            .collect();
        for chunk in pending.chunks(self.batch_size) {
            let texts: Vec<&str> = chunk.iter().map(|(_, text)| text.as_str()).collect();
            let vectors = self.encoder.encode(&texts)?;
            for ((i, _), vector) in chunk.iter().zip(vectors) {
                items[*i].embeddings.insert(self.embedding.clone(), vector);
            }
        }
        Ok(pending.len())
    }

    /// The vector of a search query.
    pub fn query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.encoder.encode(&[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }
}
