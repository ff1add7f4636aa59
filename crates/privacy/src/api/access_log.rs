//! The access log: one line per request, as JSON or as nginx's "combined" format, appended and
//! flushed per request so that a collector can tail the file. Files rotate by size and/or at
//! midnight UTC, by rename-and-create (as logrotate's default): `access.log` becomes
//! `access.log.1`, older files shift up, and the oldest beyond the kept count is deleted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::error::PrivacyError;

/// One request, as logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessRecord {
    /// When the request arrived, RFC 3339 in UTC with milliseconds.
    pub ts: String,
    /// The `x-request-id` sent back.
    pub request_id: String,
    /// The client's IP address: the peer, or the address a trusted proxy put in
    /// `X-Forwarded-For` (see [`crate::api::proxy`]).
    pub client_ip: Option<String>,
    /// The id of the API key used (never the secret), if it was valid.
    pub api_key: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request path without the query.
    pub path: String,
    /// The HTTP version, as in a request line (`HTTP/1.1`).
    pub protocol: String,
    /// Response status code.
    pub status: u16,
    /// Time from arrival to response headers, in milliseconds.
    pub latency_ms: f64,
    /// Request body size.
    pub bytes_in: u64,
    /// Response body size.
    pub bytes_out: u64,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// Faces and plates found, for requests that ran the detectors.
    pub detections: Option<usize>,
}

impl AccessRecord {
    /// The record as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("access records serialise")
    }

    /// The record as nginx's `combined` format (the API key id is `$remote_user`), followed by
    /// the fields combined has no place for, as `key=value` pairs:
    /// `request_id=… request_time=SECONDS bytes_in=N detections=N|-`.
    pub fn to_combined(&self) -> String {
        let ts = DateTime::parse_from_rfc3339(&self.ts)
            .map(|t| t.format("%d/%b/%Y:%H:%M:%S %z").to_string())
            .unwrap_or_else(|_| self.ts.clone());
        let quoted = |v: Option<&str>| escape(v.unwrap_or("-"));
        format!(
            "{ip} - {user} [{ts}] \"{method} {path} {protocol}\" {status} {bytes_out} \"{referer}\" \"{ua}\" request_id={id} request_time={secs:.3} bytes_in={bytes_in} detections={det}",
            ip = self.client_ip.as_deref().unwrap_or("-"),
            user = self.api_key.as_deref().unwrap_or("-"),
            method = escape(&self.method),
            path = escape(&self.path),
            protocol = self.protocol,
            status = self.status,
            bytes_out = self.bytes_out,
            referer = quoted(self.referer.as_deref()),
            ua = quoted(self.user_agent.as_deref()),
            id = self.request_id,
            secs = self.latency_ms / 1e3,
            bytes_in = self.bytes_in,
            det = self
                .detections
                .map_or_else(|| "-".to_string(), |d| d.to_string()),
        )
    }
}

/// Escapes `"`, `\` and control characters as nginx does (`\xHH`), so a line stays one line.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' || c.is_control() {
            out.push_str(&format!("\\x{:02X}", c as u32 & 0xff));
        } else {
            out.push(c);
        }
    }
    out
}

/// The line format of the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line with every field of [`AccessRecord`].
    #[default]
    Json,
    /// nginx `combined`, with the extra fields appended (see [`AccessRecord::to_combined`]).
    Combined,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(LogFormat::Json),
            "combined" => Ok(LogFormat::Combined),
            other => Err(format!(
                "access log format {other:?}: expected json or combined"
            )),
        }
    }
}

/// When the log file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Rotate before a line would make the file larger than this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate at the first line written on a new UTC day.
    pub daily: bool,
    /// Rotated files kept (`FILE.1` … `FILE.N`); older ones are deleted. At least 1.
    pub keep: usize,
}

struct Open {
    file: File,
    bytes: u64,
    day: NaiveDate,
}

/// An append-only access log file with rotation.
pub struct AccessLog {
    path: PathBuf,
    format: LogFormat,
    rotation: Rotation,
    open: Mutex<Open>,
}

impl AccessLog {
    /// Opens (creating if needed) `path` for appending lines in `format`, rotated by `rotation`.
    pub fn open(path: &Path, format: LogFormat, rotation: Rotation) -> Result<Self, PrivacyError> {
        let open = open_file(path)?;
        Ok(AccessLog {
            path: path.to_path_buf(),
            format,
            rotation: Rotation {
                keep: rotation.keep.max(1),
                ..rotation
            },
            open: Mutex::new(open),
        })
    }

    /// Appends one record as a single write of one line, rotating first when it is due.
    pub fn write(&self, record: &AccessRecord) -> std::io::Result<()> {
        self.write_at(record, Utc::now().date_naive())
    }

    /// [`AccessLog::write`] on the UTC day `today` (tests pass the day).
    pub fn write_at(&self, record: &AccessRecord, today: NaiveDate) -> std::io::Result<()> {
        let mut line = match self.format {
            LogFormat::Json => record.to_json(),
            LogFormat::Combined => record.to_combined(),
        };
        line.push('\n');
        let mut open = self.open.lock().expect("access log lock");
        let too_big = self
            .rotation
            .max_bytes
            .is_some_and(|max| open.bytes > 0 && open.bytes + line.len() as u64 > max);
        let new_day = self.rotation.daily && today != open.day;
        if too_big || new_day {
            self.rotate()?;
            *open = open_file(&self.path).map_err(std::io::Error::other)?;
            open.day = today;
        }
        open.file.write_all(line.as_bytes())?;
        open.bytes += line.len() as u64;
        Ok(())
    }

    /// The path of rotated file number `n` (1 is the newest).
    pub fn rotated_path(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let keep = self.rotation.keep;
        match std::fs::remove_file(self.rotated_path(keep)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..keep).rev() {
            match std::fs::rename(self.rotated_path(n), self.rotated_path(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated_path(1))
    }
}

fn open_file(path: &Path) -> Result<Open, PrivacyError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| PrivacyError::io(path, e))?;
    let meta = file.metadata().map_err(|e| PrivacyError::io(path, e))?;
    let day = meta
        .modified()
        .ok()
        .map(|t| DateTime::<Utc>::from(t).date_naive())
        .unwrap_or_else(|| Utc::now().date_naive());
    Ok(Open {
        file,
        bytes: meta.len(),
        day,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> AccessRecord {
        AccessRecord {
            ts: "2024-03-05T07:08:09.123Z".into(),
            request_id: format!("r{i}"),
            client_ip: Some("203.0.113.9".into()),
            api_key: Some("k-1".into()),
            method: "POST".into(),
            path: "/v1/privacy/blur".into(),
            protocol: "HTTP/1.1".into(),
            status: 200,
            latency_ms: 12.5,
            bytes_in: 100,
            bytes_out: 200,
            user_agent: Some("curl/8.5 \"quoted\"".into()),
            referer: None,
            detections: Some(3),
        }
    }

    #[test]
    fn combined_line_is_nginx_combined_plus_extras() {
        assert_eq!(
            record(1).to_combined(),
            "203.0.113.9 - k-1 [05/Mar/2024:07:08:09 +0000] \"POST /v1/privacy/blur HTTP/1.1\" 200 200 \"-\" \"curl/8.5 \\x22quoted\\x22\" request_id=r1 request_time=0.013 bytes_in=100 detections=3"
        );
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("combined".parse::<LogFormat>(), Ok(LogFormat::Combined));
        assert!("xml".parse::<LogFormat>().unwrap_err().contains("xml"));
    }

    #[test]
    fn rotates_by_size_keeping_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let line_len = record(0).to_json().len() as u64 + 1;
        let log = AccessLog::open(
            &path,
            LogFormat::Json,
            Rotation {
                max_bytes: Some(2 * line_len),
                daily: false,
                keep: 2,
            },
        )
        .unwrap();
        let today = Utc::now().date_naive();
        for i in 0..7 {
            log.write_at(&record(i), today).unwrap();
        }
        let ids = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        // Two lines per file: r6 is current, r4 r5 in .1, r2 r3 in .2, r0 r1 were deleted.
        assert_eq!(ids(&path), ["r6"]);
        assert_eq!(ids(&log.rotated_path(1)), ["r4", "r5"]);
        assert_eq!(ids(&log.rotated_path(2)), ["r2", "r3"]);
        assert!(!log.rotated_path(3).exists());
    }

    #[test]
    fn rotates_daily() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let rotation = Rotation {
            max_bytes: None,
            daily: true,
            keep: 5,
        };
        let log = AccessLog::open(&path, LogFormat::Combined, rotation).unwrap();
        let today = Utc::now().date_naive();
        log.write_at(&record(0), today).unwrap();
        log.write_at(&record(1), today).unwrap();
        log.write_at(&record(2), today.succ_opt().unwrap()).unwrap();
        let old = std::fs::read_to_string(log.rotated_path(1)).unwrap();
        assert_eq!(old.lines().count(), 2);
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.contains("request_id=r2"), "{new}");
        assert_eq!(new.lines().count(), 1);
    }
}
