//! `spate query "SQL"`: a query over the tables of the serving store (`<data-dir>/store`),
//! read-only, beside a job that may be writing them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use arrow::array::RecordBatch;
use clap::{Args, ValueEnum};
use spate_store::{QueryLimits, Store, StoreOptions};

/// How `spate query` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// A JSON array of objects, one per row.
    Json,
}

/// Options of `spate query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL query (DataFusion's dialect), e.g. "SELECT * FROM metrics LIMIT 10".
    sql: String,
    /// How to print the rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Cancel the query after this long, e.g. 500ms or 30s.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The memory its sorts, aggregations and joins may take, in MiB.
    #[arg(long, default_value_t = 1024)]
    memory_limit_mb: usize,
}

/// Runs the query and prints its rows.
pub fn run(data_dir: &Path, args: QueryArgs) -> anyhow::Result<()> {
    let dir = crate::registry::store_dir(data_dir);
    anyhow::ensure!(
        dir.join("tables").is_dir(),
        "no store in {}: a job writes one through a 'connector' = 'spate-store' table",
        dir.display()
    );
    let limits = QueryLimits {
        timeout: args.timeout,
        memory_bytes: args.memory_limit_mb << 20,
    };
    let store = Store::open_read_only(&dir, StoreOptions::default())
        .with_context(|| format!("cannot open the store {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let batches = runtime.block_on(store.sql_with(&args.sql, limits))?;
    let out = match args.format {
        Format::Table => arrow::util::pretty::pretty_format_batches(&batches)?.to_string(),
        Format::Json => json(&batches)?,
    };
    println!("{out}");
    Ok(())
}

/// The rows as a JSON array of objects.
fn json(batches: &[RecordBatch]) -> anyhow::Result<String> {
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    Ok(match bytes.is_empty() {
        true => "[]".to_string(),
        false => String::from_utf8(bytes)?,
    })
}
