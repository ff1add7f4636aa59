//! What a query reads of its tables: which columns, and of a ROW column which fields, so a
//! source can leave the rest NULL instead of making it (Flink's projection push-down, nested
//! fields included).
//!
//! Reads are taken from the query's plan after DataFusion's optimizer has pruned what nothing
//! uses (a view's columns the query does not select, say). A column is read where an
//! expression names it — only the fields named, if every mention is a field access
//! (`bid.price`, DataFusion's `get_field`) — and wherever rows leave a node whole without an
//! expression naming their columns: the query's result, a `DISTINCT`, a `UNION`, or an alias
//! over more than one table. Column mentions are matched to tables through their qualifiers,
//! followed through aliases; whatever cannot be followed counts as read, so the analysis can
//! cost a source its saving but never a value. A window TVF over a view reads of the view only
//! what the query reads of the TVF, and its time column.

use std::collections::{HashMap, HashSet};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan, LogicalPlanBuilder};

use super::tables::{Relations, Scan};
use crate::catalog::TableDef;

/// The columns, and fields of ROW columns, that a query reads of one table.
#[derive(Debug, Clone, Default)]
pub struct ColumnsRead {
    /// Everything is read.
    all: bool,
    /// Columns read whole.
    whole: HashSet<String>,
    /// Columns of which only some fields are read, with those fields.
    fields: HashMap<String, HashSet<String>>,
}

impl ColumnsRead {
    /// Every column and field: what a source reads when nothing is known of its query.
    pub fn all() -> ColumnsRead {
        ColumnsRead {
            all: true,
            ..ColumnsRead::default()
        }
    }

    /// Whether the query reads anything of `column`.
    pub fn column(&self, column: &str) -> bool {
        self.all || self.whole.contains(column) || self.fields.contains_key(column)
    }

    /// Whether the query reads field `field` of the ROW column `column`.
    pub fn field(&self, column: &str, field: &str) -> bool {
        self.all
            || self.whole.contains(column)
            || self.fields.get(column).is_some_and(|f| f.contains(field))
    }

    /// What `exprs`, over one table's columns only, read of it (a table's computed columns).
    pub(super) fn of_exprs<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> ColumnsRead {
        let mut read = ColumnsRead::default();
        for expr in exprs {
            let complete = mentions(expr, |column, field| read.add(&column.name, field));
            read.all |= !complete;
        }
        read
    }

    /// This, with what `table` reads whatever the query: its computed columns' inputs
    /// (`computed`), its watermark's column and its primary key.
    pub(super) fn with_own(&self, table: &TableDef, computed: &ColumnsRead) -> ColumnsRead {
        let mut read = self.clone();
        read.merge(computed);
        let own = table
            .watermark
            .iter()
            .map(|w| &w.rowtime_column)
            .chain(table.primary_key.iter().flat_map(|key| &key.columns));
        for column in own {
            read.add(column, None);
        }
        read
    }

    /// Adds a read of `column`, whole or of one field.
    fn add(&mut self, column: &str, field: Option<&str>) {
        match field {
            None => {
                self.whole.insert(column.to_string());
            }
            Some(field) => {
                self.fields
                    .entry(column.to_string())
                    .or_default()
                    .insert(field.to_string());
            }
        }
    }

    fn merge(&mut self, other: &ColumnsRead) {
        self.all |= other.all;
        self.whole.extend(other.whole.iter().cloned());
        for (column, fields) in &other.fields {
            for field in fields {
                self.add(column, Some(field));
            }
        }
    }
}

/// What a query reads of each table it scans (its views and window TVFs included), and of
/// each window TVF over a view, by the TVF's name.
#[derive(Debug, Clone, Default)]
pub(super) struct TableReads {
    /// The plan could not be analysed: every table is read whole.
    all: bool,
    by_table: HashMap<String, ColumnsRead>,
}

impl TableReads {
    /// What a query whose (analysed) plan is `plan` reads, `state` being the session it was
    /// planned in.
    pub(super) fn of_query(
        plan: &LogicalPlan,
        relations: &Relations,
        state: &SessionState,
    ) -> TableReads {
        let all = TableReads {
            all: true,
            ..TableReads::default()
        };
        let optimize = |plan: LogicalPlan| state.optimizer().optimize(plan, state, |_, _| {});
        let mut collector = Collector {
            relations,
            origins: HashMap::new(),
            reads: TableReads::default(),
        };
        // The query, then each view a window TVF of it reads (lowered apart from it), pruned
        // to the columns read of the TVF, its time column included.
        let mut pending = vec![plan.clone()];
        let mut seen = HashSet::new();
        while let Some(plan) = pending.pop() {
            let Ok(plan) = optimize(plan) else {
                return all;
            };
            collector.find_origins(&plan);
            collector.read_plan(&plan);
            for name in scanned(&plan) {
                let Some(Scan::Window { tvf, table }) = relations.scans.get(&name) else {
                    continue;
                };
                let Some(view) = relations.views.get(table) else {
                    continue;
                };
                if !seen.insert(name.clone()) {
                    continue;
                }
                let read = collector.reads.of(&name);
                let kept: Vec<Expr> = view
                    .schema()
                    .columns()
                    .into_iter()
                    .filter(|c| read.column(&c.name) || c.name == tvf.time_column)
                    .map(Expr::Column)
                    .collect();
                match LogicalPlanBuilder::from(view.clone())
                    .project(kept)
                    .and_then(LogicalPlanBuilder::build)
                {
                    Ok(pruned) => pending.push(pruned),
                    Err(_) => return all,
                }
            }
        }
        collector.reads
    }

    /// What the query reads of `table`.
    pub(super) fn of(&self, table: &str) -> ColumnsRead {
        if self.all {
            return ColumnsRead::all();
        }
        self.by_table.get(table).cloned().unwrap_or_default()
    }
}

/// Walks a query's plans, matching the columns they name to tables.
struct Collector<'a> {
    relations: &'a Relations,
    /// The tables a relation name (a table, a window TVF, an alias) stands for.
    origins: HashMap<String, HashSet<String>>,
    reads: TableReads,
}

impl Collector<'_> {
    /// Records which tables each relation name of `plan` stands for.
    fn find_origins(&mut self, plan: &LogicalPlan) {
        walk(plan, |node| {
            if let LogicalPlan::SubqueryAlias(alias) = node
                && let Some(table) = self.origin(&alias.input)
            {
                self.origins
                    .entry(alias.alias.table().to_string())
                    .or_default()
                    .insert(table);
            }
            if let LogicalPlan::TableScan(scan) = node
                && let Some(table) = self.origin(node)
            {
                self.origins
                    .entry(scan.table_name.table().to_string())
                    .or_default()
                    .insert(table);
            }
        });
    }

    /// The table whose rows `plan` yields with their columns as they are, if one does.
    fn origin(&self, plan: &LogicalPlan) -> Option<String> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                match self.relations.scans.get(scan.table_name.table())? {
                    Scan::Table { table, .. } => Some(table.name.clone()),
                    // A window TVF over a view stands for itself: what is read of it
                    // prunes the view.
                    Scan::Window { table, .. } => Some(
                        self.relations
                            .table(table)
                            .map_or(scan.table_name.table(), |(table, _, _)| &table.name)
                            .to_string(),
                    ),
                }
            }
            LogicalPlan::SubqueryAlias(alias) => self.origin(&alias.input),
            LogicalPlan::Filter(filter) => self.origin(&filter.input),
            LogicalPlan::Sort(sort) => self.origin(&sort.input),
            LogicalPlan::Limit(limit) => self.origin(&limit.input),
            _ => None,
        }
    }

    /// Records what `plan` reads: the columns its expressions name, and those its rows carry
    /// out of the plan and of nodes that use rows whole.
    fn read_plan(&mut self, plan: &LogicalPlan) {
        self.read_schema(plan.schema());
        walk(plan, |node| {
            let complete = node
                .apply_expressions(|expr| {
                    let complete = self.read_expr(expr);
                    Ok(if complete {
                        TreeNodeRecursion::Continue
                    } else {
                        TreeNodeRecursion::Stop
                    })
                })
                .expect("collecting names does not fail");
            if complete == TreeNodeRecursion::Stop {
                self.reads.all = true;
            }
            match node {
                // Their rows keep their columns' qualifiers (or an alias followed to its
                // table), and each expression over them is read above.
                LogicalPlan::Projection(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::TableScan(_)
                | LogicalPlan::Join(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::EmptyRelation(_)
                | LogicalPlan::Values(_)
                | LogicalPlan::Distinct(Distinct::On(_)) => {}
                LogicalPlan::SubqueryAlias(alias) if self.origin(&alias.input).is_some() => {}
                // A subquery's result is used whole by the expression around it.
                LogicalPlan::Subquery(subquery) => self.read_schema(subquery.subquery.schema()),
                // The rest use their input rows whole, or rename their columns.
                other => {
                    for input in other.inputs() {
                        self.read_schema(input.schema());
                    }
                }
            }
        });
    }

    /// Reads every column of `schema` whole.
    fn read_schema(&mut self, schema: &DFSchema) {
        for column in schema.columns() {
            self.read_column(&column, None);
        }
    }

    /// Records what `expr` reads; false if it holds what this cannot follow (a wildcard).
    fn read_expr(&mut self, expr: &Expr) -> bool {
        let mut found = Vec::new();
        let complete = mentions(expr, |column, field| {
            found.push((column.clone(), field.map(str::to_string)));
        });
        for (column, field) in found {
            self.read_column(&column, field.as_deref());
        }
        complete
    }

    /// Records a read of `column` (or of one of its fields) of the tables its qualifier
    /// stands for. A column without a qualifier is an expression's result, not a table's.
    fn read_column(&mut self, column: &Column, field: Option<&str>) {
        let Some(relation) = &column.relation else {
            return;
        };
        let Some(tables) = self.origins.get(relation.table()) else {
            return;
        };
        for table in tables {
            self.reads
                .by_table
                .entry(table.clone())
                .or_default()
                .add(&column.name, field);
        }
    }
}

/// Calls `found` with each column `expr` names, and the field when the mention is a field
/// access; false if `expr` holds a wildcard, which names no column.
fn mentions(expr: &Expr, mut found: impl FnMut(&Column, Option<&str>)) -> bool {
    let mut complete = true;
    expr.apply(|e| {
        Ok(match e {
            Expr::ScalarFunction(f) if f.name() == "get_field" => match f.args.as_slice() {
                [Expr::Column(column), Expr::Literal(field, _), ..]
                    if let Some(Some(field)) = field.try_as_str() =>
                {
                    found(column, Some(field));
                    // Below are only the column and the literal field name.
                    TreeNodeRecursion::Jump
                }
                _ => TreeNodeRecursion::Continue,
            },
            Expr::Column(column) | Expr::OuterReferenceColumn(_, column) => {
                found(column, None);
                TreeNodeRecursion::Continue
            }
            #[expect(deprecated, reason = "a wildcard left in a plan reads every column")]
            Expr::Wildcard { .. } => {
                complete = false;
                TreeNodeRecursion::Stop
            }
            _ => TreeNodeRecursion::Continue,
        })
    })
    .expect("collecting names does not fail");
    complete
}

/// Calls `visit` on every node of `plan`, subqueries' included.
fn walk(plan: &LogicalPlan, mut visit: impl FnMut(&LogicalPlan)) {
    plan.apply_with_subqueries(|node| {
        visit(node);
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("collecting names does not fail");
}

/// The names of the relations `plan` scans.
fn scanned(plan: &LogicalPlan) -> Vec<String> {
    let mut names = Vec::new();
    walk(plan, |node| {
        if let LogicalPlan::TableScan(scan) = node {
            names.push(scan.table_name.table().to_string());
        }
    });
    names
}
