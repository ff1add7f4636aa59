//! Dimension rows fetched by key for lookup joins with the `PARTIAL` or `NONE` cache:
//! `SELECT … FROM table WHERE k IN (…)` (or `(k1 = ? AND k2 = ?) OR …` with several keys) for
//! the distinct keys of a batch, retried with a new connection up to `lookup.max-retries`.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use spate_engine::error::{EngineError, Result};
use spate_engine::lookup::KeyLookup;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::value::{self, Value};
use super::{Dialect, Driver, JdbcConfig, JdbcError};

/// Keys per query.
const MAX_KEYS: usize = 1000;

/// A JDBC table queried by key.
pub struct JdbcLookup {
    config: JdbcConfig,
    dialect: Dialect,
    schema: SchemaRef,
    keys: Vec<String>,
    max_retries: u32,
    /// Dropped before the driver that runs it.
    connection: Option<AnyConnection>,
    driver: Driver,
}

impl JdbcLookup {
    /// Looks up rows of `schema` in `config`'s table by the columns `keys`.
    pub fn new(
        config: JdbcConfig,
        schema: SchemaRef,
        keys: Vec<String>,
        max_retries: u32,
    ) -> Result<Self> {
        let dialect = config.dialect().map_err(|e| lookup_error(&config, e))?;
        if let Some(missing) = keys.iter().find(|k| schema.index_of(k).is_err()) {
            return Err(EngineError::plan(format!(
                "lookup key {missing} is not a column of {}",
                config.table
            )));
        }
        let driver = Driver::new().map_err(|e| EngineError::Source {
            name: format!("jdbc {}", config.table),
            message: format!("cannot start the driver's runtime: {e}"),
        })?;
        Ok(JdbcLookup {
            config,
            dialect,
            schema,
            keys,
            max_retries,
            connection: None,
            driver,
        })
    }

    /// The query for `n` keys.
    fn query(&self, n: usize) -> String {
        let select = super::source::select(self.dialect, &self.config.table, &self.schema);
        let types: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                self.schema
                    .field_with_name(k)
                    .expect("checked in new")
                    .data_type()
            })
            .collect();
        let mut p = 0;
        let mut param = |t| {
            p += 1;
            value::parameter(self.dialect, t, p)
        };
        let condition = if self.keys.len() == 1 {
            let params: Vec<String> = (0..n).map(|_| param(types[0])).collect();
            format!(
                "{} IN ({})",
                self.dialect.quote(&self.keys[0]),
                params.join(", ")
            )
        } else {
            let rows: Vec<String> = (0..n)
                .map(|_| {
                    let parts: Vec<String> = self
                        .keys
                        .iter()
                        .zip(&types)
                        .map(|(k, t)| format!("{} = {}", self.dialect.quote(k), param(t)))
                        .collect();
                    format!("({})", parts.join(" AND "))
                })
                .collect();
            rows.join(" OR ")
        };
        format!("{select} WHERE {condition}")
    }

    /// Runs `sql` with `params`, connecting first when needed.
    fn fetch(&mut self, sql: &str, params: &[Value]) -> Result<Vec<AnyRow>, JdbcError> {
        if self.connection.is_none() {
            self.connection = Some(self.config.connect(&self.driver)?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        self.driver
            .block_on(fetch(connection, sql, params))
            .map_err(|source| JdbcError::Statement {
                table: self.config.table.clone(),
                source,
            })
    }
}

/// Runs a query with parameters.
async fn fetch(
    connection: &mut AnyConnection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        query = param.bind(query);
    }
    query.fetch_all(connection).await
}

fn lookup_error(config: &JdbcConfig, e: JdbcError) -> EngineError {
    EngineError::Source {
        name: format!("jdbc lookup {}", config.table),
        message: e.to_string(),
    }
}

impl KeyLookup for JdbcLookup {
    fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        let table = self.config.table.clone();
        let columns = self
            .keys
            .iter()
            .zip(keys)
            .map(|(k, array)| {
                let field = self.schema.field_with_name(k)?;
                value::values(&table, field, array.as_ref())
                    .map_err(|e| lookup_error(&self.config, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let n = keys.first().map_or(0, |k| k.len());
        let mut rows = Vec::new();
        for start in (0..n).step_by(MAX_KEYS) {
            let end = (start + MAX_KEYS).min(n);
            let sql = self.query(end - start);
            let params: Vec<Value> = (start..end)
                .flat_map(|i| columns.iter().map(move |c| c[i].clone()))
                .collect();
            let mut attempt = 0;
            loop {
                match self.fetch(&sql, &params) {
                    Ok(found) => {
                        rows.extend(found);
                        break;
                    }
                    Err(e) if attempt < self.max_retries && super::sink::retryable(&e) => {
                        attempt += 1;
                        tracing::warn!(table = %table, attempt, error = %e, "JDBC lookup failed, retrying");
                        self.connection = None;
                        std::thread::sleep(std::time::Duration::from_millis(
                            200 * u64::from(attempt),
                        ));
                    }
                    Err(e) => return Err(lookup_error(&self.config, e)),
                }
            }
        }
        super::source::batch(self.dialect, &table, &self.schema, &rows)
            .map_err(|e| lookup_error(&self.config, e))
    }
}
