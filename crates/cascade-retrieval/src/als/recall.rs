//! ALS as a recall source: string ids in, candidates out.

use cascade_core::{Candidate, RequestContext};

use super::ids::IdMap;
use super::train::{AlsConfig, AlsError, AlsModel, Interaction};
use crate::source::RecallSource;

/// The name ALS candidates carry as their `retrieve_id`.
pub const ALS: &str = "als";

/// A trained ALS model with its id maps and each known user's seen items (never recalled).
pub struct AlsRecall {
    model: AlsModel,
    users: IdMap,
    items: IdMap,
    seen: Vec<Vec<u32>>,
}

impl AlsRecall {
    /// Trains on `(uid, item id, weight)` interactions.
    pub fn train<'a>(
        interactions: impl IntoIterator<Item = (&'a str, &'a str, f32)>,
        config: &AlsConfig,
    ) -> Result<Self, AlsError> {
        let (mut users, mut items) = (IdMap::default(), IdMap::default());
        let indexed: Vec<Interaction> = interactions
            .into_iter()
            .map(|(uid, item, weight)| Interaction {
                user: users.intern(uid),
                item: items.intern(item),
                weight,
            })
            .collect();
        let model = AlsModel::train(users.len(), items.len(), &indexed, config)?;
        let mut seen = vec![Vec::new(); users.len()];
        for i in &indexed {
            seen[i.user as usize].push(i.item);
        }
        for list in &mut seen {
            list.sort_unstable();
            list.dedup();
        }
        Ok(Self {
            model,
            users,
            items,
            seen,
        })
    }

    /// Up to `limit` candidates for someone whose history is `(item id, weight)`: a new user, or
    /// one with events newer than the model. The vector is folded in against the item factors;
    /// items in the history are not recalled.
    pub fn recall_for_history(&self, history: &[(&str, f32)], limit: usize) -> Vec<Candidate> {
        let mut known: Vec<(u32, f32)> = history
            .iter()
            .filter_map(|(id, weight)| self.items.get(id).map(|i| (i, *weight)))
            .collect();
        let vector = self.model.fold_in(&known);
        known.sort_unstable_by_key(|&(item, _)| item);
        let seen: Vec<u32> = known.into_iter().map(|(item, _)| item).collect();
        self.candidates(&vector, &seen, limit)
    }

    fn candidates(&self, vector: &[f32], seen: &[u32], limit: usize) -> Vec<Candidate> {
        self.model
            .recommend(vector, limit, |item| seen.binary_search(&item).is_ok())
            .into_iter()
            .map(|(item, score)| {
                Candidate::new(
                    self.items.id(item).to_string(),
                    f64::from(score),
                    ALS.to_string(),
                )
            })
            .collect()
    }
}

impl RecallSource for AlsRecall {
    fn name(&self) -> &str {
        ALS
    }

    /// The items scoring highest for the request's user, minus those the user was trained
    /// with; nothing for a user the model does not know.
    fn recall(&self, request: &RequestContext, limit: usize) -> Vec<Candidate> {
        let Some(user) = self.users.get(&request.uid) else {
            return Vec::new();
        };
        let vector = self
            .model
            .user_vector(user)
            .expect("a vector per mapped user");
        self.candidates(vector, &self.seen[user as usize], limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recall() -> AlsRecall {
        // "a*" users read "x*" books, "b*" users read "y*" books; each skips one.
        let mut pairs = Vec::new();
        for (users, items) in [("a", "x"), ("b", "y")] {
            for u in 0..8 {
                for i in 0..5 {
                    if i != u % 5 {
                        pairs.push((format!("{users}{u}"), format!("{items}{i}")));
                    }
                }
            }
        }
        let config = AlsConfig {
            factors: 4,
            iterations: 8,
            ..AlsConfig::default()
        };
        AlsRecall::train(pairs.iter().map(|(u, i)| (&u[..], &i[..], 1.0)), &config).unwrap()
    }

    #[test]
    fn recalls_unseen_items_of_the_users_own_group() {
        let recall = recall();
        let request = RequestContext {
            uid: "a2".into(),
            ..RequestContext::default()
        };
        let got = recall.recall(&request, 2);
        assert_eq!(got[0].item_id, "x2");
        assert_eq!(got[0].retrieve_id, ALS);
        assert!(
            got.iter().all(|c| c.item_id != "x0"),
            "seen items are masked"
        );
        let stranger = RequestContext {
            uid: "nobody".into(),
            ..RequestContext::default()
        };
        assert!(recall.recall(&stranger, 2).is_empty());
    }

    #[test]
    fn folds_in_a_new_users_history() {
        let got = recall().recall_for_history(&[("y0", 1.0), ("y1", 1.0), ("y2", 1.0)], 2);
        let ids: Vec<&str> = got.iter().map(|c| c.item_id.as_str()).collect();
        assert!(ids.iter().all(|id| id.starts_with('y')), "{ids:?}");
        assert!(!ids.contains(&"y0"));
    }
}
