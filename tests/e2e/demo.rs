//! The README's demo: bundled goodbooks data imported into a fresh data directory and
//! served, with recommendations for a goodbooks user within a minute, and every example
//! request it prints answering 200.

use std::io::BufRead;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{Running, cascade};

#[test]
fn the_demo_serves_a_goodbooks_user_within_a_minute_and_every_example_it_prints_answers_200() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = cascade();
    command
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path().join("demo"))
        .args(["--listen", "127.0.0.1:0"]);
    let mut demo = Running::start(command, Duration::from_secs(60));
    demo.wait_for_line("ready");
    let examples = printed_examples(&mut demo.stdout);
    let client = reqwest::blocking::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{}/api/recommend", demo.base))
        // The trace names each stage's candidates and any source that timed out.
        .body(r#"{"uid": "1225", "size": 5, "debug": true}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    // Each example at once, as a reader who copies it straight away sends it.
    for example in &examples {
        assert_eq!(send_example(&client, example), StatusCode::OK, "{example}");
    }
    assert!(examples.len() >= 5, "{examples:?}");
    let items = answer["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        5,
        "{}\nstages: {:#}",
        answer["items"],
        answer["trace"]["stages"]
    );
    let book: serde_json::Value = client
        .get(format!(
            "{}/api/items/{}",
            demo.base,
            items[0]["item_id"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(book["fields"]["title"].is_string(), "{book}");
}

/// The `curl` lines the demo prints after `ready`, up to its closing `(Ctrl-C ...)` line.
fn printed_examples(stdout: &mut impl BufRead) -> Vec<String> {
    let mut examples = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("reading the demo's output");
        let line = line.trim();
        if line.starts_with("(Ctrl-C") {
            return examples;
        }
        if line.starts_with("curl ") {
            examples.push(line.to_string());
        }
    }
    panic!("the demo exited before printing its examples: {examples:?}");
}

/// Sends the request of a printed `curl` example (`-s`, `-XPOST`, `-H 'NAME: VALUE'`,
/// `-d 'BODY'` and the URL; a `| ...` pipe after them is left out) as curl would, and returns
/// its status.
fn send_example(client: &reqwest::blocking::Client, example: &str) -> StatusCode {
    let words = shell_words(example);
    let mut words = words.iter().skip(1).take_while(|w| *w != "|");
    let (mut method, mut url, mut body) = (reqwest::Method::GET, None, None);
    let mut headers = Vec::new();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-s" => {}
            "-XPOST" => method = reqwest::Method::POST,
            "-H" => {
                let header = words.next().expect("a header after -H");
                let (name, value) = header.split_once(": ").expect("NAME: VALUE");
                headers.push((name.to_string(), value.to_string()));
            }
            "-d" => body = Some(words.next().expect("a body after -d").clone()),
            other if other.starts_with("http://") => url = Some(other.to_string()),
            other => panic!("`{other}` in `{example}` is not an option this test knows"),
        }
    }
    // Like curl, a body without a Content-Type header is sent as a form.
    if body.is_some()
        && !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    let mut request = client.request(method, url.expect("a URL"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().expect("sending the example").status()
}

/// Splits a shell command line on spaces outside single quotes, the quotes removed.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}
