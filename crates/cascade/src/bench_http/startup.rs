//! `cascade bench startup`: starts `cascade serve` as a child process over a data directory,
//! times it to listening and to `/ready` = 200, reads its resident memory, then stops it with
//! SIGTERM (which saves the indexes, so the next start opens them as persisted).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `cascade bench startup` arguments.
#[derive(clap::Args)]
pub struct StartupBench {
    #[command(flatten)]
    pub config: crate::ConfigArgs,
    /// Starts; the first may build indexes the later ones load as saved.
    #[arg(long, default_value_t = 2)]
    pub runs: usize,
    /// The catalogue size, to report resident memory per million items.
    #[arg(long)]
    pub items: Option<usize>,
    /// How long to wait for `/ready`.
    #[arg(long, default_value = "600s", value_parser = super::parse_duration)]
    pub timeout: Duration,
}

/// `VmRSS` of process `pid` in bytes, from /proc/PID/status.
pub fn vm_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `cascade bench startup`.
pub fn run(args: &StartupBench) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the cascade binary")?;
    for run in 1..=args.runs.max(1) {
        let mut command = Command::new(&exe);
        command.arg("serve").args(["--listen", "127.0.0.1:0"]);
        if let Some(config) = &args.config.config {
            command.arg("--config").arg(config);
        }
        if let Some(dir) = &args.config.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        let started = Instant::now();
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting cascade serve")?;
        let pid = child.id();
        let outcome = time_to_ready(&mut child, started, args.timeout);
        let rss = vm_rss(pid);
        // SIGTERM: serve saves the indexes and exits
        let stopping = Instant::now();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if !signalled.is_ok_and(|s| s.success()) {
            let _ = child.kill();
        }
        let status = child.wait().context("waiting for cascade serve")?;
        let stop_seconds = stopping.elapsed().as_secs_f64();
        let (listening, ready) = outcome?;
        let per_million = match (rss, args.items) {
            (Some(bytes), Some(items)) if items > 0 => format!(
                ", {:.0} MiB per million items",
                bytes as f64 / 1048576.0 * 1e6 / items as f64
            ),
            _ => String::new(),
        };
        println!(
            "start {run}: listening after {:.2} s, ready after {:.2} s, resident {}{per_million}; \
             stopped (indexes saved) in {stop_seconds:.2} s, {status}",
            listening.as_secs_f64(),
            ready.as_secs_f64(),
            rss.map_or_else(
                || "unknown".into(),
                |b| format!("{:.0} MiB", b as f64 / 1048576.0)
            ),
        );
    }
    Ok(())
}

/// Waits for the child's `listening on` line, then polls `/ready` until it answers 200.
fn time_to_ready(
    child: &mut std::process::Child,
    started: Instant,
    timeout: Duration,
) -> anyhow::Result<(Duration, Duration)> {
    let stdout = child.stdout.take().context("the child's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(base) = line.trim().strip_prefix("listening on ") {
                    break base.to_string();
                }
            }
            _ => bail!("cascade serve exited before listening"),
        }
    };
    let listening = started.elapsed();
    // keep draining its output so that it never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    let ready = crate::runtime()?.block_on(poll_ready(&base, started, timeout))?;
    Ok((listening, ready))
}

/// Polls `{base}/ready` every 20 ms; the time since `started` when it first answers 200.
async fn poll_ready(base: &str, started: Instant, timeout: Duration) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    loop {
        let answer = client.get(format!("{base}/ready")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("{base}/ready did not answer 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
