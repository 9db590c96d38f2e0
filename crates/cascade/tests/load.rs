//! `cascade gen-data` into a data directory, `cascade serve` over it, and `cascade bench http`
//! against the server: every endpoint answers, without errors, with ordered percentiles, and
//! the server's per-stage timings come back from its metrics.

#[allow(dead_code)]
#[path = "../../../tests/e2e/support.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Running, cascade};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/synthetic.jsonc");

fn succeed(command: &mut Command) -> String {
    let output = command.output().expect("running cascade");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking::get(format!("{base}/ready")).is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{base}/ready did not answer 200 within a minute");
}

#[test]
fn bench_http_drives_a_server_over_generated_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let generated = succeed(cascade().args([
        "gen-data",
        "--items",
        "2000",
        "--users",
        "200",
        "--events",
        "20000",
        "--clusters",
        "16",
        "--seed",
        "7",
        "--config",
        CONFIG,
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert!(generated.contains("20000 accepted"), "{generated}");

    let mut serve = cascade();
    serve
        // the config's rank model path is relative to the repository root
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args([
            "serve",
            "--config",
            CONFIG,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data);
    let server = Running::start(serve, Duration::from_secs(60));
    wait_ready(&server.base);

    let report_path = dir.path().join("report.json");
    let printed = succeed(cascade().args([
        "bench",
        "http",
        "--url",
        &server.base,
        "--recommend-rate",
        "20",
        "--search-rate",
        "10",
        "--event-rate",
        "100",
        "--event-batch",
        "10",
        "--warmup",
        "1s",
        "--duration",
        "3s",
        "--users",
        "200",
        "--items",
        "2000",
        "--seed",
        "7",
        "--server-pid",
        &server.child.id().to_string(),
        "--json",
        report_path.to_str().unwrap(),
    ]));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    for endpoint in ["recommend", "search", "events"] {
        let e = &report["endpoints"][endpoint];
        assert!(
            e["throughput_per_s"].as_f64().unwrap() > 0.0,
            "{endpoint}: {e}"
        );
        assert_eq!(e["errors"], serde_json::json!({}), "{endpoint}: {e}");
        assert_eq!(e["ok"], e["requests"], "{endpoint}: {e}");
        let p: Vec<f64> = ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"]
            .iter()
            .map(|q| e[q].as_f64().unwrap())
            .collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{endpoint}: {p:?}");
        // the client's own delay in sending is part of each latency, never more than it
        let late = e["send_late_p99_ms"].as_f64().unwrap();
        assert!((0.0..=p[4]).contains(&late), "{endpoint}: {e}");
    }
    // about 20/s for 3 s: the open loop keeps its schedule
    let recommends = report["endpoints"]["recommend"]["requests"]
        .as_u64()
        .unwrap();
    assert!(
        (45..=75).contains(&recommends),
        "{recommends} recommend requests"
    );
    let server_side = &report["server"];
    assert!(server_side["recommend_duration"]["count"].as_f64().unwrap() >= recommends as f64);
    for stage in [
        "recall:popular",
        "recall:also_viewed",
        "recall:similar_vec",
        "filter:unique",
    ] {
        let timing = &server_side["stages"][format!("stage=\"{stage}\"")];
        assert!(
            timing["count"].as_f64().unwrap() > 0.0,
            "{stage}: {server_side}"
        );
    }
    assert!(server_side["rss_after_bytes"].as_u64().unwrap() > 0);
    assert!(printed.contains("recommend"), "{printed}");
}

#[test]
fn bench_http_refuses_hosts_off_loopback() {
    let output = cascade()
        .args([
            "bench",
            "http",
            "--url",
            "http://192.0.2.1:8000",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
