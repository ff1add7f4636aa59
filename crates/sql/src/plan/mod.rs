//! Planning `INSERT INTO … SELECT …` statements into engine [`JobGraph`]s.
//!
//! DataFusion plans the query: every table is registered with its physical and computed
//! columns, every view with its query, and each window TVF call under a placeholder name with
//! the table's columns plus `window_start`, `window_end` and `window_time`
//! ([`tables`]); identifiers are not normalised (Flink names are case-sensitive). The
//! logical plan is then lowered into a source and a line of stages ([`lower`]), and a last
//! projection casts the result into the sink's columns. Connectors stay outside this crate:
//! the caller builds sources and sinks through a [`ConnectorRegistry`].

mod flink_types;
mod join;
mod lower;
mod reads;
mod tables;

pub use reads::ColumnsRead;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, DataFusionError};
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Statement, TableFactor, VisitMut, VisitorMut};
use spate_engine::exchange::Partitioning;
use spate_engine::lookup::KeyLookupFactory;
use spate_engine::operator::{Filter, OperatorFactory, Projection};
use spate_engine::sink::SinkFactory;
use spate_engine::source::SourceFactory;
use spate_engine::window::LatePolicy;
use spate_engine::{JobGraph, Stage};
use std::ops::ControlFlow;

use crate::catalog::{Catalog, Column, ColumnKind, ModelDef, TableDef};
use crate::error::{Position, Result, SqlError};
use crate::predict::Predictor;
use crate::query::Insert;
use crate::script::Script;

/// Builds the sources and sinks of planned jobs; implemented by the caller, who knows the
/// connectors.
pub trait ConnectorRegistry {
    /// A source for `table`, producing batches of `physical_schema` (the table's physical
    /// and metadata columns, in declaration order: [`TableDef::source_schema`]). Of those,
    /// the query reads only what `read` says; a source may leave the other columns and ROW
    /// fields NULL, and save making them.
    fn source(
        &self,
        table: &TableDef,
        physical_schema: SchemaRef,
        read: &ColumnsRead,
    ) -> Result<SourceFactory>;

    /// A sink for `table`, receiving batches of the table's physical and non-virtual
    /// metadata columns ([`TableDef::sink_schema`]; and, when
    /// [`ConnectorRegistry::accepts_changes`] says so, a changelog's row kind after them).
    fn sink(&self, table: &TableDef) -> Result<SinkFactory>;

    /// Whether `table`'s sink takes an updating result (a changelog), as Flink's print and
    /// upsert sinks do; append-only sinks refuse it.
    fn accepts_changes(&self, _table: &TableDef) -> bool {
        false
    }

    /// Whether `table`'s source reads an upsert stream keyed by the table's primary key, as
    /// Flink's upsert-kafka does: batches of the source schema with the row kind after it,
    /// `+U` upserting a key's row and `-D` deleting it (carrying only the key's columns, the
    /// others NULL). The planner keeps the last row per key behind it
    /// ([`ChangelogNormalize`](spate_engine::normalize::ChangelogNormalize)), so the query
    /// reads a proper changelog.
    fn upsert_source(&self, _table: &TableDef) -> bool {
        false
    }

    /// Rows of `table` fetched by key for a lookup join with `'lookup.cache'` `PARTIAL` or
    /// `NONE`, or `None` when the connector can only read the table whole. `schema` is the
    /// table's physical schema; `keys` name the lookup key columns.
    fn lookup(
        &self,
        _table: &TableDef,
        _schema: SchemaRef,
        _keys: &[String],
    ) -> Result<Option<KeyLookupFactory>> {
        Ok(None)
    }

    /// The predictor serving `model` (its `'provider'` option says which) for `ML_PREDICT`.
    fn model(&self, model: &ModelDef) -> Result<Arc<dyn Predictor>> {
        Err(SqlError::Unsupported {
            at: model.at,
            construct: format!(
                "the model provider '{}'",
                model.option("provider").unwrap_or_default()
            ),
            text: model.name.clone(),
            hint: "this runner serves no models".into(),
        })
    }
}

/// How planned jobs run.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Instances per stage (a window aggregation without keys runs on one instance).
    pub parallelism: usize,
    /// What window aggregations do with late rows.
    pub late: LatePolicy,
    /// A source partition without data this long stops holding the watermark back.
    pub idle_timeout: Option<Duration>,
    /// How long regular joins keep a row of either side (Flink's `table.exec.state.ttl`);
    /// `None` keeps rows for ever.
    pub state_ttl: Option<Duration>,
    /// Whether window aggregations pre-aggregate before the exchange (a local and a global
    /// phase): Flink's `table.optimizer.agg-phase-strategy`.
    pub agg_phases: AggPhaseStrategy,
}

/// Flink's `table.optimizer.agg-phase-strategy` for window aggregations (sliced windows
/// without early firing; others run in one phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggPhaseStrategy {
    /// `AUTO` (the default): two phases for aggregations without keys, which would otherwise
    /// send every row to one instance; one phase with keys, where pre-aggregation measured
    /// slower on Nexmark (q8 0.88×, a count by channel 0.8× of one phase's events per
    /// CPU-second) since keys seldom repeat within a slice and an instance's batch.
    Auto,
    /// `TWO_PHASE`: two phases wherever the window allows.
    TwoPhase,
    /// `ONE_PHASE`: rows go through the exchange to the window.
    OnePhase,
}

impl AggPhaseStrategy {
    /// Whether an aggregation with (`keyed`) or without keys runs in two phases.
    pub fn two_phases(self, keyed: bool) -> bool {
        match self {
            AggPhaseStrategy::Auto => !keyed,
            AggPhaseStrategy::TwoPhase => true,
            AggPhaseStrategy::OnePhase => false,
        }
    }
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            parallelism: 1,
            late: LatePolicy::Drop,
            idle_timeout: None,
            state_ttl: None,
            agg_phases: AggPhaseStrategy::Auto,
        }
    }
}

impl PlanOptions {
    /// Options from a script's `SET` statements: `parallelism.default`,
    /// `table.exec.source.idle-timeout` and `table.exec.state.ttl` (Flink durations such as
    /// `'5 s'` or `'500 ms'`; `0` turns them off), `table.optimizer.agg-phase-strategy`.
    /// Other keys are left to the caller.
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<PlanOptions> {
        let mut options = PlanOptions::default();
        if let Some(value) = settings.get("parallelism.default") {
            options.parallelism = value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| setting_error("parallelism.default", value, "a positive integer"))?;
        }
        if let Some(value) = settings.get("table.exec.source.idle-timeout") {
            let timeout = parse_duration(value).ok_or_else(|| {
                setting_error(
                    "table.exec.source.idle-timeout",
                    value,
                    "a duration such as '5 s' or '500 ms'",
                )
            })?;
            options.idle_timeout = (!timeout.is_zero()).then_some(timeout);
        }
        if let Some(value) = settings.get("table.exec.state.ttl") {
            let ttl = parse_duration(value).ok_or_else(|| {
                setting_error(
                    "table.exec.state.ttl",
                    value,
                    "a duration such as '1 h' or '30 min'",
                )
            })?;
            options.state_ttl = (!ttl.is_zero()).then_some(ttl);
        }
        if let Some(value) = settings.get("table.optimizer.agg-phase-strategy") {
            options.agg_phases = match value.trim().to_ascii_uppercase().as_str() {
                "AUTO" => AggPhaseStrategy::Auto,
                "TWO_PHASE" => AggPhaseStrategy::TwoPhase,
                "ONE_PHASE" => AggPhaseStrategy::OnePhase,
                _ => {
                    return Err(setting_error(
                        "table.optimizer.agg-phase-strategy",
                        value,
                        "AUTO, TWO_PHASE or ONE_PHASE",
                    ));
                }
            };
        }
        Ok(options)
    }
}

/// A setting whose value does not parse.
fn setting_error(key: &str, value: &str, expected: &str) -> SqlError {
    SqlError::Invalid {
        at: Position::new(1, 1),
        message: format!("SET '{key}' needs {expected}"),
        text: value.into(),
        hint: format!("write SET '{key}' = '…' with {expected}"),
    }
}

/// A Flink duration: a number and an optional unit (milliseconds without one).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: u64 = text[..split].parse().ok()?;
    let millis_per = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "min" | "m" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(amount.checked_mul(millis_per)?))
}

/// Plans every `INSERT` of a script, one job graph per insert, in script order. Use
/// [`PlanOptions::from_settings`] for options from the script's `SET`s.
pub fn plan_script(
    script: &Script,
    connectors: &dyn ConnectorRegistry,
    options: &PlanOptions,
) -> Result<Vec<JobGraph>> {
    script
        .inserts
        .iter()
        .map(|insert| plan_insert(&script.catalog, insert, connectors, options))
        .collect()
}

/// Plans one `INSERT INTO … SELECT …` into a job graph.
pub fn plan_insert(
    catalog: &Catalog,
    insert: &Insert,
    connectors: &dyn ConnectorRegistry,
    options: &PlanOptions,
) -> Result<JobGraph> {
    let planner = Planner {
        insert,
        connectors,
        options,
    };
    let query = &insert.query;
    let ctx = session();
    for function in &catalog.functions {
        let Some(udf) = crate::functions::shipped_udf(&function.class_name, &function.name) else {
            let shipped: Vec<String> = crate::functions::SHIPPED
                .iter()
                .map(|(class, signature)| format!("'{class}' ({signature})"))
                .collect();
            return Err(SqlError::Unsupported {
                at: function.at,
                construct: format!(
                    "function class '{}' (Spate runs no {} UDFs)",
                    function.class_name, function.language
                ),
                text: function.name.clone(),
                hint: format!(
                    "declare one of the functions Spate ships: {}",
                    shipped.join(", ")
                ),
            });
        };
        ctx.register_udf(udf);
    }
    let mut relations = planner.register(&ctx, catalog, query)?;
    let declared = catalog
        .table(&insert.target)
        .ok_or_else(|| SqlError::Invalid {
            at: insert.at,
            message: format!("unknown sink table {}", insert.target),
            text: insert.target.clone(),
            hint: "declare it with CREATE TABLE first".into(),
        })?;
    let plan = planner.logical_plan(&ctx, Statement::Query(query.query.clone()))?;
    let sink_table = &with_query_columns(declared, &plan);
    let sink_schema = sink_table.sink_schema();
    if !insert.columns.is_empty() {
        let sink_columns: Vec<&String> = sink_schema.fields().iter().map(|f| f.name()).collect();
        if insert.columns.iter().collect::<Vec<_>>() != sink_columns {
            return Err(planner.unsupported(
                "an INSERT column list other than all the sink's columns in order",
                &insert.columns.join(", "),
                "select every column of the sink, in its order",
            ));
        }
    }
    relations.read = reads::TableReads::of_query(&plan, &relations, &ctx.state());
    let mut pipeline = planner.lower(&plan, &relations)?;
    if pipeline.changelog && !connectors.accepts_changes(sink_table) {
        return Err(SqlError::Unsupported {
            at: insert.at,
            construct: format!(
                "writing an updating result (a changelog) to the {} sink {}",
                sink_table.connector.name(),
                sink_table.name
            ),
            text: format!("INSERT INTO {}", sink_table.name),
            hint: "write to a sink that takes updates (print, blackhole, or one with a PRIMARY \
                   KEY that upserts), or aggregate over a window TVF for an append-only result"
                .into(),
        });
    }
    let columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let columns = planner.physical_exprs(&columns, plan.schema())?;
    let into_sink = planner.sink_projection(
        columns,
        plan.schema().as_arrow(),
        &sink_schema,
        pipeline.changelog,
    )?;
    if let Some(into_sink) = into_sink {
        pipeline.push(into_sink);
    }
    if pipeline.stages.is_empty() {
        let parallelism = pipeline.parallelism();
        pipeline.stages.push(Stage {
            name: format!("sink: {}", sink_table.name),
            input: if pipeline.sources.len() == 1 {
                Partitioning::Forward
            } else {
                Partitioning::Rebalance
            },
            input_schema: None,
            parallelism,
            chain: Vec::new(),
            sink: None,
            output: None,
        });
    }
    let last = pipeline.stages.last_mut().expect("a stage");
    last.sink = Some(connectors.sink(sink_table)?);
    Ok(JobGraph {
        name: format!("insert-into-{}", sink_table.name),
        sources: pipeline.sources,
        stages: pipeline.stages,
    })
}

/// The table of `CREATE TABLE … AS SELECT`, which declares no columns, with the query's
/// output columns as its physical columns; any other table as declared.
fn with_query_columns(table: &TableDef, plan: &LogicalPlan) -> TableDef {
    let mut table = table.clone();
    if table.columns.is_empty() {
        table.columns = plan
            .schema()
            .fields()
            .iter()
            .map(|field| Column {
                name: field.name().clone(),
                data_type: Some(field.data_type().clone()),
                nullable: field.is_nullable(),
                kind: ColumnKind::Physical,
                at: table.at,
            })
            .collect();
    }
    table
}

/// A DataFusion session with Flink's case-sensitive names, Flink's `DECIMAL` literals
/// (`0.908`) and Flink functions it lacks.
fn session() -> SessionContext {
    let mut config = SessionConfig::new();
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    let ctx = SessionContext::new_with_config(config);
    crate::functions::register(&ctx);
    ctx
}

/// Plans one insert; carries where errors point.
struct Planner<'a> {
    insert: &'a Insert,
    connectors: &'a dyn ConnectorRegistry,
    options: &'a PlanOptions,
}

impl Planner<'_> {
    fn at(&self) -> Position {
        self.insert.at
    }

    fn unsupported(&self, construct: &str, text: &str, hint: &str) -> SqlError {
        SqlError::Unsupported {
            at: self.at(),
            construct: construct.into(),
            text: text.into(),
            hint: hint.into(),
        }
    }

    fn datafusion(&self, error: DataFusionError) -> SqlError {
        let message = error.strip_backtrace();
        SqlError::Invalid {
            at: self.at(),
            message,
            text: format!("INSERT INTO {}", self.insert.target),
            hint: "check column, table and function names against the CREATE TABLEs".into(),
        }
    }

    fn engine(&self, error: spate_engine::EngineError) -> SqlError {
        SqlError::Invalid {
            at: self.at(),
            message: error.to_string(),
            text: format!("INSERT INTO {}", self.insert.target),
            hint: "simplify the query".into(),
        }
    }

    /// A plan node outside the supported shapes.
    fn unsupported_node(&self, plan: &LogicalPlan) -> SqlError {
        let construct = match plan {
            LogicalPlan::Join(_) => "a join",
            LogicalPlan::Window(_) => "an OVER aggregation",
            LogicalPlan::Sort(_) => "ORDER BY",
            LogicalPlan::Limit(_) => "LIMIT",
            LogicalPlan::Union(_) => "UNION",
            LogicalPlan::Distinct(_) => "SELECT DISTINCT",
            LogicalPlan::Subquery(_) | LogicalPlan::SubqueryAlias(_) => "a subquery",
            LogicalPlan::Filter(_) => "HAVING (a filter on aggregates)",
            LogicalPlan::Aggregate(_) => "a nested aggregation",
            LogicalPlan::Values(_) => "VALUES",
            LogicalPlan::Unnest(_) => "UNNEST",
            _ => "this query shape",
        };
        let text = plan.display().to_string();
        self.unsupported(
            construct,
            &text,
            "write SELECT … FROM t [WHERE …] or a window aggregation \
             FROM TABLE(TUMBLE(…)) GROUP BY window_start, window_end, …",
        )
    }

    /// Plans a statement and runs DataFusion's analyzer (type coercion, view inlining) over it.
    fn logical_plan(&self, ctx: &SessionContext, mut statement: Statement) -> Result<LogicalPlan> {
        crate::functions::rewrite(&mut statement);
        // Lookup joins are told apart by the table they read (see `lower`), so the
        // `FOR SYSTEM_TIME AS OF` clause, which DataFusion does not plan, is dropped here.
        let _ = statement.visit(&mut DropSystemTime);
        let _ = statement.visit(&mut flink_types::NameFieldAccesses);
        let state = ctx.state();
        let plan = futures::executor::block_on(
            state.statement_to_plan(DFStatement::Statement(Box::new(statement))),
        )
        .and_then(flink_types::narrow_integer_literals)
        .map_err(|e| self.datafusion(e))?;
        state
            .analyzer()
            .execute_and_check(plan, state.config_options(), |_, _| {})
            .and_then(flink_types::flink_decimal_division)
            .map_err(|e| self.datafusion(e))
    }

    fn column_index(&self, schema: &Schema, name: &str) -> Result<usize> {
        schema.index_of(name).map_err(|_| SqlError::Invalid {
            at: self.at(),
            message: format!("no column {name}"),
            text: name.into(),
            hint: "name a column of the table".into(),
        })
    }

    fn physical_exprs(
        &self,
        exprs: &[Expr],
        schema: &DFSchema,
    ) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let props = datafusion::execution::context::ExecutionProps::new();
        let planning = PhysicalPlanningContext::default();
        exprs
            .iter()
            .map(|e| create_physical_expr(e, schema, &props, &planning))
            .collect::<Result<_, _>>()
            .map_err(|e| self.datafusion(e))
    }

    /// Refuses expressions reading the window columns where only the table's are there.
    fn no_window_columns(&self, expr: &Expr, what: &str) -> Result<()> {
        if let Some(column) = expr
            .column_refs()
            .into_iter()
            .find(|c| tables::WINDOW_COLUMNS.contains(&c.name.as_str()))
        {
            return Err(self.unsupported(
                &format!("{} in {what}", column.name),
                &expr.to_string(),
                "use window columns only in GROUP BY and the SELECT list",
            ));
        }
        Ok(())
    }

    fn filter(&self, predicate: &Expr, schema: &DFSchema) -> Result<OperatorFactory> {
        self.no_window_columns(predicate, "WHERE")?;
        let predicate = self
            .physical_exprs(std::slice::from_ref(predicate), schema)?
            .remove(0);
        Ok(Arc::new(move |_| {
            Ok(Box::new(Filter::new(Arc::clone(&predicate))) as Box<_>)
        }))
    }

    /// The final projection into the sink's columns, casting where Flink would implicitly
    /// (`None` when the rows already have the sink's columns).
    fn sink_projection(
        &self,
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        input: &Schema,
        sink: &Schema,
        changelog: bool,
    ) -> Result<Option<OperatorFactory>> {
        if exprs.len() != sink.fields().len() {
            let names: Vec<&str> = sink.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(SqlError::Invalid {
                at: self.at(),
                message: format!(
                    "the query produces {} columns but sink {} has {} ({})",
                    exprs.len(),
                    self.insert.target,
                    sink.fields().len(),
                    names.join(", ")
                ),
                text: format!("INSERT INTO {}", self.insert.target),
                hint: "select one expression per sink column, in the sink's order".into(),
            });
        }
        let mut out_exprs = Vec::with_capacity(exprs.len());
        let mut fields = Vec::with_capacity(exprs.len());
        for (expr, field) in exprs.into_iter().zip(sink.fields()) {
            let found = expr.data_type(input).map_err(|e| self.datafusion(e))?;
            let expr = if &found == field.data_type() {
                expr
            } else if implicit_cast(&found, field.data_type()) {
                datafusion::physical_expr::expressions::cast(expr, input, field.data_type().clone())
                    .map_err(|e| self.datafusion(e))?
            } else {
                return Err(SqlError::Type {
                    at: self.at(),
                    message: format!(
                        "sink column {} of {} is {}, the query gives {found}",
                        field.name(),
                        self.insert.target,
                        field.data_type()
                    ),
                    text: field.name().clone(),
                    hint: format!("CAST the expression to the type of {}", field.name()),
                });
            };
            let nullable = expr.nullable(input).map_err(|e| self.datafusion(e))?;
            fields.push(Field::new(
                field.name(),
                field.data_type().clone(),
                nullable || field.is_nullable(),
            ));
            out_exprs.push(expr);
        }
        let projection = Projection::new(out_exprs, Arc::new(Schema::new(fields)))
            .map_err(|e| self.engine(e))?;
        Ok((!projection.is_identity(input))
            .then(|| SharedProjection::factory(Arc::new(projection), changelog)))
    }
}

/// Removes `FOR SYSTEM_TIME AS OF …` from the tables of a statement.
struct DropSystemTime;

impl VisitorMut for DropSystemTime {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { version, .. } = factor {
            *version = None;
        }
        ControlFlow::Continue(())
    }
}

/// Whether Flink writes a `from` value into a `to` column without an explicit CAST:
/// numeric widening (integers into wider integers, `DECIMAL`s and floating point, `DECIMAL`s
/// of any precision into each other and into floating point), timestamps of any precision,
/// strings of any representation. DataFusion types `ROW_NUMBER()` and some counts as
/// unsigned where Flink has BIGINT, so unsigned integers go into BIGINT too.
fn implicit_cast(from: &DataType, to: &DataType) -> bool {
    /// Integers by width, then DECIMAL, FLOAT and DOUBLE.
    fn rank(t: &DataType) -> Option<u8> {
        Some(match t {
            DataType::Int8 | DataType::UInt8 => 1,
            DataType::Int16 | DataType::UInt16 => 2,
            DataType::Int32 | DataType::UInt32 => 3,
            DataType::Int64 | DataType::UInt64 => 4,
            DataType::Decimal128(..) => 5,
            DataType::Float32 => 6,
            DataType::Float64 => 7,
            _ => return None,
        })
    }
    let strings =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match (rank(from), rank(to)) {
        (Some(f), Some(t)) => f <= t,
        _ => {
            matches!(
                (from, to),
                (DataType::Timestamp(..), DataType::Timestamp(..))
            ) || (strings(from) && strings(to))
        }
    }
}

/// `name` as a quoted Flink identifier.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A [`Projection`] shared by the instances of a stage; on a changelog, the input's row
/// kind (its last column) is passed through as the last output column.
struct SharedProjection {
    projection: Arc<Projection>,
    /// The output schema with the row kind, for a changelog.
    changelog: Option<SchemaRef>,
}

impl SharedProjection {
    fn factory(projection: Arc<Projection>, changelog: bool) -> OperatorFactory {
        let changelog =
            changelog.then(|| spate_engine::changelog::with_row_kind(projection.schema()));
        Arc::new(move |_| {
            Ok(Box::new(SharedProjection {
                projection: Arc::clone(&projection),
                changelog: changelog.clone(),
            }) as Box<_>)
        })
    }
}

impl spate_engine::operator::Operator for SharedProjection {
    fn name(&self) -> String {
        spate_engine::operator::Operator::name(self.projection.as_ref())
    }

    fn process_batch(
        &mut self,
        batch: arrow::array::RecordBatch,
        out: &mut spate_engine::operator::Output,
    ) -> spate_engine::Result<()> {
        let projected = self.projection.apply(&batch)?;
        match &self.changelog {
            None => out.data(projected),
            Some(schema) => {
                let mut columns = projected.columns().to_vec();
                columns.push(Arc::clone(batch.column(batch.num_columns() - 1)));
                out.data(arrow::array::RecordBatch::try_new(
                    Arc::clone(schema),
                    columns,
                )?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let settings: BTreeMap<String, String> = [
            ("parallelism.default", "4"),
            ("table.exec.source.idle-timeout", "5 s"),
            ("table.exec.state.ttl", "1 h"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = PlanOptions::from_settings(&settings).unwrap();
        assert_eq!(options.parallelism, 4);
        assert_eq!(options.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(options.state_ttl, Some(Duration::from_secs(3600)));
        assert_eq!(PlanOptions::default().state_ttl, None);
        assert_eq!(parse_duration("500"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0 ms"), Some(Duration::ZERO));
        assert_eq!(parse_duration("soon"), None);
        let bad: BTreeMap<String, String> =
            [("parallelism.default".to_string(), "0".to_string())].into();
        assert!(PlanOptions::from_settings(&bad).is_err());
    }
}
