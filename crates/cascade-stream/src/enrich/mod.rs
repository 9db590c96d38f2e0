//! Enrichers: a model run inside the stream on each event, its output written to the feature
//! store as a feature (`<enricher name>`) of the event's item or user.
//!
//! A [`MicroBatcher`] is the [`EventObserver`](cascade_core::EventObserver): it queues the
//! events an enricher takes, and worker threads — each with its own model, built once by an
//! [`EnricherFactory`] — run them in batches of up to `BatchSize`, or fewer once `MaxWaitMs`
//! has passed since the first event of the batch was queued. A batch whose model call fails or
//! runs past `TimeoutMs` gets the configured default for each of its events and is counted; the
//! stream never waits for a model (see [`MicroBatcher`] for a full queue).
//!
//! Built in: [`TextEmbeddingEnricher`] (the text encoder over item text or the event's text)
//! and [`OnnxEnricher`] (an ONNX model over window feature values and numeric item fields).

mod batcher;
mod build;
mod onnx;
mod queue;
mod text;

use cascade_core::Event;
use cascade_core::config::enrich::EnrichKey;
use cascade_infer::EncoderError;
use cascade_infer::onnx::OnnxError;
use cascade_store::{FeatureValue, StoreError};

pub use batcher::{EnricherCounts, MicroBatcher};
pub use build::{EnrichContext, start_enricher};
pub use onnx::{OnnxEnricher, OnnxSource};
pub use text::{TextEmbeddingEnricher, TextSource};

/// What an enricher sees of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichInput {
    /// The entity the output belongs to: the event's item or user id, as the enricher is keyed.
    pub entity: String,
    /// The event's user.
    pub uid: String,
    /// The event's item.
    pub item_id: String,
    /// The event's own text, if it has one.
    pub text: Option<String>,
}

impl EnrichInput {
    /// The input of `event` for an enricher keyed by `key`.
    pub fn new(event: &Event, key: EnrichKey) -> Self {
        let entity = match key {
            EnrichKey::Item => &event.item_id,
            EnrichKey::User => &event.uid,
        };
        Self {
            entity: entity.clone(),
            uid: event.uid.clone(),
            item_id: event.item_id.clone(),
            text: event.text.clone(),
        }
    }
}

/// Why an enricher could not be built or could not run a batch.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The text encoder could not be loaded or run.
    #[error("text encoder: {0}")]
    Encoder(#[from] EncoderError),
    /// An ONNX model could not be loaded or run.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// An ONNX model takes another number of inputs than the enricher's `Features` names.
    #[error(
        "ONNX model {path} takes {width} inputs per row, but Features names {features}: list \
         them in the model's input order"
    )]
    Inputs {
        /// The model file.
        path: String,
        /// The model's width.
        width: usize,
        /// How many features are configured.
        features: usize,
    },
    /// The feature store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model answered a batch with the wrong number of outputs.
    #[error("the model gave {got} outputs for a batch of {expected} events")]
    Outputs {
        /// The batch's size.
        expected: usize,
        /// The outputs given.
        got: usize,
    },
    /// The enricher's configuration does not resolve (`CascadeConfig::parse` reports these
    /// with their key paths first).
    #[error("enricher `{enricher}`: {reason}")]
    Config {
        /// The enricher's name.
        enricher: String,
        /// What does not resolve.
        reason: String,
    },
    /// The model panicked or failed in some other way.
    #[error("model failed: {0}")]
    Model(String),
    /// A worker thread could not be started.
    #[error("cannot start an enricher thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// A model run on batches of events. One is built per worker thread and used only there, so
/// `infer` takes `&mut self` and the model need not be `Sync`.
pub trait Enricher: Send {
    /// One output per input, in order; `None` leaves that entity's feature unwritten (e.g. an
    /// item without text).
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError>;
}

/// Builds one model per worker thread; called `Workers` times when the enricher starts, so a
/// model that cannot be loaded is reported then.
pub type EnricherFactory = Box<dyn Fn() -> Result<Box<dyn Enricher>, EnrichError> + Send + Sync>;
