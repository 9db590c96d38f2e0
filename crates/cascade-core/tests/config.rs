//! The configuration document: PAI-Rec's shapes load, and every inconsistency is refused
//! with its key path.

use cascade_core::config::{AnnConf, AnnPrecision, CascadeConfig, ConfigError};

const PAIREC_EXAMPLE: &str = include_str!("fixtures/pairec_pipeline_example.json");

fn issues(text: &str) -> Vec<String> {
    match CascadeConfig::parse(text) {
        Err(ConfigError::Rejected(issues)) => issues.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn the_pai_rec_pipeline_example_loads_unchanged() {
    let config = CascadeConfig::parse(PAIREC_EXAMPLE).unwrap();
    let pipelines = &config.recommend.pipeline_confs["video_feed"];
    assert_eq!(pipelines[0].name, "coldstart");
    assert_eq!(pipelines[0].rank_conf.as_ref().unwrap().batch_count, 100);
    assert!(
        pipelines[0]
            .cold_start_rank_conf
            .as_ref()
            .unwrap()
            .only_embedding_feature
    );
}

const COMPONENTS: &str = r#"
    "RecallConfs": [
        {"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 100},
        {"Name": "fresh", "RecallType": "ColdStartRecall", "RecallCount": 50, "Hours": 48}
    ],
    "FilterConfs": [{"Name": "unique", "FilterType": "UniqueFilter"}],
    "SortConfs": [{"Name": "by_score", "SortType": "ItemRankScore"}],
    "AlgoConfs": [{"Name": "ctr", "Type": "linear"}]
"#;

#[test]
fn a_complete_scene_with_pipelines_and_experiments_loads() {
    let text = format!(
        r#"{{ {COMPONENTS},
        "SceneConfs": {{"home": {{"default": {{"RecallNames": ["hot", "fresh"]}}}}}},
        "FilterNames": {{"home": ["unique"]}},
        "SortNames": {{"home": ["by_score"]}},
        "RankConf": {{"home": {{"RankAlgoList": ["ctr"], "RankScore": "${{ctr}}"}}}},
        "GeneralRankConfs": {{"home": {{"RankConf": {{"RankAlgoList": ["ctr"]}},
            "ActionConfs": [{{"ActionType": "sort", "ActionName": "by_score"}}]}}}},
        "PipelineConfs": {{"home": [{{"Name": "cold", "RecallNames": ["fresh"],
            "ColdStartRankConf": {{"AlgoName": "ctr"}}}}]}},
        "ExperimentConfs": {{"Layers": [{{"Name": "recall", "Experiments": [
            {{"ExperimentId": "A", "Buckets": "0-49", "Params": {{"RecallNames": ["hot"]}}}},
            {{"ExperimentId": "B", "Buckets": "50-99", "Whitelist": ["u1"],
              "Params": {{"pipelines.cold.SortNames": ["by_score"]}}}}]}}]}}
        }}"#
    );
    let config = CascadeConfig::parse(&text).unwrap();
    assert_eq!(config.recommend.recall_confs[1].settings["Hours"], 48);
    assert_eq!(config.experiment_confs.layers[0].experiments.len(), 2);
}

#[test]
fn unknown_names_are_refused_with_their_key_path() {
    let text = format!(
        r#"{{ {COMPONENTS},
        "SceneConfs": {{"home": {{"default": {{"RecallNames": ["hot", "als"]}}}}}},
        "FilterNames": {{"home": ["dedup"]}},
        "PipelineConfs": {{"home": [{{"Name": "p", "SortNames": ["mmr"],
            "RankConf": {{"RankAlgoList": ["gbdt"]}},
            "GeneralRankConf": {{"ActionConfs": [{{"ActionType": "filter", "ActionName": "by_score"}}]}}}}]}}
        }}"#
    );
    assert_eq!(
        issues(&text),
        [
            "`SceneConfs.home.default.RecallNames[1]`: `als` is not defined in RecallConfs",
            "`FilterNames.home[0]`: `dedup` is not defined in FilterConfs",
            "`PipelineConfs.home[0].SortNames[0]`: `mmr` is not defined in SortConfs",
            "`PipelineConfs.home[0].GeneralRankConf.ActionConfs[0].ActionName`: `by_score` is not defined in FilterConfs",
            "`PipelineConfs.home[0].RankConf.RankAlgoList[0]`: `gbdt` is not defined in AlgoConfs",
        ]
    );
}

#[test]
fn duplicate_pipeline_names_across_scenes_are_refused() {
    let text = r#"{"PipelineConfs": {"a": [{"Name": "p"}], "b": [{"Name": "p"}]}}"#;
    assert_eq!(
        issues(text),
        [
            "`PipelineConfs.b[0].Name`: pipeline `p` is already defined at PipelineConfs.a[0]; names are unique across scenes"
        ]
    );
}

#[test]
fn rank_and_cold_start_rank_together_are_refused() {
    let text = format!(
        r#"{{ {COMPONENTS}, "PipelineConfs": {{"s": [{{"Name": "p",
            "RankConf": {{"RankAlgoList": ["ctr"]}}, "ColdStartRankConf": {{"AlgoName": "ctr"}}}}]}},
            "RankConf": {{"s": {{"RankAlgoList": ["ctr"]}}}},
            "ColdStartRankConfs": {{"s": {{"AlgoName": "ctr"}}}} }}"#
    );
    let found = issues(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("`ColdStartRankConfs.s`"), "{found:?}");
    assert!(
        found[1].starts_with("`PipelineConfs.s[0].ColdStartRankConf`"),
        "{found:?}"
    );
}

#[test]
fn duplicate_component_names_are_refused() {
    let text = r#"{"FilterConfs": [{"Name": "f", "FilterType": "UniqueFilter"}, {"Name": "f", "FilterType": "UniqueFilter"}]}"#;
    assert_eq!(
        issues(text),
        ["`FilterConfs[1].Name`: `f` is defined twice"]
    );
}

#[test]
fn experiment_mistakes_are_refused() {
    let text = format!(
        r#"{{ {COMPONENTS}, "ExperimentConfs": {{"Layers": [{{"Name": "l", "Experiments": [
            {{"ExperimentId": "A", "Buckets": "0-59"}},
            {{"ExperimentId": "A", "Buckets": "50-99", "Params": {{
                "pipelines.ghost.RecallNames": ["hot"],
                "RecallNames": "hot",
                "Colour": 1}}}}]}}]}} }}"#
    );
    let found = issues(&text);
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        [
            "ExperimentConfs.Layers[0].Experiments[1].ExperimentId",
            "ExperimentConfs.Layers[0].Experiments[1].Buckets",
            "ExperimentConfs.Layers[0].Experiments[1].Params.Colour",
            "ExperimentConfs.Layers[0].Experiments[1].Params.RecallNames",
            "ExperimentConfs.Layers[0].Experiments[1].Params.pipelines.ghost.RecallNames",
        ],
        "{found:?}"
    );
}

#[test]
fn cloud_only_and_unknown_keys_are_named() {
    let error = CascadeConfig::parse(r#"{"HologresConfs": {}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("HologresConfs") && error.contains("Alibaba Cloud"),
        "{error}"
    );
    let error = CascadeConfig::parse(r#"{"RecalConfs": []}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("RecalConfs") && error.contains("unknown key"),
        "{error}"
    );
    let error = CascadeConfig::parse(r#"{"PipelineConfs": {"s": [{"Name": "p", "Recall": []}]}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("PipelineConfs.s[0]") && error.contains("Recall"),
        "{error}"
    );
}

#[test]
fn rank_scores_and_engine_settings_are_checked() {
    let text = format!(
        r#"{{ {COMPONENTS}, "RankConf": {{"s": {{"RankAlgoList": ["ctr"], "RankScore": "${{ctr}} * ${{cvr}}"}},
              "t": {{"RankAlgoList": ["ctr"], "RankScore": "${{ctr}} *"}}}},
            "EngineConf": {{"MergePolicy": "random", "Quotas": {{"ghost": 0.5}}, "BreakerFailures": 0}},
            "ItemCfConf": {{"NeighbourRefreshFraction": 1.5}} }}"#
    );
    let found = issues(&text);
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        [
            "RankConf.s.RankScore",
            "RankConf.t.RankScore",
            "ItemCfConf.NeighbourRefreshFraction",
            "EngineConf.BreakerFailures",
            "EngineConf.MergePolicy",
            "EngineConf.Quotas.ghost"
        ],
        "{found:?}"
    );
}

#[test]
fn ann_settings_are_read_per_embedding_and_checked() {
    let config = CascadeConfig::parse(
        r#"{ "ItemSchema": {"Embeddings": {"vec": 64, "text": 384}},
             "AnnConfs": {"vec": {"Precision": "f16", "Connectivity": 32}} }"#,
    )
    .unwrap();
    let vec = &config.ann_confs["vec"];
    assert_eq!(vec.precision, AnnPrecision::F16);
    assert_eq!(vec.connectivity, 32);
    assert_eq!(vec.ef_construction, AnnConf::default().ef_construction);
    assert!(!config.ann_confs.contains_key("text"), "defaults apply");

    let found = issues(
        r#"{ "ItemSchema": {"Embeddings": {"vec": 64}},
             "AnnConfs": {"ghost": {}, "vec": {"Connectivity": 1, "EfConstruction": 0}} }"#,
    );
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        [
            "AnnConfs.ghost",
            "AnnConfs.vec.Connectivity",
            "AnnConfs.vec.EfConstruction"
        ],
        "{found:?}"
    );
    let error = CascadeConfig::parse(r#"{ "AnnConfs": {"vec": {"Precision": "f8"}} }"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("AnnConfs.vec.Precision"), "{error}");
}

#[test]
fn server_limits_are_checked() {
    let config = CascadeConfig::parse(
        r#"{ "ServerConf": {"HeaderTimeoutMs": 500, "RateLimitPerSecond": 50, "RateLimitBurst": 10} }"#,
    )
    .unwrap();
    assert_eq!(config.server_conf.header_timeout_ms, 500);
    assert_eq!(config.server_conf.rate_limit_per_second, 50.0);
    assert_eq!(
        CascadeConfig::default().server_conf.rate_limit_per_second,
        0.0,
        "rate limiting is off by default"
    );

    let found = issues(
        r#"{ "ServerConf": {"HeaderTimeoutMs": 0, "BodyTimeoutMs": 0, "RequestTimeoutMs": 0,
             "MaxConcurrentRequests": 0, "RateLimitPerSecond": 5, "RateLimitBurst": 0} }"#,
    );
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        [
            "ServerConf.HeaderTimeoutMs",
            "ServerConf.BodyTimeoutMs",
            "ServerConf.RequestTimeoutMs",
            "ServerConf.MaxConcurrentRequests",
            "ServerConf.RateLimitBurst"
        ],
        "{found:?}"
    );
    let found = issues(
        r#"{ "ServerConf": {"RateLimitPerSecond": -1, "MaxConcurrentRequests": 1000000000000} }"#,
    );
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        [
            "ServerConf.MaxConcurrentRequests",
            "ServerConf.RateLimitPerSecond"
        ],
        "{found:?}"
    );
}

#[test]
fn embedding_dimensions_are_bounded() {
    let found =
        issues(r#"{ "ItemSchema": {"Embeddings": {"empty": 0, "huge": 10000000, "fine": 8192}} }"#);
    let paths: Vec<&str> = found.iter().map(|i| i.split('`').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        ["ItemSchema.Embeddings.empty", "ItemSchema.Embeddings.huge"],
        "{found:?}"
    );
}

#[test]
fn the_search_refresh_defaults_to_a_second_and_is_bounded() {
    assert_eq!(CascadeConfig::default().search_conf.refresh_ms, 1000);
    let every_write = CascadeConfig::parse(r#"{"SearchConf": {"RefreshMs": 0}}"#).unwrap();
    assert_eq!(every_write.search_conf.refresh_ms, 0);
    let found = issues(r#"{"SearchConf": {"RefreshMs": 3600000}}"#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`SearchConf.RefreshMs`"), "{found:?}");
}
