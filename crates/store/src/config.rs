//! What a table is: its columns, its primary key (an upsert table) or none (an append
//! table), and how long it keeps rows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::{Result, StoreError, io};

/// How long a table keeps rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Rows older than this are dropped.
    pub max_age: Duration,
    /// The column whose time a row's age is counted from (a TIMESTAMP, or a BIGINT of epoch
    /// milliseconds); `None` counts from the time the row was committed (ingest time).
    pub time_column: Option<String>,
}

/// The definition of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConfig {
    /// The table's name: letters, digits and `_` (SQL names it in lower case unless quoted).
    pub name: String,
    /// Its columns.
    pub schema: SchemaRef,
    /// The primary key: an upsert table keeps the latest row per key; empty for an append
    /// table.
    pub primary_key: Vec<String>,
    /// How long it keeps rows; `None` keeps them forever.
    pub retention: Option<Retention>,
}

impl TableConfig {
    /// An append-only table of `schema`, kept forever.
    pub fn append(name: impl Into<String>, schema: SchemaRef) -> Self {
        TableConfig {
            name: name.into(),
            schema,
            primary_key: Vec::new(),
            retention: None,
        }
    }

    /// An upsert table of `schema` keyed by `key`, kept forever.
    pub fn upsert(name: impl Into<String>, schema: SchemaRef, key: &[&str]) -> Self {
        TableConfig {
            primary_key: key.iter().map(|k| k.to_string()).collect(),
            ..TableConfig::append(name, schema)
        }
    }

    /// The same table, keeping rows for `retention`.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Whether the table keeps the latest row per primary key.
    pub fn is_upsert(&self) -> bool {
        !self.primary_key.is_empty()
    }

    /// Checks the name, the key columns and the retention column.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| StoreError::InvalidTable {
            table: self.name.clone(),
            message,
        };
        if !valid_name(&self.name) {
            return Err(invalid(
                "a table name is letters, digits and '_', starting with a letter or '_'".into(),
            ));
        }
        for key in &self.primary_key {
            if self.schema.index_of(key).is_err() {
                return Err(invalid(format!("the primary key names no column {key}")));
            }
        }
        if let Some(column) = self.retention.as_ref().and_then(|r| r.time_column.as_ref()) {
            let field = self
                .schema
                .field_with_name(column)
                .map_err(|_| invalid(format!("the retention column {column} is not a column")))?;
            if !is_time_type(field.data_type()) {
                return Err(invalid(format!(
                    "the retention column {column} is {}, not a TIMESTAMP or BIGINT of epoch milliseconds",
                    field.data_type()
                )));
            }
        }
        Ok(())
    }
}

/// Whether `name` can name a table (and its directory).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 200
}

/// Whether a column of `data_type` can be a retention column.
pub(crate) fn is_time_type(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(..) | DataType::Int64)
}

/// The part of a table's definition kept in `table.json` (the schema is in `schema.arrow`).
#[derive(Debug, Serialize, Deserialize)]
struct StoredConfig {
    primary_key: Vec<String>,
    retention: Option<Retention>,
}

const CONFIG_FILE: &str = "table.json";
const SCHEMA_FILE: &str = "schema.arrow";

/// Writes the definition into the table's directory `dir` (fsynced, replaced atomically).
pub(crate) fn save(dir: &Path, config: &TableConfig) -> Result<()> {
    let stored = StoredConfig {
        primary_key: config.primary_key.clone(),
        retention: config.retention.clone(),
    };
    let json = serde_json::to_vec_pretty(&stored).expect("the config serializes");
    crate::fsutil::write_atomic(
        &dir.join(SCHEMA_FILE),
        &codec::encode_schema(&config.schema)?,
    )?;
    crate::fsutil::write_atomic(&dir.join(CONFIG_FILE), &json)
}

/// Reads the definition of the table `name` from its directory `dir`.
pub(crate) fn load(dir: &Path, name: &str) -> Result<TableConfig> {
    let path = dir.join(CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let stored: StoredConfig = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let schema_path = dir.join(SCHEMA_FILE);
    let schema_bytes = std::fs::read(&schema_path).map_err(io(&schema_path))?;
    let schema = codec::decode_schema(&schema_bytes).map_err(|e| StoreError::Corrupt {
        path: schema_path,
        reason: e.to_string(),
    })?;
    Ok(TableConfig {
        name: name.to_string(),
        schema: Arc::new(schema),
        primary_key: stored.primary_key,
        retention: stored.retention,
    })
}
