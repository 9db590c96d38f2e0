//! Binding, routing and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::access::{Access, AccessError};
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
    /// The access settings refuse to start (`CASCADE_API_KEYS`, keys for a public address).
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
}

impl Server {
    /// Binds the address in `app.config().listen_conf`, guarded by the keys of `AuthConf`
    /// and `CASCADE_API_KEYS`; without any key, only a loopback address.
    pub async fn bind(app: Arc<App>) -> Result<Self, ServeError> {
        let config = app.config();
        let access = Access::from_env(&config)?;
        access.check_listen(&config.listen_conf)?;
        access.log_guard();
        let addr = config.listen_conf.socket_addr();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            header_timeout: Duration::from_millis(app.config().server_conf.header_timeout_ms),
            router: router_with(app, access),
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
/// (`limits`), guarded by the keys of `AuthConf` alone ([`Server::bind`] adds those of
/// `CASCADE_API_KEYS`). Installs the Prometheus recorder if no router did before.
pub fn router(app: Arc<App>) -> Router {
    let access = Access::new(&app.config());
    router_with(app, access)
}

/// All routes, as [`router`], guarded by `access`.
pub fn router_with(app: Arc<App>, access: Access) -> Router {
    crate::metrics::prometheus();
    let body_limit = app.config().server_conf.max_body_bytes;
    let access = Arc::new(access);
    let routes = routes::table()
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(
                route.path,
                access.guard(route.guard, route.body, route.handler),
            )
        })
        .fallback(|| async { ApiError::status(axum::http::StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Limits::new(&app.config().server_conf),
            limits::enforce,
        ));
    access
        .wrap(routes)
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
