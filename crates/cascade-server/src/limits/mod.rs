//! Request limits, checked in this order once a request's headers have arrived: the caller's
//! rate (429), the global concurrency limit (503, load shedding: never a queue), the body's
//! deadline (408) and the whole request's deadline (504). Every refusal is the API's JSON error;
//! 429 and 503 carry `Retry-After`. `/health`, `/ready` and `/metrics` are exempt, so probes
//! and scrapes keep answering under any load. The header read timeout belongs to the
//! connection (`connections`).
//!
//! Callers are keyed by their `Authorization` header (hashed) when they send one, else by their
//! IP address. The layer belongs inside the authentication layer (added to the router before
//! it), so that only verified keys reach it: a caller inventing keys would otherwise get a fresh
//! bucket for each.

mod body;
mod rate;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cascade_core::config::ServerConf;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use rate::{Caller, RateLimiter};

use crate::error::ApiError;

/// Routes that no limit applies to: probes and scrapes must answer under any load.
const EXEMPT_PATHS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// The limits of one router, from `ServerConf` (read once: they apply at the next start).
#[derive(Clone)]
pub struct Limits {
    rate: Option<Arc<RateLimiter>>,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    body_timeout: Duration,
    request_timeout: Duration,
}

impl Limits {
    /// The limits `conf` sets; rate limiting only when `RateLimitPerSecond` is above 0.
    pub fn new(conf: &ServerConf) -> Self {
        Self {
            rate: (conf.rate_limit_per_second > 0.0).then(|| {
                Arc::new(RateLimiter::new(
                    conf.rate_limit_per_second,
                    conf.rate_limit_burst,
                    conf.max_rate_limited_callers,
                ))
            }),
            permits: Arc::new(Semaphore::new(conf.max_concurrent_requests)),
            max_concurrent: conf.max_concurrent_requests,
            body_timeout: Duration::from_millis(conf.body_timeout_ms),
            request_timeout: Duration::from_millis(conf.request_timeout_ms),
        }
    }
}

/// The middleware: refuses a request over its caller's rate or past the concurrency limit, and
/// answers in time one whose body or handling is too slow. A handler that overruns the request
/// deadline is answered 504 but not cut off mid-way (a write may be half done): it finishes in
/// the background and holds its concurrency permit until then, so the limit counts real work.
pub async fn enforce(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if EXEMPT_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let arrived = Instant::now();
    if let Some(rate) = &limits.rate
        && let Err(wait) = rate.admit(caller(&request), arrived.into_std())
    {
        metrics::counter!("cascade_http_rate_limited_total").increment(1);
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "too many requests from this caller (ServerConf.RateLimitPerSecond)",
        );
    }
    let Ok(permit) = limits.permits.clone().try_acquire_owned() else {
        metrics::counter!("cascade_http_shed_total").increment(1);
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(1),
            &format!(
                "the server is busy with {} requests (ServerConf.MaxConcurrentRequests)",
                limits.max_concurrent
            ),
        );
    };
    // A body still arriving at the request deadline is cut off then too, so that the
    // connection does not stay open reading it for a handler whose answer is already sent.
    let body_deadline = arrived + limits.body_timeout.min(limits.request_timeout);
    let body_expired = Arc::new(AtomicBool::new(false));
    let request = body::with_deadline(request, body_deadline, &body_expired);
    let handling = tokio::spawn(async move {
        let response = next.run(request).await;
        drop(permit);
        response
    });
    match tokio::time::timeout_at(arrived + limits.request_timeout, handling).await {
        Ok(Ok(_)) if body_expired.load(Ordering::Relaxed) => {
            // The rest of the body is never read: the connection cannot carry another request.
            let close = [(header::CONNECTION, HeaderValue::from_static("close"))];
            if limits.body_timeout <= limits.request_timeout {
                (close, limits.body_timed_out()).into_response()
            } else {
                (close, limits.request_timed_out()).into_response()
            }
        }
        Ok(Ok(response)) => response,
        Ok(Err(failed)) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        Ok(Err(_)) => ApiError::status(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
            .into_response(),
        Err(_) => limits.request_timed_out().into_response(),
    }
}

impl Limits {
    /// The 408 for a body that did not arrive within `BodyTimeoutMs`, counted.
    fn body_timed_out(&self) -> ApiError {
        metrics::counter!("cascade_http_timeouts_total", "phase" => "body").increment(1);
        ApiError::status(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} ms (ServerConf.BodyTimeoutMs)",
                self.body_timeout.as_millis()
            ),
        )
    }

    /// The 504 for a request not answered within `RequestTimeoutMs`, counted.
    fn request_timed_out(&self) -> ApiError {
        metrics::counter!("cascade_http_timeouts_total", "phase" => "request").increment(1);
        ApiError::status(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request took longer than {} ms (ServerConf.RequestTimeoutMs); \
                 a write may still complete",
                self.request_timeout.as_millis()
            ),
        )
    }
}

/// Who sent the request: its API key when it sends one, else its IP address (requests that
/// did not come over a connection, as in tests, share the unspecified address).
fn caller(request: &Request) -> Caller<'_> {
    if let Some(credentials) = request.headers().get(header::AUTHORIZATION) {
        return Caller::Credentials(credentials.as_bytes());
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(Ipv4Addr::UNSPECIFIED.into(), |ConnectInfo(peer)| peer.ip());
    Caller::Address(ip)
}

/// A refusal that tells the caller when to try again (whole seconds, at least 1).
fn retry_later(status: StatusCode, wait: Duration, msg: &str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let retry_after = HeaderValue::from(seconds.max(1));
    (
        [(header::RETRY_AFTER, retry_after)],
        ApiError::status(status, msg),
    )
        .into_response()
}
