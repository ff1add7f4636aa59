//! `GET /api/tables`: the tables, their columns and row counts.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;

/// A table, as listed.
#[derive(Debug, Serialize)]
pub(super) struct TableInfo {
    name: String,
    /// `append` or `upsert`.
    kind: &'static str,
    columns: Vec<ColumnInfo>,
    primary_key: Vec<String>,
    /// Committed rows (of an upsert table: its keys).
    rows: u64,
    memory_rows: usize,
    file_rows: u64,
    files: usize,
    memory_bytes: usize,
}

/// A column, as listed.
#[derive(Debug, Serialize)]
struct ColumnInfo {
    name: String,
    /// The Arrow type, e.g. `Int64` or `Timestamp(ms)`.
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
}

/// `GET /api/tables`.
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Vec<TableInfo>>, ApiError> {
    let mut tables = Vec::new();
    for name in state.store.table_names() {
        // A table dropped meanwhile is skipped.
        let Ok(table) = state.store.table(&name) else {
            continue;
        };
        let stats = table.stats();
        let config = table.config();
        let upsert = config.is_upsert();
        tables.push(TableInfo {
            name,
            kind: match upsert {
                true => "upsert",
                false => "append",
            },
            columns: config
                .schema
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            primary_key: config.primary_key.clone(),
            // An upsert table holds all its keys in memory; its state file is their copy.
            rows: match upsert {
                true => stats.memory_rows as u64,
                false => stats.memory_rows as u64 + stats.file_rows,
            },
            memory_rows: stats.memory_rows,
            file_rows: stats.file_rows,
            files: stats.files,
            memory_bytes: stats.memory_bytes,
        });
    }
    Ok(Json(tables))
}
