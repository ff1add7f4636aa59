//! The access log: one JSON object per line, appended and flushed per request so that a
//! collector can tail the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::error::PrivacyError;

/// One request, as logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessRecord {
    /// When the request arrived, RFC 3339 in UTC with milliseconds.
    pub ts: String,
    /// The `x-request-id` sent back.
    pub request_id: String,
    /// The peer's IP address.
    pub client_ip: Option<String>,
    /// The name of the API key used (never the secret), if it was valid.
    pub api_key: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request path without the query.
    pub path: String,
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
}

/// An append-only JSON-lines file.
pub struct AccessLog {
    file: Mutex<File>,
}

impl AccessLog {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, PrivacyError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| PrivacyError::io(path, e))?;
        Ok(AccessLog {
            file: Mutex::new(file),
        })
    }

    /// Appends one record as a single write of one line.
    pub fn write(&self, record: &AccessRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.lock().expect("access log lock").write_all(&line)
    }
}
