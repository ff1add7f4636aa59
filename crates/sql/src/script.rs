//! A whole job script: settings, the catalog it declares and the inserts it runs, checked
//! against each other.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::tokenizer::Token;

use crate::catalog::Catalog;
use crate::ddl::{create_function, create_model, create_table};
use crate::error::{Position, Result, SqlError};
use crate::query::{Insert, ParsedQuery, parse_ctas_query, parse_insert, parse_view};
use crate::split::{RawStatement, split_script};
use crate::tokens::{Cursor, tokenize};

/// A parsed job script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// `SET 'key' = 'value'` settings; a later setting of a key wins.
    pub settings: BTreeMap<String, String>,
    /// The tables, views and functions declared.
    pub catalog: Catalog,
    /// The `INSERT INTO` statements, in order; those of a statement set share its number.
    pub inserts: Vec<Insert>,
}

/// What a statement is, from its leading words.
enum Kind {
    Set,
    Table,
    View,
    Function,
    Model,
    Insert,
}

/// Parses and checks a job script.
pub fn parse_script(sql: &str) -> Result<Script> {
    let mut script = Script::default();
    for statement in split_script(sql)? {
        let tokens = tokenize(&statement)?;
        let mut cursor = Cursor::new(&statement, &tokens);
        let kind = kind(&cursor)?;
        if statement.statement_set.is_some() && !matches!(kind, Kind::Insert) {
            return Err(SqlError::Invalid {
                at: statement.start,
                message: "a statement set holds only INSERT statements".into(),
                text: cursor.found(),
                hint: "move this statement before the statement set".into(),
            });
        }
        match kind {
            Kind::Set => {
                let (key, value) = set(&mut cursor)?;
                script.settings.insert(key, value);
            }
            Kind::Table => {
                let (table, query) = create_table(&statement, &tokens)?;
                unique_name(&script.catalog, &table.name, table.at)?;
                let insert = match query {
                    Some(query) => {
                        let tokens = tokenize(&query)?;
                        Some(parse_ctas_query(&table.name, &query, &tokens)?)
                    }
                    None => None,
                };
                script.catalog.tables.push(table);
                if let Some(insert) = insert {
                    check_windows(&script.catalog, &insert.query)?;
                    script.inserts.push(insert);
                }
            }
            Kind::View => {
                let view = parse_view(&statement, &tokens)?;
                unique_name(&script.catalog, &view.name, view.at)?;
                check_windows(&script.catalog, &view.query)?;
                script.catalog.views.push(view);
            }
            Kind::Function => {
                let function = create_function(&statement, &tokens)?;
                if script.catalog.function(&function.name).is_some() {
                    return Err(duplicate(&function.name, function.at));
                }
                script.catalog.functions.push(function);
            }
            Kind::Model => {
                let model = create_model(&statement, &tokens)?;
                if script.catalog.model(&model.name).is_some() {
                    return Err(duplicate(&model.name, model.at));
                }
                script.catalog.models.push(model);
            }
            Kind::Insert => {
                let insert = parse_insert(&statement, &tokens)?;
                check_target(&script.catalog, &insert, &statement)?;
                check_windows(&script.catalog, &insert.query)?;
                script.inserts.push(insert);
            }
        }
    }
    Ok(script)
}

/// Tells the statement's kind from its leading words.
fn kind(cursor: &Cursor<'_>) -> Result<Kind> {
    let word = |n: usize| match cursor.peek_nth(n) {
        Token::Word(word) if word.quote_style.is_none() => word.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    let first = word(0);
    match first.as_str() {
        "SET" => return Ok(Kind::Set),
        "INSERT" => return Ok(Kind::Insert),
        "CREATE" => {
            let mut n = 1;
            while ["TEMPORARY", "SYSTEM", "OR", "REPLACE"].contains(&word(n).as_str()) {
                n += 1;
            }
            match word(n).as_str() {
                "TABLE" => return Ok(Kind::Table),
                "VIEW" | "MATERIALIZED" => return Ok(Kind::View),
                "FUNCTION" => return Ok(Kind::Function),
                "MODEL" => return Ok(Kind::Model),
                _ => {}
            }
        }
        _ => {}
    }
    let (construct, hint) = match first.as_str() {
        "SELECT" | "WITH" | "VALUES" => (
            "a standalone query".to_string(),
            "a job writes its results: INSERT INTO sink SELECT …",
        ),
        "" => (
            format!("a statement starting with {}", cursor.found()),
            "a job script holds SET, CREATE TABLE/VIEW/FUNCTION/MODEL and INSERT INTO statements",
        ),
        _ => (
            format!("the {first} statement"),
            "a job script holds SET, CREATE TABLE/VIEW/FUNCTION/MODEL and INSERT INTO statements",
        ),
    };
    Err(SqlError::Unsupported {
        at: cursor.position(),
        construct,
        text: cursor.found(),
        hint: hint.into(),
    })
}

/// `SET 'key' = 'value'`.
fn set(cursor: &mut Cursor<'_>) -> Result<(String, String)> {
    cursor.expect_words(&["SET"], "write SET 'key' = 'value'")?;
    let key = cursor.string("the setting's key")?;
    cursor.expect(&Token::Eq, "write SET 'key' = 'value'")?;
    let value = cursor.string("the setting's value")?;
    cursor.expect_end("write SET 'key' = 'value'")?;
    Ok((key, value))
}

/// A table or view name may be declared once.
fn unique_name(catalog: &Catalog, name: &str, at: Position) -> Result<()> {
    if catalog.has_relation(name) {
        Err(duplicate(name, at))
    } else {
        Ok(())
    }
}

/// A [`SqlError::Invalid`] for a name declared twice.
fn duplicate(name: &str, at: Position) -> SqlError {
    SqlError::Invalid {
        at,
        message: format!("{name} is already declared"),
        text: name.into(),
        hint: "give each table, view and function its own name".into(),
    }
}

/// An insert writes to a declared table.
fn check_target(catalog: &Catalog, insert: &Insert, statement: &RawStatement) -> Result<()> {
    if catalog.table(&insert.target).is_some() {
        return Ok(());
    }
    let tables: Vec<&str> = catalog.tables.iter().map(|t| t.name.as_str()).collect();
    Err(SqlError::Invalid {
        at: statement.start,
        message: format!("INSERT INTO unknown table {}", insert.target),
        text: insert.target.clone(),
        hint: if tables.is_empty() {
            "declare the sink with CREATE TABLE first".into()
        } else {
            format!("declared tables: {}", tables.join(", "))
        },
    })
}

/// A window reads a declared table or view, and over a table its time column is a time
/// attribute (the watermark's rowtime or a `PROCTIME()` column).
fn check_windows(catalog: &Catalog, query: &ParsedQuery) -> Result<()> {
    for window in &query.windows {
        if let Some(table) = catalog.table(&window.table) {
            if !table.is_time_attribute(&window.time_column) {
                return Err(SqlError::Invalid {
                    at: window.at,
                    message: format!(
                        "{} is not a time attribute of {}",
                        window.time_column, window.table
                    ),
                    text: window.time_column.clone(),
                    hint: format!(
                        "declare WATERMARK FOR {} AS … on {}, or window on its rowtime column",
                        window.time_column, window.table
                    ),
                });
            }
        } else if catalog.view(&window.table).is_none() {
            return Err(SqlError::Invalid {
                at: window.at,
                message: format!("window over unknown table {}", window.table),
                text: window.table.clone(),
                hint: "declare the table with CREATE TABLE first".into(),
            });
        }
    }
    Ok(())
}
