//! Where DataFusion's planner types or names a query differently from Flink's, the plan is
//! brought round to Flink before it is analysed:
//!
//! - [`narrow_integer_literals`]: an integer literal that fits in 32 bits is an `INT`, as in
//!   Flink (DataFusion makes every integer literal a `BIGINT`), so `qty + 1`,
//!   `CASE … THEN 1 ELSE 0 END` and `COALESCE(qty, 0)` stay `INT` when `qty` is.
//! - [`flink_decimal_division`]: a quotient of `DECIMAL`s has Flink's scale.
//! - [`NameFieldAccesses`]: an unaliased `row.field` in a SELECT list is named `field`, as
//!   Flink names it (DataFusion names it `table.row[field]`), so that a view or subquery
//!   selecting `bid.auction` has a column `auction`.

use std::collections::HashSet;
use std::ops::ControlFlow;

use std::sync::Arc;

use arrow::datatypes::{DECIMAL128_MAX_PRECISION, DataType};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator, Projection,
};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Ident, Query, Select, SelectItem, SetExpr, TableFactor, TableWithJoins,
    VisitorMut,
};

/// Makes every `BIGINT` literal that fits in an `INT` an `INT`, before type coercion.
pub(super) fn narrow_integer_literals(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_expressions(plan, |expr, _| narrow(expr))
}

/// Gives `DECIMAL` quotients Flink's scale, after type coercion: `max(6, s1 + p2 + 1)` (and
/// precision `p1 - s1 + s2 + scale`, at most 38), where DataFusion keeps `s1 + 4`; so
/// `bytes / 1024.0` has six decimal places, as in Flink.
pub(super) fn flink_decimal_division(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_expressions(plan, |expr, schema| {
        expr.transform_up(|e| decimal_division(e, schema))
    })
}

/// Rewrites the expressions of every node with `rewrite` (given the node's input schema). An
/// expression that changes keeps its output name, so that the nodes above still find it.
/// `LIMIT`/`OFFSET`, `VALUES`, `OVER` calls and join conditions are left alone.
fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    let named = |expr: Expr, schema: &DFSchema| -> Result<Expr> {
        let name = expr.schema_name().to_string();
        let rewritten = rewrite(expr, schema)?;
        Ok(match rewritten.data {
            e @ Expr::Alias(_) => e,
            e if rewritten.transformed => e.alias(name),
            e => e,
        })
    };
    plan.transform_up_with_subqueries(|node| {
        let node = match node {
            LogicalPlan::Limit(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Join(_) => node,
            LogicalPlan::Projection(Projection { expr, input, .. }) => {
                let expr = expr
                    .into_iter()
                    .map(|e| named(e, input.schema()))
                    .collect::<Result<_>>()?;
                LogicalPlan::Projection(Projection::try_new(expr, input)?)
            }
            LogicalPlan::Aggregate(Aggregate {
                input,
                group_expr,
                aggr_expr,
                ..
            }) => {
                let group_expr = group_expr
                    .into_iter()
                    .map(|e| named(e, input.schema()))
                    .collect::<Result<_>>()?;
                let aggr_expr = aggr_expr
                    .into_iter()
                    .map(|e| named(e, input.schema()))
                    .collect::<Result<_>>()?;
                LogicalPlan::Aggregate(Aggregate::try_new(input, group_expr, aggr_expr)?)
            }
            other => match other.inputs().as_slice() {
                [input] => {
                    let schema = Arc::clone(input.schema());
                    other.map_expressions(|e| rewrite(e, &schema))?.data
                }
                _ => other,
            },
        };
        // The inputs' types may have changed below any node.
        Ok(Transformed::yes(node.recompute_schema()?))
    })
    .data()
}

/// `left / right` of two DECIMALs with Flink's result scale.
fn decimal_division(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Divide,
        right,
    }) = &expr
    else {
        return Ok(Transformed::no(expr));
    };
    let (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) =
        (left.get_type(schema)?, right.get_type(schema)?)
    else {
        return Ok(Transformed::no(expr));
    };
    let (p1, s1, p2, s2) = (i16::from(p1), i16::from(s1), i16::from(p2), i16::from(s2));
    let max = i16::from(DECIMAL128_MAX_PRECISION);
    let scale = (s1 + p2 + 1).max(6).min(max);
    let precision = (p1 - s1 + s2 + scale).min(max);
    // DataFusion's quotient has the dividend's scale plus 4: widen the dividend to reach
    // Flink's scale.
    let widen = scale - 4 - s1;
    let left = if widen > 0 {
        let to = DataType::Decimal128((p1 + widen).min(max) as u8, (s1 + widen) as i8);
        Box::new(Expr::Cast(Cast::new(left.clone(), to)))
    } else {
        left.clone()
    };
    let quotient = Expr::BinaryExpr(BinaryExpr::new(left, Operator::Divide, right.clone()));
    Ok(Transformed::yes(Expr::Cast(Cast::new(
        Box::new(quotient),
        DataType::Decimal128(precision as u8, scale as i8),
    ))))
}

fn narrow(expr: Expr) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => match i32::try_from(v) {
            Ok(v) => Ok(Transformed::yes(Expr::Literal(
                ScalarValue::Int32(Some(v)),
                metadata,
            ))),
            Err(_) => Ok(Transformed::no(Expr::Literal(
                ScalarValue::Int64(Some(v)),
                metadata,
            ))),
        },
        other => Ok(Transformed::no(other)),
    })
}

/// Names unaliased field accesses of SELECT lists after the field: `bid.auction` becomes
/// `bid.auction AS auction` where `bid` is a column (not a table of the FROM clause), and
/// `t.bid.auction` too. A name another item of the list already has is left alone.
pub(super) struct NameFieldAccesses;

impl VisitorMut for NameFieldAccesses {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        name_in_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn name_in_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => name_in_select(select),
        SetExpr::SetOperation { left, right, .. } => {
            name_in_set_expr(left);
            name_in_set_expr(right);
        }
        _ => {}
    }
}

fn name_in_select(select: &mut Select) {
    let relations: HashSet<String> = select.from.iter().flat_map(relation_names).collect();
    // Each item's output name, if it has a plain one, and how many items share it.
    let names: Vec<Option<String>> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(SqlExpr::Identifier(id)) => Some(id.value.clone()),
            SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(parts)) => {
                parts.last().map(|p| p.value.clone())
            }
            _ => None,
        })
        .collect();
    let unique = |name: &str| names.iter().flatten().filter(|n| *n == name).count() == 1;
    for item in &mut select.projection {
        let SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(parts)) = item else {
            continue;
        };
        let field_access =
            parts.len() > 2 || (parts.len() == 2 && !relations.contains(&parts[0].value));
        let field = parts.last().expect("a compound identifier").value.clone();
        if !field_access || !unique(&field) {
            continue;
        }
        let expr = SqlExpr::CompoundIdentifier(std::mem::take(parts));
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('`', field),
        };
    }
}

/// The names a FROM item's relations go by: their aliases, or their tables' last names.
fn relation_names(from: &TableWithJoins) -> Vec<String> {
    std::iter::once(&from.relation)
        .chain(from.joins.iter().map(|j| &j.relation))
        .filter_map(|factor| match factor {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. }
            | TableFactor::Function { alias: Some(a), .. }
            | TableFactor::TableFunction { alias: Some(a), .. } => Some(a.name.value.clone()),
            TableFactor::Table { name, .. } => name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .map(|id| id.value.clone()),
            _ => None,
        })
        .collect()
}
