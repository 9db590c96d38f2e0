//! Binding, routing and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::App;
use crate::error::ApiError;
use crate::limits::{self, Limits};
use crate::metrics::track_http;
use crate::routes;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
}

impl Server {
    /// Binds the address in `app.config().listen_conf`.
    pub async fn bind(app: Arc<App>) -> Result<Self, ServeError> {
        let addr = app.config().listen_conf.socket_addr();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            header_timeout: Duration::from_millis(app.config().server_conf.header_timeout_ms),
            router: router(app),
        })
    }

    /// The address actually bound (the port is chosen when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight. A connection
    /// that sends no complete request head within `ServerConf.HeaderTimeoutMs` is closed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        crate::connections::serve(self.listener, self.router, self.header_timeout, shutdown).await;
        Ok(())
    }
}

/// All routes, with metrics, panic containment, the body limit and the request limits
/// (`limits`). Installs the Prometheus recorder if no router did before.
pub fn router(app: Arc<App>) -> Router {
    crate::metrics::prometheus();
    let body_limit = app.config().server_conf.max_body_bytes;
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(routes::health::metrics))
        .route("/api/events", post(routes::events::post_events))
        .route(
            "/api/admin/config",
            get(routes::admin::get_config).put(routes::admin::put_config),
        )
        .route("/api/recommend", post(routes::recommend::recommend))
        .route("/api/search", post(routes::search::search))
        .route("/api/features", post(crate::features::route::read_features))
        .route("/api/rec/feed", post(routes::recommend::recommend))
        .route(
            "/api/items/{id}",
            get(routes::records::get_record::<routes::records::Items>)
                .put(routes::records::put_record::<routes::records::Items>)
                .delete(routes::records::delete_record::<routes::records::Items>),
        )
        .route("/api/items/{id}/similar", get(routes::similar::similar))
        .route(
            "/api/users/{id}",
            get(routes::records::get_record::<routes::records::Users>)
                .put(routes::records::put_record::<routes::records::Users>)
                .delete(routes::records::delete_record::<routes::records::Users>),
        )
        .fallback(|| async { ApiError::status(axum::http::StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Limits::new(&app.config().server_conf),
            limits::enforce,
        ))
        .layer(axum::middleware::from_fn(track_http))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::status(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }))
        .with_state(app)
}
