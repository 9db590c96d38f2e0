//! The synthetic world: clusters with a centroid and topic words, items in clusters with
//! power-law popularity inside each, users with one to three interest clusters. Every record
//! is a pure function of the seed and its index, so any record can be made alone, in any
//! order, and the same seed gives the same bytes.

use cascade_core::time::TimestampMs;
use cascade_core::{FieldValue, Item, User};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::vocab::{AGE_BANDS, CATEGORIES, COUNTRIES, WORDS};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// 2025-01-01T00:00:00Z, the earliest end of the generated event window.
const BASE_EPOCH_MS: TimestampMs = 1_735_689_600_000;

/// Topic words per cluster.
const TOPIC_WORDS: usize = 12;

/// The end of the event window of the world of `seed`: 2025-01-01 plus `seed % 365` days.
pub fn epoch_for(seed: u64) -> TimestampMs {
    BASE_EPOCH_MS + (seed % 365) as i64 * DAY_MS
}

/// The size of the world.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldSpec {
    /// Items (`i0`, `i1`, …).
    pub items: usize,
    /// Users (`u0`, `u1`, …).
    pub users: usize,
    /// Events in all.
    pub events: usize,
    /// The seed every record derives from.
    pub seed: u64,
    /// Item clusters (interests).
    pub clusters: usize,
    /// The dimension of the `vec` embedding.
    pub dimension: usize,
}

/// Which record family a random stream belongs to.
#[derive(Clone, Copy)]
pub(super) enum Stream {
    World = 1,
    Item = 2,
    User = 3,
    Events = 4,
}

/// A random generator for record `index` of `stream`, independent of every other record's.
pub(super) fn rng_for(seed: u64, stream: Stream, index: u64) -> StdRng {
    let mixed = splitmix(splitmix(seed ^ ((stream as u64) << 56)) ^ index);
    StdRng::seed_from_u64(mixed)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A standard normal draw (Box–Muller).
pub(super) fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// One cluster: where its items' vectors sit, what its titles talk about, and how its
/// popularity ranks map onto its items.
struct Cluster {
    centroid: Vec<f32>,
    topic: Vec<&'static str>,
    /// Items in the cluster: `i % clusters == c`.
    len: usize,
    /// Rank `r` is the cluster's item at position `(r * stride + offset) % len`.
    stride: usize,
    offset: usize,
    price_base: f64,
}

/// What a user is like; the same for the user record and the user's events.
pub(super) struct Profile {
    /// Interest clusters, strongest first.
    pub interests: Vec<usize>,
    /// Relative activity (log-normal): the user's share of the events.
    pub activity: f64,
    age_band: &'static str,
    country: &'static str,
}

/// The generated world.
pub struct World {
    spec: WorldSpec,
    clusters: Vec<Cluster>,
    epoch: TimestampMs,
}

impl World {
    /// The world of `spec`; clusters are capped at the number of items (at least one).
    pub fn new(spec: WorldSpec) -> Self {
        let count = spec.clusters.clamp(1, spec.items.max(1));
        let dimension = spec.dimension.max(1);
        let mut rng = rng_for(spec.seed, Stream::World, 0);
        let clusters = (0..count)
            .map(|c| {
                let raw: Vec<f64> = (0..dimension).map(|_| normal(&mut rng)).collect();
                let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
                let mut topic = Vec::with_capacity(TOPIC_WORDS);
                while topic.len() < TOPIC_WORDS.min(WORDS.len()) {
                    let word = WORDS[rng.random_range(0..WORDS.len())];
                    if !topic.contains(&word) {
                        topic.push(word);
                    }
                }
                let len = spec.items.saturating_sub(c).div_ceil(count);
                let stride = coprime_stride(len, rng.random_range(1..=len.max(1)));
                Cluster {
                    centroid: raw.iter().map(|x| (x / norm) as f32).collect(),
                    topic,
                    len,
                    stride,
                    offset: rng.random_range(0..len.max(1)),
                    price_base: 5.0 * (1.0 + rng.random::<f64>() * 19.0),
                }
            })
            .collect();
        let epoch = epoch_for(spec.seed);
        Self {
            spec,
            clusters,
            epoch,
        }
    }

    /// The size of the world.
    pub fn spec(&self) -> &WorldSpec {
        &self.spec
    }

    /// The end of the event window: fixed by the seed, not the wall clock.
    pub fn epoch_ms(&self) -> TimestampMs {
        self.epoch
    }

    /// The number of clusters.
    pub fn cluster_count(&self) -> usize {
        self.clusters.len()
    }

    /// The cluster of item `index`.
    pub fn cluster_of(&self, index: usize) -> usize {
        index % self.clusters.len()
    }

    /// The item of popularity rank `rank` (0 = most popular) in `cluster`, if it has one.
    pub fn item_at(&self, cluster: usize, rank: usize) -> Option<usize> {
        let c = &self.clusters[cluster];
        (rank < c.len)
            .then(|| ((rank * c.stride + c.offset) % c.len) * self.clusters.len() + cluster)
    }

    /// A popularity rank in `cluster` drawn from a Zipf law with exponent ~1.
    pub(super) fn zipf_rank(&self, cluster: usize, rng: &mut StdRng) -> usize {
        let len = self.clusters[cluster].len;
        let drawn = ((len + 1) as f64).powf(rng.random::<f64>()) as usize;
        drawn.saturating_sub(1).min(len.saturating_sub(1))
    }

    /// Item `index`.
    pub fn item(&self, index: usize) -> Item {
        let mut rng = rng_for(self.spec.seed, Stream::Item, index as u64);
        let cluster = self.cluster_of(index);
        let c = &self.clusters[cluster];
        let words = rng.random_range(3..=8);
        let title: Vec<&str> = (0..words)
            .map(|_| {
                if rng.random_bool(0.7) {
                    c.topic[rng.random_range(0..c.topic.len())]
                } else {
                    WORDS[rng.random_range(0..WORDS.len())]
                }
            })
            .collect();
        let category = if rng.random_bool(0.95) {
            CATEGORIES[cluster % CATEGORIES.len()]
        } else {
            CATEGORIES[rng.random_range(0..CATEGORIES.len())]
        };
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let tag = c.topic[rng.random_range(0..c.topic.len())].to_string();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let price = (c.price_base * (0.4 * normal(&mut rng)).exp() * 100.0).round() / 100.0;
        let quality =
            ((1.0 + 2.0 * (rng.random::<f64>() + rng.random::<f64>())) * 100.0).round() / 100.0;
        let created = self.epoch - rng.random_range(0..365 * DAY_MS);
        let noise = 0.6 / (c.centroid.len() as f64).sqrt();
        let raw: Vec<f64> = c
            .centroid
            .iter()
            .map(|&x| f64::from(x) + noise * normal(&mut rng))
            .collect();
        let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
        Item {
            id: format!("i{index}"),
            fields: [
                ("title".to_string(), FieldValue::Text(title.join(" "))),
                (
                    "category".to_string(),
                    FieldValue::Keyword(category.to_string()),
                ),
                ("tags".to_string(), FieldValue::Tags(tags)),
                ("price".to_string(), FieldValue::Numeric(price)),
                ("quality".to_string(), FieldValue::Numeric(quality)),
                ("created".to_string(), FieldValue::Timestamp(created)),
            ]
            .into(),
            embeddings: [(
                "vec".to_string(),
                raw.iter().map(|x| (x / norm) as f32).collect(),
            )]
            .into(),
        }
    }

    /// What user `index` is like.
    pub(super) fn profile(&self, index: usize) -> Profile {
        let mut rng = rng_for(self.spec.seed, Stream::User, index as u64);
        let wanted = rng.random_range(1..=3).min(self.clusters.len());
        let mut interests = Vec::with_capacity(wanted);
        while interests.len() < wanted {
            let cluster = rng.random_range(0..self.clusters.len());
            if !interests.contains(&cluster) {
                interests.push(cluster);
            }
        }
        Profile {
            interests,
            activity: normal(&mut rng).exp(),
            age_band: AGE_BANDS[rng.random_range(0..AGE_BANDS.len())],
            country: COUNTRIES[rng.random_range(0..COUNTRIES.len())],
        }
    }

    /// User `index`.
    pub fn user(&self, index: usize) -> User {
        let profile = self.profile(index);
        User {
            id: format!("u{index}"),
            attributes: [
                (
                    "age_band".to_string(),
                    FieldValue::Keyword(profile.age_band.to_string()),
                ),
                (
                    "country".to_string(),
                    FieldValue::Keyword(profile.country.to_string()),
                ),
                (
                    "segment".to_string(),
                    FieldValue::Keyword(CATEGORIES[profile.interests[0] % CATEGORIES.len()].into()),
                ),
            ]
            .into(),
        }
    }
}

/// A stride near `wanted` that is coprime with `len`, so `r * stride % len` permutes ranks.
fn coprime_stride(len: usize, wanted: usize) -> usize {
    if len <= 1 {
        return 1;
    }
    (wanted..)
        .find(|s| gcd(*s, len) == 1)
        .expect("1 + a multiple of len is coprime with it")
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(items: usize) -> World {
        World::new(WorldSpec {
            items,
            users: 10,
            events: 0,
            seed: 3,
            clusters: 7,
            dimension: 8,
        })
    }

    #[test]
    fn ranks_permute_each_clusters_items() {
        let world = world(1000);
        let mut seen = vec![false; 1000];
        for cluster in 0..world.cluster_count() {
            for rank in 0.. {
                let Some(item) = world.item_at(cluster, rank) else {
                    break;
                };
                assert_eq!(world.cluster_of(item), cluster);
                assert!(!seen[item], "item {item} reached twice");
                seen[item] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn vectors_are_unit_length_and_closer_within_a_cluster() {
        let world = world(200);
        let vec = |i: usize| world.item(i).embeddings["vec"].clone();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let a = vec(0);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-4);
        let same: f32 = (1..20).map(|k| dot(&a, &vec(7 * k))).sum::<f32>() / 19.0;
        let other: f32 = (1..20).map(|k| dot(&a, &vec(7 * k + 1))).sum::<f32>() / 19.0;
        assert!(same > other + 0.3, "same cluster {same}, other {other}");
    }
}
