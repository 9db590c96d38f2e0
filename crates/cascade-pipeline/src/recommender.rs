//! The fallback: popular items the user has not interacted with and that are in the catalogue,
//! served when a scene fails and the user has no cached response (whose items the user has
//! interacted with since are dropped from it).

use std::sync::Arc;

use cascade_core::{Candidate, RequestContext};
use cascade_retrieval::RecallSource;
use cascade_store::{ItemStore, StoreError};
use cascade_stream::UserHistory;

/// Recalls from one source and drops candidates the user already interacted with or that
/// are not (or no longer) in the catalogue.
pub struct Recommender {
    recall: Arc<dyn RecallSource>,
    history: Arc<UserHistory>,
    items: Arc<dyn ItemStore>,
}

impl Recommender {
    /// A pipeline over `recall`, filtered by `history` and the `items` catalogue.
    pub fn new(
        recall: Arc<dyn RecallSource>,
        history: Arc<UserHistory>,
        items: Arc<dyn ItemStore>,
    ) -> Self {
        Self {
            recall,
            history,
            items,
        }
    }

    /// `candidates` (an earlier answer) less the items the user has interacted with since.
    pub fn not_yet_interacted(&self, uid: &str, candidates: &[Candidate]) -> Vec<Candidate> {
        candidates
            .iter()
            .filter(|candidate| !self.history.contains(uid, &candidate.item_id))
            .cloned()
            .collect()
    }

    /// Up to `request.size` candidates, best first.
    pub fn recommend(&self, request: &RequestContext) -> Result<Vec<Candidate>, StoreError> {
        let wanted = request.size;
        let mut limit = wanted * 2 + self.history.len(&request.uid);
        loop {
            let recalled = self.recall.recall(request, limit);
            let exhausted = recalled.len() < limit;
            let mut kept = Vec::with_capacity(wanted);
            for candidate in recalled {
                if kept.len() == wanted {
                    break;
                }
                if self.history.contains(&request.uid, &candidate.item_id)
                    || !self.items.contains_item(&candidate.item_id)?
                {
                    continue;
                }
                kept.push(candidate);
            }
            if kept.len() == wanted || exhausted {
                return Ok(kept);
            }
            limit *= 2;
        }
    }
}
