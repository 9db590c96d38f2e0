//! The features the issue requires to be expressible, each as a config snippet that parses
//! (through the whole `CascadeConfig`) and computes the right value; plus the composite keys.

use std::sync::Arc;

use cascade_core::config::CascadeConfig;
use cascade_core::{Event, FieldValue};
use cascade_store::FeatureValue;
use cascade_stream::windows::{ItemFields, WindowFeature, build, composite_key};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

/// Items `a*` are in category `books`, the others in `music`.
fn categories() -> Arc<dyn ItemFields> {
    Arc::new(|item: &str, field: &str| {
        (field == "category").then(|| {
            FieldValue::Keyword(
                if item.starts_with('a') {
                    "books"
                } else {
                    "music"
                }
                .into(),
            )
        })
    })
}

/// The one feature `snippet` (a `WindowFeatureConfs` entry) declares, parsed as a whole config.
fn feature(snippet: &str) -> Box<dyn WindowFeature> {
    let config = CascadeConfig::parse(&format!(r#"{{"WindowFeatureConfs": [{snippet}]}}"#))
        .unwrap_or_else(|e| panic!("{e}"));
    build(
        &config.window_feature_confs[0],
        &config.event_conf,
        categories(),
    )
}

struct Feed(u64);

impl Feed {
    fn send(
        &mut self,
        feature: &mut dyn WindowFeature,
        kind: &str,
        uid: &str,
        item: &str,
        at: i64,
    ) {
        let event = Event::new(&format!("e{}", self.0), kind, uid, item, T0 + at);
        feature.observe(self.0, &event);
        self.0 += 1;
    }
}

fn number(x: f64) -> Option<FeatureValue> {
    Some(FeatureValue::Number(x))
}

#[test]
fn a_users_clicks_in_the_last_30_minutes_sliding_every_5() {
    let mut f = feature(
        r#"{"Name": "user_clicks_30m", "Key": "user", "EventTypes": ["click"],
            "Window": {"Type": "sliding", "Size": "30m", "Slide": "5m"},
            "Aggregation": {"Type": "count"}, "AllowedLateness": "1m"}"#,
    );
    let mut feed = Feed(0);
    for minute in [0, 10, 20, 29, 31, 40] {
        feed.send(&mut *f, "click", "u1", "a1", minute * MINUTE);
    }
    feed.send(&mut *f, "impression", "u1", "a1", 41 * MINUTE);
    feed.send(&mut *f, "click", "u2", "a1", 41 * MINUTE);
    // The clock is at 41 min: the current window is [15 min, 45 min).
    assert_eq!(f.current("u1"), number(4.0));
    assert_eq!(f.current("u2"), number(1.0));
    // A click 30 s late still counts; one at 10 min does not: the watermark is at 40 min,
    // and every window holding 10 min ends by then.
    feed.send(&mut *f, "click", "u1", "a1", 40 * MINUTE + 30_000);
    feed.send(&mut *f, "click", "u1", "a1", 10 * MINUTE);
    assert_eq!(f.current("u1"), number(5.0));
    assert_eq!(f.dropped(), 1);
    // At 52 min the window is [25 min, 55 min).
    feed.send(&mut *f, "click", "u1", "a1", 52 * MINUTE);
    assert_eq!(f.current("u1"), number(5.0));
}

#[test]
fn an_items_ctr_over_24_hours() {
    let mut f = feature(
        r#"{"Name": "item_ctr_24h", "Key": "item",
            "Window": {"Type": "sliding", "Size": "24h", "Slide": "1h"},
            "Aggregation": {"Type": "ratio", "Numerator": ["click"], "Denominator": ["impression"]}}"#,
    );
    let mut feed = Feed(0);
    for hour in 0..4 {
        feed.send(&mut *f, "impression", "u1", "a1", hour * HOUR);
    }
    feed.send(&mut *f, "click", "u1", "a1", 3 * HOUR);
    feed.send(&mut *f, "like", "u1", "a1", 3 * HOUR);
    assert_eq!(f.current("a1"), number(0.25));
    // A day later the first two impressions have left the window [2 h, 26 h).
    feed.send(&mut *f, "impression", "u2", "b1", 25 * HOUR);
    assert_eq!(f.current("a1"), number(0.5));
    assert_eq!(f.current("b1"), number(0.0));
}

#[test]
fn a_users_session_length_and_distinct_categories_per_session() {
    let features = [
        r#"{"Name": "user_session_seconds", "Key": "user",
            "Window": {"Type": "session", "Gap": "30m"}, "Aggregation": {"Type": "duration"}}"#,
        r#"{"Name": "user_session_categories", "Key": "user",
            "Window": {"Type": "session", "Gap": "30m"},
            "Aggregation": {"Type": "distinct_count", "Of": "field:category"}}"#,
    ];
    let [mut length, mut categories] = features.map(feature);
    let mut feed = Feed(0);
    for (item, minute) in [("a1", 0), ("b1", 10), ("a2", 25)] {
        feed.send(&mut *length, "click", "u1", item, minute * MINUTE);
        feed.send(&mut *categories, "click", "u1", item, minute * MINUTE);
    }
    assert_eq!(length.current("u1"), number(25.0 * 60.0));
    assert_eq!(categories.current("u1"), number(2.0));
    // 35 minutes of silence end the session; a new one starts.
    feed.send(&mut *length, "click", "u1", "a3", 60 * MINUTE);
    feed.send(&mut *categories, "click", "u1", "a3", 60 * MINUTE);
    assert_eq!(length.current("u1"), number(0.0));
    assert_eq!(categories.current("u1"), number(1.0));
}

#[test]
fn a_users_last_50_interacted_items() {
    let mut f = feature(
        r#"{"Name": "user_last_items", "Key": "user", "Window": {"Type": "global"},
            "Aggregation": {"Type": "last_n", "N": 50, "Of": "item"}}"#,
    );
    let mut feed = Feed(0);
    for i in 0..60 {
        feed.send(&mut *f, "click", "u1", &format!("i{i}"), i * MINUTE);
        feed.send(&mut *f, "impression", "u1", &format!("x{i}"), i * MINUTE);
    }
    // One arrives out of order: it is older than the 50 kept, so it is not among them.
    feed.send(&mut *f, "like", "u1", "old", 5 * MINUTE);
    let expected: Vec<String> = (10..60).rev().map(|i| format!("i{i}")).collect();
    assert_eq!(f.current("u1"), Some(FeatureValue::List(expected)));
}

#[test]
fn keys_by_user_and_item_field_and_by_context_field() {
    let mut by_category = feature(
        r#"{"Name": "user_category_clicks", "Key": "user_x_field:category",
            "Window": {"Type": "tumbling", "Size": "1h"}, "Aggregation": {"Type": "count"}}"#,
    );
    let mut feed = Feed(0);
    for item in ["a1", "a2", "b1"] {
        feed.send(&mut *by_category, "click", "u1", item, MINUTE);
    }
    assert_eq!(
        by_category.current(&composite_key("u1", "books")),
        number(2.0)
    );
    assert_eq!(
        by_category.current(&composite_key("u1", "music")),
        number(1.0)
    );

    let mut by_device = feature(
        r#"{"Name": "device_clicks", "Key": "context:device",
            "Window": {"Type": "tumbling", "Size": "1h"}, "Aggregation": {"Type": "sum"}}"#,
    );
    let mut event = Event::new("e", "click", "u1", "a1", T0);
    event.context.device = Some("ios".into());
    event.value = 2.5;
    by_device.observe(0, &event);
    by_device.observe(1, &Event::new("f", "click", "u1", "a1", T0));
    assert_eq!(by_device.current("ios"), number(2.5));
}
