//! Which settings a reload applies at once and which only at the next start: the state they
//! shape (the listener, the stores, the indexes, the stream runtime, the caches, the access
//! policy) is built once, at start-up. A reload applies the recommendation sections,
//! `ExperimentConfs` and `EngineConf` (but its cache sizes); the rest keeps its running value.

use super::CascadeConfig;

/// The key of each setting that applies at the next start, and its field.
macro_rules! at_next_start {
    ($($key:literal => $($field:ident).+),+ $(,)?) => {
        /// The settings that apply at the next start, by key.
        pub const AT_NEXT_START: &[&str] = &[$($key),+];

        impl CascadeConfig {
            /// Gives each setting that applies at the next start its value in `running`;
            /// answers the keys of those whose value this configuration changed.
            pub fn keep_at_next_start(&mut self, running: &CascadeConfig) -> Vec<&'static str> {
                let mut changed = Vec::new();
                $(
                    if self.$($field).+ != running.$($field).+ {
                        changed.push($key);
                        self.$($field).+.clone_from(&running.$($field).+);
                    }
                )+
                changed
            }
        }
    };
}

at_next_start! {
    "ListenConf" => listen_conf,
    "StorageConf" => storage_conf,
    "ServerConf" => server_conf,
    "AuthConf" => auth_conf,
    "EventConf" => event_conf,
    "ItemSchema" => item_schema,
    "AnnConfs" => ann_confs,
    "PopularConf" => popular_conf,
    "SearchConf" => search_conf,
    "ItemCfConf" => item_cf_conf,
    "TrendingConf" => trending_conf,
    "HistoryConf" => history_conf,
    "TextEncoderConf" => text_encoder_conf,
    "WindowFeatureConfs" => window_feature_confs,
    "FeatureStoreConf" => feature_store_conf,
    "KafkaConf" => kafka_conf,
    "EnricherConfs" => enricher_confs,
    "FeatureLogConf" => feature_log_conf,
    "EngineConf.ItemCacheSize" => engine_conf.item_cache_size,
    "EngineConf.ResponseCacheSeconds" => engine_conf.response_cache_seconds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_values_stay_and_the_changes_are_named() {
        let running = CascadeConfig::default();
        let mut next = CascadeConfig::default();
        next.event_conf.types = ["x".to_string()].into();
        next.engine_conf.timeout_ms = 7;
        next.engine_conf.item_cache_size = 3;
        assert_eq!(
            next.keep_at_next_start(&running),
            ["EventConf", "EngineConf.ItemCacheSize"]
        );
        assert_eq!(next.event_conf, running.event_conf);
        assert_eq!(
            next.engine_conf.item_cache_size,
            running.engine_conf.item_cache_size
        );
        assert_eq!(
            next.engine_conf.timeout_ms, 7,
            "the deadline applies at once"
        );
        assert!(next.keep_at_next_start(&running).is_empty());
    }

    #[test]
    fn every_top_level_key_but_the_live_ones_applies_at_the_next_start() {
        let live = ["ExperimentConfs", "EngineConf"];
        let serde_json::Value::Object(keys) =
            serde_json::to_value(CascadeConfig::default()).unwrap()
        else {
            panic!("a config is an object")
        };
        let recommend = serde_json::to_value(super::super::RecommendSections::default()).unwrap();
        for key in keys.keys() {
            let listed = AT_NEXT_START.contains(&key.as_str());
            let is_live = live.contains(&key.as_str()) || recommend.get(key).is_some();
            assert!(listed != is_live, "`{key}`: say whether it applies at once");
        }
    }
}
