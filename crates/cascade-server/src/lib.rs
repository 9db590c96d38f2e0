//! Cascade's HTTP API (axum): ingestion, catalogue CRUD, recommendations, health and
//! Prometheus metrics. See docs/API.md for the routes and their error shapes.

pub mod access;
pub mod app;
mod backfill;
pub mod batch;
mod connections;
pub mod distributed;
pub mod error;
mod feature_log;
pub mod features;
mod item_writes;
mod limits;
pub mod metrics;
mod readiness;
pub mod routes;
pub mod serve;

pub use app::App;
pub use serve::{ServeError, Server};
