//! What a hostile or careless caller can do (issue 36, finding 3): keys and roles on every
//! route of the route table, the Host allow-list, CORS, JSON-only bodies, redacted secrets,
//! the start-up refusals, and config PUTs that cannot change settings applied at start-up.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cascade_core::config::{ApiKeyConf, CascadeConfig, REDACTED, Role};
use cascade_server::access::{Access, AccessError};
use cascade_server::routes::table;
use cascade_server::serve::{router, router_with};
use cascade_server::{App, ServeError, Server};
use serde_json::Value;
use tower::ServiceExt;

const READ_KEY: &str = "read-key-0123456789abcdef";
const WRITE_KEY: &str = "write-key-0123456789abcdef";
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";

fn key_of(role: Role) -> &'static str {
    match role {
        Role::Read => READ_KEY,
        Role::Write => WRITE_KEY,
        Role::Admin => ADMIN_KEY,
    }
}

struct TestServer {
    app: Arc<App>,
    router: Router,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server whose config has a key of each role, adjusted by `adjust`.
    fn with_keys(adjust: impl FnOnce(&mut CascadeConfig)) -> Self {
        Self::new(|config| {
            config.auth_conf.keys = Role::ALL
                .into_iter()
                .map(|role| ApiKeyConf {
                    role,
                    key: key_of(role).to_string(),
                })
                .collect();
            adjust(config);
        })
    }

    fn new(adjust: impl FnOnce(&mut CascadeConfig)) -> Self {
        let (app, dir) = open(adjust);
        Self {
            router: router(app.clone()),
            app,
            _dir: dir,
        }
    }

    /// Sends a request with `headers` (a JSON body gets the JSON content type unless
    /// `headers` names one); answers the status, the headers and the body as JSON.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if !body.is_empty() && !headers.iter().any(|(name, _)| *name == "content-type") {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (parts.status, parts.headers, value)
    }
}

fn open(adjust: impl FnOnce(&mut CascadeConfig)) -> (Arc<App>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CascadeConfig::default();
    config.storage_conf.data_dir = dir.path().to_owned();
    config.popular_conf.refresh_millis = 0;
    adjust(&mut config);
    (App::open(config).unwrap(), dir)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A body each route accepts: the running config for the config PUT, else an empty object.
fn body_for(server: &TestServer, method: &Method, path: &str) -> String {
    match (method.as_str(), path) {
        ("PUT", "/api/admin/config") => {
            serde_json::to_string(&server.app.config().redacted()).unwrap()
        }
        ("GET" | "DELETE", _) => String::new(),
        _ => "{}".to_string(),
    }
}

#[tokio::test]
async fn every_route_answers_401_without_a_key_and_403_with_a_lower_role() {
    let server = TestServer::with_keys(|_| {});
    let conf = server.app.config().auth_conf.clone();
    let routes = table();
    assert!(routes.len() >= 17, "the table lists every route");
    for route in routes {
        let uri = route.path.replace("{id}", "x");
        let body = body_for(&server, &route.method, route.path);
        let what = format!("{} {}", route.method, route.path);
        let Some(needed) = route.guard.role(&conf) else {
            let (status, _, _) = server.send(route.method.clone(), &uri, &[], &body).await;
            assert!(
                ["/health", "/ready", "/metrics"].contains(&route.path),
                "{what} is open"
            );
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{what} open, answered {status}"
            );
            continue;
        };
        for key in [None, Some("not-a-key-0123456789abcdef")] {
            let auth = key.map(bearer);
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let (status, headers, answer) = server
                .send(route.method.clone(), &uri, &headers, &body)
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{what} with {key:?}: {answer}"
            );
            assert_eq!(answer["code"], 401, "{what}: {answer}");
            assert!(
                headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{what}"
            );
        }
        for role in Role::ALL {
            let auth = bearer(key_of(role));
            let (status, _, answer) = server
                .send(
                    route.method.clone(),
                    &uri,
                    &[("authorization", auth.as_str())],
                    &body,
                )
                .await;
            if role.allows(needed) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{what} with a {role} key answered {status}: {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{what} with a {role} key: {answer}"
                );
                assert_eq!(answer["code"], 403, "{what}: {answer}");
                let msg = answer["msg"].as_str().unwrap();
                assert!(
                    msg.contains(needed.name()) && msg.contains(role.name()),
                    "{msg}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_roles_of_the_routes_are_the_documented_ones() {
    let needs = |method: Method, path: &str| {
        let route = table()
            .into_iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is a route"));
        route.guard.role(&Default::default())
    };
    assert_eq!(needs(Method::POST, "/api/recommend"), Some(Role::Read));
    assert_eq!(needs(Method::GET, "/api/items/{id}"), Some(Role::Read));
    assert_eq!(needs(Method::POST, "/api/events"), Some(Role::Write));
    assert_eq!(needs(Method::PUT, "/api/users/{id}"), Some(Role::Write));
    assert_eq!(needs(Method::DELETE, "/api/items/{id}"), Some(Role::Admin));
    assert_eq!(needs(Method::PUT, "/api/admin/config"), Some(Role::Admin));
    assert_eq!(needs(Method::GET, "/api/admin/config"), Some(Role::Admin));
    assert_eq!(needs(Method::GET, "/metrics"), None);
}

#[tokio::test]
async fn metrics_need_a_read_key_when_protected() {
    let server = TestServer::with_keys(|config| config.auth_conf.protect_metrics = true);
    let (status, _, _) = server.send(Method::GET, "/metrics", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let auth = bearer(READ_KEY);
    let (status, _, _) = server
        .send(
            Method::GET,
            "/metrics",
            &[("authorization", auth.as_str())],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = server.send(Method::GET, "/health", &[], "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_text_plain_or_form_event_post_is_refused_with_415() {
    let server = TestServer::new(|_| {});
    let event = r#"{"event_id": "e1", "type": "click", "uid": "u", "item_id": "i"}"#;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, answer) = server
            .send(
                Method::POST,
                "/api/events",
                &[("content-type", content_type)],
                event,
            )
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert_eq!(answer["code"], 415, "{answer}");
        assert!(answer["msg"].as_str().unwrap().contains("application/json"));
    }
    assert_eq!(*server.app.stores.events.durable_len().borrow(), 0);
    let (status, _, answer) = server
        .send(
            Method::POST,
            "/api/recommend",
            &[("content-type", "text/plain")],
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    for content_type in ["application/json; charset=utf-8", "application/x-ndjson"] {
        let (status, _, answer) = server
            .send(
                Method::POST,
                "/api/events",
                &[("content-type", content_type)],
                event,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {answer}");
    }
    let request = Request::post("/api/events")
        .body(Body::from(event))
        .unwrap();
    let response = server.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "no content type is accepted"
    );
}

#[tokio::test]
async fn a_write_from_a_web_page_of_another_origin_is_refused() {
    let server = TestServer::new(|config| {
        config.auth_conf.cors_origins = vec!["https://console.example".into()];
    });
    let event = r#"{"event_id": "e1", "type": "click", "uid": "u", "item_id": "i"}"#;
    // A page may POST a body without a content type (a Blob) and without a preflight; its
    // browser names its origin.
    let post = |origin: &str| {
        Request::post("/api/events")
            .header(header::ORIGIN, origin)
            .body(Body::from(event))
            .unwrap()
    };
    let response = server
        .router
        .clone()
        .oneshot(post("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(*server.app.stores.events.durable_len().borrow(), 0);
    let response = server
        .router
        .clone()
        .oneshot(post("https://console.example"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, _) = server
        .send(
            Method::GET,
            "/health",
            &[("origin", "https://evil.example")],
            "",
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a read is not refused for its origin"
    );
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_loopback() {
    let server = TestServer::new(|_| {});
    for host in ["evil.example", "evil.example:8000", "192.168.1.20:8000"] {
        let (status, _, answer) = server
            .send(Method::GET, "/api/admin/config", &[("host", host)], "")
            .await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{host}: {answer}");
        assert_eq!(answer["code"], 421, "{answer}");
    }
    for host in ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"] {
        let (status, _, _) = server
            .send(Method::GET, "/api/admin/config", &[("host", host)], "")
            .await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    let listed = TestServer::new(|config| {
        config.auth_conf.allowed_hosts = vec!["recs.example".into()];
    });
    let (status, _, _) = listed
        .send(Method::GET, "/health", &[("host", "recs.example:443")], "")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = listed
        .send(Method::GET, "/health", &[("host", "evil.example")], "")
        .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

fn has_cors_headers(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-"))
}

const PREFLIGHT: [(&str, &str); 2] = [
    ("access-control-request-method", "POST"),
    ("access-control-request-headers", "content-type"),
];

#[tokio::test]
async fn cors_is_off_by_default() {
    let server = TestServer::new(|_| {});
    let origin = [("origin", "https://evil.example")];
    let (status, headers, _) = server
        .send(
            Method::OPTIONS,
            "/api/events",
            &[origin[0], PREFLIGHT[0], PREFLIGHT[1]],
            "",
        )
        .await;
    assert!(!status.is_success(), "a preflight is not allowed: {status}");
    assert!(!has_cors_headers(&headers), "{headers:?}");
    let (status, headers, _) = server.send(Method::GET, "/api/items/x", &origin, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!has_cors_headers(&headers), "{headers:?}");
}

#[tokio::test]
async fn cors_allows_a_configured_origin_only() {
    let server = TestServer::with_keys(|config| {
        config.auth_conf.cors_origins = vec!["https://console.example".into()];
    });
    let allowed = ("origin", "https://console.example");
    let (status, headers, _) = server
        .send(
            Method::OPTIONS,
            "/api/events",
            &[allowed, PREFLIGHT[0], PREFLIGHT[1]],
            "",
        )
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://console.example"
    );
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let auth = bearer(READ_KEY);
    let (status, headers, _) = server
        .send(
            Method::GET,
            "/api/items/x",
            &[allowed, ("authorization", auth.as_str())],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://console.example"
    );
    let other = ("origin", "https://evil.example");
    let (_, headers, _) = server
        .send(
            Method::OPTIONS,
            "/api/events",
            &[other, PREFLIGHT[0], PREFLIGHT[1]],
            "",
        )
        .await;
    assert!(
        !headers.contains_key("access-control-allow-origin"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn secrets_are_redacted_and_a_redacted_config_put_back_keeps_them() {
    let server = TestServer::with_keys(|config| {
        config.feature_store_conf.redis_url = "redis://app:s3cret-pw@127.0.0.1:6390/0".into();
    });
    let admin = bearer(ADMIN_KEY);
    let auth = [("authorization", admin.as_str())];
    let (status, _, shown) = server
        .send(Method::GET, "/api/admin/config", &auth, "")
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = shown.to_string();
    assert!(!text.contains("s3cret-pw"), "{text}");
    for role in Role::ALL {
        assert!(!text.contains(key_of(role)), "{text}");
    }
    assert_eq!(
        shown["FeatureStoreConf"]["RedisUrl"],
        "redis://app:<redacted>@127.0.0.1:6390/0"
    );
    assert_eq!(shown["AuthConf"]["Keys"][2]["Key"], REDACTED);

    let (status, _, answer) = server
        .send(Method::PUT, "/api/admin/config", &auth, &text)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let running = server.app.config();
    assert_eq!(
        running.feature_store_conf.redis_url,
        "redis://app:s3cret-pw@127.0.0.1:6390/0"
    );
    assert_eq!(running.auth_conf.keys[2].key, ADMIN_KEY);

    let mut extra = shown.clone();
    extra["AuthConf"]["Keys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"Role": "admin", "Key": REDACTED}));
    let (status, _, answer) = server
        .send(Method::PUT, "/api/admin/config", &auth, &extra.to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["details"][0]["field"], "AuthConf.Keys[3].Key",
        "{answer}"
    );
    assert_eq!(server.app.config().auth_conf.keys.len(), 3);
}

#[tokio::test]
async fn keys_from_the_key_list_are_honoured_and_a_malformed_list_refused() {
    let (app, _dir) = open(|_| {});
    let list = format!("read={READ_KEY}, write={WRITE_KEY}");
    let access = Access::with_key_list(&app.config(), &list).unwrap();
    let server = TestServer {
        router: router_with(app.clone(), access),
        app,
        _dir,
    };
    let event = r#"{"event_id": "e1", "type": "click", "uid": "u", "item_id": "i"}"#;
    let (status, _, _) = server.send(Method::POST, "/api/events", &[], event).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (key, expected) in [
        (READ_KEY, StatusCode::FORBIDDEN),
        (WRITE_KEY, StatusCode::OK),
    ] {
        let auth = bearer(key);
        let (status, _, answer) = server
            .send(
                Method::POST,
                "/api/events",
                &[("authorization", auth.as_str())],
                event,
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    for list in ["read", "root=0123456789abcdef0", "read=short"] {
        let error = Access::with_key_list(&server.app.config(), list)
            .err()
            .unwrap_or_else(|| panic!("`{list}` is refused"));
        assert!(matches!(error, AccessError::Keys(_)), "{error}");
        assert!(
            error.to_string().contains("CASCADE_API_KEYS: entry 1"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_public_address_without_keys_is_refused_at_start() {
    let (app, _dir) = open(|config| {
        config.listen_conf.http_addr = "0.0.0.0".into();
        config.listen_conf.http_port = 0;
    });
    let error = match Server::bind(app).await {
        Ok(_) => panic!("bound 0.0.0.0 without keys"),
        Err(error) => error,
    };
    assert!(
        matches!(error, ServeError::Access(AccessError::OpenAddress { .. })),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("0.0.0.0") && text.contains("CASCADE_API_KEYS"),
        "{text}"
    );
    assert!(text.contains("AuthConf.Keys"), "{text}");
}

#[tokio::test]
async fn a_config_put_cannot_change_a_setting_that_applies_at_the_next_start() {
    let server = TestServer::new(|_| {});
    let (status, _, answer) = server
        .send(
            Method::PUT,
            "/api/admin/config",
            &[],
            r#"{"EventConf": {"Types": ["x"]}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["details"][0]["field"], "EventConf", "{answer}");
    let (status, _, answer) = server
        .send(
            Method::PUT,
            "/api/admin/config",
            &[],
            r#"{"EngineConf": {"TimeoutMs": 80}}"#,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a document without EventConf keeps it: {answer}"
    );
    let running = server.app.config();
    assert_eq!(running.engine_conf.timeout_ms, 80);
    assert!(running.event_conf.accepts("click"));
    let event = r#"{"event_id": "e1", "type": "click", "uid": "u", "item_id": "i"}"#;
    let (status, _, answer) = server.send(Method::POST, "/api/events", &[], event).await;
    assert_eq!(status, StatusCode::OK, "ingestion goes on: {answer}");
}
