//! Running SQL over the store: one DataFusion session per query, with its own memory pool
//! and a time limit.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast;

use crate::error::{Result, StoreError};

/// Bounds on one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// A query running longer is cancelled and fails with [`StoreError::Timeout`].
    pub timeout: Duration,
    /// The memory its operators (sorts, aggregations, joins) may take; more fails with
    /// [`StoreError::MemoryLimit`]. The table data it reads is shared and not counted.
    pub memory_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(30),
            memory_bytes: 1 << 30,
        }
    }
}

/// A query's answer: its columns, and its rows (none when it was only planned).
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// The columns, known even when there are no rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

/// Runs the query `sql` in a session made from `template` (whose catalog names the store's
/// tables), or only plans it if `execute` is false; `exists` tells whether the store has a
/// table.
pub(crate) async fn run(
    template: &SessionState,
    exists: impl Fn(&str) -> Option<Vec<String>>,
    sql: &str,
    limits: QueryLimits,
    execute: bool,
) -> Result<QueryOutput> {
    // Queries of a serving store stay in memory: no spilling to disk past the limit.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| StoreError::Query(e.to_string()))?;
    let state = SessionStateBuilder::new_from_existing(template.clone())
        .with_runtime_env(runtime)
        .build();
    let work = async {
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state
            .sql_to_statement(sql, &dialect)
            .map_err(convert(limits))?;
        if !is_query(&statement) {
            return Err(StoreError::Query(format!(
                "the store answers queries only (SELECT, WITH, EXPLAIN), not {sql:?}"
            )));
        }
        for reference in state
            .resolve_table_references(&statement)
            .map_err(convert(limits))?
        {
            let in_store = reference.schema().is_none_or(|s| s == "public");
            if in_store && let Some(known) = exists(reference.table()) {
                return Err(StoreError::NoSuchTable {
                    name: reference.to_string(),
                    known,
                });
            }
        }
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(convert(limits))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| StoreError::Query(format!("the store answers queries only: {e}")))?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        if !execute {
            return Ok(QueryOutput {
                schema,
                batches: Vec::new(),
            });
        }
        let context = SessionContext::new_with_state(state.clone());
        let frame = context
            .execute_logical_plan(plan)
            .await
            .map_err(convert(limits))?;
        let batches = frame.collect().await.map_err(convert(limits))?;
        Ok(QueryOutput { schema, batches })
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout {
            limit: limits.timeout,
        }),
    }
}

/// Whether `statement` only reads: a query, or the explanation of one.
fn is_query(statement: &DfStatement) -> bool {
    match statement {
        DfStatement::Statement(s) => matches!(**s, ast::Statement::Query(_)),
        DfStatement::Explain(explain) => is_query(&explain.statement),
        _ => false,
    }
}

/// DataFusion's error as the store's: running out of the memory pool is a memory-limit
/// error, anything else a query error.
fn convert(limits: QueryLimits) -> impl Fn(DataFusionError) -> StoreError {
    move |e| match e.find_root() {
        DataFusionError::ResourcesExhausted(message) => StoreError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
            message: message.clone(),
        },
        _ => StoreError::Query(e.to_string()),
    }
}

/// The session every query starts from: DataFusion's defaults with `target_partitions`
/// threads.
pub(crate) fn template(
    target_partitions: usize,
    schema: Arc<dyn datafusion::catalog::SchemaProvider>,
) -> Result<SessionState> {
    let config = datafusion::prelude::SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_information_schema(true);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    let catalog = state
        .catalog_list()
        .catalog("datafusion")
        .ok_or_else(|| StoreError::Query("DataFusion has no default catalog".into()))?;
    catalog
        .register_schema("public", schema)
        .map_err(|e| StoreError::Query(e.to_string()))?;
    Ok(state)
}
