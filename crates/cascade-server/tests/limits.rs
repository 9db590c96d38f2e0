//! The server's limits over real loopback connections: slow clients are dropped after the
//! header and body timeouts while `/health` keeps answering, a request that overruns its
//! deadline is answered 504, requests past the concurrency limit are shed and callers over their
//! rate refused, both with `Retry-After`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use cascade_core::config::{CascadeConfig, ServerConf};
use cascade_server::{App, Server};
use serde_json::Value;

/// The longest any exchange in these tests may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// A server on a free loopback port, with `adjust`ed limits, on a runtime of its own (the
/// tests are its clients, over blocking sockets).
struct Running {
    addr: SocketAddr,
    serving: tokio::task::JoinHandle<Result<(), cascade_server::ServeError>>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start(adjust: impl FnOnce(&mut ServerConf)) -> Running {
    start_until(adjust, std::future::pending())
}

/// A server that stops when `shutdown` completes.
fn start_until(
    adjust: impl FnOnce(&mut ServerConf),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CascadeConfig::default();
    config.storage_conf.data_dir = dir.path().to_owned();
    config.listen_conf.http_port = 0;
    config.popular_conf.refresh_millis = 0;
    adjust(&mut config.server_conf);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, serving) = runtime.block_on(async {
        let server = Server::bind(App::open(config).unwrap()).await.unwrap();
        let addr = server.local_addr().unwrap();
        (addr, tokio::spawn(server.run(shutdown)))
    });
    Running {
        addr,
        serving,
        runtime,
        _dir: dir,
    }
}

/// An answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        Self {
            status,
            head: head.to_ascii_lowercase(),
            body: serde_json::from_str(body).unwrap_or(Value::String(body.into())),
        }
    }

    /// A header's value (names and values lower-cased).
    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
    }

    fn retry_after(&self) -> u64 {
        let value = self.header("retry-after");
        value.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            panic!("no Retry-After in {self:?}");
        })
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads what the server sends until it closes the connection (a reset counts as closing).
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Err(error) = stream.read_to_end(&mut bytes) {
        assert!(
            !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server did not close the connection within {PATIENCE:?}"
        );
    }
    bytes
}

/// Sends `head` (without its final blank line) and `body` on a new connection, closed after.
fn exchange(addr: SocketAddr, head: &str, body: &str) -> Answer {
    let mut stream = connect(addr);
    let request = format!(
        "{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    Answer::parse(&read_to_close(&mut stream))
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    exchange(addr, &format!("GET {path} HTTP/1.1"), "")
}

fn event(id: &str) -> String {
    format!(
        r#"{{"event_id": "{id}", "type": "click", "uid": "u1", "item_id": "i1", "timestamp": 1700000000000}}"#
    )
}

/// Opens a connection that sends the head of a `POST /api/events` for `body` and only the
/// first `sent` bytes of the body.
fn partial_post(addr: SocketAddr, body: &str, sent: usize) -> TcpStream {
    let mut stream = connect(addr);
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..sent]).unwrap();
    stream
}

/// The value of a counter line of `/metrics` (0 when absent).
fn counter(addr: SocketAddr, line_start: &str) -> f64 {
    let answer = get(addr, "/metrics");
    let Value::String(text) = answer.body else {
        panic!("/metrics is text: {answer:?}");
    };
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_flood_of_slow_clients_is_dropped_after_the_timeouts_while_health_answers() {
    const TIMEOUT: Duration = Duration::from_millis(2000);
    let server = start(|conf| {
        conf.header_timeout_ms = TIMEOUT.as_millis() as u64;
        conf.body_timeout_ms = TIMEOUT.as_millis() as u64;
    });
    let addr = server.addr;
    let opened = Instant::now();
    // 100 stop inside the request line, 50 inside the headers, 50 inside the body.
    let mut silent = Vec::new();
    for n in 0..150 {
        let mut stream = connect(addr);
        let partial: &[u8] = if n < 100 {
            b"GET /hea"
        } else {
            b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"
        };
        stream.write_all(partial).unwrap();
        silent.push(stream);
    }
    let mut slow_bodies = Vec::new();
    for n in 0..50 {
        let body = format!("[{}]", event(&format!("slow-{n}")));
        slow_bodies.push(partial_post(addr, &body, 10));
    }
    // 10 more dribble their headers, a byte every 50 ms: the timeout bounds the whole head.
    let dribblers: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                stream
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let head = format!(
                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n",
                    "a".repeat(100)
                );
                let started = Instant::now();
                for byte in head.bytes() {
                    if stream.write_all(&[byte]).is_err() {
                        break;
                    }
                    match stream.read(&mut [0; 64]) {
                        Ok(0) => break,
                        Ok(_) => panic!("the server answered an incomplete request"),
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
                started.elapsed()
            })
        })
        .collect();

    // Under the flood: /health within 100 ms, and an ordinary request succeeds.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(get(addr, "/health").status, 200);
        slowest = slowest.max(asked.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(100),
        "/health took {slowest:?}"
    );
    let posted = exchange(addr, "POST /api/events HTTP/1.1", &event("ordinary"));
    assert_eq!(posted.status, 200, "{posted:?}");
    assert!(
        opened.elapsed() < TIMEOUT,
        "the checks ran while the slow clients were still within their timeout"
    );

    // Each slow connection is closed, no sooner than the timeout and well before the test ends.
    for mut stream in silent {
        let sent = read_to_close(&mut stream);
        assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    }
    for mut stream in slow_bodies {
        let answer = Answer::parse(&read_to_close(&mut stream));
        assert_eq!(answer.status, 408, "{answer:?}");
        assert_eq!(answer.body["code"], 408);
        assert!(
            answer.body["msg"]
                .as_str()
                .unwrap()
                .contains("BodyTimeoutMs")
        );
        assert_eq!(answer.header("connection"), Some("close"));
    }
    let closed = opened.elapsed();
    assert!(closed >= TIMEOUT, "closed after {closed:?}");
    assert!(closed < TIMEOUT * 5, "closed only after {closed:?}");
    for dribbler in dribblers {
        let dropped_after = dribbler.join().unwrap();
        assert!(dropped_after >= TIMEOUT, "dropped after {dropped_after:?}");
        assert!(
            dropped_after < TIMEOUT * 3,
            "dropped only after {dropped_after:?}"
        );
    }
    assert!(counter(addr, "cascade_http_timeouts_total{phase=\"header\"}") >= 160.0);
    assert!(counter(addr, "cascade_http_timeouts_total{phase=\"body\"}") >= 50.0);
    assert_eq!(get(addr, "/health").status, 200);
}

#[test]
fn a_request_over_its_deadline_is_answered_504() {
    let server = start(|conf| {
        conf.request_timeout_ms = 300;
        conf.body_timeout_ms = 10_000;
    });
    let asked = Instant::now();
    let mut stream = partial_post(server.addr, &event("late"), 5);
    let answer = Answer::parse(&read_to_close(&mut stream));
    let took = asked.elapsed();
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.body["code"], 504);
    assert!(
        answer.body["msg"]
            .as_str()
            .unwrap()
            .contains("RequestTimeoutMs")
    );
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    assert!(
        counter(
            server.addr,
            "cascade_http_timeouts_total{phase=\"request\"}"
        ) >= 1.0
    );
}

#[test]
fn past_the_concurrency_limit_requests_are_shed_at_once_with_retry_after() {
    let server = start(|conf| conf.max_concurrent_requests = 2);
    let addr = server.addr;
    // Two requests whose bodies are half sent hold the two places.
    let bodies = [event("held-1"), event("held-2")];
    let held: Vec<TcpStream> = bodies
        .iter()
        .map(|body| partial_post(addr, body, body.len() / 2))
        .collect();
    let mut shed = None;
    for _ in 0..100 {
        let asked = Instant::now();
        let answer = get(addr, "/api/items/any");
        if answer.status == 503 {
            shed = Some((answer, asked.elapsed()));
            break;
        }
        assert_eq!(answer.status, 404, "{answer:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (answer, took) = shed.expect("a third request is shed");
    assert_eq!(answer.body["code"], 503);
    assert!(
        answer.body["msg"]
            .as_str()
            .unwrap()
            .contains("MaxConcurrentRequests")
    );
    assert_eq!(answer.retry_after(), 1);
    assert!(took < Duration::from_millis(100), "shedding took {took:?}");
    assert_eq!(get(addr, "/health").status, 200);

    // The held requests complete, and their places are free again.
    for (mut stream, body) in held.into_iter().zip(&bodies) {
        stream
            .write_all(&body.as_bytes()[body.len() / 2..])
            .unwrap();
        let mut answer = vec![0; 4096];
        let n = stream.read(&mut answer).unwrap();
        assert_eq!(Answer::parse(&answer[..n]).status, 200);
    }
    assert_eq!(get(addr, "/api/items/any").status, 404);
    assert!(counter(addr, "cascade_http_shed_total") >= 1.0);
}

#[test]
fn callers_over_their_rate_are_refused_with_retry_after_each_key_on_its_own() {
    let server = start(|conf| {
        conf.rate_limit_per_second = 0.5;
        conf.rate_limit_burst = 3;
    });
    let addr = server.addr;
    let with_key = |key: &str| {
        exchange(
            addr,
            &format!("GET /api/items/any HTTP/1.1\r\nAuthorization: Bearer {key}"),
            "",
        )
    };
    for _ in 0..3 {
        assert_eq!(with_key("alpha").status, 404);
    }
    let refused = with_key("alpha");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.body["code"], 429);
    assert!(
        refused.body["msg"]
            .as_str()
            .unwrap()
            .contains("RateLimitPerSecond")
    );
    assert!((1..=2).contains(&refused.retry_after()), "{refused:?}");
    // Another key, and a caller without one (counted by its address), have buckets of their own.
    assert_eq!(with_key("beta").status, 404);
    for _ in 0..3 {
        assert_eq!(get(addr, "/api/items/any").status, 404);
    }
    assert_eq!(get(addr, "/api/items/any").status, 429);
    // Probes and scrapes are never limited.
    for _ in 0..10 {
        assert_eq!(get(addr, "/health").status, 200);
    }
    assert!(counter(addr, "cascade_http_rate_limited_total") >= 2.0);
}

#[test]
fn a_shutdown_closes_idle_connections_and_lets_the_request_in_flight_finish() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = start_until(|_| {}, async {
        stopped.await.ok();
    });
    let addr = server.addr;
    let body = event("in-flight");
    let mut in_flight = partial_post(addr, &body, 5);
    let mut idle = connect(addr);
    // Time for the server to read the request's head (a connection still sending its head
    // counts as idle at shutdown).
    std::thread::sleep(Duration::from_millis(200));
    stop.send(()).unwrap();

    assert!(read_to_close(&mut idle).is_empty());
    in_flight.write_all(&body.as_bytes()[5..]).unwrap();
    let answer = Answer::parse(&read_to_close(&mut in_flight));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["accepted"], 1);
    let Running {
        serving, runtime, ..
    } = server;
    let stopped = runtime.block_on(async { tokio::time::timeout(PATIENCE, serving).await });
    stopped.expect("the server stops").unwrap().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
}
