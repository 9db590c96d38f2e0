//! The recommendation sections, shaped as PAI-Rec's `RecommendConfig` defines them:
//! named component lists and per-scene wiring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Settings of a component beyond its name and type, read by the component's builder.
pub type Settings = BTreeMap<String, Value>;

/// A named recall source (`RecallConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecallConf {
    /// The name pipelines refer to; also the candidates' `retrieve_id`.
    pub name: String,
    /// The kind of source, e.g. `UserGlobalHotRecall`.
    pub recall_type: String,
    /// How many candidates it returns.
    #[serde(default = "default_recall_count")]
    pub recall_count: usize,
    /// Type-specific settings.
    #[serde(flatten)]
    pub settings: Settings,
}

fn default_recall_count() -> usize {
    500
}

/// A named filter (`FilterConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterConf {
    /// The name pipelines refer to.
    pub name: String,
    /// The kind of filter, e.g. `UniqueFilter`.
    pub filter_type: String,
    /// Type-specific settings.
    #[serde(flatten)]
    pub settings: Settings,
}

/// A named sorter (`SortConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SortConf {
    /// The name pipelines refer to.
    pub name: String,
    /// The kind of sorter, e.g. `ItemRankScore`.
    pub sort_type: String,
    /// Type-specific settings.
    #[serde(flatten)]
    pub settings: Settings,
}

/// A named scoring model (`AlgoConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlgoConf {
    /// The name rank configurations refer to.
    pub name: String,
    /// `gbdt`, `onnx`, `linear` or `lookup`.
    #[serde(rename = "Type")]
    pub algo_type: String,
    /// Type-specific settings.
    #[serde(flatten)]
    pub settings: Settings,
}

/// One category of a scene (`SceneConfs.<scene>.<category>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SceneCategoryConf {
    /// The recall sources of the scene's main pipeline.
    #[serde(default)]
    pub recall_names: Vec<String>,
    /// Other settings.
    #[serde(flatten)]
    pub settings: Settings,
}

/// Feature loading for a scene (`FeatureConfs.<scene>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FeatureConf {
    /// The feature loaders.
    #[serde(default)]
    pub feature_load_confs: Vec<Value>,
    /// Whether features load asynchronously.
    #[serde(default)]
    pub asyn_load_feature: bool,
}

/// Fine ranking (`RankConf.<scene>`, or a pipeline's `RankConf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RankConf {
    /// The models to run, by `AlgoConfs` name.
    #[serde(default)]
    pub rank_algo_list: Vec<String>,
    /// The final score as an expression over model outputs, e.g. `${ctr} * 0.7 + ${cvr}`.
    #[serde(default)]
    pub rank_score: String,
    /// A post-processor name.
    #[serde(default)]
    pub processor: String,
    /// Candidates per model call.
    #[serde(default)]
    pub batch_count: usize,
    /// Context features passed to the models.
    #[serde(default)]
    pub context_features: Vec<String>,
    /// Item features passed to the models.
    #[serde(default)]
    pub item_features: Vec<String>,
}

impl RankConf {
    /// Whether any model is configured.
    pub fn is_set(&self) -> bool {
        !self.rank_algo_list.is_empty()
    }
}

/// A coarse-rank action: a filter or a sort applied after the coarse model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ActionConf {
    /// `filter` or `sort`.
    #[serde(default)]
    pub action_type: String,
    /// The `FilterConfs` or `SortConfs` name; empty for none.
    #[serde(default)]
    pub action_name: String,
}

/// Coarse ranking (`GeneralRankConfs.<scene>`, or a pipeline's `GeneralRankConf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GeneralRankConf {
    /// The feature loaders of the coarse stage.
    #[serde(default)]
    pub feature_load_confs: Vec<Value>,
    /// The coarse model.
    #[serde(default)]
    pub rank_conf: RankConf,
    /// What to do with the coarse scores, in order.
    #[serde(default)]
    pub action_confs: Vec<ActionConf>,
}

/// Cold-start ranking (`ColdStartRankConfs.<scene>`, or a pipeline's `ColdStartRankConf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ColdStartRankConf {
    /// The model, by `AlgoConfs` name; empty for none.
    #[serde(default)]
    pub algo_name: String,
    /// Whether the model sees embedding features only.
    #[serde(default)]
    pub only_embedding_feature: bool,
}

impl ColdStartRankConf {
    /// Whether a model is configured.
    pub fn is_set(&self) -> bool {
        !self.algo_name.is_empty()
    }
}

/// A named pipeline of a scene (`PipelineConfs.<scene>[]`), run beside the scene's main one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PipelineConf {
    /// The name, unique across all scenes.
    pub name: String,
    /// Recall sources, by `RecallConfs` name.
    #[serde(default)]
    pub recall_names: Vec<String>,
    /// Filters, by `FilterConfs` name.
    #[serde(default)]
    pub filter_names: Vec<String>,
    /// Coarse ranking.
    #[serde(default)]
    pub general_rank_conf: Option<GeneralRankConf>,
    /// Feature loaders before fine ranking.
    #[serde(default)]
    pub feature_load_confs: Vec<Value>,
    /// Fine ranking (exclusive with `ColdStartRankConf`).
    #[serde(default)]
    pub rank_conf: Option<RankConf>,
    /// Cold-start ranking (exclusive with `RankConf`).
    #[serde(default)]
    pub cold_start_rank_conf: Option<ColdStartRankConf>,
    /// Sorters (re-rank), by `SortConfs` name.
    #[serde(default)]
    pub sort_names: Vec<String>,
}

/// The PAI-Rec recommendation sections of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecommendSections {
    /// Recall sources.
    #[serde(default)]
    pub recall_confs: Vec<RecallConf>,
    /// Filters.
    #[serde(default)]
    pub filter_confs: Vec<FilterConf>,
    /// Sorters.
    #[serde(default)]
    pub sort_confs: Vec<SortConf>,
    /// Scoring models.
    #[serde(default)]
    pub algo_confs: Vec<AlgoConf>,
    /// scene → category → main-pipeline recall list.
    #[serde(default)]
    pub scene_confs: BTreeMap<String, BTreeMap<String, SceneCategoryConf>>,
    /// scene → main-pipeline filters.
    #[serde(default)]
    pub filter_names: BTreeMap<String, Vec<String>>,
    /// scene → main-pipeline sorters.
    #[serde(default)]
    pub sort_names: BTreeMap<String, Vec<String>>,
    /// scene → main-pipeline feature loading.
    #[serde(default)]
    pub feature_confs: BTreeMap<String, FeatureConf>,
    /// scene → main-pipeline fine ranking.
    #[serde(default)]
    pub rank_conf: BTreeMap<String, RankConf>,
    /// scene → main-pipeline coarse ranking.
    #[serde(default)]
    pub general_rank_confs: BTreeMap<String, GeneralRankConf>,
    /// scene → main-pipeline cold-start ranking.
    #[serde(default)]
    pub cold_start_rank_confs: BTreeMap<String, ColdStartRankConf>,
    /// scene → extra named pipelines.
    #[serde(default)]
    pub pipeline_confs: BTreeMap<String, Vec<PipelineConf>>,
}
