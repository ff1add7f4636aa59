//! Answering queries: simple queries (several statements in one message) and the extended
//! protocol (parse, bind, describe, execute), both through [`Queries::answer`].

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use futures::{Sink, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use spate_store::{QueryLimits, QueryOutput, Store, StoreError};

use super::meta::{self, CatalogError};
use super::params;
use super::sql::{self, Command};
use super::types;

/// The version `SHOW server_version` answers, as the startup parameters say.
const SERVER_VERSION: &str = "16.6";

/// What one statement answers.
enum Answer {
    /// Rows of these columns.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A command's tag.
    Done(Tag),
    /// The start of a transaction.
    Begin,
    /// The end of one, with its tag.
    End(Tag),
}

/// The query handlers of every connection.
#[derive(Debug)]
pub(super) struct Queries {
    store: Store,
    limits: QueryLimits,
    parser: Arc<Parser>,
}

impl Queries {
    pub(super) fn new(store: Store, limits: QueryLimits) -> Self {
        Queries {
            store,
            limits,
            parser: Arc::new(Parser),
        }
    }

    /// Runs the query `statement` (or only plans it, if not `execute`): a query of the
    /// catalog over the catalog ([`meta`]), any other over the store.
    async fn query(&self, statement: &str, execute: bool) -> PgWireResult<QueryOutput> {
        let store = self.store.clone();
        let limits = self.limits;
        let statement = statement.to_string();
        // In a task of its own: a panic in the query is an error, not a lost connection.
        tokio::spawn(async move {
            match meta::route(&statement, &store) {
                Some(parsed) => meta::run(&store, parsed, limits, execute)
                    .await
                    .map_err(catalog_error),
                None if execute => store
                    .query_with(&statement, limits)
                    .await
                    .map_err(store_error),
                None => store
                    .describe(&statement, limits)
                    .await
                    .map(|schema| QueryOutput {
                        schema,
                        batches: Vec::new(),
                    })
                    .map_err(store_error),
            }
        })
        .await
        .map_err(|e| error("XX000", format!("the query failed: {e}")))?
    }

    /// Answers one statement (no `;` in it, parameters bound).
    async fn answer(&self, statement: &str) -> PgWireResult<Answer> {
        match sql::command(statement) {
            Command::Query => {
                let output = self.query(statement, true).await?;
                Ok(Answer::Rows {
                    schema: output.schema,
                    batches: output.batches,
                })
            }
            Command::Show(name) => show(&name),
            Command::Begin => Ok(Answer::Begin),
            Command::End(tag) => Ok(Answer::End(Tag::new(tag))),
            Command::Accept(tag) => Ok(Answer::Done(Tag::new(tag))),
        }
    }

    /// The columns `statement` answers with, without running it; column `i` in binary
    /// format if `binary(i)`.
    async fn describe(
        &self,
        statement: &str,
        binary: &(dyn Fn(usize) -> bool + Sync),
    ) -> PgWireResult<Vec<FieldInfo>> {
        match sql::command(statement) {
            Command::Query => Ok(fields(&self.query(statement, false).await?.schema, binary)),
            Command::Show(name) => match show(&name)? {
                Answer::Rows { schema, .. } => Ok(fields(&schema, binary)),
                _ => Ok(Vec::new()),
            },
            Command::Begin | Command::End(_) | Command::Accept(_) => Ok(Vec::new()),
        }
    }
}

/// A PostgreSQL error of `code`.
fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

/// The store's error with its SQLSTATE.
fn store_error(e: StoreError) -> PgWireError {
    let code = match &e {
        StoreError::NoSuchTable { .. } => "42P01",
        StoreError::Query(_) => "42000",
        StoreError::Timeout { .. } => "57014",
        StoreError::MemoryLimit { .. } => "53200",
        StoreError::ReadOnly { .. } => "25006",
        _ => "XX000",
    };
    error(code, e.to_string())
}

/// A catalog query's error with its SQLSTATE.
fn catalog_error(e: CatalogError) -> PgWireError {
    let code = match &e {
        CatalogError::NoSuchTable(_) => "42P01",
        CatalogError::Query(_) => "42000",
        CatalogError::NotAQuery(_) => "0A000",
        CatalogError::Timeout(_) => "57014",
    };
    error(code, e.to_string())
}

/// The settings `SHOW`, `current_setting` and `pg_settings` answer: what clients ask on
/// connecting.
pub(super) fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("default_transaction_isolation", "read committed"),
        ("default_transaction_read_only", "on"),
        ("integer_datetimes", "on"),
        ("intervalstyle", "postgres"),
        ("is_superuser", "off"),
        ("lc_collate", "C"),
        ("lc_ctype", "C"),
        ("max_identifier_length", "63"),
        ("search_path", "public"),
        ("server_encoding", "UTF8"),
        ("server_version", SERVER_VERSION),
        ("server_version_num", "160006"),
        ("standard_conforming_strings", "on"),
        ("timezone", "Etc/UTC"),
        ("transaction_isolation", "read committed"),
        ("transaction_read_only", "on"),
    ]
}

/// `SHOW name`: one row of the setting (`SHOW ALL`: every setting, with its name).
fn show(name: &str) -> PgWireResult<Answer> {
    let settings = settings();
    let utf8 = |values: Vec<&str>| Arc::new(StringArray::from(values)) as ArrayRef;
    let (schema, columns) = match name {
        "all" => (
            Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, false),
            ]),
            vec![
                utf8(settings.iter().map(|s| s.0).collect()),
                utf8(settings.iter().map(|s| s.1).collect()),
            ],
        ),
        name => {
            let key = match name {
                "transaction isolation level" => "transaction_isolation",
                other => other,
            };
            let value = settings
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
            (
                Schema::new(vec![Field::new(key, DataType::Utf8, false)]),
                vec![utf8(vec![value])],
            )
        }
    };
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| error("XX000", e.to_string()))?;
    Ok(Answer::Rows {
        schema,
        batches: vec![batch],
    })
}

/// The PostgreSQL columns of `schema`; column `i` in binary format if `binary(i)`.
fn fields(schema: &Schema, binary: &dyn Fn(usize) -> bool) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                types::pg_type(f.data_type()),
                match binary(i) {
                    true => FieldFormat::Binary,
                    false => FieldFormat::Text,
                },
            )
        })
        .collect()
}

/// Whether column `i` is asked for in binary format.
fn binary_at(format: &Format, i: usize) -> bool {
    match format {
        Format::UnifiedText => false,
        Format::UnifiedBinary => true,
        Format::Individual(codes) => codes.get(i) == Some(&1),
    }
}

/// All columns in text format.
fn text(_: usize) -> bool {
    false
}

/// The answer as the protocol's response; column `i` in binary format if `binary(i)`.
fn response(answer: Answer, binary: &dyn Fn(usize) -> bool) -> PgWireResult<Response> {
    let (schema, batches) = match answer {
        Answer::Rows { schema, batches } => (schema, batches),
        Answer::Done(tag) => return Ok(Response::Execution(tag)),
        Answer::Begin => return Ok(Response::TransactionStart(Tag::new("BEGIN"))),
        Answer::End(tag) => return Ok(Response::TransactionEnd(tag)),
    };
    let fields = Arc::new(fields(&schema, binary));
    let mut rows = Vec::new();
    for batch in &batches {
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, column)| types::values(column, binary(i)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error("XX000", format!("cannot encode the rows: {e}")))?;
        for row in 0..batch.num_rows() {
            let mut data = BytesMut::new();
            for column in &columns {
                match &column[row] {
                    None => data.put_i32(-1),
                    Some(value) => {
                        data.put_i32(value.len() as i32);
                        data.put_slice(value);
                    }
                }
            }
            rows.push(Ok(DataRow::new(data, columns.len() as i16)));
        }
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(rows),
    )))
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut responses = Vec::new();
        for statement in sql::split(query) {
            // As PostgreSQL does, the statements after a failed one are not run.
            match self
                .answer(statement)
                .await
                .and_then(|a| response(a, &text))
            {
                Ok(r) => responses.push(r),
                Err(PgWireError::UserError(info)) => {
                    responses.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

/// The extended protocol's statements: one statement's SQL, parameters unbound.
#[derive(Debug, Default)]
pub(super) struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = String;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<String>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        match sql::split(sql).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_string())),
            _ => Err(error(
                "42601",
                "cannot insert multiple commands into a prepared statement".into(),
            )),
        }
    }

    fn get_parameter_types(&self, statement: &String) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::UNKNOWN; sql::parameters(statement)])
    }

    /// Not used: [`Queries`] describes statements and portals by planning them.
    fn get_result_schema(
        &self,
        _statement: &String,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Err(error(
            "XX000",
            "a statement's columns are known by planning it".into(),
        ))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = String;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<String>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let n = sql::parameters(&target.statement).max(target.parameter_types.len());
        let parameter_types = (0..n)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        // The columns do not depend on the values: planned with NULLs bound.
        let nulls = vec!["NULL".to_string(); n];
        let bound = sql::bind(&target.statement, &nulls).map_err(|e| error("08P01", e))?;
        // Before a Bind, the result formats are not known: text, as PostgreSQL says.
        let fields = self.describe(&bound, &text).await?;
        Ok(DescribeStatementResponse::new(parameter_types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<String>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let bound = params::bind_portal(portal)?;
        let binary = |i| binary_at(&portal.result_column_format, i);
        Ok(DescribePortalResponse::new(
            self.describe(&bound, &binary).await?,
        ))
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<String>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let bound = params::bind_portal(portal)?;
        let binary = |i| binary_at(&portal.result_column_format, i);
        response(self.answer(&bound).await?, &binary)
    }
}
