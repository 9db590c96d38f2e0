//! The command line met with ordinary mistakes: each one ends with a clear `error:` line and
//! a failing exit status (or, where the input is fine, does what the file meant), never with a
//! silent success, a backtrace or colour codes in a log file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};

use cascade_store::{EmbeddedStore, EventLog};

use crate::support::cascade;

/// Runs `cascade ARGS` to the end.
fn run(args: &[&str]) -> Output {
    cascade().args(args).output().expect("running cascade")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that `output` is a failure whose error line contains every one of `needles`.
fn assert_fails_with(output: &Output, needles: &[&str]) {
    let error = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{error}\n{}", stdout(output));
    assert!(error.starts_with("error: "), "{error}");
    for needle in needles {
        assert!(error.contains(needle), "`{needle}` not in: {error}");
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Imports the events of `file` (columns `uid`, `item_id`, `type` or `--type`) into `data`.
fn import_events(file: &Path, data: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["import", "events", path(file), "--data-dir", path(data)];
    args.extend_from_slice(extra);
    run(&args)
}

fn stored_events(data: &Path) -> u64 {
    let store = EmbeddedStore::open(data).unwrap();
    store.read_from(0, 100).unwrap().len() as u64
}

#[test]
fn an_import_that_rejects_rows_fails_unless_rejections_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let none = dir.path().join("none.csv");
    std::fs::write(&none, "user,book\n1,10\n2,11\n").unwrap();
    let output = import_events(&none, &data, &["--type", "click"]);
    assert_fails_with(&output, &["every row of", "rejected (2 rows)"]);
    assert!(
        stdout(&output).contains("2 rejected"),
        "{}",
        stdout(&output)
    );

    let some = dir.path().join("some.csv");
    std::fs::write(&some, "uid,item_id\n1,10\n2,\n").unwrap();
    let output = import_events(&some, &data, &["--type", "click"]);
    assert_fails_with(&output, &["1 of the 2 rows", "--allow-rejections"]);
    let output = import_events(&some, &data, &["--type", "click", "--allow-rejections"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_events(&data), 1, "the accepted row is stored once");

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "uid,item_id\n").unwrap();
    assert_fails_with(
        &import_events(&empty, &data, &["--type", "click"]),
        &["holds no rows"],
    );
}

#[test]
fn tab_separated_files_are_read_by_extension_or_delimiter_and_a_wrong_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "user_id\tbook_id\n1\t10\n2\t11\n";
    let map = [
        "--type",
        "click",
        "--map",
        "uid=user_id",
        "--map",
        "item_id=book_id",
    ];
    let tsv = dir.path().join("ratings.tsv");
    std::fs::write(&tsv, rows).unwrap();
    let data = dir.path().join("by-extension");
    let output = import_events(&tsv, &data, &map);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_events(&data), 2);

    let txt = dir.path().join("ratings.txt");
    std::fs::write(&txt, rows).unwrap();
    for delimiter in ["tab", "\\t", "\t"] {
        let data = dir.path().join(format!("by-option-{}", delimiter.len()));
        let mut args = vec!["--format", "csv", "--delimiter", delimiter];
        args.extend_from_slice(&map);
        let output = import_events(&txt, &data, &args);
        assert!(
            output.status.success(),
            "{delimiter:?}: {}",
            stderr(&output)
        );
        assert_eq!(stored_events(&data), 2);
    }

    let mut args = vec!["--format", "csv"];
    args.extend_from_slice(&map);
    let output = import_events(&txt, &dir.path().join("comma"), &args);
    assert_fails_with(
        &output,
        &["header row is one column", "pass --delimiter tab"],
    );
    // Columns named like the event fields, so nothing is mapped by hand: refused all the same.
    let named = dir.path().join("named.txt");
    std::fs::write(&named, "uid\titem_id\n1\t10\n").unwrap();
    let output = import_events(
        &named,
        &dir.path().join("named"),
        &["--format", "csv", "--type", "click"],
    );
    assert_fails_with(
        &output,
        &["header row is one column", "pass --delimiter tab"],
    );
    // A separator chosen by hand that is wrong: the missing column's error shows the header.
    let mut args = vec!["--format", "csv", "--delimiter", ";"];
    args.extend_from_slice(&map);
    let output = import_events(&txt, &dir.path().join("semicolon"), &args);
    assert_fails_with(
        &output,
        &["has no column `", "1 column(s)", "pass --delimiter tab"],
    );
}

#[test]
fn a_first_row_of_data_is_refused_as_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ratings.csv");
    std::fs::write(&csv, "1,10,5\n2,11,4\n").unwrap();
    let output = import_events(&csv, &dir.path().join("data"), &["--type", "rating"]);
    assert_fails_with(&output, &["first row (1,10,5) looks like data"]);
}

#[test]
fn a_csv_file_without_an_extension_is_not_read_as_ndjson_silently() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ratings");
    std::fs::write(&file, "uid,item_id\n1,10\n").unwrap();
    let data = dir.path().join("data");
    let output = import_events(&file, &data, &["--type", "click"]);
    assert_fails_with(&output, &["read as NDJSON", "pass --format csv"]);
    assert!(!data.exists(), "nothing was written");
    let output = import_events(&file, &data, &["--type", "click", "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn reading_commands_refuse_a_data_dir_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("dat");
    let model = dir.path().join("model.json");
    let commands: [Vec<&str>; 3] = [
        vec!["eval", "--data-dir", path(&missing)],
        vec![
            "train",
            "--model",
            "logistic",
            "--out",
            path(&model),
            "--data-dir",
            path(&missing),
        ],
        vec!["eval-scene", "--data-dir", path(&missing)],
    ];
    for args in commands {
        let output = run(&args);
        assert_fails_with(&output, &[&format!("{} does not exist", missing.display())]);
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
}

#[test]
fn eval_over_other_event_types_names_them_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("plays.csv");
    std::fs::write(&csv, "uid,item_id\n1,10\n1,11\n2,10\n").unwrap();
    let data = dir.path().join("data");
    let output = import_events(&csv, &data, &["--type", "play"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["eval", "--data-dir", path(&data)]);
    assert_fails_with(
        &output,
        &[
            "only events of type rating count",
            "play (3)",
            "--event-types play",
        ],
    );
}

#[test]
fn a_user_error_prints_no_backtrace_even_when_backtraces_are_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let output = cascade()
        .args(["eval", "--data-dir", path(&missing)])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_fails_with(&output, &["does not exist"]);
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(!error.contains("backtrace"), "{error}");
}

#[test]
fn log_lines_written_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = cascade()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("ready"));
    // SIGTERM: the server logs `stopped` on its way out.
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    child.wait().unwrap();
    assert!(ready, "the server did not get ready");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("INFO"), "{written}");
    assert!(!written.contains('\u{1b}'), "{written:?}");
}
