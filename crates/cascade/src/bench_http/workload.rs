//! What the load bench sends: the server it may talk to (loopback only) and request bodies
//! drawn from the generated data's users, items and vocabulary.

use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use rand::Rng;
use rand::rngs::StdRng;

use crate::gen_data::{EVENT_TYPES, WORDS};

/// The base URL (no trailing slash) of `url`, refused unless its host is a loopback address.
pub fn loopback_base(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url `{url}` is not a URL"))?;
    if parsed.scheme() != "http" {
        bail!("--url `{url}`: only http:// is supported");
    }
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    };
    if !loopback {
        bail!(
            "--url `{url}`: the load bench drives loopback servers only (127.0.0.0/8, ::1, \
             localhost); refusing to load another host"
        );
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The ids and words requests are made of.
pub struct Workload {
    users: Vec<String>,
    items: Vec<String>,
    scene: String,
    size: usize,
    event_batch: usize,
    event_prefix: String,
    event_epoch: i64,
    next_event: AtomicU64,
}

impl Workload {
    /// Ids `u0..users` and `i0..items`, gen-data's scheme.
    pub fn from_ranges(users: usize, items: usize) -> anyhow::Result<Self> {
        if users == 0 || items == 0 {
            bail!("--users and --items must be positive");
        }
        Ok(Self::new(
            (0..users).map(|u| format!("u{u}")).collect(),
            (0..items).map(|i| format!("i{i}")).collect(),
        ))
    }

    /// The ids of `users.ndjson` and `items.ndjson` in `dir` (as `cascade gen-data
    /// --out-dir` writes them).
    pub fn from_ndjson(dir: &Path) -> anyhow::Result<Self> {
        let users = read_ids(&dir.join("users.ndjson"))?;
        let items = read_ids(&dir.join("items.ndjson"))?;
        Ok(Self::new(users, items))
    }

    fn new(users: Vec<String>, items: Vec<String>) -> Self {
        Self {
            users,
            items,
            scene: "home".into(),
            size: 10,
            event_batch: 1,
            event_prefix: format!("bench-{}", cascade_core::time::now_ms()),
            event_epoch: crate::gen_data::epoch_for(42),
            next_event: AtomicU64::new(0),
        }
    }

    /// Sets the scene, the recommendation size, the events per request and the time bench
    /// events are stamped from (the generated data's epoch, so popularity windows hold).
    pub fn with(mut self, scene: &str, size: usize, event_batch: usize, epoch: i64) -> Self {
        self.scene = scene.to_string();
        self.size = size.max(1);
        self.event_batch = event_batch.max(1);
        self.event_epoch = epoch;
        self
    }

    fn user<'a>(&'a self, rng: &mut StdRng) -> &'a str {
        &self.users[rng.random_range(0..self.users.len())]
    }

    /// A `/api/recommend` body.
    pub fn recommend(&self, rng: &mut StdRng) -> serde_json::Value {
        serde_json::json!({"uid": self.user(rng), "scene_id": self.scene, "size": self.size})
    }

    /// A `/api/search` body: one or two vocabulary words, personalised half the time.
    pub fn search(&self, rng: &mut StdRng) -> serde_json::Value {
        let words = rng.random_range(1..=2);
        let query: Vec<&str> = (0..words)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())])
            .collect();
        let mut body = serde_json::json!({"query": query.join(" "), "size": self.size});
        if rng.random_bool(0.5) {
            body["uid"] = self.user(rng).into();
        }
        body
    }

    /// A `/api/events` body: `event_batch` events with fresh ids, stamped `elapsed_ms` after
    /// the epoch.
    pub fn events(&self, rng: &mut StdRng, elapsed_ms: i64) -> serde_json::Value {
        let events: Vec<serde_json::Value> = (0..self.event_batch)
            .map(|_| {
                let n = self.next_event.fetch_add(1, Ordering::Relaxed);
                let mut draw: f64 = rng.random();
                let kind = EVENT_TYPES
                    .iter()
                    .find(|(_, share)| {
                        let hit = draw < *share;
                        draw -= share;
                        hit
                    })
                    .map_or(EVENT_TYPES[0].0, |(name, _)| name);
                serde_json::json!({
                    "event_id": format!("{}-{n}", self.event_prefix),
                    "type": kind,
                    "uid": self.user(rng),
                    "item_id": self.items[rng.random_range(0..self.items.len())],
                    "timestamp": self.event_epoch + elapsed_ms,
                })
            })
            .collect();
        serde_json::Value::Array(events)
    }
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut ids = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: malformed JSON", path.display(), index + 1))?;
        match record.get("id").and_then(|id| id.as_str()) {
            Some(id) => ids.push(id.to_string()),
            None => bail!(
                "{} line {}: field `id`: a string is required",
                path.display(),
                index + 1
            ),
        }
    }
    if ids.is_empty() {
        bail!("{} holds no records", path.display());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_accepted() {
        for ok in [
            "http://127.0.0.1:8000/",
            "http://127.3.2.1:1",
            "http://[::1]:8000",
            "http://localhost:9",
        ] {
            assert!(loopback_base(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            loopback_base("http://127.0.0.1:8000/").unwrap(),
            "http://127.0.0.1:8000"
        );
        for refused in [
            "http://10.0.0.1:8000",
            "http://example.com",
            "https://127.0.0.1:8000",
            "nonsense",
        ] {
            assert!(loopback_base(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn event_bodies_have_unique_ids_and_configured_types() {
        let workload = Workload::from_ranges(10, 20)
            .unwrap()
            .with("home", 5, 3, 1_000);
        let mut rng = rand::SeedableRng::seed_from_u64(1);
        let first = workload.events(&mut rng, 7);
        let second = workload.events(&mut rng, 8);
        let all: Vec<&serde_json::Value> = first
            .as_array()
            .unwrap()
            .iter()
            .chain(second.as_array().unwrap())
            .collect();
        assert_eq!(all.len(), 6);
        let ids: std::collections::HashSet<&str> = all
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 6);
        assert!(all.iter().all(|e| {
            EVENT_TYPES.iter().any(|(t, _)| e["type"] == *t)
                && e["timestamp"].as_i64() >= Some(1_007)
        }));
    }
}
