//! The effective pipelines of a request: the scene's main pipeline and its `PipelineConfs`,
//! with the user's experiment parameters applied.

use std::collections::BTreeMap;

use cascade_core::config::CascadeConfig;
use cascade_core::config::experiment::param_target;
use cascade_core::config::rec::{ColdStartRankConf, GeneralRankConf, PipelineConf, RankConf};
use serde_json::Value;

/// The name of a scene's main pipeline (the one built from the scene-level sections).
pub const MAIN_PIPELINE: &str = "main";

/// One pipeline as it will run: component names and stage settings.
pub type PipelineSpec = PipelineConf;

/// The main pipeline of `scene`, from SceneConfs, FilterNames, GeneralRankConfs,
/// FeatureConfs, RankConf, ColdStartRankConfs and SortNames.
pub fn main_pipeline(config: &CascadeConfig, scene: &str) -> PipelineSpec {
    let rec = &config.recommend;
    let mut recall_names: Vec<String> = Vec::new();
    for category in rec
        .scene_confs
        .get(scene)
        .into_iter()
        .flat_map(BTreeMap::values)
    {
        for name in &category.recall_names {
            if !recall_names.contains(name) {
                recall_names.push(name.clone());
            }
        }
    }
    PipelineSpec {
        name: MAIN_PIPELINE.to_string(),
        recall_names,
        filter_names: rec.filter_names.get(scene).cloned().unwrap_or_default(),
        general_rank_conf: rec.general_rank_confs.get(scene).cloned(),
        feature_load_confs: rec
            .feature_confs
            .get(scene)
            .map(|f| f.feature_load_confs.clone())
            .unwrap_or_default(),
        rank_conf: rec.rank_conf.get(scene).cloned(),
        cold_start_rank_conf: rec.cold_start_rank_confs.get(scene).cloned(),
        sort_names: rec.sort_names.get(scene).cloned().unwrap_or_default(),
    }
}

/// Whether a scene is configured at all.
pub fn scene_exists(config: &CascadeConfig, scene: &str) -> bool {
    let rec = &config.recommend;
    rec.scene_confs.contains_key(scene) || rec.pipeline_confs.contains_key(scene)
}

/// The scene's pipelines (main first, then PipelineConfs in order) with `params` applied.
/// A pipeline without recall sources (a scene with only `PipelineConfs`) recalls nothing.
pub fn resolve(
    config: &CascadeConfig,
    scene: &str,
    params: &BTreeMap<String, Value>,
) -> Vec<PipelineSpec> {
    let mut pipelines = vec![main_pipeline(config, scene)];
    pipelines.extend(
        config
            .recommend
            .pipeline_confs
            .get(scene)
            .cloned()
            .unwrap_or_default(),
    );
    for (name, value) in params {
        let Some(target) = param_target(name) else {
            continue;
        };
        let wanted = target.pipeline.unwrap_or(MAIN_PIPELINE);
        if let Some(pipeline) = pipelines.iter_mut().find(|p| p.name == wanted) {
            apply(pipeline, target.key, value);
        }
    }
    pipelines
}

/// Overrides one setting; values were type-checked when the config was loaded.
fn apply(pipeline: &mut PipelineSpec, key: &str, value: &Value) {
    fn parse<T: serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
        serde_json::from_value(value.clone()).ok()
    }
    match key {
        "RecallNames" => pipeline.recall_names = parse(value).unwrap_or_default(),
        "FilterNames" => pipeline.filter_names = parse(value).unwrap_or_default(),
        "SortNames" => pipeline.sort_names = parse(value).unwrap_or_default(),
        "FeatureLoadConfs" => pipeline.feature_load_confs = parse(value).unwrap_or_default(),
        "GeneralRankConf" => pipeline.general_rank_conf = parse::<GeneralRankConf>(value),
        "RankConf" => pipeline.rank_conf = parse::<RankConf>(value),
        "ColdStartRankConf" => pipeline.cold_start_rank_conf = parse::<ColdStartRankConf>(value),
        _ => {}
    }
}

/// When `config` defines no recall source, filter, scene or pipeline at all, adds the built-in
/// scene `default`: the popular items (`popular`), without those the user interacted with
/// (`interacted`) or that are not in the catalogue (`in_catalogue`).
pub fn ensure_default_scene(config: &mut CascadeConfig) {
    use cascade_core::config::rec::{FilterConf, RecallConf, SceneCategoryConf};
    let rec = &mut config.recommend;
    let configured = !rec.scene_confs.is_empty()
        || !rec.pipeline_confs.is_empty()
        || !rec.recall_confs.is_empty()
        || !rec.filter_confs.is_empty();
    if configured {
        return;
    }
    rec.recall_confs.push(RecallConf {
        name: "popular".into(),
        recall_type: "UserGlobalHotRecall".into(),
        recall_count: 500,
        settings: Default::default(),
    });
    for (name, filter_type) in [
        ("interacted", "UserInteractedFilter"),
        ("in_catalogue", "ItemStateFilter"),
    ] {
        rec.filter_confs.push(FilterConf {
            name: name.into(),
            filter_type: filter_type.into(),
            settings: Default::default(),
        });
    }
    let category = SceneCategoryConf {
        recall_names: vec!["popular".into()],
        settings: Default::default(),
    };
    rec.scene_confs.insert(
        "default".into(),
        BTreeMap::from([("default".to_string(), category)]),
    );
    rec.filter_names.insert(
        "default".into(),
        vec!["interacted".into(), "in_catalogue".into()],
    );
}
