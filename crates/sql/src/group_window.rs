//! Flink's legacy group windows, rewritten into window TVFs.
//!
//! Before window TVFs, Flink SQL windowed a query in its `GROUP BY`:
//!
//! ```sql
//! SELECT user_id, TUMBLE_START(ts, INTERVAL '1' MINUTE) AS w, COUNT(*)
//! FROM clicks GROUP BY user_id, TUMBLE(ts, INTERVAL '1' MINUTE)
//! ```
//!
//! with `TUMBLE(ts, size)`, `HOP(ts, slide, size)` and `SESSION(ts, gap)`, and
//! `…_START`, `…_END` and `…_ROWTIME` of the same arguments in the SELECT list and HAVING.
//! Such a query reads the same as the window TVF over its one FROM table, grouped by
//! `window_start, window_end`: the table is replaced by a window placeholder (aliased by the
//! table's name, so that qualified columns still resolve), the group window by the window
//! bounds and the auxiliary functions by `window_start`, `window_end` and `window_time`.
//! A `SESSION` keeps a session per group, as Flink's legacy session windows do.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectName, Query, Select, SetExpr, Spanned, TableAlias, TableFactor, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use spate_engine::window::WindowKind;

use crate::error::{Result, SqlError};
use crate::interval::expr_millis;
use crate::query::object_name;
use crate::split::RawStatement;
use crate::window::WindowTvf;

/// The legacy group window functions.
const GROUP_WINDOWS: [&str; 3] = ["TUMBLE", "HOP", "SESSION"];

/// Rewrites every legacy group window of `statement` (parsed as `parsed`) into a window TVF,
/// appended to `windows`.
pub(crate) fn rewrite_group_windows(
    statement: &RawStatement,
    parsed: &mut impl VisitMut,
    windows: &mut Vec<WindowTvf>,
) -> Result<()> {
    let mut rewriter = Rewriter { statement, windows };
    match parsed.visit(&mut rewriter) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewriter<'a> {
    statement: &'a RawStatement,
    windows: &'a mut Vec<WindowTvf>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = SqlError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        match self.set_expr(&mut query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    /// A group window function left anywhere else is misplaced.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        let Expr::Function(f) = &*expr else {
            return ControlFlow::Continue(());
        };
        let name = function_name(f);
        let misplaced = if window_function(f).is_some() {
            Some((
                format!("{name}(…) outside a GROUP BY"),
                "group by the window: GROUP BY k, TUMBLE(ts, INTERVAL '1' MINUTE)",
            ))
        } else if auxiliary(f).is_some() {
            Some((
                format!("{name}(…) without its group window"),
                "add the window to the GROUP BY with the same arguments",
            ))
        } else {
            None
        };
        match misplaced {
            Some((construct, hint)) => ControlFlow::Break(self.unsupported(expr, &construct, hint)),
            None => ControlFlow::Continue(()),
        }
    }
}

impl Rewriter<'_> {
    fn set_expr(&mut self, body: &mut SetExpr) -> Result<()> {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            _ => Ok(()),
        }
    }

    fn select(&mut self, select: &mut Select) -> Result<()> {
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
            return Ok(());
        };
        let mut calls = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, Expr::Function(f) if window_function(f).is_some()));
        let Some((index, call)) = calls.next() else {
            return Ok(());
        };
        if let Some((_, second)) = calls.next() {
            return Err(self.unsupported(
                second,
                "two group windows in one GROUP BY",
                "group by one window",
            ));
        }
        let call = call.clone();
        let Expr::Function(function) = &call else {
            unreachable!("filtered on functions");
        };
        let name = window_function(function).expect("filtered on window functions");
        let args = self.arguments(&call, function)?;
        let Some(time) = args.first().and_then(column_name) else {
            return Err(self.unsupported(
                &call,
                &format!("{name}(…) whose first argument is not a time attribute column"),
                &format!("write {name}(ts, …) with the table's rowtime column"),
            ));
        };
        let millis = |i: usize| -> Result<i64> {
            match args.get(i).and_then(expr_millis) {
                Some(Ok(ms)) => Ok(ms),
                Some(Err(what)) => Err(self.unsupported(
                    &call,
                    &format!("{what} in {name}(…)"),
                    "write INTERVAL 'n' SECOND (or MILLISECOND … DAY)",
                )),
                None => Err(self.unsupported(
                    &call,
                    &format!("{name}(…) argument {} that is not an INTERVAL", i + 1),
                    "write INTERVAL 'n' SECOND",
                )),
            }
        };
        let (kind, arity) = match name {
            "TUMBLE" => (
                WindowKind::Tumble {
                    size_ms: millis(1)?,
                },
                2,
            ),
            "HOP" => (
                WindowKind::Hop {
                    slide_ms: millis(1)?,
                    size_ms: millis(2)?,
                },
                3,
            ),
            _ => (WindowKind::Session { gap_ms: millis(1)? }, 2),
        };
        if args.len() != arity {
            return Err(self.unsupported(
                &call,
                &format!("{name}(…) with {} arguments", args.len()),
                &format!(
                    "{name} takes {}",
                    ["(ts, size)", "(ts, slide, size)", "(ts, gap)"]
                        [GROUP_WINDOWS.iter().position(|w| *w == name).unwrap_or(0)]
                ),
            ));
        }
        kind.validate()
            .map_err(|message| self.invalid(&call, message, "window sizes are positive"))?;
        let table = self.windowed_table(select, &call)?;
        let placeholder = format!("__tvf{}", self.windows.len());
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
            unreachable!("checked above");
        };
        let partition_by = match kind {
            WindowKind::Session { .. } => keys.iter().filter_map(column_name).collect(),
            _ => Vec::new(),
        };
        keys.splice(
            index..=index,
            ["window_start", "window_end"].map(|c| Expr::Identifier(Ident::new(c))),
        );
        self.auxiliaries(select, name)?;
        let relation = &mut select.from[0].relation;
        if let TableFactor::Table {
            name: table_name,
            alias,
            ..
        } = relation
        {
            let last = table_name.0.last().and_then(|p| p.as_ident()).cloned();
            *table_name = ObjectName::from(vec![Ident::new(placeholder.clone())]);
            if alias.is_none() {
                *alias = last.map(|name| TableAlias {
                    explicit: true,
                    name,
                    columns: Vec::new(),
                    at: None,
                });
            }
        }
        self.windows.push(WindowTvf {
            placeholder,
            kind,
            table,
            time_column: time,
            partition_by,
            text: call.to_string(),
            at: self.statement.locate(call.span().start),
        });
        Ok(())
    }

    /// The one table the window is over.
    fn windowed_table(&self, select: &Select, call: &Expr) -> Result<String> {
        match select.from.as_slice() {
            [from] if from.joins.is_empty() => match &from.relation {
                TableFactor::Table {
                    name,
                    args: None,
                    version: None,
                    ..
                } => Ok(object_name(name)),
                _ => Err(self.unsupported(
                    call,
                    "a group window over a subquery or table function",
                    "window a table or view: FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(ts), …))",
                )),
            },
            _ => Err(self.unsupported(
                call,
                "a group window over a join or several tables",
                "join in a view, then window the view",
            )),
        }
    }

    /// Replaces `NAME_START(…)`, `NAME_END(…)` and `NAME_ROWTIME(…)` in the SELECT list and
    /// HAVING by the window's columns.
    fn auxiliaries(&self, select: &mut Select, window: &str) -> Result<()> {
        let mut error = None;
        let mut replace = |expr: &mut Expr| {
            if let Expr::Function(f) = &*expr
                && let Some((of, part)) = auxiliary(f)
            {
                let column = match part {
                    _ if of != window => None,
                    "START" => Some("window_start"),
                    "END" => Some("window_end"),
                    "ROWTIME" => Some("window_time"),
                    _ => None,
                };
                match column {
                    Some(column) => *expr = Expr::Identifier(Ident::new(column)),
                    None => {
                        error.get_or_insert_with(|| {
                            self.unsupported(
                                expr,
                                &format!("{}(…) in a query windowed by {window}", function_name(f)),
                                &format!("use {window}_START, {window}_END or {window}_ROWTIME"),
                            )
                        });
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        };
        let _ = visit_expressions_mut(&mut select.projection, &mut replace);
        let _ = visit_expressions_mut(&mut select.having, &mut replace);
        error.map_or(Ok(()), Err)
    }

    /// The plain arguments of a call.
    fn arguments(&self, call: &Expr, function: &Function) -> Result<Vec<Expr>> {
        let FunctionArguments::List(list) = &function.args else {
            return Ok(Vec::new());
        };
        list.args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                _ => Err(self.invalid(
                    call,
                    format!(
                        "a named or wildcard argument in {}(…)",
                        function_name(function)
                    ),
                    "pass the time column and intervals in order",
                )),
            })
            .collect()
    }

    fn unsupported(&self, at: &Expr, construct: &str, hint: &str) -> SqlError {
        SqlError::Unsupported {
            at: self.statement.locate(at.span().start),
            construct: construct.into(),
            text: at.to_string(),
            hint: hint.into(),
        }
    }

    fn invalid(&self, at: &Expr, message: String, hint: &str) -> SqlError {
        SqlError::Invalid {
            at: self.statement.locate(at.span().start),
            message,
            text: at.to_string(),
            hint: hint.into(),
        }
    }
}

/// The function's name, upper-cased.
fn function_name(f: &Function) -> String {
    object_name(&f.name).to_ascii_uppercase()
}

/// `TUMBLE`, `HOP` or `SESSION` for a group window call.
fn window_function(f: &Function) -> Option<&'static str> {
    let name = function_name(f);
    GROUP_WINDOWS.into_iter().find(|w| *w == name)
}

/// The window and part of an auxiliary function (`TUMBLE_START` → `("TUMBLE", "START")`).
fn auxiliary(f: &Function) -> Option<(&'static str, &'static str)> {
    let name = function_name(f);
    let (window, part) = name.split_once('_')?;
    let window = GROUP_WINDOWS.into_iter().find(|w| *w == window)?;
    let part = ["START", "END", "ROWTIME", "PROCTIME"]
        .into_iter()
        .find(|p| *p == part)?;
    Some((window, part))
}

/// A column's name, without its table.
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        _ => None,
    }
}
