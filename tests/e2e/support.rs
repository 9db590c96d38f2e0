//! Starting and stopping `cascade` processes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn cascade() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cascade"));
    command.env("RUST_LOG", "warn");
    command
}

/// A running `cascade` process that printed `listening on http://ADDR`.
pub struct Running {
    /// The process.
    pub child: Child,
    /// `http://ADDR`.
    pub base: String,
    /// The rest of its standard output.
    pub stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Starts `command` and waits (up to `timeout`) for its listening line.
    pub fn start(mut command: Command, timeout: Duration) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting cascade");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + timeout;
        let mut line = String::new();
        let base = loop {
            line.clear();
            let read = stdout.read_line(&mut line).unwrap_or(0);
            if let Some(base) = line.trim().strip_prefix("listening on ") {
                break Some(base.to_string());
            }
            if read == 0 || Instant::now() >= deadline {
                break None;
            }
        };
        match base {
            Some(base) => Running {
                base,
                child,
                stdout,
            },
            None => {
                let _ = child.kill();
                let status = child.wait();
                panic!("cascade did not start listening within {timeout:?}: {status:?}");
            }
        }
    }

    /// Starts `cascade serve` on a free loopback port over `data_dir`.
    pub fn serve(data_dir: &Path) -> Running {
        let mut command = cascade();
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"]);
        Running::start(command, Duration::from_secs(30))
    }

    /// Waits for a line of output starting with `prefix`.
    pub fn wait_for_line(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self
                .stdout
                .read_line(&mut line)
                .expect("reading cascade's output");
            assert!(read > 0, "cascade exited before printing `{prefix}`");
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping cascade");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
