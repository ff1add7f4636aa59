//! ClickHouse tables as Flink's `clickhouse` connector reaches them: a [`sink`] that appends
//! rows in batches over ClickHouse's HTTP interface.
//!
//! The sink speaks plain HTTP (through `ureq`) and sends `INSERT … FORMAT RowBinary` bodies
//! that it encodes itself from the table's column types, read with `DESCRIBE TABLE` at start
//! ([`types`]). The `clickhouse` crate would do the same through serde structs fixed at
//! compile time, while a job's columns are known only when it is planned; RowBinary rather
//! than JSONEachRow because every value is converted to its column's exact type on Spate's
//! side, where a value that does not fit is caught row by row (and goes to the dead letters)
//! instead of failing the server's parse of the whole batch, and because it is a third of the
//! bytes (a million rows of `spate bench clickhouse`'s shape: 38 MB, against 118 MB of
//! JSONEachRow). RowBinary, the `X-ClickHouse-User`/`X-ClickHouse-Key` headers and `DESCRIBE
//! TABLE` all work on servers as old as Debian's 18.16.

pub mod sink;
pub mod types;

use std::time::Duration;

use serde::Deserialize;

use types::ChType;

/// ClickHouse's HTTP port when the URL names none.
const DEFAULT_PORT: u16 = 8123;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to answer a request, inserts included.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);
/// Idle connections are dropped before the server's `keep_alive_timeout` (3 s by default)
/// closes them under a request.
const MAX_IDLE_AGE: Duration = Duration::from_secs(2);
/// The first pause between tries; it doubles on every try, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Where a ClickHouse table is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// The server as written in `url`: `clickhouse://host:port`, `http://…` or `https://…`.
    pub url: String,
    /// `database-name` (`default` when absent).
    pub database: String,
    /// `table-name`.
    pub table: String,
    /// `username` (the server's `default` user when absent).
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
}

/// The HTTP endpoint a [`ClickHouseConfig`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Endpoint {
    /// The base URL of requests.
    fn base(&self) -> String {
        format!("{}://{}:{}/", self.scheme, self.host, self.port)
    }
}

/// What can go wrong talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// The URL is not one of ClickHouse's HTTP interface.
    #[error("url '{0}': expected clickhouse://host:port, http://host:port or https://host:port")]
    Url(String),
    /// The server did not answer (refused, timed out, connection lost).
    #[error("table {table}: cannot reach ClickHouse at {host}:{port}: {message}")]
    Unreachable {
        /// The table, `database.table`.
        table: String,
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// What the transport said.
        message: String,
    },
    /// The server refused the user name or the password.
    #[error(
        "table {table}: ClickHouse at {host}:{port} refused the login of user '{user}': {message}"
    )]
    Login {
        /// The table, `database.table`.
        table: String,
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// The user name sent.
        user: String,
        /// The server's message.
        message: String,
    },
    /// The table or its database does not exist.
    #[error("table {table} does not exist in ClickHouse at {host}:{port}: {message}")]
    MissingTable {
        /// The table, `database.table`.
        table: String,
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// The server's message.
        message: String,
    },
    /// The table's columns do not fit the rows written.
    #[error("table {table}: column {column}: {message}")]
    Column {
        /// The table, `database.table`.
        table: String,
        /// The column.
        column: String,
        /// What does not fit.
        message: String,
    },
    /// The server failed a request for another reason.
    #[error("table {table}: ClickHouse at {host}:{port} answered HTTP {status}: {message}")]
    Server {
        /// The table, `database.table`.
        table: String,
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// The HTTP status.
        status: u16,
        /// The server's message (`Code: N, e.displayText() = …`).
        message: String,
    },
}

impl ClickHouseError {
    /// Whether trying again may help: when the server was out of reach or said it was busy,
    /// not when the login, the table or the data is wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            ClickHouseError::Unreachable { .. } => true,
            ClickHouseError::Server {
                status, message, ..
            } => *status == 503 || TRANSIENT_CODES.contains(&error_code(message).unwrap_or(0)),
            _ => false,
        }
    }
}

/// Server error codes of passing conditions: TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES,
/// SOCKET_TIMEOUT, NETWORK_ERROR, MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS.
const TRANSIENT_CODES: &[u32] = &[159, 202, 209, 210, 241, 252];
/// Server error codes of a refused login: UNKNOWN_USER, WRONG_PASSWORD,
/// REQUIRED_PASSWORD, AUTHENTICATION_FAILED.
const LOGIN_CODES: &[u32] = &[192, 193, 194, 516];
/// Server error codes of a missing table: UNKNOWN_TABLE, UNKNOWN_DATABASE.
const MISSING_TABLE_CODES: &[u32] = &[60, 81];

/// The code of a server error message, `Code: 60, e.displayText() = …`.
fn error_code(message: &str) -> Option<u32> {
    let rest = message.trim_start().strip_prefix("Code: ")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// One column of a ClickHouse table, as `DESCRIBE TABLE` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TableColumn {
    /// The column's name.
    pub name: String,
    /// Its type as ClickHouse writes it, e.g. `Nullable(DateTime('UTC'))`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `DEFAULT`, `MATERIALIZED`, `ALIAS` or empty.
    #[serde(default)]
    pub default_type: String,
}

impl ClickHouseConfig {
    /// The endpoint the URL names.
    pub fn endpoint(&self) -> Result<Endpoint, ClickHouseError> {
        let bad = || ClickHouseError::Url(self.url.clone());
        let (scheme, rest) = self.url.trim().split_once("://").ok_or_else(bad)?;
        let (scheme, default_port) = match scheme {
            "clickhouse" | "http" => ("http", DEFAULT_PORT),
            "https" => ("https", 8443),
            _ => return Err(bad()),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        // An IPv6 address is bracketed: `[::1]:8123`.
        let port_at = match authority.starts_with('[') {
            true => authority.find(']').ok_or_else(bad)? + 1,
            false => authority.find(':').unwrap_or(authority.len()),
        };
        let (host, port) = authority.split_at(port_at);
        let port = match port {
            "" => default_port,
            _ => port
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(bad)?,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Endpoint {
            scheme,
            host: host.to_string(),
            port,
        })
    }

    /// The table as named in statements and messages, `database.table`.
    pub fn qualified_table(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// `name` quoted as a ClickHouse identifier.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// Requests to one ClickHouse server for one table, with the login of the table's options.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    endpoint: Endpoint,
    config: ClickHouseConfig,
    max_retries: u32,
}

impl Client {
    /// A client of `config`'s server that tries requests up to `max_retries` more times when
    /// the server is out of reach or busy.
    pub fn new(config: ClickHouseConfig, max_retries: u32) -> Result<Self, ClickHouseError> {
        let endpoint = config.endpoint()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(RESPONSE_TIMEOUT))
            .max_idle_age(MAX_IDLE_AGE)
            .build()
            .into();
        Ok(Client {
            agent,
            endpoint,
            config,
            max_retries,
        })
    }

    /// The table's columns, in order.
    pub fn describe(&self) -> Result<Vec<TableColumn>, ClickHouseError> {
        let sql = format!(
            "DESCRIBE TABLE {}.{} FORMAT JSONEachRow",
            quote(&self.config.database),
            quote(&self.config.table)
        );
        let text = self.with_retries("describe", || self.request(&sql, &[], &[]))?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str::<TableColumn>(line).map_err(|e| self.server_error(200, e))
            })
            .collect()
    }

    /// Appends `rows` rows encoded as RowBinary in `body` to `columns` of the table, as one
    /// block (so that the insert is whole or nothing), trying again while the server is out
    /// of reach or busy.
    pub fn insert(
        &self,
        columns: &[String],
        body: &[u8],
        rows: usize,
    ) -> Result<(), ClickHouseError> {
        let columns: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "INSERT INTO {}.{} ({}) FORMAT RowBinary",
            quote(&self.config.database),
            quote(&self.config.table),
            columns.join(", ")
        );
        let block = rows.max(1).to_string();
        self.with_retries("insert", || {
            self.request(&sql, &[("max_insert_block_size", &block)], body)
        })
        .map(drop)
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been tried `max_retries`
    /// more times, pausing longer before each new try.
    fn with_retries<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> Result<T, ClickHouseError>,
    ) -> Result<T, ClickHouseError> {
        let mut tries = 0;
        let mut pause = FIRST_BACKOFF;
        loop {
            match attempt() {
                Err(e) if e.is_transient() && tries < self.max_retries => {
                    tries += 1;
                    tracing::warn!(table = %self.config.qualified_table(), try_ = tries, error = %e,
                        "ClickHouse {what} failed, trying again in {pause:?}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                result => return result,
            }
        }
    }

    /// Sends `sql` (with `settings` and `body` after it) and returns the answer's text.
    fn request(
        &self,
        sql: &str,
        settings: &[(&str, &str)],
        body: &[u8],
    ) -> Result<String, ClickHouseError> {
        let mut request = self
            .agent
            .post(self.endpoint.base())
            .query("query", sql)
            .header("X-ClickHouse-User", self.user());
        for (key, value) in settings {
            request = request.query(*key, *value);
        }
        if let Some(password) = &self.config.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        let mut response = request.send(body).map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        if status == 200 {
            return Ok(text);
        }
        let message = text.trim().to_string();
        let code = error_code(&message).unwrap_or(0);
        let (table, host, port) = (
            self.config.qualified_table(),
            self.endpoint.host.clone(),
            self.endpoint.port,
        );
        Err(if status == 401 || LOGIN_CODES.contains(&code) {
            ClickHouseError::Login {
                table,
                host,
                port,
                user: self.user().to_string(),
                message,
            }
        } else if MISSING_TABLE_CODES.contains(&code) {
            ClickHouseError::MissingTable {
                table,
                host,
                port,
                message,
            }
        } else {
            ClickHouseError::Server {
                table,
                host,
                port,
                status,
                message,
            }
        })
    }

    /// The user name sent.
    fn user(&self) -> &str {
        self.config.username.as_deref().unwrap_or("default")
    }

    fn unreachable(&self, e: ureq::Error) -> ClickHouseError {
        ClickHouseError::Unreachable {
            table: self.config.qualified_table(),
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            message: e.to_string(),
        }
    }

    fn server_error(&self, status: u16, e: impl std::fmt::Display) -> ClickHouseError {
        ClickHouseError::Server {
            table: self.config.qualified_table(),
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            status,
            message: format!("unexpected answer: {e}"),
        }
    }
}

/// Checks that `table`'s columns take the sink's `fields`: each must exist, be writable
/// (neither `MATERIALIZED` nor `ALIAS`) and have a type its values convert to. Returns the
/// ClickHouse type of each field, in the fields' order.
pub fn check_columns(
    table: &str,
    columns: &[TableColumn],
    fields: &arrow::datatypes::Fields,
) -> Result<Vec<ChType>, ClickHouseError> {
    let fail = |column: &str, message: String| ClickHouseError::Column {
        table: table.to_string(),
        column: column.to_string(),
        message,
    };
    fields
        .iter()
        .map(|field| {
            let name = field.name();
            let Some(column) = columns.iter().find(|c| &c.name == name) else {
                return Err(fail(
                    name,
                    format!(
                        "the ClickHouse table has no such column (it has {})",
                        columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if matches!(column.default_type.as_str(), "MATERIALIZED" | "ALIAS") {
                return Err(fail(
                    name,
                    format!(
                        "the column is {} in ClickHouse and cannot be inserted into",
                        column.default_type
                    ),
                ));
            }
            let ty = ChType::parse(&column.type_name).map_err(|e| fail(name, e))?;
            ty.check_source(field.data_type())
                .map_err(|e| fail(name, e))?;
            Ok(ty)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            database: "db".into(),
            table: "t".into(),
            username: None,
            password: None,
        }
    }

    #[test]
    fn urls_name_the_http_endpoint() {
        let endpoint = |url: &str| config(url).endpoint();
        assert_eq!(
            endpoint("clickhouse://127.0.0.1:18123").unwrap(),
            Endpoint {
                scheme: "http",
                host: "127.0.0.1".into(),
                port: 18123
            }
        );
        assert_eq!(endpoint("http://ch.local/").unwrap().port, 8123);
        assert_eq!(endpoint("https://ch.local").unwrap().port, 8443);
        assert_eq!(endpoint("http://[::1]:9").unwrap().host, "[::1]");
        assert_eq!(endpoint("http://[::1]").unwrap().port, 8123);
        for bad in [
            "jdbc:clickhouse://h:8123",
            "tcp://h:9000",
            "http://h:x",
            "http://h:8123/db",
            "http://u:p@h:8123",
            "http://",
        ] {
            assert!(
                matches!(endpoint(bad), Err(ClickHouseError::Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_errors_are_classified_by_code() {
        assert_eq!(
            error_code("Code: 60, e.displayText() = DB::Exception: Table x doesn't exist."),
            Some(60)
        );
        assert_eq!(error_code("Internal error"), None);
        let server = |status, message: &str| ClickHouseError::Server {
            table: "db.t".into(),
            host: "h".into(),
            port: 1,
            status,
            message: message.into(),
        };
        assert!(server(500, "Code: 252, e.displayText() = Too many parts").is_transient());
        assert!(server(503, "").is_transient());
        assert!(!server(500, "Code: 33, e.displayText() = Cannot read all data").is_transient());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a`b\\c"), "`a\\`b\\\\c`");
    }

    #[test]
    fn columns_are_checked_by_name_kind_and_type() {
        use arrow::datatypes::{DataType, Field, Fields};
        let columns = vec![
            TableColumn {
                name: "id".into(),
                type_name: "UInt32".into(),
                default_type: String::new(),
            },
            TableColumn {
                name: "name".into(),
                type_name: "Nullable(String)".into(),
                default_type: String::new(),
            },
            TableColumn {
                name: "day".into(),
                type_name: "Date".into(),
                default_type: "MATERIALIZED".into(),
            },
        ];
        let fields = |fs: Vec<Field>| Fields::from(fs);
        let ok = check_columns(
            "db.t",
            &columns,
            &fields(vec![
                Field::new("name", DataType::Utf8, true),
                Field::new("id", DataType::Int64, true),
            ]),
        )
        .unwrap();
        assert_eq!(ok[1], ChType::parse("UInt32").unwrap());
        let message = |fs| {
            check_columns("db.t", &columns, &fields(fs))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message(vec![Field::new("nope", DataType::Int64, true)]),
            "table db.t: column nope: the ClickHouse table has no such column (it has id, name, day)"
        );
        assert!(message(vec![Field::new("day", DataType::Date32, true)]).contains("MATERIALIZED"));
        assert!(
            message(vec![Field::new("id", DataType::Utf8, true)])
                .starts_with("table db.t: column id: ")
        );
    }
}
