//! Feature logging in the server: the [`FeatureLogger`] of `FeatureLogConf`, and the shown
//! items of each recommend response handed to it with their positions.

use std::sync::Arc;

use cascade_core::RequestContext;
use cascade_core::config::{CascadeConfig, ConfigError};
use cascade_core::time::TimestampMs;
use cascade_pipeline::Outcome;
use cascade_rank::features::RankItem;
use cascade_rank::logging::{FeatureLogError, FeatureLogger};
use cascade_rank::scorer::ScoringInput;

use crate::app::{App, AppError};

/// The logger `FeatureLogConf` asks for; `None` when it is off. Its feature names and its
/// directory are checked here, errors naming the key. The setting takes effect at start-up
/// (a reload keeps the logger it started with).
pub(crate) fn open(config: &CascadeConfig) -> Result<Option<FeatureLogger>, AppError> {
    let conf = &config.feature_log_conf;
    if !conf.enabled {
        return Ok(None);
    }
    let logger = FeatureLogger::from_config(conf, &config.storage_conf.data_dir).map_err(
        |error| match error {
            FeatureLogError::Config(issue) => ConfigError::Rejected(vec![issue]),
            other => ConfigError::Invalid {
                path: "FeatureLogConf.Dir".into(),
                reason: other.to_string(),
            },
        },
    )?;
    tracing::info!(
        dir = %conf.dir_under(&config.storage_conf.data_dir).display(),
        features = logger.features().len(),
        sample_rate = conf.sample_rate,
        "feature logging on"
    );
    Ok(Some(logger))
}

/// Logs the features of the items `outcome` showed for `request` (positions as in the
/// response), as of `shown_at`; sampling and a full queue are the logger's business.
pub(crate) fn log_shown(
    app: &App,
    logger: &FeatureLogger,
    request: &RequestContext,
    outcome: &Outcome,
    shown_at: TimestampMs,
) {
    if outcome.items.is_empty() {
        return;
    }
    let engine = app.engine();
    let items: Vec<Option<Arc<RankItem>>> = outcome
        .items
        .iter()
        .map(|candidate| engine.item(&candidate.item_id))
        .collect();
    let inputs: Vec<ScoringInput<'_>> = outcome
        .items
        .iter()
        .zip(&items)
        .map(|(candidate, item)| ScoringInput {
            candidate,
            item: item.as_deref(),
        })
        .collect();
    logger.log_at(
        app.feature_source.as_ref(),
        request,
        &request.scene_id,
        &inputs,
        shown_at,
    );
}
