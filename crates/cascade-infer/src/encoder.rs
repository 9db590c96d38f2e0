//! [`TextEncoder`]: texts in, sentence embeddings out.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::EncoderError;
use crate::batch::{PaddedBatch, group_by_length};
use crate::model_files::ModelFiles;
use crate::pooling::{l2_normalize, mean_pool};
use crate::tokenize::TextTokenizer;

/// The most texts run through the model at once; longer inputs are split, which bounds the
/// memory of the attention scores (`rows × heads × tokens²`).
const MAX_BATCH_ROWS: usize = 32;

/// The sentence encoder: all-MiniLM-L6-v2 on the CPU.
///
/// Loading reads about 90 MB of weights; share one encoder (it is `Send + Sync`, and `encode`
/// takes `&self`) rather than loading one per thread.
pub struct TextEncoder {
    model: BertModel,
    tokenizer: TextTokenizer,
    device: Device,
    dimension: usize,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl TextEncoder {
    /// Loads the model from `dir` (usually [`crate::default_model_dir`]), which must hold
    /// `config.json`, `tokenizer.json` and `model.safetensors`, as `scripts/install-model.sh`
    /// leaves them.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let files = ModelFiles::locate(dir)?;
        let config = read_config(&files.config)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer)?;
        let device = Device::Cpu;
        let weights = std::fs::read(&files.weights).map_err(|source| EncoderError::Read {
            path: files.weights.clone(),
            source,
        })?;
        let weights_error = |source| EncoderError::Weights {
            path: files.weights.clone(),
            source,
        };
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(weights_error)?;
        let model = BertModel::load(vars, &config).map_err(weights_error)?;
        Ok(Self {
            model,
            tokenizer,
            device,
            dimension: config.hidden_size,
        })
    }

    /// The length of every embedding (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// One unit-length embedding per text, in order. Texts longer than [`crate::MAX_TOKENS`]
    /// tokens are truncated. Texts are batched (padded to the longest of a batch, which does not
    /// change any text's vector); an empty slice gives an empty result.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let ids = texts
            .iter()
            .map(|text| self.tokenizer.ids(text))
            .collect::<Result<Vec<_>, _>>()?;
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let mut embeddings = vec![Vec::new(); texts.len()];
        for group in group_by_length(&lengths, MAX_BATCH_ROWS) {
            let sequences: Vec<&[u32]> = group.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.forward(&sequences)?;
            for (i, vector) in group.into_iter().zip(vectors) {
                embeddings[i] = vector;
            }
        }
        Ok(embeddings)
    }

    /// Runs one padded batch through BERT, pooling and normalisation.
    fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let batch = PaddedBatch::new(sequences, self.tokenizer.pad_id(), &self.device)?;
        let token_types = Tensor::zeros(batch.ids.shape(), DType::U32, &self.device)?;
        let hidden = self
            .model
            .forward(&batch.ids, &token_types, Some(&batch.mask))?;
        let pooled = mean_pool(&hidden, &batch.mask)?;
        Ok(l2_normalize(&pooled)?.to_vec2::<f32>()?)
    }
}

/// Reads and parses `config.json`.
fn read_config(path: &Path) -> Result<Config, EncoderError> {
    let bytes = std::fs::read(path).map_err(|source| EncoderError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| EncoderError::Config {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_between_threads<T: Send + Sync>() {}

    #[test]
    fn the_encoder_can_be_shared_between_threads() {
        shared_between_threads::<TextEncoder>();
    }
}
