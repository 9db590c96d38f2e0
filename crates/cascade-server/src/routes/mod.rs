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
use crate::features::route::read_features;
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
#[rustfmt::skip]
pub fn table() -> Vec<Route> {
    use Body::{Json, None as NoBody, Records};
    use Guard::{Metrics, Needs, Open};
    use Method as M;
    vec![
        route(M::GET,    "/health",                 Open,         NoBody,  health::health),
        route(M::GET,    "/ready",                  Open,         NoBody,  health::ready),
        route(M::GET,    "/metrics",                Metrics,      NoBody,  health::metrics),
        route(M::POST,   "/api/events",             Needs(Write), Records, events::post_events),
        route(M::GET,    "/api/admin/config",       Needs(Admin), NoBody,  admin::get_config),
        route(M::PUT,    "/api/admin/config",       Needs(Admin), Json,    admin::put_config),
        route(M::POST,   "/api/recommend",          Needs(Read),  Json,    recommend::recommend),
        route(M::POST,   "/api/rec/feed",           Needs(Read),  Json,    recommend::recommend),
        route(M::POST,   "/api/search",             Needs(Read),  Json,    search::search),
        route(M::POST,   "/api/features",           Needs(Read),  Json,    read_features),
        route(M::GET,    "/api/items/{id}",         Needs(Read),  NoBody,  records::get_record::<Items>),
        route(M::PUT,    "/api/items/{id}",         Needs(Write), Json,    records::put_record::<Items>),
        route(M::DELETE, "/api/items/{id}",         Needs(Admin), NoBody,  records::delete_record::<Items>),
        route(M::GET,    "/api/items/{id}/similar", Needs(Read),  NoBody,  similar::similar),
        route(M::GET,    "/api/users/{id}",         Needs(Read),  NoBody,  records::get_record::<Users>),
        route(M::PUT,    "/api/users/{id}",         Needs(Write), Json,    records::put_record::<Users>),
        route(M::DELETE, "/api/users/{id}",         Needs(Admin), NoBody,  records::delete_record::<Users>),
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
