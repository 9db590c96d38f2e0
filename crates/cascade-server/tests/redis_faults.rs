//! The Redis feature store failing under a ranking model that reads its values: hung (it
//! accepts but never answers, as a SIGSTOPped server does) and refusing connections. Every
//! recommendation still answers within a bound set by `EngineConf.TimeoutMs`, marked degraded
//! with the feature store as the reason, `/health` answers at once meanwhile, and once Redis
//! answers again the answers are complete again, without a restart.
//!
//! Redis is reached through a proxy of the test's own on 127.0.0.1, which forwards to the
//! project's test Redis (scripts/start-redis.sh; `CASCADE_TEST_REDIS_URL`), stops forwarding
//! (hung) or closes its port (refusing).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the connections to Redis.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Forwards both ways.
    Forward,
    /// Accepts connections and keeps them open but forwards nothing: Redis hangs.
    Hang,
    /// Closes its port and every connection: Redis refuses connections.
    Refuse,
}

/// A TCP proxy on 127.0.0.1 in front of Redis, whose mode the test switches.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, modes) = watch::channel(Mode::Forward);
        tokio::spawn(accept_connections(listener, port, upstream, modes));
        Self { port, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Accepts connections while the port is open and opens or closes it as the mode says.
async fn accept_connections(
    listener: TcpListener,
    port: u16,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
) {
    let mut listener = Some(listener);
    loop {
        let refusing = *mode.borrow_and_update() == Mode::Refuse;
        if refusing {
            listener = None;
        } else if listener.is_none() {
            listener = Some(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
        }
        let accepted = async {
            match &listener {
                Some(listener) => listener.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            accepted = accepted => if let Ok((client, _)) = accepted {
                tokio::spawn(forward(client, upstream, mode.clone()));
            },
        }
    }
}

/// Copies bytes between the client and Redis while forwarding; holds them while hanging; drops
/// both connections when refusing.
async fn forward(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_in, client_out) = client.into_split();
    let (server_in, server_out) = server.into_split();
    let (mut from_client, mut from_server) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Refuse => return,
            Mode::Hang => {
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Forward => {}
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            read = read_some(&client_in, &mut from_client) => match read {
                Ok(n) if n > 0 => if write_all(&server_out, &from_client[..n]).await.is_err() { return },
                _ => return,
            },
            read = read_some(&server_in, &mut from_server) => match read {
                Ok(n) if n > 0 => if write_all(&client_out, &from_server[..n]).await.is_err() { return },
                _ => return,
            },
        }
    }
}

/// Reads what has arrived, waiting for something (0: the peer closed).
async fn read_some(from: &OwnedReadHalf, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        from.readable().await?;
        match from.try_read(buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

/// Writes all of `bytes`.
async fn write_all(to: &OwnedWriteHalf, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The test Redis's address (scripts/start-redis.sh starts it).
fn redis_address() -> SocketAddr {
    let url =
        std::env::var("CASCADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into());
    let host_port = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    host_port
        .parse()
        .unwrap_or_else(|e| panic!("CASCADE_TEST_REDIS_URL {url}: not host:port ({e})"))
}

/// A logistic model over one feature-store value: the user's clicks in the last hour.
fn model_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("clicks-model.json");
    let model = json!({
        "format": "cascade-logistic", "version": 1, "objective": "binary_logistic",
        "features": ["user_feature.user_clicks_1h"],
        "training": {"trained_at_ms": 0, "data_span": null, "rows": 1, "queries": 1,
                     "positives": 1, "params": {}, "metrics": {}},
        "standardization": {"means": [0.0], "stds": [1.0]},
        "weights": [1.0], "intercept": 0.0
    });
    std::fs::write(&path, model.to_string()).unwrap();
    path
}

fn config(dir: &std::path::Path, redis_port: u16) -> CascadeConfig {
    let prefix = format!(
        "cascade-test:redis-faults:{}:{}:",
        std::process::id(),
        cascade_core::time::now_ms()
    );
    let text = json!({
        "WindowFeatureConfs": [{"Name": "user_clicks_1h", "Key": "user", "EventTypes": ["click"],
            "Window": {"Type": "tumbling", "Size": "1h"}, "Aggregation": {"Type": "count"}}],
        "FeatureStoreConf": {"Backend": "redis", "KeyPrefix": prefix,
            "RedisUrl": format!("redis://127.0.0.1:{redis_port}"),
            "RedisConnectTimeoutMs": 200, "RedisCommandTimeoutMs": 300},
        "EngineConf": {"TimeoutMs": 50, "BreakerFailures": 2, "BreakerCooldownMs": 100},
        "AlgoConfs": [{"Name": "clicks", "Type": "logistic",
            "ModelPath": model_file(dir).display().to_string()}],
        "RecallConfs": [{"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 10}],
        "SceneConfs": {"home": {"default": {"RecallNames": ["hot"]}}},
        "RankConf": {"home": {"RankAlgoList": ["clicks"]}},
        "StorageConf": {"DataDir": dir.join("data").display().to_string(),
                        "ModelDir": dir.display().to_string()}
    });
    CascadeConfig::parse(&text.to_string()).unwrap()
}

async fn send(router: &Router, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    common::send(
        router,
        method,
        uri,
        common::JSON,
        body.to_string().into_bytes(),
    )
    .await
}

/// One recommendation for `u2`, how long it took, and why it is degraded (empty if it is not).
async fn recommend(router: &Router) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let (status, body) = send(
        router,
        Method::POST,
        "/api/recommend",
        json!({"uid": "u2", "scene_id": "home", "size": 3}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["items"].as_array().unwrap().is_empty(), "{body}");
    let reasons: Vec<String> = body["degraded_reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        body["degraded"].as_str().unwrap_or_default(),
        reasons.join("; "),
        "{body}"
    );
    (took, reasons)
}

/// Recommendations while Redis hangs or refuses, more at once than the runtime has workers:
/// each within the bound, degraded because of the feature store; `/health` answers within
/// 100 ms while they wait.
async fn assert_degraded_within_the_deadline(router: &Router, fault: &str) {
    const BOUND: Duration = Duration::from_secs(1);
    for _ in 0..3 {
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move { recommend(&router).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        // On the runtime's workers, as a server's requests are, not on the test's own thread.
        let started = Instant::now();
        let health = {
            let router = router.clone();
            tokio::spawn(async move { send(&router, Method::GET, "/health", Value::Null).await })
        };
        let (status, _) = health.await.unwrap();
        let health = started.elapsed();
        assert_eq!(status, StatusCode::OK);
        assert!(
            health < Duration::from_millis(100),
            "{fault}: /health took {health:?}"
        );
        for recommendation in waiting {
            let (took, reasons) = recommendation.await.unwrap();
            assert!(took < BOUND, "{fault}: a recommendation took {took:?}");
            assert!(
                reasons.iter().any(|r| r.starts_with("feature store: ")),
                "{fault}: {reasons:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_refusing_redis_degrades_recommendations_within_the_deadline() {
    let proxy = Proxy::start(redis_address()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path(), proxy.port)).unwrap_or_else(|e| {
        panic!(
            "cannot start with Redis at {} ({e}); run scripts/start-redis.sh first",
            redis_address()
        )
    });
    let router = router(app.clone());
    for id in ["a", "b", "c"] {
        let (status, body) =
            send(&router, Method::PUT, &format!("/api/items/{id}"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let now = cascade_core::time::now_ms();
    let clicks: Vec<Value> = ["a", "b", "c", "a"]
        .iter()
        .enumerate()
        .map(|(i, item)| {
            json!({"event_id": format!("c{i}"), "type": "click", "uid": format!("u{}", i % 2 + 1),
                   "item_id": item, "timestamp": now})
        })
        .collect();
    let (status, body) = send(&router, Method::POST, "/api/events", json!(clicks)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let logged = *app.stores.events.durable_len().borrow();
    let features = app.features.as_ref().unwrap();
    tokio::time::timeout(Duration::from_secs(10), features.wait_visible(logged))
        .await
        .expect("the window features reach Redis");
    tokio::time::timeout(Duration::from_secs(30), app.wait_ready())
        .await
        .expect("ready");
    let (_, reasons) = recommend(&router).await;
    assert!(reasons.is_empty(), "Redis answers: {reasons:?}");

    proxy.set(Mode::Hang);
    assert_degraded_within_the_deadline(&router, "Redis hung").await;

    proxy.set(Mode::Refuse);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_degraded_within_the_deadline(&router, "Redis refusing connections").await;

    proxy.set(Mode::Forward);
    let started = Instant::now();
    loop {
        let (_, reasons) = recommend(&router).await;
        if reasons.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still degraded 5 s after Redis came back: {reasons:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
