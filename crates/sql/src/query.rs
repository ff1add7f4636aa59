//! Queries: `INSERT INTO … SELECT …` and `CREATE [TEMPORARY] VIEW … AS …`.
//!
//! Window TVFs are rewritten away first ([`window`](crate::window)); the rest is parsed
//! by `sqlparser` with [`FlinkDialect`] into an AST that DataFusion's SQL planner
//! (`SqlToRel`) takes directly. Flink identifiers are case-sensitive, so the planner should
//! turn DataFusion's identifier normalisation off.

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, Statement, TableFactor, TableObject, TableVersion,
    Visit, Visitor,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::catalog::ViewDef;
use crate::dialect::FlinkDialect;
use crate::error::{Position, Result, SqlError};
use crate::group_window::rewrite_group_windows;
use crate::ml_predict::{MlPredictCall, rewrite_ml_predicts};
use crate::split::RawStatement;
use crate::tokens::{is_keyword, parser_error, tokenize};
use crate::window::{WindowTvf, rewrite_windows};

/// A query, ready for planning.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedQuery {
    /// The statement's text with window TVF calls replaced by their placeholders; every
    /// other token is where it was in the statement.
    pub sql: String,
    /// The query, parsed from `sql`.
    pub query: Box<Query>,
    /// The window TVF calls, whose placeholders `query` reads from.
    pub windows: Vec<WindowTvf>,
    /// The `ML_PREDICT` calls, whose placeholders `query` reads from.
    pub ml_predicts: Vec<MlPredictCall>,
    /// Tables read `FOR SYSTEM_TIME AS OF` (lookup and temporal joins).
    pub lookups: Vec<LookupJoin>,
}

/// A table read `FOR SYSTEM_TIME AS OF expr`, as a lookup or temporal join does.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupJoin {
    /// The table.
    pub table: String,
    /// Its alias in the query.
    pub alias: Option<String>,
    /// The time the table is read as of, e.g. `o.proc_time`.
    pub as_of: Expr,
}

/// An `INSERT INTO target [(columns)] query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    /// The table written to.
    pub target: String,
    /// The target columns, when listed.
    pub columns: Vec<String>,
    /// The query producing the rows.
    pub query: ParsedQuery,
    /// The statement set the insert belongs to, numbered from 0 in script order.
    pub statement_set: Option<usize>,
    /// Where the statement starts.
    pub at: Position,
}

/// Reads an `INSERT INTO` statement.
pub(crate) fn parse_insert(statement: &RawStatement, tokens: &[TokenWithSpan]) -> Result<Insert> {
    let at = statement.start;
    let (parsed, sql, rewritten) = parse_rewritten(statement, tokens)?;
    let Statement::Insert(insert) = parsed else {
        return Err(not_a(statement, "an INSERT INTO … SELECT … statement"));
    };
    if insert.overwrite {
        return Err(SqlError::Unsupported {
            at,
            construct: "INSERT OVERWRITE".into(),
            text: "OVERWRITE".into(),
            hint: "streaming sinks are appended to: write INSERT INTO".into(),
        });
    }
    let (TableObject::TableName(target), Some(query)) = (&insert.table, insert.source) else {
        return Err(not_a(statement, "an INSERT INTO table SELECT … statement"));
    };
    Ok(Insert {
        target: object_name(target),
        columns: insert.columns.iter().map(object_name).collect(),
        query: finish(sql, query, rewritten),
        statement_set: statement.statement_set,
        at,
    })
}

/// Reads the query of `CREATE TABLE … AS query` as an insert into that table.
pub(crate) fn parse_ctas_query(
    target: &str,
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<Insert> {
    let (parsed, sql, rewritten) = parse_rewritten(statement, tokens)?;
    let Statement::Query(query) = parsed else {
        return Err(not_a(statement, "CREATE TABLE … AS SELECT …"));
    };
    Ok(Insert {
        target: target.to_string(),
        columns: Vec::new(),
        query: finish(sql, query, rewritten),
        statement_set: statement.statement_set,
        at: statement.start,
    })
}

/// Reads a `CREATE [TEMPORARY] VIEW name [(columns)] AS query` statement.
pub(crate) fn parse_view(statement: &RawStatement, tokens: &[TokenWithSpan]) -> Result<ViewDef> {
    let at = statement.start;
    let (parsed, sql, rewritten) = parse_rewritten(statement, tokens)?;
    let Statement::CreateView(view) = parsed else {
        return Err(not_a(statement, "a CREATE VIEW name AS SELECT … statement"));
    };
    if view.materialized {
        return Err(SqlError::Unsupported {
            at,
            construct: "CREATE MATERIALIZED VIEW".into(),
            text: "MATERIALIZED".into(),
            hint: "write CREATE TEMPORARY VIEW".into(),
        });
    }
    Ok(ViewDef {
        name: object_name(&view.name),
        columns: view.columns.iter().map(|c| c.name.value.clone()).collect(),
        query: finish(sql, view.query, rewritten),
        temporary: view.temporary,
        at,
    })
}

/// Refuses constructs Spate does not run, rewrites window TVFs away and parses the rest.
fn parse_rewritten(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<(Statement, String, Rewritten)> {
    if let Some(token) = tokens
        .iter()
        .find(|t| is_keyword(&t.token, "MATCH_RECOGNIZE"))
    {
        return Err(SqlError::Unsupported {
            at: statement.locate(token.span.start),
            construct: "MATCH_RECOGNIZE".into(),
            text: token.token.to_string(),
            hint: "pattern recognition has no Spate operator; use window aggregations".into(),
        });
    }
    let (statement, tokens, ml_predicts) = match rewrite_ml_predicts(statement, tokens)? {
        Some((rewritten, calls)) => {
            let tokens = tokenize(&rewritten)?;
            (Cow::Owned(rewritten), Cow::Owned(tokens), calls)
        }
        None => (Cow::Borrowed(statement), Cow::Borrowed(tokens), Vec::new()),
    };
    let statement: &RawStatement = &statement;
    let (sql, mut windows) = rewrite_windows(statement, &tokens)?;
    let hint = "check the statement near here against Flink SQL";
    let mut parser = Parser::new(&FlinkDialect)
        .try_with_sql(&sql)
        .map_err(|err| parser_error(statement, err, hint))?;
    let parsed = parser
        .parse_statement()
        .map_err(|err| parser_error(statement, err, hint))?;
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(SqlError::Parse {
            at: statement.locate(rest.span.start),
            message: format!("unexpected {} after the statement", rest.token),
            text: rest.token.to_string(),
            hint: "end each statement with ;".into(),
        });
    }
    let mut parsed = parsed;
    rewrite_group_windows(statement, &mut parsed, &mut windows)?;
    Ok((
        parsed,
        sql,
        Rewritten {
            windows,
            ml_predicts,
        },
    ))
}

/// The parts of a query, with its lookups found.
/// The calls a statement's text was rewritten around.
struct Rewritten {
    windows: Vec<WindowTvf>,
    ml_predicts: Vec<MlPredictCall>,
}

fn finish(sql: String, query: Box<Query>, rewritten: Rewritten) -> ParsedQuery {
    let mut lookups = Lookups(Vec::new());
    // The visitor never breaks.
    let _ = query.visit(&mut lookups);
    ParsedQuery {
        sql,
        query,
        windows: rewritten.windows,
        ml_predicts: rewritten.ml_predicts,
        lookups: lookups.0,
    }
}

/// Collects the tables read `FOR SYSTEM_TIME AS OF`.
struct Lookups(Vec<LookupJoin>);

impl Visitor for Lookups {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias,
            version: Some(TableVersion::ForSystemTimeAsOf(as_of)),
            ..
        } = factor
        {
            self.0.push(LookupJoin {
                table: object_name(name),
                alias: alias.as_ref().map(|a| a.name.value.clone()),
                as_of: as_of.clone(),
            });
        }
        ControlFlow::Continue(())
    }
}

/// A name's parts, unquoted, joined with `.`.
pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A [`SqlError::Invalid`] for a statement that parsed as something else.
fn not_a(statement: &RawStatement, expected: &str) -> SqlError {
    SqlError::Invalid {
        at: statement.start,
        message: format!("expected {expected}"),
        text: statement.text.lines().next().unwrap_or_default().into(),
        hint: format!("write {expected}"),
    }
}
