//! API keys and their per-key token-bucket rate limits.
//!
//! The keys file is CSV with a header naming its columns: `key,customer,plan` are required,
//! `id`, `rate_per_second` and `burst` optional (a JSON array of objects with the same fields
//! works too). A key's rate limit is its plan's ([`plan_limits`]) unless the row sets
//! `rate_per_second` and `burst`. Logs and metrics name a key by its `id`, never its secret;
//! without an `id` column that is `k_` and the first 12 hex digits of the key's SHA-256.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::PrivacyError;

/// One API key's entry in the keys file.
#[derive(Clone, PartialEq)]
pub struct KeyEntry {
    /// The secret sent in `X-API-Key`.
    pub key: String,
    /// The name logs and metrics use for the key.
    pub id: String,
    /// Who holds it.
    pub customer: String,
    /// The customer's plan, which sets the default rate limit.
    pub plan: String,
    /// Tokens added per second.
    pub rate_per_second: f64,
    /// Bucket size: the most requests allowed in a burst.
    pub burst: f64,
}

impl std::fmt::Debug for KeyEntry {
    /// Leaves the secret out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("customer", &self.customer)
            .field("plan", &self.plan)
            .field("rate_per_second", &self.rate_per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

/// The rate limit (requests per second, burst) of the known plans.
pub fn plan_limits(plan: &str) -> Option<(f64, f64)> {
    match plan {
        "free" => Some((1.0, 5.0)),
        "standard" => Some((5.0, 20.0)),
        "pro" => Some((20.0, 60.0)),
        "enterprise" => Some((100.0, 300.0)),
        _ => None,
    }
}

/// The id logged for a key without an `id` column: `k_` and 12 hex digits of its SHA-256.
pub fn default_key_id(key: &str) -> String {
    format!("k_{}", &crate::models::sha256_hex(key.as_bytes())[..12])
}

/// A row as written in the file, before plan defaults are applied.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRow {
    key: String,
    customer: String,
    plan: String,
    id: Option<String>,
    rate_per_second: Option<f64>,
    burst: Option<f64>,
}

impl KeyRow {
    fn resolve(self) -> Result<KeyEntry, String> {
        if self.key.is_empty() {
            return Err("empty key".into());
        }
        let (rate, burst) = match (self.rate_per_second, self.burst) {
            (Some(r), Some(b)) => (r, b),
            (None, None) => plan_limits(&self.plan).ok_or_else(|| {
                format!(
                    "plan {:?} is not one of free, standard, pro, enterprise; give rate_per_second and burst",
                    self.plan
                )
            })?,
            _ => return Err("rate_per_second and burst go together".into()),
        };
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(format!("rate_per_second {rate} is not a number >= 0"));
        }
        if !(burst.is_finite() && burst >= 1.0) {
            return Err(format!("burst {burst} lets no request through"));
        }
        Ok(KeyEntry {
            id: self.id.unwrap_or_else(|| default_key_id(&self.key)),
            key: self.key,
            customer: self.customer,
            plan: self.plan,
            rate_per_second: rate,
            burst,
        })
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
    /// Shows the key ids, never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.entries.values().map(|e| e.id.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("KeyTable").field("ids", &names).finish()
    }
}

impl KeyTable {
    /// A table of the given entries.
    pub fn new(entries: Vec<KeyEntry>) -> Self {
        KeyTable {
            entries: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Reads a keys file: JSON (an array of rows) when it ends in `.json`, otherwise CSV with a
    /// header; `#` starts a comment line. Errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, PrivacyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PrivacyError::io(path, e))?;
        let err = |line: usize, message: String| PrivacyError::Keys {
            path: path.to_path_buf(),
            line,
            message,
        };
        let rows: Vec<(usize, KeyRow)> = if path.extension().is_some_and(|e| e == "json") {
            let rows: Vec<KeyRow> = serde_json::from_str(&text)
                .map_err(|e| err(e.line(), format!("column {}: {e}", e.column())))?;
            // JSON rows are named by their position in the array.
            rows.into_iter()
                .enumerate()
                .map(|(i, r)| (i + 1, r))
                .collect()
        } else {
            parse_csv(&text).map_err(|(line, message)| err(line, message))?
        };
        let mut entries: Vec<KeyEntry> = Vec::new();
        for (line, row) in rows {
            let entry = row.resolve().map_err(|m| err(line, m))?;
            if let Some(other) = entries
                .iter()
                .find(|e| e.key == entry.key || e.id == entry.id)
            {
                return Err(err(
                    line,
                    format!("key {:?} repeats the key or id of {:?}", entry.id, other.id),
                ));
            }
            entries.push(entry);
        }
        Ok(KeyTable::new(entries))
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.values()
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

/// Rows of a CSV keys file with their line numbers, by the header's column names.
fn parse_csv(text: &str) -> Result<Vec<(usize, KeyRow)>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err((
            1,
            "empty file, expected a header such as key,customer,plan".into(),
        ));
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    for required in ["key", "customer", "plan"] {
        if !columns.contains(&required) {
            return Err((
                header_line,
                format!(
                    "header {header:?} has no column {required:?} (key,customer,plan are required)"
                ),
            ));
        }
    }
    let mut rows = Vec::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err((
                n,
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
        }
        let mut row = KeyRow::default();
        for (column, value) in columns.iter().zip(fields) {
            let number = |v: &str| {
                v.parse::<f64>()
                    .map_err(|_| (n, format!("{column} {v:?} is not a number")))
            };
            match *column {
                "key" => row.key = value.to_string(),
                "customer" => row.customer = value.to_string(),
                "plan" => row.plan = value.to_string(),
                "id" => row.id = Some(value.to_string()).filter(|v| !v.is_empty()),
                "rate_per_second" => row.rate_per_second = Some(number(value)?),
                "burst" => row.burst = Some(number(value)?),
                other => {
                    return Err((
                        header_line,
                        format!(
                            "unknown column {other:?} (known: key, customer, plan, id, rate_per_second, burst)"
                        ),
                    ));
                }
            }
        }
        rows.push((n, row));
    }
    Ok(rows)
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
        let (_d, csv) = write("k.csv", "# keys\nkey,customer,plan\nabc,Fleet A,pro\n");
        let t = KeyTable::load(&csv).unwrap();
        let e = t.lookup("abc").unwrap();
        assert_eq!((e.customer.as_str(), e.plan.as_str()), ("Fleet A", "pro"));
        assert_eq!((e.rate_per_second, e.burst), plan_limits("pro").unwrap());
        assert_eq!(e.id, default_key_id("abc"));
        assert_eq!(e.id.len(), 14);
        assert!(t.lookup("nope").is_none());
        let (_d, csv) = write(
            "k.csv",
            "key,id,customer,plan,rate_per_second,burst\nxyz,fleet-b,B,custom,0.5,3\n",
        );
        let e = KeyTable::load(&csv).unwrap().lookup("xyz").unwrap().clone();
        assert_eq!(
            (e.id.as_str(), e.rate_per_second, e.burst),
            ("fleet-b", 0.5, 3.0)
        );
        let (_d, json) = write("k.json", r#"[{"key":"x","customer":"n","plan":"free"}]"#);
        assert_eq!(
            KeyTable::load(&json).unwrap().lookup("x").unwrap().burst,
            5.0
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            (
                "key,customer,plan\na,b,pro\nc,d,gold\n",
                "k.csv:3: plan \"gold\" is not one of",
            ),
            (
                "key,customer\n",
                "k.csv:1: header \"key,customer\" has no column \"plan\"",
            ),
            ("key,customer,plan\na,b,pro\na,c,pro\n", "k.csv:3: key "),
            (
                "key,customer,plan,burst\na,b,pro,2\n",
                "k.csv:2: rate_per_second and burst go together",
            ),
            (
                "key,customer,plan,rate_per_second,burst\na,b,x,fast,2\n",
                "k.csv:2: rate_per_second \"fast\" is not a number",
            ),
            (
                "key,customer,plan\na,b\n",
                "k.csv:2: 2 fields, the header has 3",
            ),
            (
                "key,customer,plan,colour\na,b,pro,red\n",
                "k.csv:1: unknown column \"colour\"",
            ),
        ];
        for (text, expected) in cases {
            let (_d, p) = write("k.csv", text);
            let e = KeyTable::load(&p).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn bucket_allows_burst_then_refills() {
        let entry = KeyEntry {
            key: "k".into(),
            id: "n".into(),
            customer: "c".into(),
            plan: "custom".into(),
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
