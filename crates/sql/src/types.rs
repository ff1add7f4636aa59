//! Flink SQL data types as Arrow [`DataType`]s.
//!
//! | Flink | Arrow |
//! |---|---|
//! | `STRING`, `VARCHAR(n)`, `CHAR(n)` | `Utf8` |
//! | `BOOLEAN` | `Boolean` |
//! | `TINYINT`, `SMALLINT`, `INT`/`INTEGER`, `BIGINT` | `Int8`, `Int16`, `Int32`, `Int64` |
//! | `FLOAT`, `DOUBLE [PRECISION]` | `Float32`, `Float64` |
//! | `DECIMAL(p, s)` (default `(10, 0)`) | `Decimal128(p, s)` |
//! | `DATE` | `Date32` |
//! | `TIME(p)` | `Time32(ms)` for p ≤ 3, else `Time64(µs/ns)` |
//! | `TIMESTAMP(p)` (default 6) | `Timestamp(unit, None)`: ms for p ≤ 3, µs for p ≤ 6, else ns |
//! | `TIMESTAMP_LTZ(p)`, `TIMESTAMP(p) WITH LOCAL TIME ZONE` | `Timestamp(unit, "UTC")` |
//! | `BYTES`, `VARBINARY(n)` / `BINARY(n)` | `Binary` / `FixedSizeBinary(n)` |
//! | `ARRAY<T>`, `MAP<K, V>`, `ROW<name T, …>` | `List`, `Map`, `Struct` |
//!
//! Every type may be followed by `NOT NULL` (or `NULL`), nested ones too.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::{Result, SqlError};
use crate::tokens::Cursor;

/// The time zone of `TIMESTAMP_LTZ` values: instants, shown in UTC.
pub const LTZ_TIME_ZONE: &str = "UTC";

/// The types this module reads, for hints.
const KNOWN: &str = "STRING, VARCHAR(n), CHAR(n), BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, \
DOUBLE, DECIMAL(p, s), DATE, TIME(p), TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, VARBINARY(n), \
BINARY(n), ARRAY<T>, MAP<K, V>, ROW<name T, …>";

/// The Arrow unit of a timestamp of Flink precision `precision`.
fn time_unit(precision: u32) -> TimeUnit {
    match precision {
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

/// Reads a data type and its nullability (`NOT NULL` makes it non-nullable).
pub(crate) fn parse_type_nullable(cursor: &mut Cursor<'_>) -> Result<(DataType, bool)> {
    let data_type = parse_type(cursor)?;
    Ok((data_type, nullability(cursor)))
}

/// Reads an optional `NOT NULL` or `NULL`: whether the value may be null.
pub(crate) fn nullability(cursor: &mut Cursor<'_>) -> bool {
    if cursor.eat_words(&["NOT", "NULL"]) {
        false
    } else {
        cursor.eat_word("NULL");
        true
    }
}

/// Reads one Flink data type.
pub(crate) fn parse_type(cursor: &mut Cursor<'_>) -> Result<DataType> {
    let at = cursor.position();
    let Token::Word(word) = cursor.peek() else {
        return Err(type_error(cursor, "expected a data type".into()));
    };
    let name = word.value.to_ascii_uppercase();
    cursor.advance();
    let data_type = match name.as_str() {
        "STRING" => DataType::Utf8,
        "VARCHAR" | "CHAR" => {
            precision(cursor, "a length")?;
            DataType::Utf8
        }
        "BOOLEAN" => DataType::Boolean,
        "TINYINT" => DataType::Int8,
        "SMALLINT" => DataType::Int16,
        "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" => DataType::Int64,
        "FLOAT" => DataType::Float32,
        "DOUBLE" => {
            cursor.eat_word("PRECISION");
            DataType::Float64
        }
        "DECIMAL" | "DEC" | "NUMERIC" => decimal(cursor)?,
        "DATE" => DataType::Date32,
        "TIME" => {
            let p = precision(cursor, "a precision")?.unwrap_or(0);
            cursor.eat_words(&["WITHOUT", "TIME", "ZONE"]);
            match time_unit(p) {
                TimeUnit::Millisecond => DataType::Time32(TimeUnit::Millisecond),
                unit => DataType::Time64(unit),
            }
        }
        "TIMESTAMP" => {
            let unit = timestamp_precision(cursor)?;
            if cursor.eat_words(&["WITH", "LOCAL", "TIME", "ZONE"]) {
                DataType::Timestamp(unit, Some(LTZ_TIME_ZONE.into()))
            } else {
                cursor.eat_words(&["WITHOUT", "TIME", "ZONE"]);
                DataType::Timestamp(unit, None)
            }
        }
        "TIMESTAMP_LTZ" => {
            DataType::Timestamp(timestamp_precision(cursor)?, Some(LTZ_TIME_ZONE.into()))
        }
        "BYTES" => DataType::Binary,
        "VARBINARY" => {
            precision(cursor, "a length")?;
            DataType::Binary
        }
        "BINARY" => {
            let length = precision(cursor, "a length")?.unwrap_or(1);
            DataType::FixedSizeBinary(i32::try_from(length).unwrap_or(i32::MAX))
        }
        "ARRAY" => {
            open_angle(cursor)?;
            let (element, nullable) = parse_type_nullable(cursor)?;
            close_angle(cursor)?;
            DataType::List(Arc::new(Field::new("item", element, nullable)))
        }
        "MAP" => {
            open_angle(cursor)?;
            let (key, _) = parse_type_nullable(cursor)?;
            cursor.expect(&Token::Comma, "write MAP<key type, value type>")?;
            let (value, value_nullable) = parse_type_nullable(cursor)?;
            close_angle(cursor)?;
            let entries = Fields::from(vec![
                Field::new("key", key, false),
                Field::new("value", value, value_nullable),
            ]);
            DataType::Map(
                Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                false,
            )
        }
        "ROW" => row(cursor)?,
        "MULTISET" | "RAW" | "INTERVAL" | "VARIANT" | "STRUCTURED" => {
            return Err(SqlError::Unsupported {
                at,
                construct: format!("the {name} type"),
                text: word.value.clone(),
                hint: format!("use one of {KNOWN}"),
            });
        }
        _ => {
            return Err(SqlError::Type {
                at,
                message: format!("unknown type {}", word.value),
                text: word.value.clone(),
                hint: format!("Flink types are {KNOWN}"),
            });
        }
    };
    Ok(data_type)
}

/// A [`SqlError::Type`] at the cursor.
fn type_error(cursor: &Cursor<'_>, message: String) -> SqlError {
    SqlError::Type {
        at: cursor.position(),
        message,
        text: cursor.found(),
        hint: format!("Flink types are {KNOWN}"),
    }
}

/// An optional `(n)`.
fn precision(cursor: &mut Cursor<'_>, what: &str) -> Result<Option<u32>> {
    if !cursor.eat(&Token::LParen) {
        return Ok(None);
    }
    let value = cursor.integer(what)?;
    cursor.expect(&Token::RParen, "close the type's parameter with )")?;
    Ok(Some(value))
}

/// The unit of an optional timestamp precision `(p)`, 0 to 9, default 6.
fn timestamp_precision(cursor: &mut Cursor<'_>) -> Result<TimeUnit> {
    let at = cursor.position();
    let p = precision(cursor, "a precision")?.unwrap_or(6);
    if p > 9 {
        return Err(SqlError::Type {
            at,
            message: format!("timestamp precision {p} is out of range"),
            text: p.to_string(),
            hint: "precision is 0 to 9; event time uses 3".into(),
        });
    }
    Ok(time_unit(p))
}

/// `DECIMAL[(p[, s])]`.
fn decimal(cursor: &mut Cursor<'_>) -> Result<DataType> {
    let at = cursor.position();
    let (p, s) = if cursor.eat(&Token::LParen) {
        let p = cursor.integer("a precision")?;
        let s = if cursor.eat(&Token::Comma) {
            cursor.integer("a scale")?
        } else {
            0
        };
        cursor.expect(&Token::RParen, "write DECIMAL(precision, scale)")?;
        (p, s)
    } else {
        (10, 0)
    };
    match (u8::try_from(p), i8::try_from(s)) {
        (Ok(precision), Ok(scale)) if (1..=38).contains(&p) && s <= p => {
            Ok(DataType::Decimal128(precision, scale))
        }
        _ => Err(SqlError::Type {
            at,
            message: format!("DECIMAL({p}, {s}) is out of range"),
            text: format!("DECIMAL({p}, {s})"),
            hint: "precision is 1 to 38 and scale at most the precision".into(),
        }),
    }
}

/// `<` of a generic type.
fn open_angle(cursor: &mut Cursor<'_>) -> Result<()> {
    cursor.expect(
        &Token::Lt,
        "nested types are written ARRAY<T>, MAP<K, V>, ROW<name T>",
    )
}

/// `>` of a generic type.
fn close_angle(cursor: &mut Cursor<'_>) -> Result<()> {
    cursor.expect(&Token::Gt, "close the nested type with >")
}

/// `ROW<name T [NOT NULL] ['description'], …>` or `ROW(…)`.
fn row(cursor: &mut Cursor<'_>) -> Result<DataType> {
    let close = if cursor.eat(&Token::Lt) {
        Token::Gt
    } else {
        cursor.expect(&Token::LParen, "write ROW<name TYPE, …>")?;
        Token::RParen
    };
    let mut fields = Vec::new();
    if !cursor.eat(&close) {
        loop {
            let name = cursor.ident("a field name")?;
            let (data_type, nullable) = parse_type_nullable(cursor)?;
            if matches!(cursor.peek(), Token::SingleQuotedString(_)) {
                cursor.string("a field description")?;
            }
            fields.push(Field::new(name, data_type, nullable));
            if !cursor.eat(&Token::Comma) {
                break;
            }
        }
        cursor.expect(&close, "separate ROW fields with commas")?;
    }
    Ok(DataType::Struct(Fields::from(fields)))
}
