//! API keys and their per-key token-bucket rate limits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::PrivacyError;

/// One API key's entry in the keys file.
#[derive(Clone, PartialEq, Deserialize)]
pub struct KeyEntry {
    /// The secret sent in `X-API-Key`.
    pub key: String,
    /// Who holds it; this name, never the secret, goes into logs and metrics.
    pub name: String,
    /// Tokens added per second.
    pub rate_per_second: f64,
    /// Bucket size: the most requests allowed in a burst.
    pub burst: f64,
}

impl std::fmt::Debug for KeyEntry {
    /// Leaves the secret out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("name", &self.name)
            .field("rate_per_second", &self.rate_per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The keys table with one token bucket per key.
pub struct KeyTable {
    entries: HashMap<String, KeyEntry>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl std::fmt::Debug for KeyTable {
    /// Shows the key holders' names, never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.entries.values().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("KeyTable").field("names", &names).finish()
    }
}

/// The CSV header a keys file must start with.
pub const CSV_HEADER: &str = "key,name,rate_per_second,burst";

impl KeyTable {
    /// A table of the given entries.
    pub fn new(entries: Vec<KeyEntry>) -> Self {
        KeyTable {
            entries: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Reads a keys file: JSON (an array of entries) when it ends in `.json`, otherwise CSV
    /// with the header [`CSV_HEADER`]; `#` starts a comment line.
    pub fn load(path: &Path) -> Result<Self, PrivacyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PrivacyError::io(path, e))?;
        let entries = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| PrivacyError::Keys {
                path: path.to_path_buf(),
                line: e.line(),
                message: format!("column {}: {e}", e.column()),
            })?
        } else {
            parse_csv(path, &text)?
        };
        Ok(KeyTable::new(entries))
    }

    /// The entry for a presented key.
    pub fn lookup(&self, key: &str) -> Option<&KeyEntry> {
        self.entries.get(key)
    }

    /// Takes one token from `key`'s bucket at `now`, or says how long until one is there.
    pub fn take(&self, entry: &KeyEntry, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("bucket lock");
        let bucket = buckets.entry(entry.key.clone()).or_insert(Bucket {
            tokens: entry.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * entry.rate_per_second).min(entry.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if entry.rate_per_second > 0.0 {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / entry.rate_per_second,
            ))
        } else {
            Err(Duration::MAX)
        }
    }
}

fn parse_csv(path: &Path, text: &str) -> Result<Vec<KeyEntry>, PrivacyError> {
    let err = |line: usize, message: String| PrivacyError::Keys {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some((_, h)) if h.replace(' ', "") == CSV_HEADER => {}
        Some((n, h)) => return Err(err(n, format!("header is {h:?}, expected {CSV_HEADER:?}"))),
        None => {
            return Err(err(
                1,
                format!("empty file, expected the header {CSV_HEADER:?}"),
            ));
        }
    }
    let mut entries: Vec<KeyEntry> = Vec::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [key, name, rate, burst] = fields[..] else {
            return Err(err(
                n,
                format!("{} fields, expected 4 ({CSV_HEADER})", fields.len()),
            ));
        };
        if key.is_empty() {
            return Err(err(n, "empty key".into()));
        }
        if entries.iter().any(|e| e.key == key) {
            return Err(err(n, format!("key of {name:?} repeats an earlier key")));
        }
        let number = |field: &str, v: &str| -> Result<f64, PrivacyError> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| err(n, format!("{field} {v:?} is not a number >= 0")))
        };
        let burst = number("burst", burst)?;
        if burst < 1.0 {
            return Err(err(n, format!("burst {burst} lets no request through")));
        }
        entries.push(KeyEntry {
            key: key.to_string(),
            name: name.to_string(),
            rate_per_second: number("rate_per_second", rate)?,
            burst,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn loads_csv_and_json() {
        let (_d, csv) = write(
            "k.csv",
            "# keys\nkey,name,rate_per_second,burst\nabc,fleet-a,2,5\n",
        );
        let t = KeyTable::load(&csv).unwrap();
        assert_eq!(t.lookup("abc").unwrap().name, "fleet-a");
        assert!(t.lookup("nope").is_none());
        let (_d, json) = write(
            "k.json",
            r#"[{"key":"x","name":"n","rate_per_second":1.5,"burst":3}]"#,
        );
        assert_eq!(
            KeyTable::load(&json).unwrap().lookup("x").unwrap().burst,
            3.0
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let (_d, p) = write(
            "k.csv",
            "key,name,rate_per_second,burst\na,b,1,2\nc,d,fast,2\n",
        );
        let e = KeyTable::load(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("k.csv:3: rate_per_second \"fast\" is not a number >= 0"),
            "{e}"
        );
        let (_d, p) = write("k.csv", "key,name\n");
        assert!(
            KeyTable::load(&p)
                .unwrap_err()
                .to_string()
                .contains("k.csv:1: header")
        );
        let (_d, p) = write(
            "k.csv",
            "key,name,rate_per_second,burst\na,b,1,2\na,c,1,2\n",
        );
        assert!(
            KeyTable::load(&p)
                .unwrap_err()
                .to_string()
                .contains("k.csv:3: key of \"c\"")
        );
    }

    #[test]
    fn bucket_allows_burst_then_refills() {
        let entry = KeyEntry {
            key: "k".into(),
            name: "n".into(),
            rate_per_second: 2.0,
            burst: 2.0,
        };
        let t = KeyTable::new(vec![entry.clone()]);
        let t0 = Instant::now();
        assert!(t.take(&entry, t0).is_ok());
        assert!(t.take(&entry, t0).is_ok());
        let wait = t.take(&entry, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(t.take(&entry, t0 + Duration::from_millis(500)).is_ok());
        assert!(t.take(&entry, t0 + Duration::from_millis(500)).is_err());
    }
}
