//! `CREATE TABLE` and `CREATE FUNCTION` into the catalog model.
//!
//! `sqlparser` reads neither Flink's `WATERMARK FOR`, computed (`c AS expr`) and metadata
//! (`c TYPE METADATA FROM 'key' VIRTUAL`) columns nor its types, so table DDL is read here
//! token by token; only expressions go through `sqlparser`.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
};
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

use crate::catalog::{
    Column, ColumnKind, FunctionDef, ModelColumn, ModelDef, PrimaryKey, TableDef, Watermark,
};
use crate::connector::{self, OptionEntry};
use crate::error::{Position, Result, SqlError};
use crate::interval::expr_millis;
use crate::split::RawStatement;
use crate::tokens::Cursor;
use crate::types::{self, LTZ_TIME_ZONE};

/// Hint for the end of a column list.
const COLUMN_HINT: &str = "separate columns with commas and close the list with )";

/// Reads `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (…) [COMMENT '…']
/// [PARTITIONED BY (…)] WITH (…)`, or `CREATE TABLE name WITH (…) AS query` (Flink's CTAS),
/// which declares no columns (the planner takes them from the query) and returns the query's
/// text as a statement of its own.
pub(crate) fn create_table(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<(TableDef, Option<RawStatement>)> {
    let tokens = split_shift_right(tokens);
    let mut c = Cursor::new(statement, &tokens);
    let at = c.position();
    c.expect_words(&["CREATE"], "a table is declared with CREATE TABLE")?;
    let temporary = c.eat_word("TEMPORARY");
    c.expect_words(&["TABLE"], "a table is declared with CREATE TABLE")?;
    let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
    let name = c.name("a table name")?;
    if c.is_word("LIKE") {
        return Err(unsupported(
            &c,
            "CREATE TABLE … LIKE",
            "declare the columns and WITH options",
        ));
    }
    if c.is_word("WITH") || c.is_word("AS") {
        let options = if c.eat_word("WITH") {
            with_options(&mut c)?
        } else {
            Vec::new()
        };
        c.expect_words(
            &["AS"],
            "CREATE TABLE name WITH (…) AS SELECT … takes its columns from the query",
        )?;
        let query = c.rest_as_statement();
        let table = TableDef {
            name,
            columns: Vec::new(),
            primary_key: None,
            watermark: None,
            partitioned_by: Vec::new(),
            comment: None,
            connector: connector::validate(at, &options)?,
            options: option_map(&options)?,
            temporary,
            if_not_exists,
            at,
        };
        return Ok((table, Some(query)));
    }
    c.expect(
        &Token::LParen,
        "a table declares its columns in parentheses",
    )?;
    let mut table = TableBody::default();
    loop {
        table.element(&mut c)?;
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen, COLUMN_HINT)?;
    let comment = if c.eat_word("COMMENT") {
        Some(c.string("a comment")?)
    } else {
        None
    };
    let partitioned_by = if c.eat_words(&["PARTITIONED", "BY"]) {
        ident_list(&mut c)?
    } else {
        Vec::new()
    };
    let options = if c.eat_word("WITH") {
        connector::modern_keys(with_options(&mut c)?)
    } else {
        Vec::new()
    };
    if c.is_word("LIKE") {
        return Err(unsupported(
            &c,
            "CREATE TABLE … LIKE",
            "declare the columns and WITH options",
        ));
    }
    c.expect_end("a table ends after its WITH (…) clause")?;
    let connector = connector::validate(at, &options)?;
    let options = option_map(&options)?;
    let TableBody {
        mut columns,
        primary_key,
        watermark,
    } = table;
    check_columns(&columns)?;
    if let Some((key, key_at)) = &primary_key {
        for column in &key.columns {
            match columns.iter_mut().find(|c| &c.name == column) {
                Some(col) if col.kind == ColumnKind::Physical => col.nullable = false,
                _ => {
                    return Err(SqlError::Invalid {
                        at: *key_at,
                        message: format!("primary key column {column} is not a physical column"),
                        text: column.clone(),
                        hint: "a primary key names declared physical columns".into(),
                    });
                }
            }
        }
    }
    if let Some((watermark, watermark_at)) = &watermark {
        check_rowtime(&columns, watermark, *watermark_at)?;
    }
    let table = TableDef {
        name,
        columns,
        primary_key: primary_key.map(|(key, _)| key),
        watermark: watermark.map(|(w, _)| w),
        partitioned_by,
        comment,
        connector,
        options,
        temporary,
        if_not_exists,
        at,
    };
    Ok((table, None))
}

/// `>>` closes two nested types (`ARRAY<ARRAY<INT>>`); Flink has no shift operator, so in
/// DDL it is always two `>`.
fn split_shift_right(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        if token.token == Token::ShiftRight {
            let Span { start, end } = token.span;
            let middle = Location::new(start.line, start.column + 1);
            out.push(TokenWithSpan::new(Token::Gt, Span::new(start, middle)));
            out.push(TokenWithSpan::new(Token::Gt, Span::new(middle, end)));
        } else {
            out.push(token.clone());
        }
    }
    out
}

/// The parenthesised part of `CREATE TABLE`, as read so far.
#[derive(Default)]
struct TableBody {
    columns: Vec<Column>,
    primary_key: Option<(PrimaryKey, Position)>,
    watermark: Option<(Watermark, Position)>,
}

impl TableBody {
    /// One column, watermark or constraint.
    fn element(&mut self, c: &mut Cursor<'_>) -> Result<()> {
        let at = c.position();
        if c.eat_word("WATERMARK") {
            return self.watermark(c, at);
        }
        let constraint = if c.eat_word("CONSTRAINT") {
            Some(c.ident("a constraint name")?)
        } else {
            None
        };
        if c.eat_words(&["PRIMARY", "KEY"]) {
            let columns = ident_list(c)?;
            not_enforced(c)?;
            return self.primary_key(
                PrimaryKey {
                    name: constraint,
                    columns,
                },
                at,
            );
        }
        for word in ["UNIQUE", "FOREIGN", "CHECK"] {
            if c.is_word(word) {
                return Err(unsupported(
                    c,
                    &format!("a {word} constraint"),
                    "Flink tables take only PRIMARY KEY (…) NOT ENFORCED",
                ));
            }
        }
        if constraint.is_some() {
            return Err(c.error(
                "expected PRIMARY KEY",
                "write CONSTRAINT name PRIMARY KEY (…) NOT ENFORCED",
            ));
        }
        self.column(c, at)
    }

    /// `name AS expr` or `name TYPE [NOT NULL] [METADATA …] [PRIMARY KEY NOT ENFORCED]
    /// [COMMENT '…']`.
    fn column(&mut self, c: &mut Cursor<'_>, at: Position) -> Result<()> {
        let name = c.ident("a column name")?;
        if c.eat_word("AS") {
            let (expr, text) = c.expression(&["COMMENT"])?;
            if c.eat_word("COMMENT") {
                c.string("a comment")?;
            }
            self.columns.push(Column {
                name,
                data_type: computed_type(&expr),
                nullable: true,
                kind: ColumnKind::Computed {
                    expr: Box::new(expr),
                    text,
                },
                at,
            });
            return Ok(());
        }
        let data_type = types::parse_type(c)?;
        let mut nullable = true;
        let mut kind = ColumnKind::Physical;
        loop {
            let here = c.position();
            if c.eat_words(&["NOT", "NULL"]) {
                nullable = false;
            } else if c.eat_word("NULL") {
                nullable = true;
            } else if c.eat_word("METADATA") {
                let key = if c.eat_word("FROM") {
                    Some(c.string("a metadata key")?)
                } else {
                    None
                };
                kind = ColumnKind::Metadata {
                    key,
                    is_virtual: c.eat_word("VIRTUAL"),
                };
            } else if c.eat_words(&["PRIMARY", "KEY"]) {
                not_enforced(c)?;
                self.primary_key(
                    PrimaryKey {
                        name: None,
                        columns: vec![name.clone()],
                    },
                    here,
                )?;
            } else if c.eat_word("COMMENT") {
                c.string("a comment")?;
            } else {
                break;
            }
        }
        self.columns.push(Column {
            name,
            data_type: Some(data_type),
            nullable,
            kind,
            at,
        });
        Ok(())
    }

    /// Records the table's primary key; there is at most one.
    fn primary_key(&mut self, key: PrimaryKey, at: Position) -> Result<()> {
        if self.primary_key.is_some() {
            return Err(SqlError::Invalid {
                at,
                message: "a table has at most one primary key".into(),
                text: "PRIMARY KEY".into(),
                hint: "list all key columns in one PRIMARY KEY (a, b) NOT ENFORCED".into(),
            });
        }
        self.primary_key = Some((key, at));
        Ok(())
    }

    /// `FOR rowtime AS expr`, after `WATERMARK`.
    fn watermark(&mut self, c: &mut Cursor<'_>, at: Position) -> Result<()> {
        c.expect_words(
            &["FOR"],
            "write WATERMARK FOR col AS col - INTERVAL '2' SECOND",
        )?;
        let rowtime_column = c.ident("the rowtime column")?;
        c.expect_words(
            &["AS"],
            "write WATERMARK FOR col AS col - INTERVAL '2' SECOND",
        )?;
        let expr_at = c.position();
        let (expr, text) = c.expression(&[])?;
        let max_out_of_orderness_ms =
            watermark_delay(&expr, &rowtime_column).map_err(|construct| SqlError::Unsupported {
                at: expr_at,
                construct,
                text: text.clone(),
                hint: format!(
                    "write {rowtime_column} - INTERVAL 'n' SECOND (or MILLISECOND, MINUTE), or {rowtime_column} alone"
                ),
            })?;
        if self.watermark.is_some() {
            return Err(SqlError::Invalid {
                at,
                message: "a table has at most one watermark".into(),
                text: "WATERMARK".into(),
                hint: "keep one WATERMARK FOR clause".into(),
            });
        }
        self.watermark = Some((
            Watermark {
                rowtime_column,
                max_out_of_orderness_ms,
                text,
            },
            at,
        ));
        Ok(())
    }
}

/// The delay of a bounded out-of-orderness watermark expression: `col` → 0,
/// `col - INTERVAL …` → the interval. Anything else is named as unsupported.
fn watermark_delay(expr: &Expr, rowtime: &str) -> Result<i64, String> {
    let is_rowtime = |e: &Expr| matches!(e, Expr::Identifier(id) if id.value == rowtime);
    match expr {
        Expr::Nested(inner) => watermark_delay(inner, rowtime),
        e if is_rowtime(e) => Ok(0),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if is_rowtime(left) => match expr_millis(right) {
            Some(Ok(ms)) if ms >= 0 => Ok(ms),
            Some(Ok(_)) => Err("a negative watermark delay".into()),
            Some(Err(construct)) => Err(construct),
            None => Err(format!("a watermark delay of {right}")),
        },
        other => Err(format!("the watermark expression {other}")),
    }
}

/// `NOT ENFORCED` after a primary key: Flink does not own the data, so it cannot enforce it.
fn not_enforced(c: &mut Cursor<'_>) -> Result<()> {
    c.expect_words(
        &["NOT", "ENFORCED"],
        "Flink does not check keys: write PRIMARY KEY (…) NOT ENFORCED",
    )
}

/// The type of a computed column when its expression tells it: `TO_TIMESTAMP_LTZ(…)` and
/// `PROCTIME()` are `TIMESTAMP_LTZ(3)`, `TO_TIMESTAMP(…)` is `TIMESTAMP(3)`.
fn computed_type(expr: &Expr) -> Option<DataType> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let ltz = DataType::Timestamp(TimeUnit::Millisecond, Some(LTZ_TIME_ZONE.into()));
    match function.name.to_string().to_ascii_uppercase().as_str() {
        "TO_TIMESTAMP_LTZ" => Some(ltz),
        "PROCTIME" if matches!(&function.args, FunctionArguments::List(l) if l.args.is_empty()) => {
            Some(ltz)
        }
        "TO_TIMESTAMP" => match &function.args {
            FunctionArguments::List(list)
                if matches!(
                    list.args.first(),
                    Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(_)))
                ) =>
            {
                Some(DataType::Timestamp(TimeUnit::Millisecond, None))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Column names must be unique.
fn check_columns(columns: &[Column]) -> Result<()> {
    for (i, column) in columns.iter().enumerate() {
        if let Some(first) = columns[..i].iter().find(|c| c.name == column.name) {
            return Err(SqlError::Invalid {
                at: column.at,
                message: format!(
                    "column {} is declared twice (first at {})",
                    column.name, first.at
                ),
                text: column.name.clone(),
                hint: "rename one of the columns".into(),
            });
        }
    }
    Ok(())
}

/// The rowtime column must exist and, when its type is known, be a timestamp of precision
/// at most 3.
fn check_rowtime(columns: &[Column], watermark: &Watermark, at: Position) -> Result<()> {
    let Some(column) = columns.iter().find(|c| c.name == watermark.rowtime_column) else {
        return Err(SqlError::Invalid {
            at,
            message: format!(
                "watermark column {} is not declared",
                watermark.rowtime_column
            ),
            text: watermark.rowtime_column.clone(),
            hint: "declare the column, e.g. event_time AS TO_TIMESTAMP_LTZ(ts, 3)".into(),
        });
    };
    match &column.data_type {
        None | Some(DataType::Timestamp(TimeUnit::Millisecond, _)) => Ok(()),
        Some(other) => Err(SqlError::Type {
            at: column.at,
            message: format!("rowtime column {} is {other}, not a timestamp", column.name),
            text: column.name.clone(),
            hint: "declare it TIMESTAMP(3) or TIMESTAMP_LTZ(3), or compute it: \
                   event_time AS TO_TIMESTAMP_LTZ(ts, 3)"
                .into(),
        }),
    }
}

/// `(a, b, …)`.
fn ident_list(c: &mut Cursor<'_>) -> Result<Vec<String>> {
    c.expect(&Token::LParen, "list the columns in parentheses: (a, b)")?;
    let mut names = vec![c.ident("a column name")?];
    while c.eat(&Token::Comma) {
        names.push(c.ident("a column name")?);
    }
    c.expect(&Token::RParen, "close the column list with )")?;
    Ok(names)
}

/// `('key' = 'value', …)` after `WITH`.
pub(crate) fn with_options(c: &mut Cursor<'_>) -> Result<Vec<OptionEntry>> {
    c.expect(&Token::LParen, "write WITH ('connector' = '…', …)")?;
    let mut options = Vec::new();
    if c.eat(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key_at = c.position();
        let key = c.string("an option key")?;
        c.expect(&Token::Eq, "options are written 'key' = 'value'")?;
        let value_at = c.position();
        let value = c.string("an option value")?;
        options.push(OptionEntry {
            key,
            value,
            key_at,
            value_at,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(
        &Token::RParen,
        "separate options with commas and close the list with )",
    )?;
    Ok(options)
}

/// The options as a map; a key may appear once.
fn option_map(options: &[OptionEntry]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for option in options {
        if map
            .insert(option.key.clone(), option.value.clone())
            .is_some()
        {
            return Err(SqlError::Invalid {
                at: option.key_at,
                message: format!("option '{}' is set twice", option.key),
                text: option.key.clone(),
                hint: "keep one of the settings".into(),
            });
        }
    }
    Ok(map)
}

/// A [`SqlError::Unsupported`] at the cursor.
fn unsupported(c: &Cursor<'_>, construct: &str, hint: &str) -> SqlError {
    SqlError::Unsupported {
        at: c.position(),
        construct: construct.into(),
        text: c.found(),
        hint: hint.into(),
    }
}

/// Reads `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class'
/// [LANGUAGE JAVA|SCALA|PYTHON] [USING JAR '…' [, JAR '…']*]`.
pub(crate) fn create_function(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<FunctionDef> {
    let mut c = Cursor::new(statement, tokens);
    let at = c.position();
    c.expect_words(&["CREATE"], "a function is declared with CREATE FUNCTION")?;
    let temporary = c.eat_word("TEMPORARY");
    let system = temporary && c.eat_word("SYSTEM");
    c.expect_words(&["FUNCTION"], "a function is declared with CREATE FUNCTION")?;
    let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
    let name = c.name("a function name")?;
    c.expect_words(
        &["AS"],
        "write CREATE FUNCTION name AS 'com.example.MyFunction'",
    )?;
    let class_name = c.string("the implementing class")?;
    let language = if c.eat_word("LANGUAGE") {
        let language_at = c.position();
        let language = c.ident("a language")?.to_ascii_uppercase();
        if !["JAVA", "SCALA", "PYTHON"].contains(&language.as_str()) {
            return Err(SqlError::Invalid {
                at: language_at,
                message: format!("unknown function language {language}"),
                text: language,
                hint: "languages are JAVA, SCALA and PYTHON".into(),
            });
        }
        language
    } else {
        "JAVA".into()
    };
    let mut jars = Vec::new();
    if c.eat_word("USING") {
        loop {
            c.expect_words(&["JAR"], "write USING JAR '/path/to.jar'")?;
            jars.push(c.string("a jar path")?);
            if !c.eat(&Token::Comma) {
                break;
            }
        }
    }
    c.expect_end("a function declaration ends after AS '…' [LANGUAGE …] [USING JAR '…']")?;
    Ok(FunctionDef {
        name,
        class_name,
        language,
        jars,
        temporary,
        system,
        if_not_exists,
        at,
    })
}

/// Reads `CREATE [TEMPORARY] MODEL [IF NOT EXISTS] name INPUT (col type, …) OUTPUT (col type,
/// …) [COMMENT '…'] WITH ('provider' = …, …)`, as Flink declares a model for `ML_PREDICT`.
pub(crate) fn create_model(statement: &RawStatement, tokens: &[TokenWithSpan]) -> Result<ModelDef> {
    let tokens = split_shift_right(tokens);
    let mut c = Cursor::new(statement, &tokens);
    let at = c.position();
    c.expect_words(&["CREATE"], "a model is declared with CREATE MODEL")?;
    let temporary = c.eat_word("TEMPORARY");
    c.expect_words(&["MODEL"], "a model is declared with CREATE MODEL")?;
    c.eat_words(&["IF", "NOT", "EXISTS"]);
    let name = c.name("a model name")?;
    c.expect_words(&["INPUT"], "write INPUT (col TYPE, …) OUTPUT (col TYPE, …)")?;
    let inputs = model_columns(&mut c)?;
    c.expect_words(
        &["OUTPUT"],
        "write INPUT (col TYPE, …) OUTPUT (col TYPE, …)",
    )?;
    let outputs = model_columns(&mut c)?;
    let comment = if c.eat_word("COMMENT") {
        Some(c.string("a comment")?)
    } else {
        None
    };
    c.expect_words(
        &["WITH"],
        "a model names its provider: WITH ('provider' = …)",
    )?;
    let options = option_map(&with_options(&mut c)?)?;
    c.expect_end("a model ends after its WITH (…) clause")?;
    if !options.contains_key("provider") {
        return Err(SqlError::Invalid {
            at,
            message: format!("model {name} has no 'provider' option"),
            text: name,
            hint: "name who serves it: 'provider' = 'spate' (in process) or 'rest'".into(),
        });
    }
    Ok(ModelDef {
        name,
        inputs,
        outputs,
        comment,
        options,
        temporary,
        at,
    })
}

/// `(name TYPE [COMMENT '…'], …)` of a model.
fn model_columns(c: &mut Cursor<'_>) -> Result<Vec<ModelColumn>> {
    c.expect(&Token::LParen, "a model's columns are in parentheses")?;
    let mut columns: Vec<ModelColumn> = Vec::new();
    loop {
        let at = c.position();
        let name = c.ident("a column name")?;
        let data_type = types::parse_type(c)?;
        if c.eat_word("COMMENT") {
            c.string("a comment")?;
        }
        if columns.iter().any(|col| col.name == name) {
            return Err(SqlError::Invalid {
                at,
                message: format!("column {name} is declared twice"),
                text: name,
                hint: "give each column its own name".into(),
            });
        }
        columns.push(ModelColumn {
            name,
            data_type,
            at,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen, "close the column list with )")?;
    Ok(columns)
}
