//! Training, fold-in and scoring of the ALS model.

use std::thread;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::matrix::{Csr, gram};
use super::solve::Solver;
use super::topk::top_k;

/// The scale of the random initial factors.
const INIT_SCALE: f32 = 0.01;

/// ALS hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsConfig {
    /// The dimension of user and item vectors.
    pub factors: usize,
    /// The ridge (L2) penalty on every vector.
    pub regularization: f32,
    /// Confidence scale: an interaction of weight `w` is held with confidence `1 + alpha · w`.
    pub alpha: f32,
    /// Full passes (users, then items).
    pub iterations: usize,
    /// Conjugate-gradient steps per vector per pass.
    pub cg_steps: usize,
    /// Seed of the random initial factors.
    pub seed: u64,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
}

/// Defaults tuned by `cascade eval` on the bundled goodbooks-10k ratings.
impl Default for AlsConfig {
    fn default() -> Self {
        Self {
            factors: 64,
            regularization: 1.0,
            alpha: 3.0,
            iterations: 15,
            cg_steps: 3,
            seed: 42,
            threads: 0,
        }
    }
}

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlsError {
    /// An interaction names a user or item outside the declared counts.
    #[error("interaction ({user}, {item}) is outside {users} users × {items} items")]
    OutOfRange {
        /// The user index.
        user: u32,
        /// The item index.
        item: u32,
        /// The number of users.
        users: usize,
        /// The number of items.
        items: usize,
    },
    /// A weight is negative or not finite.
    #[error("interaction ({user}, {item}) has weight {weight}; weights must be finite and >= 0")]
    BadWeight {
        /// The user index.
        user: u32,
        /// The item index.
        item: u32,
        /// The weight.
        weight: f32,
    },
    /// Zero factors were asked for.
    #[error("factors must be at least 1")]
    NoFactors,
}

/// One observed (user, item) pair and its strength.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    /// The user index.
    pub user: u32,
    /// The item index.
    pub item: u32,
    /// The interaction strength (a count, a rating, 1.0); repeated pairs add up.
    pub weight: f32,
}

/// Trained user and item vectors.
#[derive(Debug, Clone)]
pub struct AlsModel {
    config: AlsConfig,
    users: Vec<f32>,
    items: Vec<f32>,
    /// `Yᵀ Y + reg · I` of the final item factors, for fold-in.
    item_gram: Vec<f32>,
}

impl AlsModel {
    /// Trains on `interactions` among `users` users and `items` items.
    pub fn train(
        users: usize,
        items: usize,
        interactions: &[Interaction],
        config: &AlsConfig,
    ) -> Result<Self, AlsError> {
        check(users, items, interactions, config)?;
        let by_user = Csr::from_triples(
            users,
            interactions.iter().map(|i| (i.user, i.item, i.weight)),
        );
        let by_item = by_user.transpose(items);
        let f = config.factors;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut init = |rows: usize| -> Vec<f32> {
            (0..rows * f)
                .map(|_| rng.random::<f32>() * INIT_SCALE)
                .collect()
        };
        let mut model = Self {
            users: init(users),
            items: init(items),
            config: config.clone(),
            item_gram: Vec::new(),
        };
        let threads = worker_threads(config.threads);
        for iteration in 1..=config.iterations {
            let started = Instant::now();
            solve_all(&by_user, &model.items, &mut model.users, config, threads);
            solve_all(&by_item, &model.users, &mut model.items, config, threads);
            tracing::info!(
                iteration,
                of = config.iterations,
                millis = started.elapsed().as_millis() as u64,
                "ALS iteration done"
            );
        }
        model.item_gram = gram(&model.items, f, config.regularization);
        Ok(model)
    }

    /// How many items the model has vectors for.
    pub fn item_count(&self) -> usize {
        self.items.len() / self.config.factors
    }

    /// The trained vector of item `item`, if the model knows the item.
    pub fn item_vector(&self, item: u32) -> Option<&[f32]> {
        let f = self.config.factors;
        self.items.get(item as usize * f..(item as usize + 1) * f)
    }

    /// The trained vector of user `user`, if the model knows the user.
    pub fn user_vector(&self, user: u32) -> Option<&[f32]> {
        let f = self.config.factors;
        self.users.get(user as usize * f..(user as usize + 1) * f)
    }

    /// Solves a user vector for `interactions` (item index, weight) against the fixed item
    /// vectors: a new user, or a known one with events newer than the model. Unknown items
    /// are ignored.
    pub fn fold_in(&self, interactions: &[(u32, f32)]) -> Vec<f32> {
        let f = self.config.factors;
        let known = interactions
            .iter()
            .filter(|(item, weight)| (*item as usize) < self.item_count() && *weight >= 0.0);
        let (cols, weights): (Vec<u32>, Vec<f32>) = known.copied().unzip();
        let solver = Solver {
            y: &self.items,
            yty: &self.item_gram,
            alpha: self.config.alpha,
        };
        let mut x = vec![0.0; f];
        solver.solve(&cols, &weights, &mut x, f);
        x
    }

    /// The `k` items that score highest for `user_vector`, best first, as (item index, score);
    /// items for which `excluded` is true (those already seen) are skipped.
    pub fn recommend(
        &self,
        user_vector: &[f32],
        k: usize,
        excluded: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        top_k(&self.items, user_vector, k, excluded)
    }
}

fn check(
    users: usize,
    items: usize,
    interactions: &[Interaction],
    config: &AlsConfig,
) -> Result<(), AlsError> {
    if config.factors == 0 {
        return Err(AlsError::NoFactors);
    }
    for &Interaction { user, item, weight } in interactions {
        if user as usize >= users || item as usize >= items {
            return Err(AlsError::OutOfRange {
                user,
                item,
                users,
                items,
            });
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(AlsError::BadWeight { user, item, weight });
        }
    }
    Ok(())
}

fn worker_threads(asked: usize) -> usize {
    if asked > 0 {
        return asked;
    }
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Re-solves every row of `x` (one per row of `rows`) against the fixed factors `y`, the rows
/// split into one contiguous share per thread.
fn solve_all(rows: &Csr, y: &[f32], x: &mut [f32], config: &AlsConfig, threads: usize) {
    let f = config.factors;
    let yty = gram(y, f, config.regularization);
    let solver = Solver {
        y,
        yty: &yty,
        alpha: config.alpha,
    };
    let row_count = x.len() / f;
    let share = row_count.div_ceil(threads).max(1);
    thread::scope(|scope| {
        for (chunk, block) in x.chunks_mut(share * f).enumerate() {
            let solver = &solver;
            scope.spawn(move || {
                for (offset, vector) in block.chunks_exact_mut(f).enumerate() {
                    let (cols, weights) = rows.row(chunk * share + offset);
                    solver.solve(cols, weights, vector, config.cg_steps);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two blocks of users and items; users of block `b` interact with most items of block
    /// `b` (each user skips a different item) and with nothing else.
    fn blocks() -> (usize, usize, Vec<Interaction>) {
        let (users_per, items_per) = (20, 10);
        let mut interactions = Vec::new();
        for block in 0..2u32 {
            for u in 0..users_per {
                for i in 0..items_per {
                    if i == u % items_per {
                        continue;
                    }
                    interactions.push(Interaction {
                        user: block * users_per + u,
                        item: block * items_per + i,
                        weight: 1.0,
                    });
                }
            }
        }
        (40, 20, interactions)
    }

    fn config() -> AlsConfig {
        AlsConfig {
            factors: 8,
            iterations: 10,
            threads: 2,
            ..AlsConfig::default()
        }
    }

    fn train() -> (AlsModel, Vec<Interaction>) {
        let (users, items, interactions) = blocks();
        let model = AlsModel::train(users, items, &interactions, &config()).unwrap();
        (model, interactions)
    }

    fn seen(interactions: &[Interaction], user: u32) -> Vec<u32> {
        interactions
            .iter()
            .filter(|i| i.user == user)
            .map(|i| i.item)
            .collect()
    }

    #[test]
    fn users_recall_the_missing_item_of_their_own_block() {
        let (model, interactions) = train();
        for user in [0u32, 7, 20, 33] {
            let seen = seen(&interactions, user);
            let best = model.recommend(model.user_vector(user).unwrap(), 3, |i| seen.contains(&i));
            let block = user / 20;
            assert_eq!(
                best[0].0,
                block * 10 + user % 20 % 10,
                "user {user}: {best:?}"
            );
            assert!(best.iter().all(|(item, _)| !seen.contains(item)));
        }
    }

    #[test]
    fn fold_in_agrees_with_the_trained_vector() {
        let (model, interactions) = train();
        let user = 5;
        let history: Vec<(u32, f32)> = seen(&interactions, user)
            .into_iter()
            .map(|i| (i, 1.0))
            .collect();
        let folded = model.fold_in(&history);
        let trained = model.user_vector(user).unwrap();
        let cosine = crate::als::matrix::dot(&folded, trained)
            / (crate::als::matrix::dot(&folded, &folded).sqrt()
                * crate::als::matrix::dot(trained, trained).sqrt());
        assert!(cosine > 0.95, "cosine {cosine}");
        let best = model.recommend(&folded, 1, |i| history.iter().any(|h| h.0 == i));
        assert_eq!(best[0].0, 5);
    }

    #[test]
    fn training_is_seeded() {
        let (users, items, interactions) = blocks();
        let a = AlsModel::train(users, items, &interactions, &config()).unwrap();
        let b = AlsModel::train(users, items, &interactions, &config()).unwrap();
        assert_eq!(a.user_vector(3), b.user_vector(3));
    }

    #[test]
    fn rejects_bad_input() {
        let bad = |user, weight| {
            let interactions = [Interaction {
                user,
                item: 0,
                weight,
            }];
            AlsModel::train(2, 2, &interactions, &AlsConfig::default()).unwrap_err()
        };
        assert!(matches!(bad(2, 1.0), AlsError::OutOfRange { .. }));
        assert!(matches!(bad(0, f32::NAN), AlsError::BadWeight { .. }));
    }
}
