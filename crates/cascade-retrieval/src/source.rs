//! The recall-source trait.

use cascade_core::{Candidate, RequestContext};

/// A source of candidates for a request.
pub trait RecallSource: Send + Sync {
    /// The name candidates carry as their `retrieve_id`.
    fn name(&self) -> &str;
    /// Up to `limit` candidates for the request, best first.
    fn recall(&self, request: &RequestContext, limit: usize) -> Vec<Candidate>;
}
