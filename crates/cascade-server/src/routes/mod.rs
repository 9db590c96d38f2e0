//! Route handlers, one module per resource, and [`table`]: every route of the API with who
//! may call it.

pub mod admin;
pub mod events;
pub mod health;
pub mod recommend;
pub mod records;
pub mod search;
pub mod similar;

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use cascade_core::config::Role::{Admin, Read, Write};

use crate::access::{Body, Guard};
use crate::app::App;
use records::{Items, Users};

/// One route of the API.
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, in axum's syntax (`/api/items/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub guard: Guard,
    /// What its request body is.
    pub body: Body,
    /// What answers it.
    pub handler: MethodRouter<Arc<App>>,
}

/// Every route of the API, each with who may call it: the router is built from this table
/// alone, so no route is left without a guard.
pub fn table() -> Vec<Route> {
    use Body::{Json, Records};
    let open = Guard::Open;
    let needs = Guard::Needs;
    let none = Body::None;
    vec![
        route(Method::GET, "/health", open, none, health::health),
        route(Method::GET, "/ready", open, none, health::ready),
        route(
            Method::GET,
            "/metrics",
            Guard::Metrics,
            none,
            health::metrics,
        ),
        route(
            Method::POST,
            "/api/events",
            needs(Write),
            Records,
            events::post_events,
        ),
        route(
            Method::GET,
            "/api/admin/config",
            needs(Admin),
            none,
            admin::get_config,
        ),
        route(
            Method::PUT,
            "/api/admin/config",
            needs(Admin),
            Json,
            admin::put_config,
        ),
        route(
            Method::POST,
            "/api/recommend",
            needs(Read),
            Json,
            recommend::recommend,
        ),
        route(
            Method::POST,
            "/api/rec/feed",
            needs(Read),
            Json,
            recommend::recommend,
        ),
        route(
            Method::POST,
            "/api/search",
            needs(Read),
            Json,
            search::search,
        ),
        route(
            Method::POST,
            "/api/features",
            needs(Read),
            Json,
            crate::features::route::read_features,
        ),
        route(
            Method::GET,
            "/api/items/{id}",
            needs(Read),
            none,
            records::get_record::<Items>,
        ),
        route(
            Method::PUT,
            "/api/items/{id}",
            needs(Write),
            Json,
            records::put_record::<Items>,
        ),
        route(
            Method::DELETE,
            "/api/items/{id}",
            needs(Admin),
            none,
            records::delete_record::<Items>,
        ),
        route(
            Method::GET,
            "/api/items/{id}/similar",
            needs(Read),
            none,
            similar::similar,
        ),
        route(
            Method::GET,
            "/api/users/{id}",
            needs(Read),
            none,
            records::get_record::<Users>,
        ),
        route(
            Method::PUT,
            "/api/users/{id}",
            needs(Write),
            Json,
            records::put_record::<Users>,
        ),
        route(
            Method::DELETE,
            "/api/users/{id}",
            needs(Admin),
            none,
            records::delete_record::<Users>,
        ),
    ]
}

fn route<H, T>(method: Method, path: &'static str, guard: Guard, body: Body, handler: H) -> Route
where
    H: Handler<T, Arc<App>>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone())
        .unwrap_or_else(|_| panic!("{method} {path}: a method axum routes"));
    Route {
        handler: on(filter, handler),
        method,
        path,
        guard,
        body,
    }
}
