//! Built-in enrichers from their configuration (`EnricherConfs`).

use std::sync::Arc;

use cascade_core::config::enrich::{EnricherType, OnnxInput, TextInput};
use cascade_core::config::features::Selector;
use cascade_core::config::models::check_model_file;
use cascade_core::config::{CascadeConfig, EnricherConf};
use cascade_infer::default_model_dir;
use cascade_store::FeatureStore;

use super::{
    EnrichError, Enricher, EnricherFactory, MicroBatcher, OnnxEnricher, OnnxSource,
    TextEmbeddingEnricher, TextSource,
};
use crate::windows::ItemFields;
use cascade_core::config::enrich::EnrichKey;

/// What the built-in enrichers read besides the event.
#[derive(Clone)]
pub struct EnrichContext {
    /// Where outputs are written, and window feature values read.
    pub store: Arc<dyn FeatureStore>,
    /// The catalogue's fields: item text, numeric item inputs.
    pub items: Arc<dyn ItemFields>,
}

/// Loads the models of the enricher `conf` (one per worker) and starts it; `config` is the
/// whole document (event types, the text encoder's defaults, the window features).
pub fn start_enricher(
    conf: &EnricherConf,
    config: &CascadeConfig,
    context: &EnrichContext,
) -> Result<MicroBatcher, EnrichError> {
    let factory = factory(conf, config, context)?;
    MicroBatcher::start(conf, &config.event_conf, &factory, context.store.clone())
}

/// Builds the models of one enricher.
fn factory(
    conf: &EnricherConf,
    config: &CascadeConfig,
    context: &EnrichContext,
) -> Result<EnricherFactory, EnrichError> {
    let unresolved = |reason: String| EnrichError::Config {
        enricher: conf.name.clone(),
        reason,
    };
    let factory: EnricherFactory = match conf.kind {
        EnricherType::TextEmbedding => {
            let dir = conf
                .text_model_dir(config)
                .unwrap_or_else(default_model_dir);
            let source = match conf.text_input() {
                TextInput::EventText => TextSource::Event,
                TextInput::ItemText => TextSource::Item {
                    fields: conf.text_fields(config).to_vec(),
                    items: context.items.clone(),
                },
            };
            Box::new(move || {
                let enricher = TextEmbeddingEnricher::load(&dir, source.clone())?;
                Ok(Box::new(enricher) as Box<dyn Enricher>)
            })
        }
        EnricherType::Onnx => {
            let path = conf
                .model_path
                .clone()
                .ok_or_else(|| unresolved("ModelPath is not set".into()))?;
            check_model_file(&config.storage_conf, &path)
                .map_err(|reason| unresolved(format!("ModelPath: {reason}")))?;
            let inputs = conf
                .features
                .iter()
                .map(|name| onnx_source(name, config).map_err(&unresolved))
                .collect::<Result<Vec<_>, _>>()?;
            let context = context.clone();
            Box::new(move || {
                let enricher = OnnxEnricher::load(
                    &path,
                    inputs.clone(),
                    context.store.clone(),
                    context.items.clone(),
                )?;
                Ok(Box::new(enricher) as Box<dyn Enricher>)
            })
        }
    };
    Ok(factory)
}

/// Where the ONNX input `name` is read from.
fn onnx_source(name: &str, config: &CascadeConfig) -> Result<OnnxSource, String> {
    let feature = match OnnxInput::parse(name) {
        OnnxInput::ItemField(field) => return Ok(OnnxSource::ItemField(field.to_string())),
        OnnxInput::Window(feature) => feature,
    };
    let window = config
        .window_feature_confs
        .iter()
        .find(|w| w.name == feature)
        .ok_or_else(|| format!("`{feature}` is not a window feature"))?;
    let key = match window.key.0.as_slice() {
        [Selector::User] => EnrichKey::User,
        [Selector::Item] => EnrichKey::Item,
        _ => return Err(format!("`{feature}` is not kept per user or per item")),
    };
    Ok(OnnxSource::Window {
        name: feature.to_string(),
        key,
    })
}
