//! What a query can read, registered with DataFusion before it plans the query: every table
//! of the catalog (physical and computed columns), every view (planned in script order), and
//! the placeholder relations of window TVF and `ML_PREDICT` calls.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::view::ViewTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::sql::sqlparser::ast::{Query, Statement, visit_relations_mut};
use datafusion::sql::sqlparser::parser::Parser;
use spate_engine::operator::Projection;

use super::reads::{ColumnsRead, TableReads};
use super::{Planner, quote, session};
use crate::catalog::{Catalog, ColumnKind, TableDef};
use crate::dialect::FlinkDialect;
use crate::error::{Result, SqlError};
use crate::ml_predict::MlPredictCall;
use crate::predict::PredictUdf;
use crate::query::ParsedQuery;
use crate::window::WindowTvf;

/// Names of the columns a window TVF adds to its table.
pub(super) const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// A relation a query's plan scans.
#[derive(Debug, Clone)]
pub(super) enum Scan {
    /// A table of the catalog, with its computed columns (if any), what they read, and the
    /// schema of the rows it yields: physical and computed columns in declaration order.
    Table {
        table: TableDef,
        computed: Option<Arc<Projection>>,
        computed_reads: ColumnsRead,
        schema: SchemaRef,
    },
    /// A window TVF over a table: the table's rows with the window columns added.
    Window { tvf: WindowTvf, table: String },
}

/// The relations registered for one statement, by the name its plan scans them under.
#[derive(Debug, Default)]
pub(super) struct Relations {
    pub scans: HashMap<String, Scan>,
    /// The plans of views, by name (a window TVF over a view lowers its plan).
    pub views: HashMap<String, LogicalPlan>,
    /// Tables read `FOR SYSTEM_TIME AS OF` (lookup joins), by name.
    pub lookups: HashSet<String>,
    /// What the query reads of each table, once it is planned.
    pub read: TableReads,
}

impl Relations {
    /// The table scanned as `name`, with its computed columns and full schema.
    pub fn table(&self, name: &str) -> Option<(&TableDef, Option<&Arc<Projection>>, &SchemaRef)> {
        match self.scans.get(name)? {
            Scan::Table {
                table,
                computed,
                schema,
                ..
            } => Some((table, computed.as_ref(), schema)),
            Scan::Window { .. } => None,
        }
    }

    /// What the query reads of the table scanned as `name`, computed columns and watermark
    /// included.
    pub fn read_of(&self, name: &str) -> ColumnsRead {
        match self.scans.get(name) {
            Some(Scan::Table {
                table,
                computed_reads,
                ..
            }) => self.read.of(&table.name).with_own(table, computed_reads),
            _ => ColumnsRead::all(),
        }
    }
}

/// TIMESTAMP(3).
pub(super) fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

impl Planner<'_> {
    /// Registers every table and view of `catalog` and the window TVFs of `query`.
    pub(super) fn register(
        &self,
        ctx: &SessionContext,
        catalog: &Catalog,
        query: &ParsedQuery,
    ) -> Result<Relations> {
        let mut relations = Relations::default();
        for table in &catalog.tables {
            let (computed, computed_reads, schema) = self.computed_columns(table)?;
            self.register_provider(
                ctx,
                &table.name,
                Arc::new(EmptyTable::new(Arc::clone(&schema))),
            )?;
            relations.scans.insert(
                table.name.clone(),
                Scan::Table {
                    table: table.clone(),
                    computed,
                    computed_reads,
                    schema,
                },
            );
        }
        for lookup in query
            .lookups
            .iter()
            .chain(catalog.views.iter().flat_map(|v| &v.query.lookups))
        {
            relations.lookups.insert(lookup.table.clone());
        }
        for (n, view) in catalog.views.iter().enumerate() {
            // Each view's window placeholders get names of their own.
            let prefix = format!("__view{n}");
            let mut parsed = view.query.clone();
            rename_placeholders(&mut parsed, &prefix);
            self.register_windows(ctx, &parsed.windows, &mut relations)?;
            self.register_ml_predicts(ctx, catalog, &parsed.ml_predicts, &mut relations)?;
            let plan = self.logical_plan(ctx, Statement::Query(parsed.query.clone()))?;
            let plan = if view.columns.is_empty() {
                plan
            } else {
                rename_columns(plan, &view.columns).map_err(|e| self.datafusion(e))?
            };
            relations.views.insert(view.name.clone(), plan.clone());
            self.register_provider(ctx, &view.name, Arc::new(ViewTable::new(plan, None)))?;
        }
        self.register_windows(ctx, &query.windows, &mut relations)?;
        self.register_ml_predicts(ctx, catalog, &query.ml_predicts, &mut relations)?;
        Ok(relations)
    }

    fn register_provider(
        &self,
        ctx: &SessionContext,
        name: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Result<()> {
        ctx.register_table(TableReference::bare(name), provider)
            .map(|_| ())
            .map_err(|e| self.datafusion(e))
    }

    fn register_windows(
        &self,
        ctx: &SessionContext,
        windows: &[WindowTvf],
        relations: &mut Relations,
    ) -> Result<()> {
        for tvf in windows {
            let schema = match (relations.table(&tvf.table), relations.views.get(&tvf.table)) {
                (Some((table, _, schema)), _) => {
                    if !table.is_time_attribute(&tvf.time_column)
                        || table
                            .column(&tvf.time_column)
                            .is_some_and(|c| c.is_proctime())
                    {
                        return Err(not_event_time(tvf, &table.name));
                    }
                    Arc::clone(schema)
                }
                (None, Some(view)) => {
                    // A view passes its table's event time through: the column must be a
                    // TIMESTAMP that the view's rows carry.
                    let schema = Arc::new(view.schema().as_arrow().clone());
                    match schema.field_with_name(&tvf.time_column) {
                        Ok(f) if matches!(f.data_type(), DataType::Timestamp(..)) => schema,
                        _ => return Err(not_event_time(tvf, &tvf.table)),
                    }
                }
                (None, None) => {
                    return Err(SqlError::Invalid {
                        at: tvf.at,
                        message: format!("unknown table {}", tvf.table),
                        text: tvf.text.clone(),
                        hint: "declare it with CREATE TABLE first".into(),
                    });
                }
            };
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            for name in WINDOW_COLUMNS {
                fields.push(Field::new(name, timestamp_ms(), false));
            }
            let table_name = tvf.table.clone();
            self.register_provider(
                ctx,
                &tvf.placeholder,
                Arc::new(EmptyTable::new(Arc::new(Schema::new(fields)))),
            )?;
            relations.scans.insert(
                tvf.placeholder.clone(),
                Scan::Window {
                    tvf: tvf.clone(),
                    table: table_name,
                },
            );
        }
        Ok(())
    }

    /// Registers each `ML_PREDICT` placeholder as a view: the scored relation's columns, then
    /// the model's outputs, from one call of the model's function per batch.
    fn register_ml_predicts(
        &self,
        ctx: &SessionContext,
        catalog: &Catalog,
        calls: &[MlPredictCall],
        relations: &mut Relations,
    ) -> Result<()> {
        for call in calls {
            let invalid = |message: String, hint: &str| SqlError::Invalid {
                at: call.at,
                message,
                text: call.text.clone(),
                hint: hint.into(),
            };
            let model = catalog.model(&call.model).ok_or_else(|| {
                invalid(
                    format!("unknown model {}", call.model),
                    "declare it with CREATE MODEL first",
                )
            })?;
            if call.columns.len() != model.inputs.len() {
                return Err(invalid(
                    format!(
                        "model {} takes {} input column(s), DESCRIPTOR names {}",
                        model.name,
                        model.inputs.len(),
                        call.columns.len()
                    ),
                    "name one column for each INPUT column of the model, in its order",
                ));
            }
            let provider = futures::executor::block_on(
                ctx.table_provider(TableReference::bare(call.table.as_str())),
            )
            .map_err(|_| {
                invalid(
                    format!("unknown table {}", call.table),
                    "declare it with CREATE TABLE or CREATE VIEW first",
                )
            })?;
            let schema = provider.schema();
            for column in &call.columns {
                if schema.index_of(column).is_err() {
                    return Err(invalid(
                        format!("{} has no column {column}", call.table),
                        "name columns of the scored table in DESCRIPTOR(…)",
                    ));
                }
            }
            if let Some(clash) = model
                .outputs
                .iter()
                .find(|o| schema.index_of(&o.name).is_ok())
            {
                return Err(invalid(
                    format!(
                        "the output column {} of model {} is also a column of {}",
                        clash.name, model.name, call.table
                    ),
                    "rename the table's column in a view, or the model's OUTPUT column",
                ));
            }
            let function = format!("{}_predict", call.placeholder);
            let predictor = self.connectors.model(model)?;
            ctx.register_udf(ScalarUDF::new_from_impl(PredictUdf::new(
                function.clone(),
                model,
                predictor,
            )));
            let kept: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
            let outputs: Vec<String> = model
                .outputs
                .iter()
                .map(|o| {
                    format!(
                        "get_field(__prediction, '{}') AS {}",
                        o.name.replace('\'', "''"),
                        quote(&o.name)
                    )
                })
                .collect();
            let arguments: Vec<String> = call.columns.iter().map(|c| quote(c)).collect();
            let sql = format!(
                "SELECT {}, {} FROM (SELECT *, {function}({}) AS __prediction FROM {}) AS __scored",
                kept.join(", "),
                outputs.join(", "),
                arguments.join(", "),
                quote(&call.table),
            );
            let statement = Parser::new(&FlinkDialect)
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_statement())
                .map_err(|e| invalid(e.to_string(), "check the ML_PREDICT call"))?;
            let plan = self.logical_plan(ctx, statement)?;
            relations
                .views
                .insert(call.placeholder.clone(), plan.clone());
            self.register_provider(ctx, &call.placeholder, Arc::new(ViewTable::new(plan, None)))?;
        }
        Ok(())
    }

    /// The projection computing a table's computed columns after its physical ones (`None`
    /// without computed columns), what it reads, and the schema of the rows that gives.
    fn computed_columns(
        &self,
        table: &TableDef,
    ) -> Result<(Option<Arc<Projection>>, ColumnsRead, SchemaRef)> {
        let physical = Arc::new(table.source_schema());
        let mut select = Vec::new();
        let mut computed = false;
        for column in &table.columns {
            match &column.kind {
                ColumnKind::Physical | ColumnKind::Metadata { .. } => {
                    select.push(quote(&column.name))
                }
                ColumnKind::Computed { text, .. } => {
                    computed = true;
                    select.push(format!("({text}) AS {}", quote(&column.name)));
                }
            }
        }
        if !computed {
            return Ok((None, ColumnsRead::default(), physical));
        }
        let ctx = session();
        let scan_name = "__physical";
        self.register_provider(
            &ctx,
            scan_name,
            Arc::new(EmptyTable::new(Arc::clone(&physical))),
        )?;
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
        let plan = self.logical_plan(&ctx, statement)?;
        let LogicalPlan::Projection(projection) = &plan else {
            return Err(self.unsupported_node(&plan));
        };
        let reads = ColumnsRead::of_exprs(
            projection
                .expr
                .iter()
                .zip(&table.columns)
                .filter(|(_, column)| matches!(column.kind, ColumnKind::Computed { .. }))
                .map(|(expr, _)| expr),
        );
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
            .collect::<Result<Vec<_>, datafusion::error::DataFusionError>>()
            .map_err(|e| self.datafusion(e))?;
        let schema = Arc::new(Schema::new(fields));
        let projection = Projection::new(exprs, Arc::clone(&schema)).map_err(|e| self.engine(e))?;
        Ok((Some(Arc::new(projection)), reads, schema))
    }
}

/// The error for a window TVF whose DESCRIPTOR names no event-time column.
fn not_event_time(tvf: &WindowTvf, relation: &str) -> SqlError {
    SqlError::Invalid {
        at: tvf.at,
        message: format!(
            "{} is not the event-time attribute of {relation}",
            tvf.time_column
        ),
        text: tvf.text.clone(),
        hint: "window on the column of the table's WATERMARK FOR clause".into(),
    }
}

/// Gives a view's window and `ML_PREDICT` placeholders names that no other statement uses.
fn rename_placeholders(parsed: &mut ParsedQuery, prefix: &str) {
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut rename = |placeholder: &mut String| {
        let new = format!("{prefix}{placeholder}");
        renamed.insert(std::mem::replace(placeholder, new.clone()), new);
    };
    parsed
        .windows
        .iter_mut()
        .for_each(|w| rename(&mut w.placeholder));
    parsed
        .ml_predicts
        .iter_mut()
        .for_each(|m| rename(&mut m.placeholder));
    let query: &mut Query = &mut parsed.query;
    let _ = visit_relations_mut(query, |name| {
        if let Some(new) = renamed.get(&crate::query::object_name(name)) {
            *name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                datafusion::sql::sqlparser::ast::Ident::new(new.clone()),
            ]);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// A view's plan with its output columns renamed as `CREATE VIEW v (a, b) AS …` names them.
fn rename_columns(plan: LogicalPlan, names: &[String]) -> datafusion::error::Result<LogicalPlan> {
    let exprs = plan
        .schema()
        .columns()
        .into_iter()
        .zip(names)
        .map(|(column, name)| datafusion::logical_expr::Expr::Column(column).alias(name))
        .collect::<Vec<_>>();
    if exprs.len() != names.len() || plan.schema().fields().len() != names.len() {
        return Err(datafusion::error::DataFusionError::Plan(format!(
            "the view names {} columns but its query gives {}",
            names.len(),
            plan.schema().fields().len()
        )));
    }
    datafusion::logical_expr::LogicalPlanBuilder::from(plan)
        .project(exprs)?
        .build()
}
