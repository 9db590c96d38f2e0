//! Accepting connections and serving HTTP/1 on each: a connection that does not send a
//! request's line and headers within the header timeout is closed (axum::serve has no such
//! timeout), handlers see the peer's address (`ConnectInfo`), and a shutdown lets the requests
//! in flight finish.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

/// Serves `router` on the connections `listener` accepts until `shutdown` completes, then
/// stops accepting, lets each connection finish its request in flight, and returns once all
/// are closed.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    // Dropping `stop` tells the connections to finish; each holds an `open` receiver.
    let (stop, stopping) = watch::channel(());
    let (all_open, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let connection = Connection {
            router: router.clone(),
            peer,
            header_timeout,
        };
        tokio::spawn(connection.serve(stream, stopping.clone(), open.clone()));
    }
    drop(listener);
    drop(stop);
    drop(open);
    all_open.closed().await;
}

/// One accepted connection.
struct Connection {
    router: Router,
    peer: SocketAddr,
    header_timeout: Duration,
}

impl Connection {
    /// Serves the connection's requests until the peer closes it, a header read times out, or
    /// `stopping` says the server stops (then after the request in flight). `_open` is held
    /// until the connection is closed.
    async fn serve(
        self,
        stream: TcpStream,
        mut stopping: watch::Receiver<()>,
        _open: watch::Receiver<()>,
    ) {
        let Self {
            router,
            peer,
            header_timeout,
        } = self;
        let service = service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
        let outcome = tokio::select! {
            outcome = connection.as_mut() => outcome,
            _ = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        match outcome {
            Err(error) if error.is_timeout() => {
                metrics::counter!("cascade_http_timeouts_total", "phase" => "header").increment(1);
                tracing::debug!(%peer, "closed a connection that sent no complete request head in time");
            }
            Err(error) => tracing::debug!(%peer, %error, "connection ended with an error"),
            Ok(()) => {}
        }
    }
}
