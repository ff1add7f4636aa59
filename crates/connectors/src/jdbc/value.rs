//! Arrow values to and from statement parameters and result columns: integers travel as
//! `BIGINT`, floats as `DOUBLE`, booleans as such, and everything else (timestamps, dates,
//! decimals) as text that the database converts.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{Dialect, JdbcError};

/// How a column travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Int,
    Float,
    Bool,
    Text,
}

impl Wire {
    /// How values of `data_type` travel.
    pub(crate) fn of(data_type: &DataType) -> Wire {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => Wire::Int,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Wire::Float,
            DataType::Boolean => Wire::Bool,
            _ => Wire::Text,
        }
    }

    /// The arrow type values arrive as before the cast to the column's type.
    fn arrow(self) -> DataType {
        match self {
            Wire::Int => DataType::Int64,
            Wire::Float => DataType::Float64,
            Wire::Bool => DataType::Boolean,
            Wire::Text => DataType::Utf8,
        }
    }
}

/// One parameter value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

impl Value {
    /// Binds the value as the next parameter of `query`.
    pub(crate) fn bind<'q>(
        &self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Query<'q, Any, AnyArguments> {
        match self {
            Value::Int(v) => query.bind(*v),
            Value::Float(v) => query.bind(*v),
            Value::Bool(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
        }
    }
}

/// The values of `array` (of column `field` of `table`), row by row.
pub(crate) fn values(
    table: &str,
    field: &Field,
    array: &dyn Array,
) -> Result<Vec<Value>, JdbcError> {
    let wire = Wire::of(field.data_type());
    let converted = cast(array, &wire.arrow()).map_err(|e| JdbcError::Value {
        table: table.into(),
        column: field.name().clone(),
        message: e.to_string(),
    })?;
    let n = converted.len();
    let valid = |i: usize| converted.is_valid(i);
    Ok(match wire {
        Wire::Int => {
            let a = converted.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| Value::Int(valid(i).then(|| a.value(i))))
                .collect()
        }
        Wire::Float => {
            let a = converted.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| Value::Float(valid(i).then(|| a.value(i))))
                .collect()
        }
        Wire::Bool => {
            let a = converted.as_boolean();
            (0..n)
                .map(|i| Value::Bool(valid(i).then(|| a.value(i))))
                .collect()
        }
        Wire::Text => {
            let a = converted.as_string::<i32>();
            (0..n)
                .map(|i| Value::Text(valid(i).then(|| a.value(i).to_string())))
                .collect()
        }
    })
}

/// The placeholder of parameter `n` for a value of `data_type`: PostgreSQL is told the type of
/// values sent as text.
pub(crate) fn parameter(dialect: Dialect, data_type: &DataType, n: usize) -> String {
    let placeholder = dialect.placeholder(n);
    let cast = match (dialect, data_type) {
        (Dialect::MySql, _) => None,
        (_, DataType::Timestamp(_, None)) => Some("TIMESTAMP"),
        (_, DataType::Timestamp(_, Some(_))) => Some("TIMESTAMPTZ"),
        (_, DataType::Date32 | DataType::Date64) => Some("DATE"),
        (_, DataType::Time32(_) | DataType::Time64(_)) => Some("TIME"),
        (_, DataType::Decimal128(..) | DataType::Decimal256(..)) => Some("NUMERIC"),
        _ => None,
    };
    match cast {
        Some(t) => format!("CAST({placeholder} AS {t})"),
        None => placeholder,
    }
}

/// The select expression reading column `name` as it travels.
pub(crate) fn select_expr(dialect: Dialect, name: &str, data_type: &DataType) -> String {
    let column = dialect.quote(name);
    match (dialect, Wire::of(data_type)) {
        (Dialect::MySql, Wire::Int | Wire::Bool) => format!("CAST({column} AS SIGNED)"),
        (Dialect::MySql, Wire::Float) => format!("CAST({column} AS DOUBLE)"),
        (Dialect::MySql, Wire::Text) => format!("CAST({column} AS CHAR)"),
        (Dialect::Postgres, Wire::Int) => format!("CAST({column} AS BIGINT)"),
        (Dialect::Postgres, Wire::Float) => format!("CAST({column} AS DOUBLE PRECISION)"),
        (Dialect::Postgres, Wire::Bool) => format!("CAST({column} AS BOOLEAN)"),
        (Dialect::Postgres, Wire::Text) => format!("CAST({column} AS TEXT)"),
    }
}

/// Column `index` (of `field`) of `rows`, read as selected by [`select_expr`], as an array of
/// the field's type.
pub(crate) fn column(
    dialect: Dialect,
    table: &str,
    field: &Field,
    index: usize,
    rows: &[AnyRow],
) -> Result<ArrayRef, JdbcError> {
    let fail = |message: String| JdbcError::Value {
        table: table.into(),
        column: field.name().clone(),
        message,
    };
    let wire = Wire::of(field.data_type());
    let array: ArrayRef = match (dialect, wire) {
        // MySQL has no boolean type: TINYINT(1) arrives as an integer.
        (_, Wire::Int) | (Dialect::MySql, Wire::Bool) => {
            let mut b = Int64Builder::with_capacity(rows.len());
            for row in rows {
                b.append_option(
                    row.try_get::<Option<i64>, _>(index)
                        .map_err(|e| fail(e.to_string()))?,
                );
            }
            Arc::new(b.finish())
        }
        (_, Wire::Float) => {
            let mut b = Float64Builder::with_capacity(rows.len());
            for row in rows {
                b.append_option(
                    row.try_get::<Option<f64>, _>(index)
                        .map_err(|e| fail(e.to_string()))?,
                );
            }
            Arc::new(b.finish())
        }
        (Dialect::Postgres, Wire::Bool) => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            for row in rows {
                b.append_option(
                    row.try_get::<Option<bool>, _>(index)
                        .map_err(|e| fail(e.to_string()))?,
                );
            }
            Arc::new(b.finish())
        }
        (_, Wire::Text) => {
            let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
            for row in rows {
                b.append_option(
                    row.try_get::<Option<String>, _>(index)
                        .map_err(|e| fail(e.to_string()))?,
                );
            }
            Arc::new(b.finish())
        }
    };
    cast(&array, field.data_type()).map_err(|e| fail(e.to_string()))
}
