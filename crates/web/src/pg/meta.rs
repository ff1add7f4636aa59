//! Queries of the catalog (`pg_catalog`, `information_schema`, and the catalog's
//! functions), answered by DataFusion over a [`Snapshot`] of the store's tables taken when
//! the query starts, within the query limits.
//!
//! A statement goes to the catalog when it reads one of its tables, or calls one of its
//! functions without reading the store's tables; every other query goes to the store.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use arrow::array::{RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Query, Statement};
use spate_store::{QueryLimits, QueryOutput, Store};

use super::catalog::{DATABASE, Snapshot};
use super::functions::functions;
use super::rewrite;

/// Why a catalog query failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum CatalogError {
    /// DataFusion could not plan or run it.
    #[error("{0}")]
    Query(String),
    /// It named a table the catalog does not have.
    #[error("{0}")]
    NoSuchTable(String),
    /// It is not a query.
    #[error("the catalog answers queries only: {0}")]
    NotAQuery(String),
    /// It ran past the time limit.
    #[error("the query was cancelled after {0:?}, the time limit")]
    Timeout(Duration),
}

impl From<DataFusionError> for CatalogError {
    fn from(e: DataFusionError) -> Self {
        let message = e.to_string();
        match message.contains("table '") && message.contains("not found") {
            true => CatalogError::NoSuchTable(message),
            false => CatalogError::Query(message),
        }
    }
}

impl From<arrow::error::ArrowError> for CatalogError {
    fn from(e: arrow::error::ArrowError) -> Self {
        CatalogError::Query(e.to_string())
    }
}

/// The names of the catalog's functions.
static FUNCTIONS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let empty = Arc::new(Snapshot {
        tables: Vec::new(),
        types: Vec::new(),
    });
    functions(&empty)
        .iter()
        .map(|f| f.name().to_string())
        .collect()
});

/// The statement `sql`, parsed, if it is a query of the catalog.
pub(super) fn route(sql: &str, store: &Store) -> Option<Statement> {
    let statement = rewrite::parse(sql)?;
    if !matches!(statement, Statement::Query(_)) {
        return None;
    }
    let tables: HashSet<String> = store.table_names().into_iter().collect();
    let reads = rewrite::reads(&statement, &|t| tables.contains(t), &|f| {
        FUNCTIONS.contains(f)
    });
    (reads.catalog || (reads.catalog_functions && !reads.store)).then_some(statement)
}

/// Runs (or only plans, if not `execute`) the catalog query `statement` over the catalog
/// of `store` now, within `limits`.
pub(super) async fn run(
    store: &Store,
    statement: Statement,
    limits: QueryLimits,
    execute: bool,
) -> Result<QueryOutput, CatalogError> {
    let snapshot = Arc::new(Snapshot::of(store));
    tokio::time::timeout(limits.timeout, answer(snapshot, statement, limits, execute))
        .await
        .map_err(|_| CatalogError::Timeout(limits.timeout))?
}

/// A session whose catalog is `snapshot`, with the catalog's functions.
fn context(snapshot: &Arc<Snapshot>, limits: QueryLimits) -> Result<SessionContext, CatalogError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()?;
    let config = SessionConfig::new().with_default_catalog_and_schema(DATABASE, "public");
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let catalog = ctx
        .catalog(DATABASE)
        .ok_or_else(|| CatalogError::Query(format!("no catalog {DATABASE}")))?;
    let public = catalog
        .schema("public")
        .ok_or_else(|| CatalogError::Query("no schema public".into()))?;
    let pg_catalog: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    let information_schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    catalog.register_schema("pg_catalog", Arc::clone(&pg_catalog))?;
    catalog.register_schema("information_schema", Arc::clone(&information_schema))?;
    for (schema, name, batch) in snapshot.tables()? {
        let table: Arc<dyn TableProvider> =
            Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?);
        match schema {
            // As in PostgreSQL, pg_catalog is on every search path.
            "pg_catalog" => {
                pg_catalog.register_table(name.to_string(), Arc::clone(&table))?;
                public.register_table(name.to_string(), table)?;
            }
            _ => {
                information_schema.register_table(name.to_string(), table)?;
            }
        }
    }
    for function in functions(snapshot) {
        ctx.register_udf(function);
    }
    Ok(ctx)
}

/// The rows of a query with no rows: columns named `names`, as text.
fn no_rows(names: Vec<String>) -> QueryOutput {
    let schema = Arc::new(Schema::new(
        names
            .into_iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    QueryOutput {
        schema,
        batches: Vec::new(),
    }
}

/// `schema` with its columns named `names` (which may repeat, as in PostgreSQL).
fn renamed(schema: &Schema, names: &Option<Vec<String>>) -> SchemaRef {
    match names {
        Some(names) if names.len() == schema.fields().len() => Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, n)| f.as_ref().clone().with_name(n))
                .collect::<Vec<_>>(),
        )),
        _ => Arc::new(schema.clone()),
    }
}

async fn answer(
    snapshot: Arc<Snapshot>,
    statement: Statement,
    limits: QueryLimits,
    execute: bool,
) -> Result<QueryOutput, CatalogError> {
    let ctx = context(&snapshot, limits)?;
    let state = ctx.state();
    let is_aggregate = |name: &str| state.aggregate_functions().contains_key(name);
    let Statement::Query(mut query) = statement else {
        return Err(CatalogError::NotAQuery(statement.to_string()));
    };
    if rewrite::is_empty_query(&query, &is_aggregate)
        && let Some(names) = rewrite::column_names(&mut query)
    {
        return Ok(no_rows(names));
    }
    let mut statement = Statement::Query(query);
    rewrite::fold_empty_subqueries(&mut statement, &is_aggregate);
    rewrite::aggregate_scalar_subqueries(&mut statement, &is_aggregate);
    rewrite::fix_syntax(&mut statement, &|name| {
        state.table_functions().contains_key(name)
    });
    let lists = in_lists(&state, &mut statement).await;
    rewrite::replace_in_subqueries(&mut statement, &lists);
    let names = rewrite::name_columns(&mut statement);
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| CatalogError::NotAQuery(e.to_string()))?;
    let schema = renamed(plan.schema().as_arrow(), &names);
    if !execute {
        return Ok(QueryOutput {
            schema,
            batches: Vec::new(),
        });
    }
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    // The rows may carry other Arrow types than the plan said (strings as views).
    let schema = match batches.first() {
        Some(batch) => renamed(&batch.schema(), &names),
        None => schema,
    };
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QueryOutput { schema, batches })
}

/// The values of each `IN (subquery)` of `statement` that does not depend on the outer
/// query, as literals: DataFusion does not plan such subqueries everywhere PostgreSQL
/// takes them (in a `CASE`, in the columns). `None` for one that cannot be run alone.
async fn in_lists(state: &SessionState, statement: &mut Statement) -> Vec<Option<Vec<Expr>>> {
    let mut lists = Vec::new();
    for query in rewrite::in_subqueries(statement) {
        lists.push(values(state, query).await);
    }
    lists
}

/// The values of the one column of `query`, as literals, if it runs alone.
async fn values(state: &SessionState, query: Query) -> Option<Vec<Expr>> {
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(Statement::Query(
            Box::new(query),
        ))))
        .await
        .ok()?;
    let ctx = SessionContext::new_with_state(state.clone());
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .ok()?
        .collect()
        .await
        .ok()?;
    let mut out = Vec::new();
    for batch in batches {
        let [column] = batch.columns() else {
            return None;
        };
        let number = column.data_type().is_integer();
        if !number
            && !matches!(
                column.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            )
        {
            return None;
        }
        let column = match column.data_type() {
            DataType::Null => new_null_array(&DataType::Utf8, column.len()),
            _ => cast(column, &DataType::Utf8).ok()?,
        };
        let text = arrow::array::AsArray::as_string::<i32>(&column);
        for value in text.iter() {
            out.push(rewrite::literal(value, number)?);
        }
    }
    Some(out)
}
