//! The privacy API as the tests that drive it with `spate loadgen` start it: the real binary,
//! `--without-models` (CI needs no weights), on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// Stops a child process with SIGTERM (a graceful shutdown) when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Starts `spate api serve` with `keys`, logging to `access_log`, trusting loopback's
/// `X-Forwarded-For`; returns the server and its base URL.
pub fn serve(keys: &Path, access_log: &Path) -> (Running, String) {
    let mut child = Command::new(SPATE)
        .args([
            "api",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--without-models",
        ])
        .args(["--trusted-proxy", "127.0.0.1/32"])
        .arg("--keys")
        .arg(keys)
        .arg("--access-log")
        .arg(access_log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Running(child);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let target = line
        .trim()
        .strip_prefix("spate api: serving on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (server, target)
}

/// The NDJSON lines of `path` (an access log, a labels file).
pub fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
