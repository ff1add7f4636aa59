//! PostgreSQL's SQL as catalog queries send it, on sqlparser's syntax tree (PostgreSQL
//! dialect), rewritten into what DataFusion plans:
//!
//! - `a OPERATOR(pg_catalog.~) b` is `a ~ b`; `x COLLATE pg_catalog.default` is `x`;
//!   `pg_catalog.f(…)` is `f(…)`; casts to `pg_catalog.text`, `oid`, `name`, `"char"` are
//!   casts to DataFusion's types;
//! - casts to `regclass`, `regtype`, `regnamespace` look the name or oid up
//!   (`'metrics'::regclass` is `to_regclass('metrics')`, `c.oid::regclass` is
//!   `regclass_name(c.oid)`);
//! - a scalar function in `FROM` (`string_to_array(…) s`) is a one-row subquery, and
//!   `generate_series(…) AS i` names its column `i`, as in PostgreSQL;
//! - what reads a catalog that is always empty in Spate (policies, inheritance,
//!   publications, defaults, collations, …) is folded: such a query has no rows, such a
//!   scalar subquery is NULL, such an `EXISTS` is false.
//!
//! It also tells what a statement reads (the catalog, the store's tables), and the names
//! PostgreSQL gives its columns, which may repeat where DataFusion's may not.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, JoinOperator, ObjectName, Query, Select, SelectItem, SetExpr, SetOperator, Statement,
    TableAliasColumnDef, TableFactor, TableWithJoins, Value, Visit, VisitMut, Visitor, VisitorMut,
    visit_expressions, visit_expressions_mut, visit_relations,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::catalog::{is_empty_table, is_null_array_column, is_pg_catalog_table};

/// `sql` parsed as PostgreSQL, if it is one statement.
pub(super) fn parse(sql: &str) -> Option<Statement> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    match statements.len() {
        1 => statements.pop(),
        _ => None,
    }
}

/// `sql` parsed as a PostgreSQL expression.
fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

/// An identifier as PostgreSQL reads it: lower-cased unless quoted.
fn normal(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// The parts of a name, as PostgreSQL reads them.
fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(normal)
        .collect()
}

/// What a statement reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reads {
    /// A table of `pg_catalog` or `information_schema`.
    pub(super) catalog: bool,
    /// A table of the store.
    pub(super) store: bool,
    /// A function of the catalog (`pg_catalog.f`, or one of `is_catalog_function`).
    pub(super) catalog_functions: bool,
}

/// What `statement` reads: `is_store_table` tells the store's tables, and
/// `is_catalog_function` the catalog's functions.
pub(super) fn reads(
    statement: &Statement,
    is_store_table: &dyn Fn(&str) -> bool,
    is_catalog_function: &dyn Fn(&str) -> bool,
) -> Reads {
    let mut reads = Reads::default();
    let _ = visit_relations(statement, |name| {
        match parts(name).as_slice() {
            [.., schema, _] if schema == "pg_catalog" || schema == "information_schema" => {
                reads.catalog = true;
            }
            [.., schema, table] if schema == "public" && is_store_table(table) => {
                reads.store = true;
            }
            [table] if is_store_table(table) => reads.store = true,
            [table] if is_pg_catalog_table(table) => reads.catalog = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions(statement, |expr| {
        if let Expr::Function(f) = expr {
            match parts(&f.name).as_slice() {
                [schema, _] if schema == "pg_catalog" => reads.catalog_functions = true,
                [name] if is_catalog_function(name) => reads.catalog_functions = true,
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
    reads
}

/// Whether `query` has no rows whatever the store holds: it reads a catalog that is always
/// empty, so that no row can come out. `is_aggregate` tells aggregate functions (an
/// aggregate of no rows is one row).
pub(super) fn is_empty_query(query: &Query, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    is_empty_set(&query.body, is_aggregate)
}

fn is_empty_set(body: &SetExpr, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    match body {
        SetExpr::Select(select) => is_empty_select(select, is_aggregate),
        SetExpr::Query(query) => is_empty_query(query, is_aggregate),
        SetExpr::SetOperation {
            op, left, right, ..
        } => {
            let (left, right) = (
                is_empty_set(left, is_aggregate),
                is_empty_set(right, is_aggregate),
            );
            match op {
                SetOperator::Union => left && right,
                SetOperator::Intersect => left || right,
                SetOperator::Except | SetOperator::Minus => left,
            }
        }
        _ => false,
    }
}

fn is_empty_select(select: &Select, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !grouped {
        let mut aggregates = Aggregates {
            is_aggregate,
            depth: 0,
            found: false,
        };
        let _ = select.projection.visit(&mut aggregates);
        if aggregates.found || select.having.is_some() {
            return false;
        }
    }
    // `… WHERE … AND acl IS NOT NULL` of an array column of the catalog: never true.
    if select.selection.as_ref().is_some_and(never_true) {
        return true;
    }
    select
        .from
        .iter()
        .any(|from| is_empty_from(from, is_aggregate))
}

/// Whether the condition `expr` is never true: a conjunction with `x IS NOT NULL` of an
/// array column of the catalog.
fn never_true(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => never_true(left) || never_true(right),
        Expr::Nested(expr) => never_true(expr),
        Expr::IsNotNull(expr) => is_null_array(expr),
        _ => false,
    }
}

/// Finds the aggregates of an expression, not of its subqueries: an aggregate over no rows
/// (without `GROUP BY`) is one row.
struct Aggregates<'a> {
    is_aggregate: &'a dyn Fn(&str) -> bool,
    depth: usize,
    found: bool,
}

impl Visitor for Aggregates<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth == 0
            && let Expr::Function(f) = expr
            && f.over.is_none()
            && parts(&f.name)
                .last()
                .is_some_and(|n| (self.is_aggregate)(n))
        {
            self.found = true;
        }
        ControlFlow::Continue(())
    }
}

fn is_empty_from(from: &TableWithJoins, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    let mut empty = is_empty_factor(&from.relation, is_aggregate);
    for join in &from.joins {
        let right = is_empty_factor(&join.relation, is_aggregate);
        empty = match &join.join_operator {
            JoinOperator::Join(_)
            | JoinOperator::Inner(_)
            | JoinOperator::CrossJoin(_)
            | JoinOperator::Semi(_)
            | JoinOperator::LeftSemi(_) => empty || right,
            JoinOperator::Left(_)
            | JoinOperator::LeftOuter(_)
            | JoinOperator::Anti(_)
            | JoinOperator::LeftAnti(_) => empty,
            JoinOperator::Right(_) | JoinOperator::RightOuter(_) => right,
            JoinOperator::FullOuter(_) => empty && right,
            _ => false,
        };
    }
    empty
}

fn is_empty_factor(factor: &TableFactor, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    match factor {
        TableFactor::Table {
            name, args: None, ..
        } => match parts(name).as_slice() {
            [table] => is_empty_table(table),
            [schema, table] => schema == "pg_catalog" && is_empty_table(table),
            _ => false,
        },
        // unnest() of an array column of the catalog: always NULL, so no rows.
        TableFactor::Table {
            name,
            args: Some(args),
            ..
        } => {
            matches!(parts(name).as_slice(), [f] | [_, f] if f == "unnest")
                && matches!(args.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))]
                    if is_null_array(e))
        }
        TableFactor::UNNEST { array_exprs, .. } => {
            matches!(array_exprs.as_slice(), [e] if is_null_array(e))
        }
        TableFactor::Derived { subquery, .. } => is_empty_query(subquery, is_aggregate),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => is_empty_from(table_with_joins, is_aggregate),
        _ => false,
    }
}

/// Whether `expr` names an array column of the catalog (always NULL).
fn is_null_array(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(ident) => is_null_array_column(&normal(ident)),
        Expr::CompoundIdentifier(idents) => idents
            .last()
            .is_some_and(|i| is_null_array_column(&normal(i))),
        _ => false,
    }
}

/// Folds the subqueries of `statement` that read an always-empty catalog: a scalar
/// subquery is NULL, `EXISTS` false, `IN` false (and their negations true), `ARRAY(…)`
/// empty.
pub(super) fn fold_empty_subqueries(
    statement: &mut Statement,
    is_aggregate: &dyn Fn(&str) -> bool,
) {
    let _ = visit_expressions_mut(statement, |expr| {
        let folded = match expr {
            Expr::Subquery(query) if is_empty_query(query, is_aggregate) => {
                Some(Expr::value(Value::Null))
            }
            Expr::Exists { subquery, negated }
            | Expr::InSubquery {
                subquery, negated, ..
            } if is_empty_query(subquery, is_aggregate) => {
                Some(Expr::value(Value::Boolean(*negated)))
            }
            // ARRAY(subquery): an empty array.
            Expr::Function(f)
                if parts(&f.name) == ["array"]
                    && matches!(&f.args, FunctionArguments::Subquery(q)
                        if is_empty_query(q, is_aggregate)) =>
            {
                parse_expr("ARRAY[]")
            }
            _ => None,
        };
        if let Some(folded) = folded {
            *expr = folded;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Makes each scalar subquery of one column (no `GROUP BY`, aggregate, `ORDER BY` or
/// `LIMIT`) an aggregate, `first_value(…)`: DataFusion plans a correlated scalar subquery
/// only if it aggregates. In PostgreSQL such a subquery must have at most one row, so the
/// value is the same.
pub(super) fn aggregate_scalar_subqueries(
    statement: &mut Statement,
    is_aggregate: &dyn Fn(&str) -> bool,
) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr
            && query.order_by.is_none()
            && query.limit_clause.is_none()
            && let SetExpr::Select(select) = query.body.as_mut()
            && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
            && select.having.is_none()
            && let [item] = select.projection.as_mut_slice()
        {
            let mut aggregates = Aggregates {
                is_aggregate,
                depth: 0,
                found: false,
            };
            let _ = Visit::visit(&*item, &mut aggregates);
            let value = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return ControlFlow::Continue(()),
            };
            if !aggregates.found
                && let Some(first) = parse_expr(&format!("first_value({value})"))
            {
                *value = first;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The catalog's pseudo-types of object references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    Class,
    Type,
    Namespace,
}

/// What a cast to `data_type` is: to an object reference, or to another type.
enum CastTo {
    Reg(Reg),
    Type(DataType),
}

/// The cast to `data_type` as DataFusion knows it, if it is a PostgreSQL type it does not.
fn cast_to(data_type: &DataType) -> Option<CastTo> {
    let name = match data_type {
        DataType::Regclass => return Some(CastTo::Reg(Reg::Class)),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => parts(name),
        DataType::Array(datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
            inner,
            size,
        )) => {
            return match cast_to(inner)? {
                CastTo::Type(inner) => Some(CastTo::Type(DataType::Array(
                    datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                        Box::new(inner),
                        *size,
                    ),
                ))),
                CastTo::Reg(_) => None,
            };
        }
        _ => return None,
    };
    let (qualified, name) = match name.as_slice() {
        [schema, name] if schema == "pg_catalog" => (true, name.as_str()),
        [name] => (false, name.as_str()),
        _ => return None,
    };
    Some(match name {
        "regclass" => CastTo::Reg(Reg::Class),
        "regtype" => CastTo::Reg(Reg::Type),
        "regnamespace" => CastTo::Reg(Reg::Namespace),
        "oid" => CastTo::Type(DataType::BigInt(None)),
        "name" | "char" => CastTo::Type(DataType::Text),
        _ if qualified => {
            let parsed = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(name)
                .ok()?
                .parse_data_type()
                .ok()?;
            return match parsed {
                DataType::Custom(..) => None,
                parsed => Some(CastTo::Type(parsed)),
            };
        }
        _ => return None,
    })
}

/// `OPERATOR(pg_catalog.op)` as the operator.
fn operator(parts: &[String]) -> Option<BinaryOperator> {
    let op = match parts {
        [schema, op] if schema == "pg_catalog" => op,
        [op] => op,
        _ => return None,
    };
    Some(match op.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        _ => return None,
    })
}

/// The expression `expr` becomes, if it is PostgreSQL syntax DataFusion does not plan.
fn fixed_expr(expr: &mut Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { op, .. } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                let parts: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
                *op = operator(&parts)?;
            }
            None
        }
        Expr::Collate { expr, .. } => {
            Some(std::mem::replace(expr.as_mut(), Expr::value(Value::Null)))
        }
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match cast_to(data_type)? {
            CastTo::Type(t) => {
                *data_type = t;
                None
            }
            CastTo::Reg(reg) => {
                let literal = matches!(
                    inner.as_ref(),
                    Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_))
                );
                let function = match (reg, literal) {
                    (Reg::Class, true) => "to_regclass",
                    (Reg::Class, false) => "regclass_name",
                    (Reg::Type, true) => "to_regtype",
                    (Reg::Type, false) => "regtype_name",
                    (Reg::Namespace, true) => "to_regnamespace",
                    (Reg::Namespace, false) => "regnamespace_name",
                };
                parse_expr(&format!("{function}({inner})"))
            }
        },
        Expr::Function(f) => {
            if let [schema, name] = parts(&f.name).as_slice()
                && schema == "pg_catalog"
            {
                f.name = ObjectName::from(vec![Ident::new(name)]);
            }
            None
        }
        _ => None,
    }
}

/// Rewrites the `FROM` items of PostgreSQL DataFusion does not plan.
struct FromItems<'a> {
    is_table_function: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for FromItems<'_> {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(_),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let function = match parts(name).as_slice() {
            [schema, function] if schema == "pg_catalog" => function.clone(),
            [function] => function.clone(),
            _ => return ControlFlow::Continue(()),
        };
        *name = ObjectName::from(vec![Ident::new(&function)]);
        if (self.is_table_function)(&function) {
            // A function of one column names it after its alias.
            if matches!(function.as_str(), "generate_series" | "range")
                && let Some(alias) = alias
                && alias.columns.is_empty()
            {
                alias
                    .columns
                    .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
            }
            return ControlFlow::Continue(());
        }
        // A scalar function in FROM: one row, its column named after the alias.
        let alias = alias
            .take()
            .map_or_else(|| Ident::new(&function), |a| a.name);
        let call = factor.to_string();
        let derived = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!(
                "SELECT 1 FROM (SELECT {call} AS {alias}) AS {alias}"
            ))
            .and_then(|mut p| p.parse_query());
        if let Ok(query) = derived
            && let SetExpr::Select(select) = *query.body
            && let Some(from) = select.from.into_iter().next()
        {
            *factor = from.relation;
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites the PostgreSQL syntax of `statement` that DataFusion does not plan;
/// `is_table_function` tells DataFusion's table functions.
pub(super) fn fix_syntax(statement: &mut Statement, is_table_function: &dyn Fn(&str) -> bool) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(fixed) = fixed_expr(expr) {
            *expr = fixed;
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = statement.visit(&mut FromItems { is_table_function });
}

/// The subqueries of `x IN (subquery)` in `statement`, in the order
/// [`replace_in_subqueries`] takes their values.
pub(super) fn in_subqueries(statement: &mut Statement) -> Vec<Query> {
    let mut found = Vec::new();
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::InSubquery { subquery, .. } = expr {
            found.push(subquery.as_ref().clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Replaces each `x IN (subquery)` of `statement` that has a list of values (in the order
/// of [`in_subqueries`]) by `x IN (values…)`: false for no values, true if negated.
pub(super) fn replace_in_subqueries(statement: &mut Statement, values: &[Option<Vec<Expr>>]) {
    let mut next = values.iter();
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::InSubquery {
            expr: x, negated, ..
        } = expr
            && let Some(Some(list)) = next.next()
        {
            *expr = match list.is_empty() {
                true => Expr::value(Value::Boolean(*negated)),
                false => Expr::InList {
                    expr: x.clone(),
                    list: list.clone(),
                    negated: *negated,
                },
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A literal of `text`: a number as a number, else a string.
pub(super) fn literal(text: Option<&str>, number: bool) -> Option<Expr> {
    match (text, number) {
        (None, _) => Some(Expr::value(Value::Null)),
        (Some(n), true) => parse_expr(n),
        (Some(s), false) => Some(Expr::value(Value::SingleQuotedString(s.to_string()))),
    }
}

/// The first `SELECT` of `body`, whose columns name the result's.
fn first_select(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(select) => Some(select.as_mut()),
        SetExpr::Query(query) => first_select(&mut query.body),
        SetExpr::SetOperation { left, .. } => first_select(left),
        _ => None,
    }
}

/// The name PostgreSQL gives a column of `expr`.
fn column_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => normal(ident),
        Expr::CompoundIdentifier(idents) => idents.last().map(normal).unwrap_or_default(),
        Expr::Function(f) => parts(&f.name).last().cloned().unwrap_or_default(),
        Expr::Cast {
            expr, data_type, ..
        } => match column_name(expr).as_str() {
            "?column?" => data_type.to_string().to_ascii_lowercase(),
            name => name.to_string(),
        },
        Expr::Nested(expr) => column_name(expr),
        Expr::Case { .. } => "case".to_string(),
        Expr::Exists { .. } => "exists".to_string(),
        Expr::Array(_) => "array".to_string(),
        _ => "?column?".to_string(),
    }
}

/// The names of the columns of `query` as PostgreSQL gives them (which may repeat), if its
/// first `SELECT` lists them (no `*`).
pub(super) fn column_names(query: &mut Query) -> Option<Vec<String>> {
    first_select(&mut query.body)?
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some(column_name(expr)),
            SelectItem::ExprWithAlias { alias, .. } => Some(normal(alias)),
            _ => None,
        })
        .collect()
}

/// Gives each unnamed column of `statement` that is not a column reference a name of its
/// own (DataFusion's names must differ); the names PostgreSQL gives them, if known.
pub(super) fn name_columns(statement: &mut Statement) -> Option<Vec<String>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let names = column_names(query)?;
    let select = first_select(&mut query.body)?;
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(expr) = item
            && !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        {
            *item = SelectItem::ExprWithAlias {
                expr: std::mem::replace(expr, Expr::value(Value::Null)),
                alias: Ident::with_quote('"', format!("column {}", i + 1)),
            };
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = parse(sql).unwrap();
        fold_empty_subqueries(&mut statement, &|name| name == "count");
        fix_syntax(&mut statement, &|name| name == "generate_series");
        statement.to_string()
    }

    #[test]
    fn psql_syntax_becomes_datafusion_syntax() {
        assert_eq!(
            rewritten(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname \
                 OPERATOR(pg_catalog.~) '^(metrics)$' COLLATE pg_catalog.default \
                 AND pg_catalog.pg_table_is_visible(c.oid)"
            ),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(metrics)$' \
             AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rewritten(
                "SELECT c.reloftype::pg_catalog.regtype::pg_catalog.text, \
                 'metrics'::regclass, x::pg_catalog.int2[] FROM t"
            ),
            "SELECT regtype_name(c.reloftype)::TEXT, to_regclass('metrics'), x::INT2[] FROM t"
        );
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), \
             (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
    }

    #[test]
    fn what_reads_an_empty_catalog_is_folded() {
        let mut q = parse("SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = 1").unwrap();
        let Statement::Query(query) = &mut q else {
            panic!()
        };
        assert!(is_empty_query(query, &|_| false));
        let Statement::Query(query) =
            &mut parse("SELECT a FROM pg_class c LEFT JOIN pg_index i ON i.indrelid = c.oid")
                .unwrap()
        else {
            panic!()
        };
        assert!(!is_empty_query(query, &|_| false));
        let Statement::Query(query) =
            &mut parse("SELECT count(*) FROM pg_catalog.pg_inherits").unwrap()
        else {
            panic!()
        };
        assert!(!is_empty_query(query, &|n| n == "count"));
        assert_eq!(
            rewritten(
                "SELECT a.attname, (SELECT d.adbin FROM pg_catalog.pg_attrdef d \
                 WHERE d.adrelid = a.attrelid), EXISTS (SELECT 1 FROM pg_inherits) \
                 FROM pg_catalog.pg_attribute a"
            ),
            "SELECT a.attname, NULL, false FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rewritten(
                "SELECT r.rolname, ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m \
                 JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) WHERE m.member = r.oid) \
                 AS memberof FROM pg_catalog.pg_roles r"
            ),
            "SELECT r.rolname, ARRAY[] AS memberof FROM pg_catalog.pg_roles r"
        );
        assert_eq!(
            rewritten(
                "SELECT array_to_string(c.reloptions || array(select 'toast.' || x \
                 from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_class c"
            ),
            "SELECT array_to_string(c.reloptions || ARRAY[], ', ') FROM pg_class c"
        );
        assert_eq!(
            rewritten(
                "SELECT ARRAY(SELECT attname FROM pg_catalog.pg_attribute a \
                 WHERE attrelid = c.oid AND attacl IS NOT NULL) FROM pg_class c"
            ),
            "SELECT ARRAY[] FROM pg_class c"
        );
        let mut statement = parse(
            "SELECT t.oid FROM pg_type t WHERE (SELECT c.relkind = 'c' FROM pg_class c \
             WHERE c.oid = t.typrelid) OR (SELECT count(*) FROM pg_class) > 1",
        )
        .unwrap();
        aggregate_scalar_subqueries(&mut statement, &|n| n == "count");
        assert_eq!(
            statement.to_string(),
            "SELECT t.oid FROM pg_type t WHERE (SELECT first_value(c.relkind = 'c') FROM \
             pg_class c WHERE c.oid = t.typrelid) OR (SELECT count(*) FROM pg_class) > 1"
        );
    }

    #[test]
    fn columns_are_named_as_postgres_names_them() {
        let mut statement =
            parse("SELECT c.relname, '', count(*), x::regclass, 1 AS \"One\", 2 FROM c").unwrap();
        assert_eq!(
            name_columns(&mut statement).unwrap(),
            ["relname", "?column?", "count", "x", "One", "?column?"]
        );
        assert_eq!(
            statement.to_string(),
            "SELECT c.relname, '' AS \"column 2\", count(*) AS \"column 3\", \
             x::REGCLASS AS \"column 4\", 1 AS \"One\", 2 AS \"column 6\" FROM c"
        );
    }

    #[test]
    fn reads_tells_the_catalog_from_the_store() {
        let store = |t: &str| t == "metrics";
        let function = |f: &str| f == "current_setting";
        let of = |sql: &str| reads(&parse(sql).unwrap(), &store, &function);
        assert!(of("SELECT * FROM information_schema.tables").catalog);
        assert!(of("SELECT * FROM pg_namespace").catalog);
        let r = of("SELECT * FROM metrics");
        assert!(r.store && !r.catalog && !r.catalog_functions);
        assert!(of("SELECT current_setting('x')").catalog_functions);
        assert!(of("SELECT pg_catalog.version()").catalog_functions);
        assert_eq!(of("SELECT 1"), Reads::default());
    }
}
