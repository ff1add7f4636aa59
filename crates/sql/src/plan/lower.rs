//! Lowering a DataFusion logical plan into engine stages.
//!
//! The plan is walked from its leaves (the tables scanned) up. Filters and projections are
//! chained into the current stage; each aggregation or ranking starts a new stage behind a
//! hash exchange on its keys:
//!
//! | plan node | engine |
//! |---|---|
//! | scan of a table | the source, with computed columns and watermarks |
//! | scan of a window TVF (not aggregated) | the table's source → window assignment |
//! | `Filter`, `Projection`, `SubqueryAlias` | filter and projection operators |
//! | `Aggregate` over a window TVF | hash by keys → window aggregate |
//! | `Aggregate` of a window aggregation's rows grouped by their window | hash by keys → 1 ms tumbling window on `window_end` |
//! | `Aggregate` (unbounded `GROUP BY`, `SELECT DISTINCT`) | hash by keys → group aggregate (changelog) |
//! | `Join` with a table read `FOR SYSTEM_TIME AS OF` | lookup join (the table held in memory) |
//! | `Join` of two streams | each side hashed by its keys → regular or interval join ([`super::join`]) |
//! | `Filter(rn <= N)` over `ROW_NUMBER() OVER (…)` | hash by partition → Top-N or deduplication (changelog), or window Top-N |
//!
//! A changelog stream carries its row kind as a last column that filters keep and
//! projections pass through.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Distinct, Expr, Join, JoinType, LogicalPlan, Operator,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};
use spate_engine::aggregate::GroupAggregate;
use spate_engine::changelog;
use spate_engine::exchange::Partitioning;
use spate_engine::lookup::{KeyedLookup, LookupJoin, LookupJoinSpec, PartialCache};
use spate_engine::normalize::ChangelogNormalize;
use spate_engine::operator::{OperatorFactory, Projection};
use spate_engine::rank::{RankSpec, TopN, WindowTopN};
use spate_engine::source::{ProjectedSource, SourceFactory};
use spate_engine::time::WatermarkStrategy;
use spate_engine::window::{
    AggregateSpec, Aggregation, LocalWindowAggregate, SlicedWindowAggregate, WindowAssigner,
    WindowConfig,
};
use spate_engine::{Link, SourceStage, Stage};

use super::tables::{Relations, Scan};
use super::{ColumnsRead, Planner, SharedProjection};
use crate::catalog::TableDef;
use crate::error::{Result, SqlError};
use crate::window::WindowTvf;

mod over;

/// The dataflow built so far: sources (several after a `UNION ALL`) and stages, a line
/// except where a join takes branches of their own.
pub(super) struct Pipeline {
    pub sources: Vec<SourceStage>,
    pub stages: Vec<Stage>,
    /// Whether the rows are a changelog (carry a row kind).
    pub changelog: bool,
}

impl Pipeline {
    /// Chains an operator onto the current stage (onto every source before the first
    /// exchange).
    pub fn push(&mut self, op: OperatorFactory) {
        match self.stages.last_mut() {
            Some(stage) => stage.chain.push(op),
            None => {
                for source in &mut self.sources {
                    source.chain.push(Arc::clone(&op));
                }
            }
        }
    }

    /// Starts a stage fed through `input` with rows of `input_schema`.
    fn exchange(
        &mut self,
        name: &str,
        input: Partitioning,
        parallelism: usize,
        input_schema: SchemaRef,
    ) {
        self.stages.push(Stage {
            name: self.unique_name(name),
            input,
            input_schema: Some(input_schema),
            parallelism,
            chain: Vec::new(),
            sink: None,
            output: None,
        });
    }

    /// Adds `branch` as input `input` of the stage at `target` (a join, pushed after all its
    /// branches): the branch's stages are appended with their links moved along, and its
    /// output reaches `target` through `partitioning`. Names stay unique, since tasks are
    /// named after their stages.
    pub fn attach(
        &mut self,
        branch: Pipeline,
        target: usize,
        input: usize,
        partitioning: Partitioning,
    ) {
        let offset = self.stages.len();
        let link = Link {
            stage: target,
            input,
            partitioning: Some(partitioning),
        };
        let last = branch.stages.len().checked_sub(1);
        for mut source in branch.sources {
            source.name = self.unique_name(&source.name);
            match last {
                None => source.output = link.clone(),
                Some(_) => source.output.stage += offset,
            }
            self.sources.push(source);
        }
        for (i, mut stage) in branch.stages.into_iter().enumerate() {
            stage.name = self.unique_name(&stage.name);
            stage.output = match stage.output {
                _ if Some(i) == last => Some(link.clone()),
                Some(mut own) => {
                    own.stage += offset;
                    Some(own)
                }
                None => None,
            };
            self.stages.push(stage);
        }
    }

    /// `name`, or `name #2`, `#3`, … if a source or stage already has that name (a name that
    /// is numbered already is numbered again from its base).
    fn unique_name(&self, name: &str) -> String {
        let taken = |name: &str| {
            self.sources.iter().any(|s| s.name == name)
                || self.stages.iter().any(|s| s.name == name)
        };
        if !taken(name) {
            return name.to_string();
        }
        let base = match name.rsplit_once(" #") {
            Some((base, n)) if n.parse::<u32>().is_ok() => base,
            _ => name,
        };
        (2..)
            .map(|n| format!("{base} #{n}"))
            .find(|numbered| !taken(numbered))
            .expect("some number is free")
    }

    /// The parallelism of the current stage.
    pub fn parallelism(&self) -> usize {
        self.stages
            .last()
            .map_or(self.sources[0].parallelism, |s| s.parallelism)
    }
}

impl Planner<'_> {
    /// Lowers `plan` (the input of the INSERT's final projection, or deeper).
    pub(super) fn lower(&self, plan: &LogicalPlan, relations: &Relations) -> Result<Pipeline> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                match relations.scans.get(name) {
                    Some(Scan::Table { .. }) => self.scan(name, relations),
                    Some(Scan::Window { tvf, table }) => self.window_rows(tvf, table, relations),
                    None => Err(self.unsupported_node(plan)),
                }
            }
            LogicalPlan::SubqueryAlias(alias) => self.lower(&alias.input, relations),
            LogicalPlan::Filter(filter) => {
                if let Some(pipeline) = self.top_n(filter, relations)? {
                    return Ok(pipeline);
                }
                // `FROM a, b WHERE …`: the WHERE is the condition of the (inner) join.
                if let LogicalPlan::Join(join) = filter.input.as_ref()
                    && join.join_type == JoinType::Inner
                    && join.on.is_empty()
                    && join.filter.is_none()
                {
                    let mut conditioned = join.clone();
                    conditioned.filter = Some(filter.predicate.clone());
                    return self.lower(&LogicalPlan::Join(conditioned), relations);
                }
                let mut pipeline = self.lower(&filter.input, relations)?;
                pipeline.push(self.filter(&filter.predicate, filter.input.schema())?);
                Ok(pipeline)
            }
            LogicalPlan::Projection(projection) => {
                let mut pipeline = self.lower(&projection.input, relations)?;
                self.push_projection(projection, &mut pipeline)?;
                Ok(pipeline)
            }
            LogicalPlan::Aggregate(aggregate) => match windowed_scan(&aggregate.input, relations) {
                Some(tvf) => self.window_aggregate(aggregate, tvf, relations),
                None if grouped_window_end(aggregate, relations).is_some() => {
                    self.windowed_rows_aggregate(aggregate, relations)
                }
                None => self.group_aggregate(aggregate, relations),
            },
            LogicalPlan::Join(join) => match strip_aliases(&join.right) {
                LogicalPlan::TableScan(scan)
                    if relations.lookups.contains(scan.table_name.table()) =>
                {
                    self.lookup_join(join, relations)
                }
                _ => self.stream_join(join, relations),
            },
            LogicalPlan::Union(union) => self.union_all(union, plan, relations),
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let keys: Vec<Expr> = input
                    .schema()
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                let aggregate = Aggregate::try_new(Arc::clone(input), keys, Vec::new())
                    .map_err(|e| self.datafusion(e))?;
                self.group_aggregate(&aggregate, relations)
            }
            LogicalPlan::Window(window) => self.over_aggregate(window, relations),
            other => Err(self.unsupported_node(other)),
        }
    }

    /// A source of the table scanned as `name`, with its computed columns.
    fn source(&self, name: &str, relations: &Relations) -> Result<SourceFactory> {
        let (table, computed, schema) = relations
            .table(name)
            .expect("the caller checked that the scan is a table");
        let physical = Arc::new(table.source_schema());
        let read = relations.read_of(name);
        let source: SourceFactory = self
            .connectors
            .source(table, Arc::clone(&physical), &read)?;
        let Some(computed) = computed else {
            return Ok(source);
        };
        let (projection, out) = (Arc::clone(computed), Arc::clone(schema));
        Ok(Arc::new(move |task| {
            Ok(Box::new(ProjectedSource::new(
                source(task)?,
                Arc::clone(&projection),
                Arc::clone(&out),
            )) as Box<_>)
        }))
    }

    /// The pipeline reading the table scanned as `name`.
    fn scan(&self, name: &str, relations: &Relations) -> Result<Pipeline> {
        let (table, computed, schema) = relations.table(name).expect("a table");
        if self.connectors.upsert_source(table) {
            return self.upsert_scan(table, computed, &relations.read_of(name));
        }
        let source = self.source(name, relations)?;
        let watermarks = match &table.watermark {
            Some(w) => Some(WatermarkStrategy {
                rowtime_column: self.column_index(schema, &w.rowtime_column)?,
                max_out_of_orderness_ms: w.max_out_of_orderness_ms,
                idle_timeout: self.options.idle_timeout,
            }),
            None => None,
        };
        Ok(Pipeline {
            sources: vec![SourceStage {
                name: format!("source: {}", table.name),
                source,
                parallelism: self.options.parallelism,
                watermarks,
                chain: Vec::new(),
                output: Link::default(),
            }],
            stages: Vec::new(),
            changelog: false,
        })
    }

    /// The scan of a table whose source reads upserts ([`ConnectorRegistry::upsert_source`]):
    /// the source → hash by the primary key → the last row per key, emitted as a changelog
    /// (Flink's ChangelogNormalize) → computed columns.
    ///
    /// [`ConnectorRegistry::upsert_source`]: super::ConnectorRegistry::upsert_source
    fn upsert_scan(
        &self,
        table: &TableDef,
        computed: Option<&Arc<Projection>>,
        read: &ColumnsRead,
    ) -> Result<Pipeline> {
        let refuse = |construct: &str, hint: &str| SqlError::Unsupported {
            at: table.at,
            construct: construct.into(),
            text: table.name.clone(),
            hint: hint.into(),
        };
        if table.watermark.is_some() {
            return Err(refuse(
                &format!("a WATERMARK on the {} table", table.connector.name()),
                "Spate has no event-time operators over updating tables; declare the watermark \
                 on an append-only table (e.g. 'kafka')",
            ));
        }
        let Some(primary_key) = &table.primary_key else {
            return Err(refuse(
                &format!("a {} table without a primary key", table.connector.name()),
                "declare PRIMARY KEY (…) NOT ENFORCED: its columns are the record key",
            ));
        };
        let rows = Arc::new(table.source_schema());
        let key_columns = primary_key
            .columns
            .iter()
            .map(|c| self.column_index(&rows, c))
            .collect::<Result<Vec<_>>>()?;
        let keys: Vec<Arc<dyn PhysicalExpr>> = key_columns
            .iter()
            .map(|&i| Arc::new(PhysicalColumn::new(rows.field(i).name(), i)) as _)
            .collect();
        let source = self.connectors.source(table, Arc::clone(&rows), read)?;
        let mut pipeline = Pipeline {
            sources: vec![SourceStage {
                name: format!("source: {}", table.name),
                source,
                parallelism: self.options.parallelism,
                watermarks: None,
                chain: Vec::new(),
                output: Link::default(),
            }],
            stages: Vec::new(),
            changelog: true,
        };
        pipeline.exchange(
            "changelog normalize",
            Partitioning::Hash(keys),
            self.options.parallelism,
            spate_engine::changelog::with_row_kind(&rows),
        );
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(ChangelogNormalize::new(
                Arc::clone(&rows),
                key_columns.clone(),
                task,
            )?) as Box<_>)
        }));
        if let Some(computed) = computed {
            pipeline.push(SharedProjection::factory(Arc::clone(computed), true));
        }
        Ok(pipeline)
    }

    /// `UNION ALL`: the inputs' sources all feed what follows. Each input is a source with
    /// filters and projections; its columns are renamed to the union's.
    fn union_all(
        &self,
        union: &datafusion::logical_expr::Union,
        plan: &LogicalPlan,
        relations: &Relations,
    ) -> Result<Pipeline> {
        let mut merged: Option<Pipeline> = None;
        for input in &union.inputs {
            let mut pipeline = self.lower(input, relations)?;
            if !pipeline.stages.is_empty() || pipeline.changelog {
                return Err(self.unsupported(
                    "UNION ALL of an aggregation or ranking",
                    &plan.display().to_string(),
                    "union the rows first, then aggregate the union",
                ));
            }
            let columns: Vec<Expr> = input
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            let exprs = self.physical_exprs(&columns, input.schema())?;
            if let Some(rename) = self.projection(exprs, input.schema(), &union.schema, false)? {
                pipeline.push(rename);
            }
            merged = Some(match merged {
                None => pipeline,
                Some(mut all) => {
                    for mut source in pipeline.sources {
                        source.name = all.unique_name(&source.name);
                        all.sources.push(source);
                    }
                    all
                }
            });
        }
        merged.ok_or_else(|| self.unsupported_node(plan))
    }

    /// `stream JOIN dim FOR SYSTEM_TIME AS OF … ON keys`: the dimension table is read into
    /// memory (Flink's FULL lookup cache) and each stream row looks its key up.
    fn lookup_join(&self, join: &Join, relations: &Relations) -> Result<Pipeline> {
        let LogicalPlan::TableScan(scan) = strip_aliases(&join.right) else {
            return Err(self.unsupported_node(&LogicalPlan::Join(join.clone())));
        };
        let dimension = scan.table_name.table().to_string();
        let keep_unmatched = match join.join_type {
            JoinType::Inner => false,
            JoinType::Left => true,
            other => {
                return Err(self.unsupported(
                    &format!("a {other} lookup join"),
                    &dimension,
                    "write JOIN or LEFT JOIN",
                ));
            }
        };
        // Equalities between a stream column and a dimension column are the lookup keys.
        let (on, rest) = super::join::equi_keys(join);
        if on.is_empty() {
            return Err(self.unsupported(
                "a lookup join without an equality on the dimension's columns",
                &dimension,
                "join ON d.key = s.key",
            ));
        }
        let (table, computed, dimension_schema) = relations.table(&dimension).ok_or_else(|| {
            self.unsupported("a lookup join on a view", &dimension, "join a table")
        })?;
        if self.connectors.upsert_source(table) {
            return Err(self.unsupported(
                &format!("a lookup join on the {} table", table.connector.name()),
                &dimension,
                "look up a jdbc, filesystem or kafka table",
            ));
        }
        let cache = table.option("lookup.cache").map(str::to_ascii_uppercase);
        let (stream_keys, dimension_keys): (Vec<Expr>, Vec<Expr>) = on.into_iter().unzip();
        let keyed = match cache.as_deref() {
            None | Some("FULL") => None,
            Some(other) => {
                let refuse = || {
                    SqlError::Unsupported {
                    at: table.at,
                    construct: format!("'lookup.cache' = '{other}' on the {} connector", table.connector.name()),
                    text: table.name.clone(),
                    hint: "a bounded table is read whole into memory: use 'FULL' (or leave the option out); \
                           jdbc tables without computed columns take 'PARTIAL' and 'NONE'".into(),
                }
                };
                let names: Option<Vec<String>> = dimension_keys
                    .iter()
                    .map(|k| match k {
                        Expr::Column(c) => Some(c.name.clone()),
                        _ => None,
                    })
                    .collect();
                let (Some(names), None, Some("PARTIAL" | "NONE")) =
                    (names, computed, cache.as_deref())
                else {
                    return Err(refuse());
                };
                let lookup = self
                    .connectors
                    .lookup(table, Arc::new(table.source_schema()), &names)?
                    .ok_or_else(refuse)?;
                Some(KeyedLookup {
                    lookup,
                    cache: match other {
                        "PARTIAL" => Some(partial_cache(table)?),
                        _ => None,
                    },
                })
            }
        };
        let reload_every = match table.option("lookup.full-cache.periodic-reload.interval") {
            None => None,
            Some(text) => Some(
                super::parse_duration(text).ok_or_else(|| SqlError::Invalid {
                    at: table.at,
                    message: format!(
                        "'lookup.full-cache.periodic-reload.interval' = '{text}' is not a duration"
                    ),
                    text: text.into(),
                    hint: "write a duration such as '10 min'".into(),
                })?,
            ),
        };
        let mut pipeline = self.lower(&join.left, relations)?;
        let spec = LookupJoinSpec {
            table: table.name.clone(),
            source: self.source(&dimension, relations)?,
            dimension_schema: Arc::clone(dimension_schema),
            stream_keys: self.physical_exprs(&stream_keys, join.left.schema())?,
            dimension_keys: self.physical_exprs(&dimension_keys, join.right.schema())?,
            filter: match conjunction(rest) {
                Some(f) => Some(self.physical_exprs(&[f], &join.schema)?.remove(0)),
                None => None,
            },
            keep_unmatched,
            reload_every,
            output_schema: Arc::new(join.schema.as_arrow().clone()),
            keyed,
        };
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(LookupJoin::new(spec.clone(), task)?) as Box<_>)
        }));
        Ok(pipeline)
    }

    /// Chains the projection of a plan node (unless it changes nothing).
    fn push_projection(
        &self,
        projection: &datafusion::logical_expr::Projection,
        pipeline: &mut Pipeline,
    ) -> Result<()> {
        let exprs = self.physical_exprs(&projection.expr, projection.input.schema())?;
        let input = projection.input.schema();
        if let Some(op) = self.projection(exprs, input, &projection.schema, pipeline.changelog)? {
            pipeline.push(op);
        }
        Ok(())
    }

    /// A projection operator over rows of `input` (`None` when it would change nothing); a
    /// changelog's row kind passes through.
    fn projection(
        &self,
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        input: &DFSchema,
        output: &DFSchema,
        changelog: bool,
    ) -> Result<Option<OperatorFactory>> {
        let arrow_input = input.as_arrow();
        let mut fields = Vec::with_capacity(exprs.len());
        for (expr, field) in exprs.iter().zip(output.fields()) {
            fields.push(Field::new(
                field.name(),
                expr.data_type(arrow_input)
                    .map_err(|e| self.datafusion(e))?,
                expr.nullable(arrow_input).map_err(|e| self.datafusion(e))?,
            ));
        }
        let projection =
            Projection::new(exprs, Arc::new(Schema::new(fields))).map_err(|e| self.engine(e))?;
        Ok((!projection.is_identity(arrow_input))
            .then(|| SharedProjection::factory(Arc::new(projection), changelog)))
    }

    /// Aggregates of `aggregate`, evaluated over its input.
    fn aggregate_specs(&self, aggregate: &Aggregate) -> Result<Vec<AggregateSpec>> {
        let input = aggregate.input.schema();
        let arrow_input = input.as_arrow();
        let props = datafusion::execution::context::ExecutionProps::new();
        let planning =
            datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext::default();
        let mut specs = Vec::new();
        for expr in &aggregate.aggr_expr {
            self.no_window_columns(expr, "aggregates")?;
            let lowered = LoweredAggregateBuilder::new(expr, input, arrow_input, &props, &planning)
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
        Ok(specs)
    }

    /// Names of grouping expressions as output columns.
    fn key_names(keys: &[Expr]) -> Vec<String> {
        keys.iter()
            .map(|e| match e {
                Expr::Column(c) => c.name.clone(),
                other => other.schema_name().to_string(),
            })
            .collect()
    }

    fn no_grouping_sets(&self, aggregate: &Aggregate) -> Result<()> {
        match aggregate
            .group_expr
            .iter()
            .find(|e| matches!(e, Expr::GroupingSet(_)))
        {
            Some(e) => Err(self.unsupported(
                "GROUPING SETS/ROLLUP/CUBE",
                &e.to_string(),
                "group by plain keys",
            )),
            None => Ok(()),
        }
    }

    /// Unbounded `GROUP BY`: hash by keys → group aggregate, an updating result.
    fn group_aggregate(&self, aggregate: &Aggregate, relations: &Relations) -> Result<Pipeline> {
        self.no_grouping_sets(aggregate)?;
        let mut pipeline = self.lower(&aggregate.input, relations)?;
        let input = aggregate.input.schema();
        let mut input_schema = input.as_arrow().clone();
        if pipeline.changelog {
            input_schema = changelog::with_row_kind(&input_schema).as_ref().clone();
        }
        let keys = self.physical_exprs(&aggregate.group_expr, input)?;
        let aggregation = Aggregation::new(
            &input_schema,
            keys.clone(),
            Self::key_names(&aggregate.group_expr),
            self.aggregate_specs(aggregate)?,
        )
        .map_err(|e| self.engine(e))?;
        // Check now what the operator would refuse at run time.
        let probe = spate_engine::operator::TaskInfo {
            name: "group aggregate".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: Default::default(),
            metrics: Arc::new(spate_engine::metrics::TaskMetrics::new()),
        };
        GroupAggregate::new(aggregation.clone(), &input_schema, &probe)
            .map_err(|e| self.engine(e))?;
        let parallelism = if keys.is_empty() {
            1
        } else {
            self.options.parallelism
        };
        pipeline.exchange(
            "group aggregate",
            Partitioning::Hash(keys),
            parallelism,
            Arc::new(input_schema.clone()),
        );
        let input_schema = Arc::new(input_schema);
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(GroupAggregate::new(
                aggregation.clone(),
                &input_schema,
                task,
            )?) as Box<_>)
        }));
        pipeline.changelog = true;
        Ok(pipeline)
    }

    /// The rows a window TVF windows: its table's, or its view's (filters and projections of
    /// a table), with their schema.
    fn windowed_input(
        &self,
        tvf: &WindowTvf,
        table_name: &str,
        relations: &Relations,
    ) -> Result<(Pipeline, SchemaRef)> {
        match relations.views.get(table_name) {
            Some(view) => {
                let pipeline = self.lower(view, relations)?;
                if !pipeline.stages.is_empty() || pipeline.changelog {
                    return Err(self.unsupported(
                        "a window TVF over a view that aggregates or ranks",
                        &tvf.text,
                        "window a view that only filters and projects its table",
                    ));
                }
                Ok((pipeline, Arc::new(view.schema().as_arrow().clone())))
            }
            None => {
                let (_, _, schema) = relations.table(table_name).expect("a table");
                let pipeline = self.scan(table_name, relations)?;
                if pipeline.changelog {
                    return Err(self.unsupported(
                        "a window TVF over an updating table",
                        &tvf.text,
                        "window an append-only table",
                    ));
                }
                Ok((pipeline, Arc::clone(schema)))
            }
        }
    }

    /// A window TVF read as a table, not aggregated (an input of a window join): each row
    /// once per window that holds it, with the window's columns.
    fn window_rows(
        &self,
        tvf: &WindowTvf,
        table_name: &str,
        relations: &Relations,
    ) -> Result<Pipeline> {
        let (mut pipeline, schema) = self.windowed_input(tvf, table_name, relations)?;
        let rowtime_column = self.column_index(&schema, &tvf.time_column)?;
        let assigner = WindowAssigner::new(tvf.kind, rowtime_column, &schema).map_err(|e| {
            self.unsupported(
                &e.to_string(),
                &tvf.text,
                "GROUP BY window_start, window_end, …",
            )
        })?;
        pipeline.push(Arc::new(move |_| Ok(Box::new(assigner.clone()) as Box<_>)));
        Ok(pipeline)
    }

    /// A window aggregation: hash by keys → window aggregate → columns in the plan's order.
    fn window_aggregate(
        &self,
        aggregate: &Aggregate,
        tvf: &WindowTvf,
        relations: &Relations,
    ) -> Result<Pipeline> {
        self.no_grouping_sets(aggregate)?;
        let (filter, table_name) = match aggregate.input.as_ref() {
            LogicalPlan::Filter(f) => (Some(f), windowed_table(&f.input, relations)),
            other => (None, windowed_table(other, relations)),
        };
        let table_name = table_name.expect("windowed_scan found the window");
        let (mut pipeline, full_schema) = self.windowed_input(tvf, &table_name, relations)?;
        let full_schema = &full_schema;
        if let Some(filter) = filter {
            pipeline.push(self.filter(&filter.predicate, filter.input.schema())?);
        }
        let rowtime_column = self.column_index(full_schema, &tvf.time_column)?;
        let input = aggregate.input.schema();

        let mut start = None;
        let mut end = None;
        let mut keys = Vec::new();
        for (i, expr) in aggregate.group_expr.iter().enumerate() {
            match expr {
                Expr::Column(c) if c.name == "window_start" => start = Some(i),
                Expr::Column(c) if c.name == "window_end" => end = Some(i),
                other => {
                    self.no_window_columns(other, "GROUP BY keys other than the window")?;
                    keys.push(i);
                }
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            return Err(self.unsupported(
                "a window aggregation not grouped by window_start and window_end",
                &tvf.text,
                "GROUP BY window_start, window_end, …",
            ));
        };
        if let Some(missing) = tvf.partition_by.iter().find(|p| {
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
        let key_exprs = self.physical_exprs(&key_logical, input)?;
        let aggregation = Aggregation::new(
            full_schema,
            key_exprs.clone(),
            Self::key_names(&key_logical),
            self.aggregate_specs(aggregate)?,
        )
        .map_err(|e| self.engine(e))?;
        let config = WindowConfig {
            kind: tvf.kind,
            rowtime_column,
            aggregation,
            late: self.options.late,
            early_fire: None,
        };
        config
            .kind
            .validate()
            .map_err(|message| SqlError::Invalid {
                at: tvf.at,
                message,
                text: tvf.text.clone(),
                hint: "make the window sizes fit each other".into(),
            })?;
        // The window emits window_start, window_end, keys, aggregates; the plan reads the
        // grouping expressions in their GROUP BY order, then the aggregates.
        let output = config.output_schema();
        let groups = aggregate.group_expr.len();
        let mut order = vec![0; groups + aggregate.aggr_expr.len()];
        order[start] = 0;
        order[end] = 1;
        for (n, &i) in keys.iter().enumerate() {
            order[i] = 2 + n;
        }
        for a in 0..aggregate.aggr_expr.len() {
            order[groups + a] = 2 + keys.len() + a;
        }
        let columns: Vec<Arc<dyn PhysicalExpr>> = order
            .iter()
            .map(|&i| {
                Arc::new(datafusion::physical_expr::expressions::Column::new(
                    output.field(i).name(),
                    i,
                )) as Arc<dyn PhysicalExpr>
            })
            .collect();
        let fields: Vec<Field> = order
            .iter()
            .zip(aggregate.schema.fields())
            .map(|(&i, planned)| output.field(i).as_ref().clone().with_name(planned.name()))
            .collect();
        let reorder =
            Projection::new(columns, Arc::new(Schema::new(fields))).map_err(|e| self.engine(e))?;
        let rows = Arc::clone(full_schema);
        self.push_window_aggregation(&mut pipeline, config, key_exprs, rows);
        pipeline.push(SharedProjection::factory(Arc::new(reorder), false));
        Ok(pipeline)
    }

    /// An aggregation of a window's result rows grouped by their window (Flink's window
    /// aggregation over a window aggregation, e.g. the largest count per window): rows of one
    /// window share their `window_end`, which is their time, so a 1 ms tumbling window over
    /// it holds exactly one window's rows and fires when the watermark passes its end.
    fn windowed_rows_aggregate(
        &self,
        aggregate: &Aggregate,
        relations: &Relations,
    ) -> Result<Pipeline> {
        self.no_grouping_sets(aggregate)?;
        let mut pipeline = self.lower(&aggregate.input, relations)?;
        let input = aggregate.input.schema();
        let rowtime_column = window_end_index(&aggregate.input, relations)
            .expect("grouped_window_end found the window's end");
        let keys = self.physical_exprs(&aggregate.group_expr, input)?;
        let aggregation = Aggregation::new(
            input.as_arrow(),
            keys.clone(),
            Self::key_names(&aggregate.group_expr),
            self.aggregate_specs(aggregate)?,
        )
        .map_err(|e| self.engine(e))?;
        let config = WindowConfig {
            kind: spate_engine::window::WindowKind::Tumble { size_ms: 1 },
            rowtime_column,
            aggregation,
            late: self.options.late,
            early_fire: None,
        };
        // The window emits window_start, window_end, keys, aggregates: the plan's columns
        // are the keys and the aggregates.
        let output = config.output_schema();
        let columns: Vec<Arc<dyn PhysicalExpr>> = (2..output.fields().len())
            .map(|i| {
                Arc::new(datafusion::physical_expr::expressions::Column::new(
                    output.field(i).name(),
                    i,
                )) as Arc<dyn PhysicalExpr>
            })
            .collect();
        let fields: Vec<Field> = output.fields()[2..]
            .iter()
            .zip(aggregate.schema.fields())
            .map(|(field, planned)| field.as_ref().clone().with_name(planned.name()))
            .collect();
        let reorder =
            Projection::new(columns, Arc::new(Schema::new(fields))).map_err(|e| self.engine(e))?;
        self.push_window_aggregation(
            &mut pipeline,
            config,
            keys,
            Arc::new(input.as_arrow().clone()),
        );
        pipeline.push(SharedProjection::factory(Arc::new(reorder), false));
        Ok(pipeline)
    }

    /// The window aggregation `config` grouped by `keys`: in one phase (rows hashed by key to
    /// the window operator), or in two (rows pre-aggregated per slice and key before the
    /// exchange, partial aggregates hashed by key to the global phase) where the window
    /// allows and [`PlanOptions::agg_phases`] says so. Without keys it runs on one instance.
    fn push_window_aggregation(
        &self,
        pipeline: &mut Pipeline,
        config: WindowConfig,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        rows: SchemaRef,
    ) {
        let parallelism = if keys.is_empty() {
            1
        } else {
            self.options.parallelism
        };
        let two_phases = self.options.agg_phases.two_phases(!keys.is_empty());
        if !(two_phases && config.two_phase_capable()) {
            pipeline.exchange("window", Partitioning::Hash(keys), parallelism, rows);
            pipeline.push(Arc::new(move |task| config.build(task)));
            return;
        }
        let local = config.clone();
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(LocalWindowAggregate::new(local.clone(), task.clone())?) as Box<_>)
        }));
        let keys = config.aggregation.partial_keys();
        let partials = config.aggregation.partial_schema();
        pipeline.exchange("window", Partitioning::Hash(keys), parallelism, partials);
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(SlicedWindowAggregate::global(config.clone(), task.clone())?) as Box<_>)
        }));
    }

    /// `… WHERE rn <= N` over `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) AS rn`: a Top-N,
    /// a deduplication (N = 1) or, over a window aggregation partitioned by its window, a
    /// window Top-N. `None` when `filter` is not of that shape.
    fn top_n(
        &self,
        filter: &datafusion::logical_expr::Filter,
        relations: &Relations,
    ) -> Result<Option<Pipeline>> {
        let LogicalPlan::Projection(projection) = strip_aliases(&filter.input) else {
            return Ok(None);
        };
        let LogicalPlan::Window(window) = strip_aliases(&projection.input) else {
            return Ok(None);
        };
        let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
            return Ok(None);
        };
        if function.fun.name() != "row_number" {
            return Ok(None);
        }
        // The row number's name above the window, and the conjunct limiting it.
        let number_field = window
            .schema
            .field(window.schema.fields().len() - 1)
            .name()
            .clone();
        let Some(rn_name) = projection
            .expr
            .iter()
            .zip(projection.schema.fields())
            .find(|(e, _)| matches!(strip_alias(e), Expr::Column(c) if c.name == number_field))
            .map(|(_, f)| f.name().clone())
        else {
            return Ok(None);
        };
        let mut limit = None;
        let mut rest = Vec::new();
        for conjunct in split_conjunction(&filter.predicate) {
            match (limit, row_number_limit(conjunct, &rn_name)) {
                (None, Some(n)) => limit = Some(n),
                _ => rest.push(conjunct.clone()),
            }
        }
        let Some(limit) = limit else {
            return Ok(None);
        };
        if limit == 0 {
            return Err(self.unsupported(
                "a Top-N that keeps no rows",
                &filter.predicate.to_string(),
                "write rn <= N with N of at least 1",
            ));
        }
        let params = &function.params;
        let input = window.input.schema();
        let partition_by = self.physical_exprs(&params.partition_by, input)?;
        let mut order_by = Vec::new();
        for sort in &params.order_by {
            let expr = self
                .physical_exprs(std::slice::from_ref(&sort.expr), input)?
                .remove(0);
            order_by.push(PhysicalSortExpr {
                expr,
                options: arrow::compute::SortOptions {
                    descending: !sort.asc,
                    nulls_first: sort.nulls_first,
                },
            });
        }
        if order_by.is_empty() {
            return Err(self.unsupported(
                "ROW_NUMBER() without ORDER BY",
                &window.window_expr[0].to_string(),
                "order the rows: ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)",
            ));
        }
        let arrow_input = input.as_arrow();
        // Deduplication keeping the last row: the newest row wins a tie on its time.
        let newer_wins_ties = limit == 1
            && order_by.len() == 1
            && order_by[0].options.descending
            && matches!(
                order_by[0].expr.data_type(arrow_input),
                Ok(DataType::Timestamp(..))
            );
        let spec = RankSpec {
            partition_by: partition_by.clone(),
            order_by,
            limit,
            row_number: Some(number_field),
            newer_wins_ties,
        };
        let partitioned_by_window = ["window_start", "window_end"].iter().all(|w| {
            params
                .partition_by
                .iter()
                .any(|e| matches!(e, Expr::Column(c) if c.name == *w))
        });
        let mut pipeline = self.lower(&window.input, relations)?;
        let parallelism = if partition_by.is_empty() {
            1
        } else {
            self.options.parallelism
        };
        if pipeline.changelog {
            return Err(self.unsupported(
                "Top-N over an updating result",
                &window.window_expr[0].to_string(),
                "rank an append-only table or a window aggregation",
            ));
        }
        pipeline.exchange(
            "rank",
            Partitioning::Hash(partition_by),
            parallelism,
            Arc::new(arrow_input.clone()),
        );
        let input_schema = Arc::new(arrow_input.clone());
        // Window columns exist only downstream of a window aggregation, whose rows for a
        // window all arrive before the watermark passes its end.
        if partitioned_by_window {
            let end = self.column_index(arrow_input, "window_end")?;
            pipeline.push(Arc::new(move |task| {
                Ok(Box::new(WindowTopN::new(
                    spec.clone(),
                    end,
                    Arc::clone(&input_schema),
                    task,
                )?) as Box<_>)
            }));
        } else {
            pipeline.push(Arc::new(move |task| {
                Ok(Box::new(TopN::new(spec.clone(), Arc::clone(&input_schema), task)?) as Box<_>)
            }));
            pipeline.changelog = true;
        }
        self.push_projection(projection, &mut pipeline)?;
        if let Some(predicate) = conjunction(rest) {
            pipeline.push(self.filter(&predicate, filter.input.schema())?);
        }
        Ok(Some(pipeline))
    }
}

pub(super) fn strip_aliases(plan: &LogicalPlan) -> &LogicalPlan {
    let mut plan = plan;
    while let LogicalPlan::SubqueryAlias(alias) = plan {
        plan = alias.input.as_ref();
    }
    plan
}

/// The window TVF an aggregation reads directly (under an optional filter).
fn windowed_scan<'r>(input: &LogicalPlan, relations: &'r Relations) -> Option<&'r WindowTvf> {
    let below = match strip_aliases(input) {
        LogicalPlan::Filter(f) => strip_aliases(&f.input),
        other => other,
    };
    let LogicalPlan::TableScan(scan) = below else {
        return None;
    };
    match relations.scans.get(scan.table_name.table())? {
        Scan::Window { tvf, .. } => Some(tvf),
        Scan::Table { .. } => None,
    }
}

/// The column of `plan`'s rows that holds the `window_end` of the window they belong to (rows
/// of a window TVF, or results of a window aggregation), followed through aliases, filters,
/// projections that keep it, and aggregations grouped by it. Such rows are complete when the
/// watermark reaches their window's end, which serves as their time.
pub(super) fn window_end_index(plan: &LogicalPlan, relations: &Relations) -> Option<usize> {
    match plan {
        // A window TVF read as a table: each row is in the window that ends there.
        LogicalPlan::TableScan(scan) => match relations.scans.get(scan.table_name.table())? {
            Scan::Window { .. } => scan
                .projected_schema
                .fields()
                .iter()
                .position(|f| f.name() == "window_end"),
            Scan::Table { .. } => None,
        },
        LogicalPlan::SubqueryAlias(alias) => window_end_index(&alias.input, relations),
        LogicalPlan::Filter(filter) => window_end_index(&filter.input, relations),
        LogicalPlan::Projection(projection) => {
            kept_column(projection, window_end_index(&projection.input, relations)?)
        }
        // A window aggregation: its `window_end` key.
        LogicalPlan::Aggregate(aggregate)
            if windowed_scan(&aggregate.input, relations).is_some() =>
        {
            aggregate
                .group_expr
                .iter()
                .position(|e| matches!(e, Expr::Column(c) if c.name == "window_end"))
        }
        LogicalPlan::Aggregate(aggregate) => grouped_window_end(aggregate, relations),
        _ => None,
    }
}

/// Where `projection` keeps its input's column `inner`, if it does.
pub(super) fn kept_column(
    projection: &datafusion::logical_expr::Projection,
    inner: usize,
) -> Option<usize> {
    projection.expr.iter().position(|e| match strip_alias(e) {
        Expr::Column(c) => projection.input.schema().index_of_column(c).ok() == Some(inner),
        _ => false,
    })
}

/// For an aggregation of a window's result rows grouped by their `window_end` (Flink's
/// window aggregation over a window aggregation): that key's position among the keys.
fn grouped_window_end(aggregate: &Aggregate, relations: &Relations) -> Option<usize> {
    let end = window_end_index(&aggregate.input, relations)?;
    aggregate.group_expr.iter().position(|e| match e {
        Expr::Column(c) => aggregate.input.schema().index_of_column(c).ok() == Some(end),
        _ => false,
    })
}

/// The table under a window TVF scan.
fn windowed_table(plan: &LogicalPlan, relations: &Relations) -> Option<String> {
    let LogicalPlan::TableScan(scan) = strip_aliases(plan) else {
        return None;
    };
    match relations.scans.get(scan.table_name.table())? {
        Scan::Window { table, .. } => Some(table.clone()),
        Scan::Table { .. } => None,
    }
}

/// N of `rn <= N`, `rn < N + 1`, `rn = 1` (also written the other way round).
fn row_number_limit(expr: &Expr, rn: &str) -> Option<usize> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let is_rn = |e: &Expr| matches!(strip_cast(e), Expr::Column(c) if c.name == rn);
    let literal = |e: &Expr| match strip_cast(e) {
        Expr::Literal(value, _) => match value {
            ScalarValue::Int8(Some(v)) => Some(i128::from(*v)),
            ScalarValue::Int16(Some(v)) => Some(i128::from(*v)),
            ScalarValue::Int32(Some(v)) => Some(i128::from(*v)),
            ScalarValue::Int64(Some(v)) => Some(i128::from(*v)),
            ScalarValue::UInt8(Some(v)) => Some(i128::from(*v)),
            ScalarValue::UInt16(Some(v)) => Some(i128::from(*v)),
            ScalarValue::UInt32(Some(v)) => Some(i128::from(*v)),
            ScalarValue::UInt64(Some(v)) => Some(i128::from(*v)),
            _ => None,
        },
        _ => None,
    };
    let (n, op) = if is_rn(left) {
        (literal(right)?, *op)
    } else if is_rn(right) {
        (literal(left)?, op.swap()?)
    } else {
        return None;
    };
    let n = match op {
        Operator::LtEq => n,
        Operator::Lt => n - 1,
        Operator::Eq if n == 1 => 1,
        _ => return None,
    };
    usize::try_from(n.max(0)).ok()
}

pub(super) fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn strip_cast(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => strip_cast(&c.expr),
        Expr::TryCast(c) => strip_cast(&c.expr),
        other => other,
    }
}

/// The `PARTIAL` cache options of a lookup table (Flink's, `max-rows` required).
fn partial_cache(table: &crate::catalog::TableDef) -> Result<PartialCache> {
    let invalid = |key: &str, text: &str, hint: &str| SqlError::Invalid {
        at: table.at,
        message: format!(
            "table {}: option '{key}' = '{text}' is not valid",
            table.name
        ),
        text: text.into(),
        hint: hint.into(),
    };
    let key = "lookup.partial-cache.max-rows";
    let max_rows = match table.option(key) {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid(key, text, "write a number of rows, e.g. '10000'"))?,
        None => {
            return Err(SqlError::Invalid {
                at: table.at,
                message: format!(
                    "table {}: 'lookup.cache' = 'PARTIAL' needs '{key}'",
                    table.name
                ),
                text: table.name.clone(),
                hint: format!("add '{key}' = '10000'"),
            });
        }
    };
    let duration = |key: &str| -> Result<Option<std::time::Duration>> {
        match table.option(key) {
            None => Ok(None),
            Some(text) => super::parse_duration(text)
                .map(Some)
                .ok_or_else(|| invalid(key, text, "write a duration such as '10 min'")),
        }
    };
    let key = "lookup.partial-cache.cache-missing-key";
    let cache_missing_key = match table.option(key).map(|t| t.trim().to_ascii_lowercase()) {
        None => true,
        Some(t) if t == "true" => true,
        Some(t) if t == "false" => false,
        Some(t) => return Err(invalid(key, &t, "write 'true' or 'false'")),
    };
    Ok(PartialCache {
        max_rows,
        expire_after_write: duration("lookup.partial-cache.expire-after-write")?,
        expire_after_access: duration("lookup.partial-cache.expire-after-access")?,
        cache_missing_key,
    })
}
