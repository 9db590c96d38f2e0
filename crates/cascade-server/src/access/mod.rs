//! Who may call which route. Each route of the table (`crate::routes::table`) declares its
//! [`Guard`] and its [`Body`]; [`Access`] enforces them from `AuthConf` and
//! [`API_KEYS_ENV`]: 401 without a known key (`Authorization: Bearer KEY`), 403 with a key of
//! too low a role, 415 for a body that is not JSON, 421 for a Host the server does not answer
//! to, 403 for a write from a web page of another origin, and CORS only for the configured
//! origins. Without any key every route is open and the
//! server listens on a loopback address only.

mod content_type;
mod hosts;
mod keys;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use cascade_core::config::auth::{API_KEYS_ENV, parse_key_list};
use cascade_core::config::{ApiKeyConf, AuthConf, CascadeConfig, ListenConf, Role};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::App;
use crate::error::ApiError;
pub use content_type::Body;
use hosts::Hosts;
use keys::Keyring;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone (`/health`, `/ready`).
    Open,
    /// Anyone; a `read` key with `AuthConf.ProtectMetrics` (`/metrics`).
    Metrics,
    /// A key of this role or a higher one.
    Needs(Role),
}

impl Guard {
    /// The role a key needs under `conf`, if the route needs a key at all.
    pub fn role(self, conf: &AuthConf) -> Option<Role> {
        match self {
            Guard::Open => None,
            Guard::Metrics => conf.protect_metrics.then_some(Role::Read),
            Guard::Needs(role) => Some(role),
        }
    }
}

/// Why the server may not start with its access settings.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// [`API_KEYS_ENV`] is malformed.
    #[error("{0}")]
    Keys(String),
    /// A non-loopback address without any key.
    #[error(
        "refusing to listen on {addr} without API keys: anyone who reaches it could replace the \
         config, delete data and post events. Configure keys in AuthConf.Keys \
         ([{{\"Role\": \"admin\", \"Key\": \"...\"}}]) or in CASCADE_API_KEYS (`role=key` \
         pairs, comma separated, e.g. CASCADE_API_KEYS=admin=<a long random string>; roles read, \
         write, admin), or listen on 127.0.0.1"
    )]
    OpenAddress {
        /// The address asked for.
        addr: String,
    },
}

/// The access policy in force, fixed at start-up.
pub struct Access {
    keyring: Keyring,
    conf: AuthConf,
    hosts: Hosts,
}

impl Access {
    /// The policy of `config`'s `AuthConf` alone (not [`API_KEYS_ENV`]).
    pub fn new(config: &CascadeConfig) -> Self {
        Self::with_keys(config, &[])
    }

    /// The policy of `config`'s `AuthConf` and the keys of [`API_KEYS_ENV`]; a malformed
    /// variable is refused.
    pub fn from_env(config: &CascadeConfig) -> Result<Self, AccessError> {
        match std::env::var(API_KEYS_ENV) {
            Ok(text) => Self::with_key_list(config, &text),
            Err(std::env::VarError::NotPresent) => Ok(Self::new(config)),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(AccessError::Keys(format!("{API_KEYS_ENV} is not UTF-8")))
            }
        }
    }

    /// The policy of `config`'s `AuthConf` and the keys of `list`, a value of
    /// [`API_KEYS_ENV`] (`role=key` pairs, comma separated); a malformed list is refused.
    pub fn with_key_list(config: &CascadeConfig, list: &str) -> Result<Self, AccessError> {
        let listed = parse_key_list(list).map_err(AccessError::Keys)?;
        Ok(Self::with_keys(config, &listed))
    }

    fn with_keys(config: &CascadeConfig, listed: &[ApiKeyConf]) -> Self {
        let conf = &config.auth_conf;
        Self {
            keyring: Keyring::new(conf.keys.iter().chain(listed)),
            hosts: Hosts::new(&conf.allowed_hosts, config.listen_conf.is_loopback()),
            conf: conf.clone(),
        }
    }

    /// Refuses to listen on a non-loopback address without any key.
    pub fn check_listen(&self, listen: &ListenConf) -> Result<(), AccessError> {
        if self.keyring.is_empty() && !listen.is_loopback() {
            return Err(AccessError::OpenAddress {
                addr: listen.socket_addr(),
            });
        }
        Ok(())
    }

    /// Logs how the server is guarded (at start-up).
    pub fn log_guard(&self) {
        if self.keyring.is_empty() {
            tracing::warn!(
                "no API keys configured (AuthConf.Keys, {API_KEYS_ENV}): every route is open \
                 to programs on this machine, so the server listens on loopback only"
            );
        } else {
            tracing::info!(keys = self.keyring.len(), "API keys required");
        }
    }

    /// `handler` behind `guard`, taking `body`.
    pub fn guard(
        self: &Arc<Self>,
        guard: Guard,
        body: Body,
        handler: MethodRouter<Arc<App>>,
    ) -> MethodRouter<Arc<App>> {
        let check = RouteCheck {
            access: self.clone(),
            needs: guard.role(&self.conf).filter(|_| !self.keyring.is_empty()),
            body,
        };
        handler.route_layer(from_fn_with_state(check, check_route))
    }

    /// `router` behind the Host and Origin checks and, with `AuthConf.CorsOrigins`, the CORS
    /// policy.
    pub fn wrap(self: &Arc<Self>, router: Router<Arc<App>>) -> Router<Arc<App>> {
        let router = match self.cors() {
            Some(cors) => router.layer(cors),
            None => router,
        };
        router.layer(from_fn_with_state(self.clone(), check_caller))
    }

    fn cors(&self) -> Option<CorsLayer> {
        let origins: Vec<HeaderValue> = self
            .conf
            .cors_origins
            .iter()
            .filter_map(|origin| origin.parse().ok())
            .collect();
        (!origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600))
        })
    }

    /// The `Origin` of a request that is not a read (GET, HEAD, OPTIONS), if it is not one of
    /// `AuthConf.CorsOrigins`.
    fn foreign_origin<'r>(&self, request: &'r Request) -> Option<&'r str> {
        if request.method().is_safe() {
            return None;
        }
        let origin = request.headers().get(header::ORIGIN)?;
        let origin = origin.to_str().unwrap_or("?");
        (!self
            .conf
            .cors_origins
            .iter()
            .any(|allowed| allowed == origin))
        .then_some(origin)
    }

    /// The refusal of a request without a key of `needed` or a higher role (401, 403), if
    /// it is refused.
    fn refusal(&self, headers: &HeaderMap, needed: Role) -> Option<Response> {
        let presented = bearer_key(headers);
        let Some(role) = presented.and_then(|key| self.keyring.role_of(key)) else {
            let msg = match presented {
                None => "this route needs an API key: send `Authorization: Bearer KEY`",
                Some(_) => "unknown API key",
            };
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"cascade\"")];
            let error = ApiError::status(StatusCode::UNAUTHORIZED, msg);
            return Some((challenge, error).into_response());
        };
        (!role.allows(needed)).then(|| {
            let msg = format!(
                "this route needs a key of the `{needed}` role; this key's role is `{role}`"
            );
            ApiError::status(StatusCode::FORBIDDEN, msg).into_response()
        })
    }
}

/// The key of an `Authorization: Bearer KEY` header.
fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// What one route checks before its handler runs.
#[derive(Clone)]
struct RouteCheck {
    access: Arc<Access>,
    /// The role a key needs; `None` when the route is open or no key is configured.
    needs: Option<Role>,
    body: Body,
}

async fn check_route(State(check): State<RouteCheck>, request: Request, next: Next) -> Response {
    if let Some(needed) = check.needs
        && let Some(refusal) = check.access.refusal(request.headers(), needed)
    {
        return refusal;
    }
    if let Some(msg) = check.body.refusal(request.headers()) {
        return ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
    }
    next.run(request).await
}

/// Refuses a request addressed to a Host the server does not answer to (421), and a write
/// sent by a web page of an origin not in `AuthConf.CorsOrigins` (403): a page may send a
/// POST without a preflight, but its browser names the page's origin.
async fn check_caller(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    if let Some(host) = access.hosts.refused(&request) {
        let msg = format!(
            "this server does not answer to the host `{host}` (AuthConf.AllowedHosts; on a \
             loopback address only localhost, 127.0.0.1 and [::1] by default)"
        );
        return ApiError::status(StatusCode::MISDIRECTED_REQUEST, msg).into_response();
    }
    if let Some(origin) = access.foreign_origin(&request) {
        let msg = format!(
            "a {} from a web page of `{origin}` is refused: that origin is not in \
             AuthConf.CorsOrigins",
            request.method()
        );
        return ApiError::status(StatusCode::FORBIDDEN, msg).into_response();
    }
    next.run(request).await
}
