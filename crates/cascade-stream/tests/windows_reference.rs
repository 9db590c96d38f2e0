//! Every window type with every aggregation against a brute-force reference over the same
//! seeded random events, out of order and partly late. The reference keeps the accepted
//! events and recomputes each window from them; only the acceptance rule (the watermark) and
//! session closing follow the documented semantics, written as directly as possible.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cascade_core::config::WindowFeatureConf;
use cascade_core::{Event, EventTypes, FieldValue};
use cascade_store::FeatureValue;
use cascade_stream::windows::{Span, WindowFeature, build};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MINUTE: i64 = 60_000;
const LATENESS: i64 = 2 * MINUTE;
const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];

#[derive(Clone, Copy, Debug)]
enum Win {
    Panes { size: i64, slide: i64 },
    Session { gap: i64 },
    Global,
}

#[derive(Clone, Copy, Debug)]
enum Agg {
    Count,
    Sum,
    Mean,
    Duration,
    Distinct,
    Ratio,
    LastN(usize),
}

const WINDOWS: [(&str, Win); 4] = [
    (
        "tumbling",
        Win::Panes {
            size: 10 * MINUTE,
            slide: 10 * MINUTE,
        },
    ),
    (
        "sliding",
        Win::Panes {
            size: 10 * MINUTE,
            slide: 2 * MINUTE,
        },
    ),
    ("session", Win::Session { gap: 3 * MINUTE }),
    ("global", Win::Global),
];

const AGGREGATIONS: [Agg; 7] = [
    Agg::Count,
    Agg::Sum,
    Agg::Mean,
    Agg::Duration,
    Agg::Distinct,
    Agg::Ratio,
    Agg::LastN(4),
];

fn conf(window: Win, agg: Agg) -> WindowFeatureConf {
    let window = match window {
        Win::Panes { size, slide } => {
            serde_json::json!({"Type": "sliding", "Size": format!("{size}ms"), "Slide": format!("{slide}ms")})
        }
        Win::Session { gap } => serde_json::json!({"Type": "session", "Gap": format!("{gap}ms")}),
        Win::Global => serde_json::json!({"Type": "global"}),
    };
    let aggregation = match agg {
        Agg::Count => serde_json::json!({"Type": "count"}),
        Agg::Sum => serde_json::json!({"Type": "sum"}),
        Agg::Mean => serde_json::json!({"Type": "mean"}),
        Agg::Duration => serde_json::json!({"Type": "duration"}),
        Agg::Distinct => serde_json::json!({"Type": "distinct_count", "Of": "item"}),
        Agg::Ratio => {
            serde_json::json!({"Type": "ratio", "Numerator": ["click"], "Denominator": ["impression"]})
        }
        Agg::LastN(n) => serde_json::json!({"Type": "last_n", "N": n}),
    };
    let types = match agg {
        Agg::Ratio => serde_json::json!([]),
        _ => serde_json::json!(["click", "like"]),
    };
    serde_json::from_value(serde_json::json!({
        "Name": "f", "Key": "user", "EventTypes": types, "Window": window,
        "Aggregation": aggregation, "AllowedLateness": format!("{LATENESS}ms"),
    }))
    .unwrap()
}

fn events(seed: u64, count: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut clock = 1_700_000_000_000i64;
    (0..count)
        .map(|i| {
            clock += rng.random_range(0..20_000);
            let ts = match rng.random_range(0..100) {
                0..5 => clock - rng.random_range(0..30 * MINUTE),
                5..30 => clock - rng.random_range(0..3 * LATENESS / 2),
                _ => clock,
            };
            let kind =
                ["impression", "impression", "click", "like", "share"][rng.random_range(0..5)];
            let uid = USERS[rng.random_range(0..USERS.len())];
            let item = format!("i{}", rng.random_range(0..15));
            let mut event = Event::new(&format!("e{i}"), kind, uid, &item, ts);
            event.value = f64::from(rng.random_range(1..=5));
            event
        })
        .collect()
}

/// The brute-force reference.
struct Reference {
    window: Win,
    agg: Agg,
    newest: i64,
    dropped: u64,
    /// Accepted events per user, with their log positions.
    accepted: HashMap<String, Vec<(u64, Event)>>,
    /// Sessions only: the accepted events per user whose session has not closed.
    open: HashMap<String, Vec<(u64, Event)>>,
}

impl Reference {
    fn new(window: Win, agg: Agg) -> Self {
        Self {
            window,
            agg,
            newest: i64::MIN,
            dropped: 0,
            accepted: HashMap::new(),
            open: HashMap::new(),
        }
    }

    fn watermark(&self) -> i64 {
        self.newest.saturating_sub(LATENESS)
    }

    fn counts(&self, kind: &str) -> bool {
        match self.agg {
            Agg::Ratio => kind == "click" || kind == "impression",
            _ => kind == "click" || kind == "like",
        }
    }

    /// Splits events into sessions: sorted by time, a new session wherever the step is ≥ gap.
    fn sessions(events: &[(u64, Event)], gap: i64) -> Vec<(Span, Vec<(u64, Event)>)> {
        let mut sorted = events.to_vec();
        sorted.sort_by_key(|(seq, e)| (e.timestamp, *seq));
        let mut sessions: Vec<(Span, Vec<(u64, Event)>)> = Vec::new();
        for (seq, e) in sorted {
            match sessions.last_mut() {
                Some((span, members)) if e.timestamp < span.end => {
                    span.end = e.timestamp + gap;
                    members.push((seq, e));
                }
                _ => sessions.push((
                    Span {
                        start: e.timestamp,
                        end: e.timestamp + gap,
                    },
                    vec![(seq, e)],
                )),
            }
        }
        sessions
    }

    /// Sessions only: forgets (closes) the user's sessions that ended by the watermark.
    fn close(&mut self, uid: &str, gap: i64) {
        let watermark = self.watermark();
        let open = self.open.entry(uid.to_string()).or_default();
        *open = Self::sessions(open, gap)
            .into_iter()
            .filter(|(span, _)| span.end > watermark)
            .flat_map(|(_, members)| members)
            .collect();
    }

    fn push(&mut self, seq: u64, event: &Event) {
        if !self.counts(&event.event_type) {
            return;
        }
        self.newest = self.newest.max(event.timestamp);
        let watermark = self.watermark();
        let uid = event.uid.clone();
        let accept = match self.window {
            Win::Global => true,
            Win::Panes { size, slide } => {
                event.timestamp.div_euclid(slide) * slide + size > watermark
            }
            Win::Session { gap } => {
                self.close(&uid, gap);
                let mut trial = self.open[&uid].clone();
                trial.push((seq, event.clone()));
                Self::sessions(&trial, gap)
                    .into_iter()
                    .find(|(_, members)| members.iter().any(|(s, _)| *s == seq))
                    .is_some_and(|(span, _)| span.end > watermark)
            }
        };
        if accept {
            self.accepted
                .entry(uid.clone())
                .or_default()
                .push((seq, event.clone()));
            self.open.entry(uid).or_default().push((seq, event.clone()));
        } else {
            self.dropped += 1;
        }
    }

    fn aggregate(&self, events: &[&(u64, Event)]) -> Option<FeatureValue> {
        if events.is_empty() {
            return None;
        }
        let n = events.len() as f64;
        let sum: f64 = events.iter().map(|(_, e)| e.value).sum();
        let number = |x: f64| Some(FeatureValue::Number(x));
        match self.agg {
            Agg::Count => number(n),
            Agg::Sum => number(sum),
            Agg::Mean => number(sum / n),
            Agg::Duration => {
                let times = events.iter().map(|(_, e)| e.timestamp);
                number((times.clone().max()? - times.min()?) as f64 / 1000.0)
            }
            Agg::Distinct => number(
                events
                    .iter()
                    .map(|(_, e)| &e.item_id)
                    .collect::<BTreeSet<_>>()
                    .len() as f64,
            ),
            Agg::Ratio => {
                let of = |kind: &str| events.iter().filter(|(_, e)| e.event_type == kind).count();
                let clicks = of("click") as f64;
                let impressions = of("impression") as f64;
                (impressions > 0.0).then_some(FeatureValue::Number(clicks / impressions))
            }
            Agg::LastN(k) => {
                let mut sorted: Vec<_> = events
                    .iter()
                    .map(|(seq, e)| (e.timestamp, *seq, e.item_id.clone()))
                    .collect();
                sorted.sort();
                Some(FeatureValue::List(
                    sorted
                        .into_iter()
                        .rev()
                        .take(k)
                        .map(|(_, _, item)| item)
                        .collect(),
                ))
            }
        }
    }

    fn of_user(&self, uid: &str) -> Vec<&(u64, Event)> {
        self.accepted
            .get(uid)
            .map_or_else(Vec::new, |v| v.iter().collect())
    }

    fn open_windows(&mut self, uid: &str) -> Vec<(Span, FeatureValue)> {
        let watermark = self.watermark();
        let mut windows: BTreeMap<Span, Vec<&(u64, Event)>> = BTreeMap::new();
        match self.window {
            Win::Global => {
                let all = Span {
                    start: i64::MIN,
                    end: i64::MAX,
                };
                windows.insert(all, self.of_user(uid));
            }
            Win::Panes { size, slide } => {
                for event in self.of_user(uid) {
                    // Every window [k·slide, k·slide + size) that contains the event.
                    let last = event.1.timestamp.div_euclid(slide) * slide;
                    for k in 0..size / slide {
                        let start = last - k * slide;
                        windows
                            .entry(Span {
                                start,
                                end: start + size,
                            })
                            .or_default()
                            .push(event);
                    }
                }
            }
            Win::Session { gap } => {
                self.close(uid, gap);
                return Self::sessions(&self.open[uid], gap)
                    .into_iter()
                    .filter_map(|(span, members)| {
                        let members: Vec<_> = members.iter().collect();
                        Some((span, self.aggregate(&members)?))
                    })
                    .collect();
            }
        }
        windows
            .into_iter()
            .filter(|(span, _)| span.end > watermark)
            .filter_map(|(span, members)| Some((span, self.aggregate(&members)?)))
            .collect()
    }

    fn current(&mut self, uid: &str) -> Option<FeatureValue> {
        let clock = self.newest;
        match self.window {
            Win::Global => self.aggregate(&self.of_user(uid)),
            Win::Panes { size, slide } => {
                let start = clock.div_euclid(slide) * slide + slide - size;
                let inside: Vec<_> = self
                    .of_user(uid)
                    .into_iter()
                    .filter(|(_, e)| (start..start + size).contains(&e.timestamp))
                    .collect();
                self.aggregate(&inside)
            }
            Win::Session { gap } => {
                self.close(uid, gap);
                let sessions = Self::sessions(&self.open[uid], gap);
                let (span, members) = sessions.last()?;
                let members: Vec<_> = members.iter().collect();
                (span.start <= clock && clock < span.end)
                    .then(|| self.aggregate(&members))
                    .flatten()
            }
        }
    }
}

fn same(a: &Option<FeatureValue>, b: &Option<FeatureValue>) -> bool {
    match (a, b) {
        (Some(FeatureValue::Number(x)), Some(FeatureValue::Number(y))) => {
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        _ => a == b,
    }
}

fn assert_matches(feature: &dyn WindowFeature, reference: &mut Reference, what: &str) {
    assert_eq!(feature.dropped(), reference.dropped, "{what}: dropped");
    assert_eq!(
        feature.watermark(),
        reference.watermark(),
        "{what}: watermark"
    );
    for uid in USERS {
        let (got, want) = (feature.current(uid), reference.current(uid));
        assert!(
            same(&got, &want),
            "{what}: current of {uid}: {got:?} != {want:?}"
        );
        let got = feature.open_windows(uid);
        let want = reference.open_windows(uid);
        let spans = |w: &[(Span, FeatureValue)]| w.iter().map(|(s, _)| *s).collect::<Vec<_>>();
        assert_eq!(spans(&got), spans(&want), "{what}: open windows of {uid}");
        for ((span, g), (_, w)) in got.iter().zip(&want) {
            let (g, w) = (Some(g.clone()), Some(w.clone()));
            assert!(same(&g, &w), "{what}: {uid} {span:?}: {g:?} != {w:?}");
        }
    }
}

fn no_fields() -> Arc<dyn cascade_stream::windows::ItemFields> {
    Arc::new(|_: &str, _: &str| None::<FieldValue>)
}

/// Feeds the events, comparing with the reference every 100 events; halfway, a copy is
/// restored from the saved state and must go on exactly like the original.
fn check(name: &str, window: Win, agg: Agg, seed: u64) {
    let conf = conf(window, agg);
    let types = EventTypes::default();
    let mut feature = build(&conf, &types, no_fields());
    let mut restored: Option<Box<dyn WindowFeature>> = None;
    let mut reference = Reference::new(window, agg);
    let mut store: HashMap<String, Option<FeatureValue>> = HashMap::new();
    let stream = events(seed, 1200);
    for (seq, event) in stream.iter().enumerate() {
        let seq = seq as u64;
        feature.observe(seq, event);
        if let Some(copy) = restored.as_mut() {
            copy.observe(seq, event);
        }
        reference.push(seq, event);
        if seq % 100 == 99 {
            let what = format!("{name} {agg:?} seed {seed} after {}", seq + 1);
            assert_matches(&*feature, &mut reference, &what);
            if let Some(copy) = restored.as_deref() {
                assert_matches(copy, &mut reference, &format!("{what} (restored)"));
            }
            feature.drain_changes(&mut |key, value| {
                store.insert(key, value);
            });
            if !matches!(window, Win::Session { .. }) {
                // Pane and global values change only when touched or at a pane boundary,
                // so the drained values are exactly the current ones.
                for uid in USERS {
                    let stored = store.get(uid).cloned().flatten();
                    assert!(same(&stored, &feature.current(uid)), "{what}: stored {uid}");
                }
            }
        }
        if seq == 600 {
            let mut copy = build(&conf, &types, no_fields());
            let mut bytes = Vec::new();
            (feature.snapshot())(&mut bytes).unwrap();
            copy.load(serde_json::from_slice(&bytes).unwrap()).unwrap();
            restored = Some(copy);
        }
    }
    assert!(
        reference.dropped > 0 || matches!(window, Win::Global),
        "{name}: some events were late"
    );
}

fn check_every_aggregation(window: usize) {
    let (name, window) = WINDOWS[window];
    for agg in AGGREGATIONS {
        for seed in 0..3 {
            check(name, window, agg, seed);
        }
    }
}

#[test]
fn tumbling_windows_match_the_reference() {
    check_every_aggregation(0);
}

#[test]
fn sliding_windows_match_the_reference() {
    check_every_aggregation(1);
}

#[test]
fn session_windows_match_the_reference() {
    check_every_aggregation(2);
}

#[test]
fn global_windows_match_the_reference() {
    check_every_aggregation(3);
}
