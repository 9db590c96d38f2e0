//! [`TextEmbeddingEnricher`]: the built-in text encoder over the event's item text or the
//! event's own text; the output is a vector feature.

use std::path::Path;
use std::sync::Arc;

use cascade_core::item_text::item_text;
use cascade_infer::TextEncoder;
use cascade_store::FeatureValue;

use super::{EnrichError, EnrichInput, Enricher};
use crate::windows::ItemFields;

/// Where the embedded text comes from.
#[derive(Clone)]
pub enum TextSource {
    /// The text of the event's item: `fields` joined as the text encoder joins them
    /// ([`item_text`]), read through `items`.
    Item {
        /// The item fields, in order.
        fields: Vec<String>,
        /// The catalogue (put a cache in front where events are many).
        items: Arc<dyn ItemFields>,
    },
    /// The event's own `text`.
    Event,
}

/// Embeds each event's text with the text encoder (all-MiniLM-L6-v2); events without text
/// (an item not in the catalogue, no text fields, an event without `text`) are left unwritten.
pub struct TextEmbeddingEnricher {
    encoder: TextEncoder,
    source: TextSource,
}

impl TextEmbeddingEnricher {
    /// Loads the model from `model_dir` (see [`cascade_infer::default_model_dir`]).
    pub fn load(model_dir: &Path, source: TextSource) -> Result<Self, EnrichError> {
        Ok(Self::new(TextEncoder::load(model_dir)?, source))
    }

    /// An enricher over an encoder already loaded.
    pub fn new(encoder: TextEncoder, source: TextSource) -> Self {
        Self { encoder, source }
    }

    /// The text embedded for `input`, if it has one.
    pub fn text_of(&self, input: &EnrichInput) -> Option<String> {
        match &self.source {
            TextSource::Item { fields, items } => {
                item_text(fields, |name| items.field(&input.item_id, name))
            }
            TextSource::Event => input
                .text
                .as_deref()
                .filter(|text| !text.trim().is_empty())
                .map(str::to_string),
        }
    }
}

impl Enricher for TextEmbeddingEnricher {
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        let texts: Vec<Option<String>> = batch.iter().map(|input| self.text_of(input)).collect();
        let present: Vec<&str> = texts.iter().flatten().map(String::as_str).collect();
        let mut vectors = self.encoder.encode(&present)?.into_iter();
        Ok(texts
            .iter()
            .map(|text| {
                text.as_ref()
                    .and_then(|_| vectors.next())
                    .map(FeatureValue::Vector)
            })
            .collect())
    }
}
