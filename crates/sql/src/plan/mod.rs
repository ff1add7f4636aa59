//! Planning `INSERT INTO … SELECT …` statements into engine [`JobGraph`]s.
//!
//! Two query shapes are planned:
//!
//! - window aggregations: `SELECT window_start, window_end, keys, aggregates … FROM
//!   TABLE(TUMBLE|HOP|CUMULATE|SESSION(TABLE t, DESCRIPTOR(rowtime), …)) [WHERE …] GROUP BY
//!   window_start, window_end, keys…`, into source → hash by keys → window aggregate →
//!   projection → sink;
//! - stateless queries: `SELECT exprs FROM t [WHERE …]`, into source → filter → projection →
//!   sink.
//!
//! DataFusion plans the expressions: the source table is registered with its physical and
//! computed columns, a window TVF's placeholder with those plus `window_start`, `window_end`
//! and `window_time`; identifiers are not normalised (Flink names are case-sensitive).
//! Computed columns are evaluated right after the source ([`ProjectedSource`]), so the
//! watermark can read a computed rowtime. Connectors stay outside this crate: the caller
//! builds sources and sinks through a [`ConnectorRegistry`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::{DFSchema, DataFusionError, ScalarValue, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TableFactor};
use datafusion::sql::sqlparser::parser::Parser;
use spate_engine::exchange::Partitioning;
use spate_engine::operator::{Filter, OperatorFactory, Projection};
use spate_engine::sink::SinkFactory;
use spate_engine::source::{ProjectedSource, SourceFactory};
use spate_engine::time::WatermarkStrategy;
use spate_engine::window::{AggregateSpec, Aggregation, LatePolicy, WindowConfig};
use spate_engine::{JobGraph, SourceStage, Stage};

use crate::catalog::{Catalog, ColumnKind, TableDef};
use crate::dialect::FlinkDialect;
use crate::error::{Position, Result, SqlError};
use crate::query::{Insert, object_name};
use crate::script::Script;
use crate::window::WindowTvf;

/// Builds the sources and sinks of planned jobs; implemented by the caller, who knows the
/// connectors.
pub trait ConnectorRegistry {
    /// A source for `table`, producing batches of `physical_schema` (the table's physical
    /// columns, in declaration order).
    fn source(&self, table: &TableDef, physical_schema: SchemaRef) -> Result<SourceFactory>;

    /// A sink for `table`, receiving batches of the table's physical columns.
    fn sink(&self, table: &TableDef) -> Result<SinkFactory>;
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
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            parallelism: 1,
            late: LatePolicy::Drop,
            idle_timeout: None,
        }
    }
}

impl PlanOptions {
    /// Options from a script's `SET` statements: `parallelism.default` and
    /// `table.exec.source.idle-timeout` (a Flink duration such as `'5 s'` or `'500 ms'`;
    /// `0` turns idleness off). Other keys are left to the caller.
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
fn parse_duration(text: &str) -> Option<Duration> {
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

/// Names of the columns a window TVF adds to its table.
const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// Plans one `INSERT INTO … SELECT …` into a job graph.
pub fn plan_insert(
    catalog: &Catalog,
    insert: &Insert,
    connectors: &dyn ConnectorRegistry,
    options: &PlanOptions,
) -> Result<JobGraph> {
    let planner = Planner { insert };
    let query = &insert.query;
    if let Some(lookup) = query.lookups.first() {
        return Err(planner.unsupported(
            "a lookup (FOR SYSTEM_TIME AS OF) join",
            &lookup.table,
            "join lookup tables in the application that reads the sink",
        ));
    }
    if query.windows.len() > 1 {
        return Err(planner.unsupported(
            "more than one window TVF in a query",
            &query.windows[1].text,
            "window one table per INSERT",
        ));
    }
    let window = query.windows.first();
    let from = planner.read_relation()?;
    let table_name = match window {
        Some(w) if w.placeholder == from => w.table.clone(),
        _ => from,
    };
    let table = catalog.table(&table_name).ok_or_else(|| {
        if catalog.view(&table_name).is_some() {
            planner.unsupported(
                "reading a view",
                &table_name,
                "write the view's query into the INSERT",
            )
        } else {
            SqlError::Invalid {
                at: insert.at,
                message: format!("unknown table {table_name}"),
                text: table_name.clone(),
                hint: "declare it with CREATE TABLE first".into(),
            }
        }
    })?;
    let sink_table = catalog
        .table(&insert.target)
        .ok_or_else(|| SqlError::Invalid {
            at: insert.at,
            message: format!("unknown sink table {}", insert.target),
            text: insert.target.clone(),
            hint: "declare it with CREATE TABLE first".into(),
        })?;
    if !insert.columns.is_empty() {
        let sink_columns: Vec<String> = sink_table
            .physical_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if insert.columns != sink_columns {
            return Err(planner.unsupported(
                "an INSERT column list other than all the sink's columns in order",
                &insert.columns.join(", "),
                "select every column of the sink, in its order",
            ));
        }
    }

    let ctx = session();
    let (source, full_schema) = planner.source(&ctx, table, connectors)?;
    let watermarks = match &table.watermark {
        Some(w) => Some(WatermarkStrategy {
            rowtime_column: planner.column_index(&full_schema, &w.rowtime_column)?,
            max_out_of_orderness_ms: w.max_out_of_orderness_ms,
            idle_timeout: options.idle_timeout,
        }),
        None => None,
    };

    ctx.register_table(
        TableReference::bare(table.name.as_str()),
        Arc::new(EmptyTable::new(Arc::clone(&full_schema))),
    )
    .map_err(|e| planner.datafusion(e))?;
    if let Some(w) = window {
        let mut fields: Vec<Field> = full_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for name in WINDOW_COLUMNS {
            fields.push(Field::new(name, timestamp_ms(), false));
        }
        ctx.register_table(
            TableReference::bare(w.placeholder.as_str()),
            Arc::new(EmptyTable::new(Arc::new(Schema::new(fields)))),
        )
        .map_err(|e| planner.datafusion(e))?;
    }
    let plan = planner.logical_plan(&ctx, Statement::Query(query.query.clone()))?;
    let LogicalPlan::Projection(projection) = &plan else {
        return Err(planner.unsupported_node(&plan));
    };
    let sink = connectors.sink(sink_table)?;
    let sink_schema = sink_table.physical_schema();

    let (source_chain, stages) = match (projection.input.as_ref(), window) {
        (LogicalPlan::Aggregate(aggregate), Some(w)) => {
            let (filter, scan) = planner.filter_and_scan(&aggregate.input)?;
            planner.check_scan(scan, &w.placeholder)?;
            let chain = filter
                .map(|predicate| planner.filter(predicate, aggregate.input.schema()))
                .transpose()?
                .into_iter()
                .collect();
            let stage = planner.window_stage(
                w,
                table,
                &full_schema,
                aggregate,
                &projection.expr,
                (sink, &sink_schema),
                options,
            )?;
            (chain, stage)
        }
        (LogicalPlan::Aggregate(_), None) => {
            return Err(planner.unsupported(
                "GROUP BY without a window TVF (an unbounded, updating aggregation)",
                &insert.target,
                "aggregate over FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL …)) \
                 GROUP BY window_start, window_end, …",
            ));
        }
        (input, None) => {
            let (filter, scan) = planner.filter_and_scan(input)?;
            planner.check_scan(scan, &table.name)?;
            let mut chain: Vec<OperatorFactory> = Vec::new();
            if let Some(predicate) = filter {
                chain.push(planner.filter(predicate, input.schema())?);
            }
            let exprs = planner.physical_exprs(&projection.expr, input.schema())?;
            chain.push(planner.projection(exprs, &full_schema, &sink_schema)?);
            let stage = Stage {
                name: format!("sink: {}", sink_table.name),
                input: Partitioning::Forward,
                parallelism: options.parallelism,
                chain: Vec::new(),
                sink: Some(sink),
            };
            (chain, stage)
        }
        (input, Some(w)) => {
            return Err(match input {
                LogicalPlan::Filter(_) | LogicalPlan::TableScan(_) => planner.unsupported(
                    "a window TVF without GROUP BY window_start, window_end",
                    &w.text,
                    "aggregate the windowed table: GROUP BY window_start, window_end, …",
                ),
                other => planner.unsupported_node(other),
            });
        }
    };

    Ok(JobGraph {
        name: format!("insert-into-{}", sink_table.name),
        source: SourceStage {
            name: format!("source: {}", table.name),
            source,
            parallelism: options.parallelism,
            watermarks,
            chain: source_chain,
        },
        stages: vec![stages],
    })
}

/// TIMESTAMP(3).
fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// TIMESTAMP_LTZ(3).
fn ltz_ms() -> DataType {
    DataType::Timestamp(
        TimeUnit::Millisecond,
        Some(crate::types::LTZ_TIME_ZONE.into()),
    )
}

/// A DataFusion session with Flink's case-sensitive names and Flink functions it lacks.
fn session() -> SessionContext {
    let mut config = SessionConfig::new();
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(ScalarUDF::new_from_impl(ToTimestampLtz::new()));
    ctx
}

/// Plans one insert; carries where errors point.
struct Planner<'a> {
    insert: &'a Insert,
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

    /// The single relation the query reads: a table name or a window placeholder.
    fn read_relation(&self) -> Result<String> {
        let body = self.insert.query.query.body.as_ref();
        let SetExpr::Select(select) = body else {
            return Err(self.unsupported(
                match body {
                    SetExpr::SetOperation { .. } => "UNION/INTERSECT/EXCEPT",
                    SetExpr::Values(_) => "VALUES",
                    _ => "this query form",
                },
                &body.to_string(),
                "write one SELECT … FROM …",
            ));
        };
        let [from] = select.from.as_slice() else {
            return Err(self.unsupported(
                "reading several tables (a join)",
                &select.to_string(),
                "read one table per INSERT",
            ));
        };
        if let Some(join) = from.joins.first() {
            return Err(self.unsupported(
                "a join",
                &join.relation.to_string(),
                "read one table per INSERT",
            ));
        }
        match &from.relation {
            TableFactor::Table {
                name, args: None, ..
            } => Ok(object_name(name)),
            other => Err(self.unsupported(
                match other {
                    TableFactor::Derived { .. } => "a subquery in FROM",
                    _ => "this FROM clause",
                },
                &other.to_string(),
                "read a table: FROM t or FROM TABLE(TUMBLE(TABLE t, …))",
            )),
        }
    }

    /// Plans a statement and runs DataFusion's analyzer (type coercion) over it.
    fn logical_plan(&self, ctx: &SessionContext, statement: Statement) -> Result<LogicalPlan> {
        let state = ctx.state();
        let plan = futures::executor::block_on(
            state.statement_to_plan(DFStatement::Statement(Box::new(statement))),
        )
        .map_err(|e| self.datafusion(e))?;
        state
            .analyzer()
            .execute_and_check(plan, state.config_options(), |_, _| {})
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

    /// The source factory, with computed columns evaluated right after it, and the schema of
    /// what it produces (physical and computed columns in declaration order).
    fn source(
        &self,
        ctx: &SessionContext,
        table: &TableDef,
        connectors: &dyn ConnectorRegistry,
    ) -> Result<(SourceFactory, SchemaRef)> {
        let physical = Arc::new(table.physical_schema());
        let source = connectors.source(table, Arc::clone(&physical))?;
        let mut select = Vec::new();
        let mut computed = false;
        for column in &table.columns {
            match &column.kind {
                ColumnKind::Physical => select.push(quote(&column.name)),
                ColumnKind::Computed { text, .. } => {
                    if column.is_proctime() {
                        return Err(SqlError::Unsupported {
                            at: column.at,
                            construct: "processing time (PROCTIME())".into(),
                            text: text.clone(),
                            hint: "use an event-time column with a WATERMARK".into(),
                        });
                    }
                    computed = true;
                    select.push(format!("({text}) AS {}", quote(&column.name)));
                }
                ColumnKind::Metadata { .. } => {
                    return Err(SqlError::Unsupported {
                        at: column.at,
                        construct: "METADATA columns".into(),
                        text: column.name.clone(),
                        hint: "declare the value as a physical column".into(),
                    });
                }
            }
        }
        if !computed {
            return Ok((source, physical));
        }
        let scan_name = "__physical";
        ctx.register_table(
            TableReference::bare(scan_name),
            Arc::new(EmptyTable::new(Arc::clone(&physical))),
        )
        .map_err(|e| self.datafusion(e))?;
        let sql = format!("SELECT {} FROM {scan_name}", select.join(", "));
        let statement = Parser::new(&FlinkDialect)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
            .map_err(|e| SqlError::Parse {
                at: table.at,
                message: e.to_string(),
                text: sql.clone(),
                hint: "check the computed columns of the table".into(),
            })?;
        let plan = self.logical_plan(ctx, statement)?;
        ctx.deregister_table(TableReference::bare(scan_name))
            .map_err(|e| self.datafusion(e))?;
        let LogicalPlan::Projection(projection) = &plan else {
            return Err(self.unsupported_node(&plan));
        };
        let exprs = self.physical_exprs(&projection.expr, projection.input.schema())?;
        let fields = exprs
            .iter()
            .zip(projection.schema.fields())
            .map(|(expr, field)| {
                Ok(Field::new(
                    field.name(),
                    expr.data_type(&physical)?,
                    expr.nullable(&physical)?,
                ))
            })
            .collect::<Result<Vec<_>, DataFusionError>>()
            .map_err(|e| self.datafusion(e))?;
        let schema = Arc::new(Schema::new(fields));
        let projection =
            Arc::new(Projection::new(exprs, Arc::clone(&schema)).map_err(|e| self.engine(e))?);
        let out = Arc::clone(&schema);
        let wrapped: SourceFactory = Arc::new(move |task| {
            Ok(Box::new(ProjectedSource::new(
                source(task)?,
                Arc::clone(&projection),
                Arc::clone(&out),
            )) as Box<_>)
        });
        Ok((wrapped, schema))
    }

    /// An optional filter above a scan (aliases allowed).
    fn filter_and_scan<'p>(
        &self,
        plan: &'p LogicalPlan,
    ) -> Result<(Option<&'p Expr>, &'p LogicalPlan)> {
        let (predicate, below) = match plan {
            LogicalPlan::Filter(filter) => (Some(&filter.predicate), filter.input.as_ref()),
            other => (None, other),
        };
        let mut scan = below;
        while let LogicalPlan::SubqueryAlias(alias) = scan {
            scan = alias.input.as_ref();
        }
        match scan {
            LogicalPlan::TableScan(_) => Ok((predicate, scan)),
            other => Err(self.unsupported_node(other)),
        }
    }

    fn check_scan(&self, scan: &LogicalPlan, expected: &str) -> Result<()> {
        match scan {
            LogicalPlan::TableScan(t) if t.table_name.table() == expected => Ok(()),
            other => Err(self.unsupported_node(other)),
        }
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
            .find(|c| WINDOW_COLUMNS.contains(&c.name.as_str()))
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

    /// The final projection into the sink's columns, casting where Flink would implicitly.
    fn projection(
        &self,
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        input: &Schema,
        sink: &Schema,
    ) -> Result<OperatorFactory> {
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
        let projection = Arc::new(projection);
        Ok(Arc::new(move |_| {
            Ok(Box::new(SharedProjection(Arc::clone(&projection))) as Box<_>)
        }))
    }

    /// Hash by keys → window aggregate → projection → sink.
    #[allow(clippy::too_many_arguments)]
    fn window_stage(
        &self,
        window: &WindowTvf,
        table: &TableDef,
        full_schema: &SchemaRef,
        aggregate: &datafusion::logical_expr::Aggregate,
        select: &[Expr],
        (sink, sink_schema): (SinkFactory, &Schema),
        options: &PlanOptions,
    ) -> Result<Stage> {
        if !table.is_time_attribute(&window.time_column)
            || table
                .column(&window.time_column)
                .is_some_and(|c| c.is_proctime())
        {
            return Err(SqlError::Invalid {
                at: window.at,
                message: format!(
                    "{} is not the event-time attribute of {}",
                    window.time_column, table.name
                ),
                text: window.text.clone(),
                hint: "window on the column of the table's WATERMARK FOR clause".into(),
            });
        }
        let rowtime_column = self.column_index(full_schema, &window.time_column)?;
        let input_dfschema = aggregate.input.schema();
        let window_schema = Arc::new(input_dfschema.as_arrow().clone());

        let mut start = None;
        let mut end = None;
        let mut keys = Vec::new();
        for (i, expr) in aggregate.group_expr.iter().enumerate() {
            match expr {
                Expr::Column(c) if c.name == "window_start" => start = Some(i),
                Expr::Column(c) if c.name == "window_end" => end = Some(i),
                Expr::GroupingSet(_) => {
                    return Err(self.unsupported(
                        "GROUPING SETS/ROLLUP/CUBE",
                        &expr.to_string(),
                        "group by window_start, window_end and plain keys",
                    ));
                }
                other => {
                    self.no_window_columns(other, "GROUP BY keys other than the window")?;
                    keys.push(i);
                }
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            return Err(self.unsupported(
                "a window aggregation not grouped by window_start and window_end",
                &window.text,
                "GROUP BY window_start, window_end, …",
            ));
        };
        if let Some(missing) = window.partition_by.iter().find(|p| {
            !keys
                .iter()
                .any(|&i| matches!(&aggregate.group_expr[i], Expr::Column(c) if &c.name == *p))
        }) {
            return Err(self.unsupported(
                "a SESSION PARTITION BY column that is not a GROUP BY key",
                missing,
                "GROUP BY window_start, window_end and every PARTITION BY column",
            ));
        }
        let key_logical: Vec<Expr> = keys
            .iter()
            .map(|&i| aggregate.group_expr[i].clone())
            .collect();
        let key_exprs = self.physical_exprs(&key_logical, input_dfschema)?;
        let key_names: Vec<String> = key_logical
            .iter()
            .map(|e| match e {
                Expr::Column(c) => c.name.clone(),
                other => other.schema_name().to_string(),
            })
            .collect();

        let props = datafusion::execution::context::ExecutionProps::new();
        let planning = PhysicalPlanningContext::default();
        let mut specs = Vec::new();
        for expr in &aggregate.aggr_expr {
            self.no_window_columns(expr, "aggregates")?;
            let lowered = LoweredAggregateBuilder::new(
                expr,
                input_dfschema,
                &window_schema,
                &props,
                &planning,
            )
            .build()
            .map_err(|e| self.datafusion(e))?;
            if !lowered.order_bys.is_empty() {
                return Err(self.unsupported(
                    "ORDER BY inside an aggregate call",
                    &expr.to_string(),
                    "drop the ORDER BY",
                ));
            }
            specs.push(AggregateSpec {
                function: lowered.aggregate,
                filter: lowered.filter,
            });
        }
        let aggregation = Aggregation::new(full_schema, key_exprs.clone(), key_names, specs)
            .map_err(|e| self.engine(e))?;
        let config = WindowConfig {
            kind: window.kind,
            rowtime_column,
            aggregation,
            late: options.late,
            early_fire: None,
        };
        config
            .kind
            .validate()
            .map_err(|message| SqlError::Invalid {
                at: window.at,
                message,
                text: window.text.clone(),
                hint: "make the window sizes fit each other".into(),
            })?;
        // The window's output, as the SELECT list reads it: window_start, window_end, keys,
        // aggregates, named as DataFusion named the aggregate's outputs.
        let aggregate_schema = aggregate.schema.as_ref();
        let groups = aggregate.group_expr.len();
        let order = [start, end]
            .into_iter()
            .chain(keys.iter().copied())
            .chain(groups..groups + aggregate.aggr_expr.len());
        let qualified = order
            .map(|i| {
                let (qualifier, field) = aggregate_schema.qualified_field(i);
                (qualifier.cloned(), Arc::clone(field))
            })
            .collect();
        let output_dfschema = DFSchema::new_with_metadata(qualified, HashMap::new())
            .map_err(|e| self.datafusion(e))?;
        let select_exprs = self.physical_exprs(select, &output_dfschema)?;
        let output_schema = config.output_schema();
        let projection = self.projection(select_exprs, &output_schema, sink_schema)?;
        let window_op: OperatorFactory = Arc::new(move |task| config.build(task));
        let parallelism = if key_exprs.is_empty() {
            1
        } else {
            options.parallelism
        };
        Ok(Stage {
            name: "window".into(),
            input: Partitioning::Hash(key_exprs),
            parallelism,
            chain: vec![window_op, projection],
            sink: Some(sink),
        })
    }
}

/// Whether Flink writes a `from` value into a `to` column without an explicit CAST:
/// numeric widening, timestamps of any precision, strings of any representation.
fn implicit_cast(from: &DataType, to: &DataType) -> bool {
    fn rank(t: &DataType) -> Option<u8> {
        Some(match t {
            DataType::Int8 => 1,
            DataType::Int16 => 2,
            DataType::Int32 => 3,
            DataType::Int64 => 4,
            DataType::Float32 => 5,
            DataType::Float64 => 6,
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

/// A [`Projection`] shared by the instances of a stage.
struct SharedProjection(Arc<Projection>);

impl spate_engine::operator::Operator for SharedProjection {
    fn name(&self) -> String {
        spate_engine::operator::Operator::name(self.0.as_ref())
    }

    fn process_batch(
        &mut self,
        batch: arrow::array::RecordBatch,
        out: &mut spate_engine::operator::Output,
    ) -> spate_engine::Result<()> {
        out.data(self.0.apply(&batch)?);
        Ok(())
    }
}

/// Flink's `TO_TIMESTAMP_LTZ(epoch, precision)`: epoch seconds (precision 0) or milliseconds
/// (precision 3, the default) to a TIMESTAMP_LTZ(3).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimestampLtz {
    signature: Signature,
}

impl ToTimestampLtz {
    fn new() -> Self {
        ToTimestampLtz {
            signature: Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for ToTimestampLtz {
    fn name(&self) -> &str {
        "to_timestamp_ltz"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(ltz_ms())
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let precision = match args.args.get(1) {
            None => 3,
            Some(ColumnarValue::Scalar(s)) => match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(p)) => p,
                _ => -1,
            },
            Some(ColumnarValue::Array(_)) => -1,
        };
        let scale = match precision {
            0 => 1000,
            3 => 1,
            _ => {
                return Err(DataFusionError::Plan(
                    "TO_TIMESTAMP_LTZ takes precision 0 (seconds) or 3 (milliseconds)".into(),
                ));
            }
        };
        let values = args.args[0].to_array(args.number_rows)?;
        let values = arrow::compute::cast(&values, &DataType::Int64)?;
        let values = if scale == 1 {
            values
        } else {
            let scale = Int64Array::new_scalar(scale);
            arrow::compute::kernels::numeric::mul(&values, &scale)?
        };
        Ok(ColumnarValue::Array(arrow::compute::cast(
            &values,
            &ltz_ms(),
        )?))
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = PlanOptions::from_settings(&settings).unwrap();
        assert_eq!(options.parallelism, 4);
        assert_eq!(options.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0 ms"), Some(Duration::ZERO));
        assert_eq!(parse_duration("soon"), None);
        let bad: BTreeMap<String, String> =
            [("parallelism.default".to_string(), "0".to_string())].into();
        assert!(PlanOptions::from_settings(&bad).is_err());
    }
}
