//! [`rewrite`]: Flink function syntax DataFusion's SQL planner cannot read, rewritten into
//! calls of the functions of this module.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    CaseWhen, CastKind, CeilFloorKind, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, Value, visit_expressions_mut,
};

/// Rewrites, everywhere in `statement`:
///
/// - `TIMESTAMPADD(DAY, n, t)` and `TIMESTAMPDIFF(DAY, a, b)`: the unit keyword becomes the
///   string `'DAY'` (DataFusion would look for a column `DAY`);
/// - `FLOOR(t TO unit)` and `CEIL(t TO unit)`: `FLOOR_TIME('unit', t)` and
///   `CEIL_TIME('unit', t)` (DataFusion only rounds numbers);
/// - `IF(condition, a, b)`: `CASE WHEN condition THEN a ELSE b END`;
/// - `JSON_VALUE(json, path RETURNING type)`: `TRY_CAST(JSON_VALUE(json, path) AS type)`, so
///   a value of another type is NULL as under Flink's default `NULL ON ERROR`.
///
/// Call it on a parsed statement before DataFusion plans it.
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite_expr(expr: &mut Expr) {
    match expr {
        Expr::Floor {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            *expr = round_call("FLOOR_TIME", field, inner);
        }
        Expr::Ceil {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            *expr = round_call("CEIL_TIME", field, inner);
        }
        Expr::Function(function) => match name(function).as_deref() {
            Some("TIMESTAMPADD" | "TIMESTAMPDIFF") => unit_to_string(function),
            Some("IF") => {
                if let Some([condition, then, otherwise]) = plain_args(function) {
                    *expr = Expr::Case {
                        case_token: AttachedToken::empty(),
                        end_token: AttachedToken::empty(),
                        operand: None,
                        conditions: vec![CaseWhen {
                            condition,
                            result: then,
                        }],
                        else_result: Some(Box::new(otherwise)),
                    };
                }
            }
            Some("JSON_VALUE") => {
                if let Some(data_type) = take_returning(function) {
                    let call = std::mem::replace(expr, Expr::value(Value::Null));
                    *expr = Expr::Cast {
                        kind: CastKind::TryCast,
                        expr: Box::new(call),
                        data_type,
                        array: false,
                        format: None,
                    };
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// A function's name in upper case, when it is a single identifier.
fn name(function: &Function) -> Option<String> {
    match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// A call's arguments, when there are `N` plain ones.
fn plain_args<const N: usize>(function: &Function) -> Option<[Expr; N]> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
        return None;
    }
    let args: Vec<Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    args.try_into().ok()
}

/// An unquoted string literal.
fn string(value: String) -> Expr {
    Expr::value(Value::SingleQuotedString(value))
}

/// `function('FIELD', inner)`, taking `inner` out of its box.
fn round_call(function: &str, field: &DateTimeField, inner: &mut Box<Expr>) -> Expr {
    let inner = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
    let args = [string(field.to_string()), inner]
        .into_iter()
        .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
        .collect();
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(function)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// Turns an unquoted identifier as the first argument into a string.
fn unit_to_string(function: &mut Function) {
    if let FunctionArguments::List(list) = &mut function.args
        && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut()
        && let Expr::Identifier(ident) = first
        && ident.quote_style.is_none()
    {
        *first = string(ident.value.to_ascii_uppercase());
    }
}

/// Removes a `RETURNING type` clause from the arguments; the type.
fn take_returning(function: &mut Function) -> Option<datafusion::sql::sqlparser::ast::DataType> {
    let FunctionArguments::List(list) = &mut function.args else {
        return None;
    };
    let at = list
        .clauses
        .iter()
        .position(|c| matches!(c, FunctionArgumentClause::JsonReturningClause(_)))?;
    match list.clauses.remove(at) {
        FunctionArgumentClause::JsonReturningClause(returning) => Some(returning.data_type),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;
    use crate::dialect::FlinkDialect;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn rewrites_flink_forms() {
        assert_eq!(
            rewritten("SELECT TIMESTAMPADD(day, 1, ts), TIMESTAMPDIFF(MONTH, a, b) FROM t"),
            "SELECT TIMESTAMPADD('DAY', 1, ts), TIMESTAMPDIFF('MONTH', a, b) FROM t"
        );
        assert_eq!(
            rewritten("SELECT FLOOR(ts TO HOUR), CEIL(FLOOR(ts TO DAY) TO MONTH), FLOOR(x) FROM t"),
            "SELECT FLOOR_TIME('HOUR', ts), CEIL_TIME('MONTH', FLOOR_TIME('DAY', ts)), \
             FLOOR(x) FROM t"
        );
        assert_eq!(
            rewritten("SELECT JSON_VALUE(j, '$.a' RETURNING INTEGER), JSON_VALUE(j, '$.b') FROM t"),
            "SELECT TRY_CAST(JSON_VALUE(j, '$.a') AS INTEGER), JSON_VALUE(j, '$.b') FROM t"
        );
        assert_eq!(
            rewritten("SELECT IF(a > 1, 'x', 'y'), IF(a) FROM t"),
            "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, IF(a) FROM t"
        );
        assert_eq!(
            rewritten("SELECT TIMESTAMPADD(`DAY`, 1, ts) FROM t"),
            "SELECT TIMESTAMPADD(`DAY`, 1, ts) FROM t"
        );
    }
}
