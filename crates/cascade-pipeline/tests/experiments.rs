//! Experiments over simulated users: bucket shares follow the config, overrides reach only
//! the users in the experiment's buckets, whitelists force assignment.

use std::collections::HashMap;

use cascade_core::config::CascadeConfig;
use cascade_pipeline::ExperimentRouter;
use cascade_pipeline::spec::{MAIN_PIPELINE, resolve};

const CONFIG: &str = r#"{
    "RecallConfs": [
        {"Name": "hot", "RecallType": "UserGlobalHotRecall"},
        {"Name": "fresh", "RecallType": "ColdStartRecall"},
        {"Name": "cf", "RecallType": "ItemCollaborativeFilterRecall"}
    ],
    "SceneConfs": {"home": {"default": {"RecallNames": ["hot", "fresh"]}}},
    "PipelineConfs": {"home": [{"Name": "cold", "RecallNames": ["fresh"]}]},
    "ExperimentConfs": {"Layers": [
        {"Name": "recall", "Scenes": ["home"], "Experiments": [
            {"ExperimentId": "cf_main", "Buckets": "0-29", "Whitelist": ["vip"],
             "Params": {"RecallNames": ["hot", "cf"]}},
            {"ExperimentId": "cf_cold", "Buckets": "30-79",
             "Params": {"pipelines.cold.RecallNames": ["cf"]}}
        ]},
        {"Name": "other_scene", "Scenes": ["search"], "Experiments": [
            {"ExperimentId": "never_home", "Buckets": "0-99"}
        ]}
    ]}
}"#;

fn recall_of(pipelines: &[cascade_core::config::rec::PipelineConf], name: &str) -> Vec<String> {
    pipelines
        .iter()
        .find(|p| p.name == name)
        .unwrap()
        .recall_names
        .clone()
}

#[test]
fn overrides_reach_only_users_in_the_experiment_buckets_in_the_configured_shares() {
    let config = CascadeConfig::parse(CONFIG).unwrap();
    let router = ExperimentRouter::new(&config.experiment_confs);
    let users = 10_000;
    let mut shares: HashMap<String, usize> = HashMap::new();
    for u in 0..users {
        let uid = format!("user-{u}");
        let assignment = router.assign("home", &uid);
        let pipelines = resolve(&config, "home", &assignment.params);
        let main = recall_of(&pipelines, MAIN_PIPELINE);
        let cold = recall_of(&pipelines, "cold");
        match assignment.experiment_id().as_str() {
            "cf_main" => assert_eq!(
                (main, cold),
                (vec!["hot".into(), "cf".into()], vec!["fresh".into()])
            ),
            "cf_cold" => assert_eq!(
                (main, cold),
                (vec!["hot".into(), "fresh".into()], vec!["cf".into()])
            ),
            "" => assert_eq!(
                (main, cold),
                (vec!["hot".into(), "fresh".into()], vec!["fresh".into()])
            ),
            other => panic!("{uid} was assigned {other}, a layer of another scene"),
        }
        *shares.entry(assignment.experiment_id()).or_default() += 1;
    }
    for (id, expected) in [("cf_main", 30.0), ("cf_cold", 50.0), ("", 20.0)] {
        let share = 100.0 * shares[id] as f64 / users as f64;
        assert!(
            (share - expected).abs() <= 2.0,
            "{id:?} got {share:.1}% of users, configured {expected}%"
        );
    }
}

#[test]
fn whitelisted_users_are_forced_into_their_experiment() {
    let config = CascadeConfig::parse(CONFIG).unwrap();
    let router = ExperimentRouter::new(&config.experiment_confs);
    assert_eq!(router.assign("home", "vip").experiment_id(), "cf_main");
    assert_eq!(router.assign("search", "vip").experiment_id(), "never_home");
}
