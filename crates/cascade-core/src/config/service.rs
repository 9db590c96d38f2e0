//! Cascade's own service sections: where to listen, where data lives, limits, and the
//! settings of the built-in popularity recall and user history.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigIssue;

/// Where the HTTP server listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListenConf {
    /// The address to bind; empty means 127.0.0.1.
    #[serde(default)]
    pub http_addr: String,
    /// The port to bind; 0 picks a free one.
    #[serde(default = "default_port")]
    pub http_port: u16,
}

impl Default for ListenConf {
    fn default() -> Self {
        Self {
            http_addr: String::new(),
            http_port: default_port(),
        }
    }
}

impl ListenConf {
    /// `addr:port`, with an empty address read as 127.0.0.1.
    pub fn socket_addr(&self) -> String {
        let addr = if self.http_addr.is_empty() {
            "127.0.0.1"
        } else {
            &self.http_addr
        };
        format!("{addr}:{}", self.http_port)
    }

    /// Whether the address is a loopback one (empty, `localhost`, `127.x.y.z`, `::1`), which
    /// only this machine reaches.
    pub fn is_loopback(&self) -> bool {
        let addr = self.http_addr.trim_start_matches('[').trim_end_matches(']');
        addr.is_empty()
            || addr.eq_ignore_ascii_case("localhost")
            || addr
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn default_port() -> u16 {
    8000
}

/// Where data lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StorageConf {
    /// The data directory of the embedded store.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The directory every `ModelPath` must lie in (relative paths are read from the working
    /// directory, as `ModelPath`s are).
    #[serde(default = "default_model_dir")]
    pub model_dir: PathBuf,
    /// The largest model file read, in bytes.
    #[serde(default = "default_max_model_bytes")]
    pub max_model_bytes: u64,
}

impl Default for StorageConf {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            model_dir: default_model_dir(),
            max_model_bytes: default_max_model_bytes(),
        }
    }
}

fn default_model_dir() -> PathBuf {
    PathBuf::from("models")
}

fn default_max_model_bytes() -> u64 {
    1 << 30
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("cascade-data")
}

/// HTTP server limits: sizes, timeouts, load shedding and per-caller rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ServerConf {
    /// The largest request body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most records accepted in one batch.
    #[serde(default = "default_max_batch_records")]
    pub max_batch_records: usize,
    /// How long a connection may take to send a request's line and headers, in milliseconds,
    /// counted from the connection's opening or its previous answer; then it is closed.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a request's body may take to arrive once its headers have, in milliseconds;
    /// then the answer is 408 and the connection is closed.
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// How long a request may take from its headers to its answer, body included, in
    /// milliseconds; then the answer is 504 (a body still arriving is cut off, a handler past its
    /// body is not).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The most requests handled at once; past it requests are answered 503 at once.
    /// `/health`, `/ready` and `/metrics` are not counted.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Requests per second allowed to each caller (its API key, else its IP address), as a
    /// token bucket; 0 turns rate limiting off.
    #[serde(default)]
    pub rate_limit_per_second: f64,
    /// How many requests a caller may send at once beyond its rate (the bucket's size).
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
    /// The most callers whose buckets are remembered; past it the least recently seen are
    /// forgotten.
    #[serde(default = "default_max_rate_limited_callers")]
    pub max_rate_limited_callers: usize,
}

impl Default for ServerConf {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_batch_records: default_max_batch_records(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            max_concurrent_requests: default_max_concurrent_requests(),
            rate_limit_per_second: 0.0,
            rate_limit_burst: default_rate_limit_burst(),
            max_rate_limited_callers: default_max_rate_limited_callers(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_max_batch_records() -> usize {
    50_000
}

fn default_header_timeout_ms() -> u64 {
    10_000
}

fn default_body_timeout_ms() -> u64 {
    30_000
}

fn default_request_timeout_ms() -> u64 {
    60_000
}

fn default_max_concurrent_requests() -> usize {
    1024
}

fn default_rate_limit_burst() -> u32 {
    100
}

fn default_max_rate_limited_callers() -> usize {
    100_000
}

/// The highest `ServerConf.MaxConcurrentRequests` accepted.
pub const MAX_CONCURRENT_REQUESTS: usize = 1_000_000;

/// Checks a `ServerConf`: positive limits and timeouts, at most
/// [`MAX_CONCURRENT_REQUESTS`] requests at once, a finite non-negative rate, and a
/// burst of at least one request when rate limiting is on.
pub fn check_server(conf: &ServerConf) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut issue = |key: &str, reason: String| {
        issues.push(ConfigIssue {
            path: format!("ServerConf.{key}"),
            reason,
        })
    };
    let positive = [
        ("HeaderTimeoutMs", conf.header_timeout_ms),
        ("BodyTimeoutMs", conf.body_timeout_ms),
        ("RequestTimeoutMs", conf.request_timeout_ms),
        ("MaxConcurrentRequests", conf.max_concurrent_requests as u64),
        (
            "MaxRateLimitedCallers",
            conf.max_rate_limited_callers as u64,
        ),
    ];
    for (key, value) in positive {
        if value == 0 {
            issue(key, "must be at least 1".into());
        }
    }
    if conf.max_concurrent_requests > MAX_CONCURRENT_REQUESTS {
        issue(
            "MaxConcurrentRequests",
            format!("must be at most {MAX_CONCURRENT_REQUESTS}"),
        );
    }
    let rate = conf.rate_limit_per_second;
    if !rate.is_finite() || rate < 0.0 {
        issue(
            "RateLimitPerSecond",
            format!("must be a finite number, 0 (off) or more, got {rate}"),
        );
    }
    if rate > 0.0 && conf.rate_limit_burst == 0 {
        issue(
            "RateLimitBurst",
            "must be at least 1 while RateLimitPerSecond is on".into(),
        );
    }
    issues
}

/// The popularity recall: most interacted items over a trailing window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PopularConf {
    /// Length of the trailing window, in hours. The window ends at the newest event time seen.
    #[serde(default = "default_window_hours")]
    pub window_hours: u64,
    /// How often the ranked list is recomputed at most, in milliseconds.
    #[serde(default = "default_refresh_millis")]
    pub refresh_millis: u64,
}

impl Default for PopularConf {
    fn default() -> Self {
        Self {
            window_hours: default_window_hours(),
            refresh_millis: default_refresh_millis(),
        }
    }
}

fn default_window_hours() -> u64 {
    24 * 30
}

fn default_refresh_millis() -> u64 {
    1000
}

/// Per-user interaction history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HistoryConf {
    /// How many of a user's most recent distinct items are kept (and excluded from recommendations).
    #[serde(default = "default_max_items_per_user")]
    pub max_items_per_user: usize,
}

impl Default for HistoryConf {
    fn default() -> Self {
        Self {
            max_items_per_user: default_max_items_per_user(),
        }
    }
}

fn default_max_items_per_user() -> usize {
    1000
}

/// How a scene's request is run: deadline, merge policy, caching and fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EngineConf {
    /// The request deadline, in milliseconds; every stage respects it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How the pipelines' results merge: `score` (by score), `interleave` (round-robin in
    /// pipeline order) or `quota` (shares per pipeline from `Quotas`, then round-robin).
    #[serde(default = "default_merge_policy")]
    pub merge_policy: String,
    /// Pipeline name → share of the response, for the `quota` policy.
    #[serde(default)]
    pub quotas: std::collections::BTreeMap<String, f64>,
    /// How long a user's last good response is kept as a fallback, in seconds.
    #[serde(default = "default_response_cache_seconds")]
    pub response_cache_seconds: u64,
    /// How many items are cached in memory for the stages to read.
    #[serde(default = "default_item_cache_size")]
    pub item_cache_size: u64,
    /// Whether each response is logged as `impression` events (with request id, position,
    /// scene and experiment id), which also feeds `User2ItemExposureFilter`.
    #[serde(default)]
    pub log_impressions: bool,
    /// Consecutive failures (errors or timeouts) of a recall source or model that open its
    /// circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker skips its component before one call is let through, in
    /// milliseconds.
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
}

impl Default for EngineConf {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            merge_policy: default_merge_policy(),
            quotas: Default::default(),
            response_cache_seconds: default_response_cache_seconds(),
            item_cache_size: default_item_cache_size(),
            log_impressions: false,
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_ms: default_breaker_cooldown_ms(),
        }
    }
}

fn default_breaker_failures() -> u32 {
    5
}

fn default_breaker_cooldown_ms() -> u64 {
    1000
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_merge_policy() -> String {
    "score".into()
}

fn default_response_cache_seconds() -> u64 {
    3600
}

fn default_item_cache_size() -> u64 {
    1_000_000
}

/// The item-to-item collaborative-filtering index (`ItemCollaborativeFilterRecall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ItemCfConf {
    /// Each user's most recent distinct items that pair with a new one.
    #[serde(default = "default_cf_history")]
    pub history_len: usize,
    /// Neighbours summed per history item at recall.
    #[serde(default = "default_cf_neighbours")]
    pub neighbours_per_item: usize,
    /// Swing's smoothing α in 1/(α + |I_u ∩ I_v|).
    #[serde(default = "default_swing_alpha")]
    pub swing_alpha: f64,
    /// How often swing similarities are rebuilt, in seconds; 0 never (cosine follows the counts:
    /// see `neighbour_refresh_seconds`).
    #[serde(default = "default_swing_rebuild_seconds")]
    pub swing_rebuild_seconds: u64,
    /// How often a background thread recomputes the cosine neighbour lists of the items whose
    /// counts changed, in seconds; recalls read the lists as of the last refresh. 0 computes
    /// each list at every recall instead (exact, but a popular item pairs with most of the
    /// catalogue, so its list is costly).
    #[serde(default = "default_cf_neighbour_refresh_seconds")]
    pub neighbour_refresh_seconds: u64,
    /// How far a changed item's counts must move before a refresh recomputes its list: new
    /// co-occurrences since its list was computed, as a fraction of its number of co-occurring
    /// items (0 recomputes every changed list; a new item's list is always computed). A
    /// popular item pairs with much of the catalogue, so recomputing its list after each event
    /// cost most of the refresh; with a fraction `f` each list costs at most `1/f` row reads
    /// per new co-occurrence.
    #[serde(default = "default_cf_neighbour_refresh_fraction")]
    pub neighbour_refresh_fraction: f64,
}

impl Default for ItemCfConf {
    fn default() -> Self {
        Self {
            history_len: default_cf_history(),
            neighbours_per_item: default_cf_neighbours(),
            swing_alpha: default_swing_alpha(),
            swing_rebuild_seconds: default_swing_rebuild_seconds(),
            neighbour_refresh_seconds: default_cf_neighbour_refresh_seconds(),
            neighbour_refresh_fraction: default_cf_neighbour_refresh_fraction(),
        }
    }
}

fn default_cf_history() -> usize {
    50
}

fn default_cf_neighbours() -> usize {
    100
}

fn default_swing_alpha() -> f64 {
    1.0
}

fn default_swing_rebuild_seconds() -> u64 {
    600
}

fn default_cf_neighbour_refresh_seconds() -> u64 {
    30
}

fn default_cf_neighbour_refresh_fraction() -> f64 {
    0.05
}

/// Trending items: interaction counts decayed by a half-life (`TrendingRecall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TrendingConf {
    /// The half-life of an interaction's weight, in hours of event time.
    #[serde(default = "default_half_life_hours")]
    pub half_life_hours: f64,
}

impl Default for TrendingConf {
    fn default() -> Self {
        Self {
            half_life_hours: default_half_life_hours(),
        }
    }
}

fn default_half_life_hours() -> f64 {
    24.0
}

/// Full-text search: which item fields are indexed, how they are tokenised and weighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SearchConf {
    /// Field name → settings; empty means every `text` field of `ItemSchema`, default tokeniser.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, SearchField>,
    /// How often the item writes are committed to the text index, in milliseconds: a write is
    /// searchable within this time. 0 commits with every write (searchable when the write
    /// answers, at tens of milliseconds per write).
    #[serde(default = "default_search_refresh_ms")]
    pub refresh_ms: u64,
}

impl Default for SearchConf {
    fn default() -> Self {
        Self {
            fields: Default::default(),
            refresh_ms: default_search_refresh_ms(),
        }
    }
}

fn default_search_refresh_ms() -> u64 {
    1000
}

/// How one field is searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SearchField {
    /// `default` (lower-case words, English stemming) or `chinese` (jieba).
    #[serde(default = "default_tokenizer")]
    pub tokenizer: String,
    /// The field's weight in the BM25 score.
    #[serde(default = "default_boost")]
    pub boost: f32,
}

fn default_tokenizer() -> String {
    "default".into()
}

fn default_boost() -> f32 {
    1.0
}

/// The built-in text encoder (all-MiniLM-L6-v2): item text becomes a named embedding, and
/// search queries are embedded into the same space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TextEncoderConf {
    /// The item embedding it fills; declared in `ItemSchema.Embeddings` with the model's
    /// dimension (384).
    pub embedding: String,
    /// The item fields whose text is embedded, joined in this order.
    pub fields: Vec<String>,
    /// The model directory; by default `$CASCADE_MODEL_DIR`, else
    /// `~/.cache/cascade/models/all-MiniLM-L6-v2` (where `scripts/install-model.sh` puts it).
    #[serde(default)]
    pub model_dir: Option<std::path::PathBuf>,
    /// Texts encoded per model call.
    #[serde(default = "default_encoder_batch")]
    pub batch_size: usize,
}

fn default_encoder_batch() -> usize {
    32
}
