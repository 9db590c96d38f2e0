//! Hot reload from the config file: a change takes effect without a restart; a broken file
//! is refused and the running configuration keeps serving.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Running, cascade};

const WITH_BOOKS: &str = r#"{
    "RecallConfs": [{"Name": "hot", "RecallType": "UserGlobalHotRecall"}],
    "SceneConfs": {"books": {"default": {"RecallNames": ["hot"]}}}
}"#;

fn status(base: &str, scene: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{base}/api/recommend"))
        .body(format!(r#"{{"uid": "u", "scene_id": "{scene}"}}"#))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn editing_the_config_file_reloads_it_and_a_broken_edit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cascade.jsonc");
    std::fs::write(&file, "{}").unwrap();
    let mut command: Command = cascade();
    command
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"]);
    let server = Running::start(command, Duration::from_secs(30));
    assert_eq!(status(&server.base, "books"), 400, "no scene `books` yet");

    std::fs::write(&file, WITH_BOOKS).unwrap();
    wait_for("the new scene", || status(&server.base, "books") == 200);

    std::fs::write(
        &file,
        WITH_BOOKS.replace("UserGlobalHotRecall", "NoSuchRecall"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        status(&server.base, "books"),
        200,
        "the running config keeps serving"
    );
}
