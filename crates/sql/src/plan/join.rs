//! Lowering joins of two streams (Flink's regular and interval joins).
//!
//! DataFusion's planner leaves the whole `ON` condition in the join's filter; the equalities
//! between a column expression of each side become the join keys, comparisons between the
//! two sides' rowtime columns (`l.ts BETWEEN r.ts - INTERVAL … AND r.ts + INTERVAL …`, or the
//! same with `>=`, `>`, `<=`, `<`) become interval bounds when both a lower and an upper bound
//! are there, and the rest is a condition on the joined rows. Equal rowtimes bound them
//! exactly: rows of windows (window TVFs, window aggregations) joined on `window_end`, Flink's
//! window join, keep each window's rows only until the watermark passes its end. Each side
//! feeds its own input of a `join` stage, hashed by that side's keys; a side that aggregates
//! first is a branch of stages of its own.

use std::sync::Arc;

use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Join, JoinType, LogicalPlan, Operator};
use datafusion::sql::sqlparser::ast::SetExpr;
use spate_engine::Stage;
use spate_engine::exchange::Partitioning;
use spate_engine::join::{IntervalBounds, JoinKind, StreamJoin, StreamJoinSpec};
use spate_engine::operator::{OperatorFactory, TaskInfo};

use super::Planner;
use super::lower::{Pipeline, kept_column, strip_alias, strip_aliases, window_end_index};
use super::tables::{Relations, Scan};
use crate::error::Result;

/// The equalities between the two sides of a join (left expression, right expression), and
/// the other conjuncts of its condition.
pub(super) fn equi_keys(join: &Join) -> (Vec<(Expr, Expr)>, Vec<Expr>) {
    let mut on = join.on.clone();
    let mut rest = Vec::new();
    let Some(filter) = &join.filter else {
        return (on, rest);
    };
    let side = |e: &Expr, schema: &DFSchema| {
        let columns = e.column_refs();
        !columns.is_empty() && columns.iter().all(|c| schema.has_column(c))
    };
    for conjunct in split_conjunction(filter) {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) if side(left, join.left.schema()) && side(right, join.right.schema()) => {
                on.push((left.as_ref().clone(), right.as_ref().clone()));
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) if side(right, join.left.schema()) && side(left, join.right.schema()) => {
                on.push((right.as_ref().clone(), left.as_ref().clone()));
            }
            other => rest.push(other.clone()),
        }
    }
    (on, rest)
}

/// The index of the rowtime (watermarked) column among `plan`'s columns, followed through
/// filters, aliases, projections that keep the column and lookup joins; rows of a window (of
/// a window TVF, or a window aggregation's results) have their `window_end` as their time.
fn rowtime_index(plan: &LogicalPlan, relations: &Relations) -> Option<usize> {
    match plan {
        LogicalPlan::TableScan(scan)
            if matches!(
                relations.scans.get(scan.table_name.table()),
                Some(Scan::Window { .. })
            ) =>
        {
            window_end_index(plan, relations)
        }
        LogicalPlan::TableScan(scan) => {
            let (table, _, schema) = relations.table(scan.table_name.table())?;
            let column = schema
                .index_of(&table.watermark.as_ref()?.rowtime_column)
                .ok()?;
            match &scan.projection {
                Some(projection) => projection.iter().position(|&i| i == column),
                None => Some(column),
            }
        }
        LogicalPlan::SubqueryAlias(alias) => rowtime_index(&alias.input, relations),
        LogicalPlan::Filter(filter) => rowtime_index(&filter.input, relations),
        LogicalPlan::Projection(projection) => {
            kept_column(projection, rowtime_index(&projection.input, relations)?)
        }
        LogicalPlan::Join(join)
            if matches!(strip_aliases(&join.right), LogicalPlan::TableScan(scan)
                if relations.lookups.contains(scan.table_name.table())) =>
        {
            rowtime_index(&join.left, relations)
        }
        // A window aggregation's rows: their window's end.
        LogicalPlan::Aggregate(_) => window_end_index(plan, relations),
        _ => None,
    }
}

/// An interval literal in milliseconds.
fn interval_ms(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds))
        }
        ScalarValue::IntervalMonthDayNano(Some(v))
            if v.months == 0 && v.nanoseconds % 1_000_000 == 0 =>
        {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        ScalarValue::DurationMillisecond(Some(v)) => Some(*v),
        _ => None,
    }
}

/// The two sides' rowtime columns, to read time bounds off a join condition.
struct Times<'a> {
    left: Option<&'a Column>,
    right: Option<&'a Column>,
}

impl Times<'_> {
    /// `expr` as a side's rowtime plus a constant: (side, milliseconds).
    fn offset(&self, expr: &Expr) -> Option<(usize, i64)> {
        match expr {
            Expr::Column(c) if Some(c) == self.left => Some((0, 0)),
            Expr::Column(c) if Some(c) == self.right => Some((1, 0)),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (side, base) = self.offset(left)?;
                let Expr::Literal(value, _) = right.as_ref() else {
                    return None;
                };
                let ms = interval_ms(value)?;
                match op {
                    Operator::Plus => Some((side, base.checked_add(ms)?)),
                    Operator::Minus => Some((side, base.checked_sub(ms)?)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A comparison `a op b` of the two sides' times as bounds on `left.time - right.time`:
    /// (lower, upper), one of them set.
    fn bound(&self, a: &Expr, op: Operator, b: &Expr) -> Option<(Option<i64>, Option<i64>)> {
        let (sa, oa) = self.offset(a)?;
        let (sb, ob) = self.offset(b)?;
        // a + oa op b + ob, written as left - right op c.
        let (op, c) = match (sa, sb) {
            (0, 1) => (op, ob.checked_sub(oa)?),
            (1, 0) => (op.swap()?, oa.checked_sub(ob)?),
            _ => return None,
        };
        match op {
            Operator::GtEq => Some((Some(c), None)),
            Operator::Gt => Some((Some(c.checked_add(1)?), None)),
            Operator::LtEq => Some((None, Some(c))),
            Operator::Lt => Some((None, Some(c.checked_sub(1)?))),
            _ => None,
        }
    }

    /// The bounds a conjunct sets.
    fn bounds(&self, conjunct: &Expr) -> Option<(Option<i64>, Option<i64>)> {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => self.bound(left, *op, right),
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => {
                // Each half bounds from below or above, depending on the side `expr` is on.
                let (l1, u1) = self.bound(expr, Operator::GtEq, low)?;
                let (l2, u2) = self.bound(expr, Operator::LtEq, high)?;
                Some((l1.or(l2), u1.or(u2)))
            }
            _ => None,
        }
    }
}

impl Planner<'_> {
    /// A join of two streams: a regular join, or an interval join when the condition bounds
    /// the two rowtimes against each other from both sides.
    pub(super) fn stream_join(&self, join: &Join, relations: &Relations) -> Result<Pipeline> {
        let text = self
            .join_text()
            .unwrap_or_else(|| LogicalPlan::Join(join.clone()).display().to_string());
        let (on, rest) = equi_keys(join);
        if on.is_empty() {
            return Err(self.unsupported(
                "a join of two streams without an equality between them (a cross or theta join)",
                &text,
                "join ON a.key = b.key (other conditions may follow with AND)",
            ));
        }
        let left_time: Option<Column> = rowtime_index(&join.left, relations)
            .map(|i| join.left.schema().qualified_field(i).into());
        let right_time: Option<Column> = rowtime_index(&join.right, relations)
            .map(|i| join.right.schema().qualified_field(i).into());
        let times = Times {
            left: left_time.as_ref(),
            right: right_time.as_ref(),
        };
        let (mut lower, mut upper) = (None::<i64>, None::<i64>);
        // Equal rowtimes, e.g. the ends of two window aggregations' windows (a window join),
        // bound the times to each other exactly.
        let column = |e: &Expr| match strip_alias(e) {
            Expr::Column(c) => Some(c.clone()),
            _ => None,
        };
        if on.iter().any(|(l, r)| {
            left_time.is_some()
                && column(l) == left_time
                && right_time.is_some()
                && column(r) == right_time
        }) {
            (lower, upper) = (Some(0), Some(0));
        }
        let mut others = Vec::new();
        let mut timed = Vec::new();
        for conjunct in rest {
            match times.bounds(&conjunct) {
                Some((l, u)) => {
                    lower = match (lower, l) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    upper = match (upper, u) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    timed.push(conjunct);
                }
                None => others.push(conjunct),
            }
        }
        let interval = match (lower, upper) {
            (Some(lower_ms), Some(upper_ms)) => Some(IntervalBounds {
                left_time: rowtime_index(&join.left, relations).expect("bounds need rowtimes"),
                right_time: rowtime_index(&join.right, relations).expect("bounds need rowtimes"),
                lower_ms,
                upper_ms,
            }),
            // One bound alone does not limit the state: a regular join with a condition.
            _ => {
                others.extend(timed);
                None
            }
        };
        let kind = match (join.join_type, &interval) {
            (JoinType::Inner, _) => JoinKind::Inner,
            (JoinType::Left, Some(_)) => JoinKind::LeftOuter,
            (JoinType::Right, Some(_)) => JoinKind::RightOuter,
            (JoinType::Full, Some(_)) => JoinKind::FullOuter,
            (JoinType::Left | JoinType::Right | JoinType::Full, None) => {
                return Err(self.unsupported(
                    &format!(
                        "a {} OUTER regular join of two streams (its result would be updating)",
                        join.join_type.to_string().to_uppercase()
                    ),
                    &text,
                    "write an INNER JOIN, or bound the two rowtimes against each other for an \
                     interval join: ON a.k = b.k AND a.ts BETWEEN b.ts - INTERVAL '…' SECOND \
                     AND b.ts + INTERVAL '…' SECOND",
                ));
            }
            (other, _) => {
                return Err(self.unsupported(
                    &format!("a {} join of two streams", other.to_string().to_uppercase()),
                    &text,
                    "write JOIN, or LEFT/RIGHT/FULL JOIN with interval bounds on the rowtimes",
                ));
            }
        };
        if let Some(b) = &interval
            && b.lower_ms > b.upper_ms
        {
            return Err(self.unsupported(
                "an interval join whose time bounds admit no rows",
                &text,
                "make the lower bound at most the upper bound",
            ));
        }
        let left = self.join_input(&join.left, relations, &text)?;
        let right = self.join_input(&join.right, relations, &text)?;
        let (left_keys, right_keys): (Vec<Expr>, Vec<Expr>) = on.into_iter().unzip();
        let left_keys = self.physical_exprs(&left_keys, join.left.schema())?;
        let right_keys = self.physical_exprs(&right_keys, join.right.schema())?;
        let spec = StreamJoinSpec {
            kind,
            left_schema: Arc::new(join.left.schema().as_arrow().clone()),
            right_schema: Arc::new(join.right.schema().as_arrow().clone()),
            left_keys: left_keys.clone(),
            right_keys: right_keys.clone(),
            filter: match conjunction(others) {
                Some(f) => Some(self.physical_exprs(&[f], &join.schema)?.remove(0)),
                None => None,
            },
            interval,
            state_ttl: self.options.state_ttl,
            output_schema: Arc::new(join.schema.as_arrow().clone()),
        };
        // Check now what the operator would refuse at run time.
        let probe = TaskInfo {
            name: "join".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: Default::default(),
            metrics: Arc::new(spate_engine::metrics::TaskMetrics::new()),
        };
        StreamJoin::new(spec.clone(), &probe).map_err(|e| self.engine(e))?;

        let operator: OperatorFactory = Arc::new(move |task: &TaskInfo| {
            Ok(Box::new(StreamJoin::new(spec.clone(), task)?) as Box<_>)
        });
        // Each side's rows reach the join hashed by that side's keys; a side that aggregates
        // first is a branch of its own stages.
        let target = left.stages.len() + right.stages.len();
        let mut joined = Pipeline {
            sources: Vec::new(),
            stages: Vec::new(),
            changelog: false,
        };
        joined.attach(left, target, 0, Partitioning::Hash(left_keys));
        joined.attach(right, target, 1, Partitioning::Hash(right_keys));
        joined.stages.push(Stage {
            name: "join".into(),
            // Unused: every input has its own partitioning.
            input: Partitioning::Rebalance,
            input_schema: None,
            parallelism: self.options.parallelism,
            chain: vec![operator],
            sink: None,
            output: None,
        });
        Ok(joined)
    }

    /// The SQL text of the insert's join (`a JOIN b ON …`) when its SELECT has one.
    fn join_text(&self) -> Option<String> {
        let SetExpr::Select(select) = self.insert.query.query.body.as_ref() else {
            return None;
        };
        let mut joins = select.from.iter().filter(|t| !t.joins.is_empty());
        match (joins.next(), joins.next()) {
            (Some(only), None) => Some(only.to_string()),
            _ => None,
        }
    }

    /// One side of a stream join: an append-only dataflow (sources with filters, projections
    /// and lookup joins, window aggregations, other joins).
    fn join_input(
        &self,
        plan: &LogicalPlan,
        relations: &Relations,
        text: &str,
    ) -> Result<Pipeline> {
        let pipeline = self.lower(plan, relations)?;
        if pipeline.changelog {
            return Err(self.unsupported(
                "a join of an updating input (a changelog, e.g. an unbounded GROUP BY or Top-N)",
                text,
                "join the append-only streams first, then aggregate the joined rows",
            ));
        }
        Ok(pipeline)
    }
}
