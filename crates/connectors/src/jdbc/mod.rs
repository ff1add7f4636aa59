//! Tables of MySQL/MariaDB and PostgreSQL databases, as Flink's `jdbc` connector reaches them:
//! a [`sink`] of batched inserts (or upserts and deletes by primary key) and a bounded
//! [`source`] that reads the table whole (a lookup join's `FULL` cache), and a [`lookup`] by
//! key (the `PARTIAL` and `NONE` caches).
//!
//! The drivers are async (sqlx); each connection lives with its own single-threaded runtime,
//! driven from a short-lived thread so that the engine's tasks, themselves on a runtime, can
//! wait for it.

pub mod lookup;
pub mod sink;
pub mod source;
mod value;

use std::future::Future;

use sqlx::{AnyConnection, Connection};

/// The databases the connector speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MySQL or MariaDB (`jdbc:mysql://…`, `jdbc:mariadb://…`, `mysql://…`).
    MySql,
    /// PostgreSQL (`jdbc:postgresql://…`, `postgres://…`).
    Postgres,
}

impl Dialect {
    /// `name` quoted as an identifier (a dotted name is quoted part by part).
    pub fn quote(self, name: &str) -> String {
        let (q, escaped) = match self {
            Dialect::MySql => ('`', "``"),
            Dialect::Postgres => ('"', "\"\""),
        };
        name.split('.')
            .map(|part| format!("{q}{}{q}", part.replace(q, escaped)))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The placeholder of the `n`-th parameter (from 1).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::MySql => "?".into(),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// Where a JDBC table is and how to log in.
#[derive(Debug, Clone)]
pub struct JdbcConfig {
    /// The database URL as written (`jdbc:mysql://host:3306/db`, `postgres://…`).
    pub url: String,
    /// The table, possibly `schema.table`.
    pub table: String,
    /// `username`, overriding the URL's.
    pub username: Option<String>,
    /// `password`, overriding the URL's.
    pub password: Option<String>,
}

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum JdbcError {
    /// The URL names no database Spate speaks to.
    #[error(
        "url '{0}': expected jdbc:mysql://, jdbc:mariadb://, jdbc:postgresql:// (or mysql://, postgres://)"
    )]
    Url(String),
    /// Connecting failed.
    #[error("table {table}: cannot connect to {url}: {source}")]
    Connect {
        /// The table.
        table: String,
        /// The URL, without its password.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("table {table}: {source}")]
    Statement {
        /// The table.
        table: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A value cannot go to or come from the database.
    #[error("table {table}: column {column}: {message}")]
    Value {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
}

impl JdbcConfig {
    /// The dialect the URL names.
    pub fn dialect(&self) -> Result<Dialect, JdbcError> {
        Ok(self.parse_url()?.0)
    }

    /// The dialect and the driver's URL (`mysql://…` or `postgres://…`, credentials set).
    fn parse_url(&self) -> Result<(Dialect, String), JdbcError> {
        let url = self.url.trim();
        let url = url.strip_prefix("jdbc:").unwrap_or(url);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| JdbcError::Url(self.url.clone()))?;
        let dialect = match scheme {
            "mysql" | "mariadb" => Dialect::MySql,
            "postgresql" | "postgres" => Dialect::Postgres,
            _ => return Err(JdbcError::Url(self.url.clone())),
        };
        let scheme = match dialect {
            Dialect::MySql => "mysql",
            Dialect::Postgres => "postgres",
        };
        let (userinfo, host) = match rest.split_once('@') {
            Some((u, h)) if !u.contains('/') => (Some(u), h),
            _ => (None, rest),
        };
        let (url_user, url_password) = match userinfo.map(|u| u.split_once(':')) {
            Some(Some((u, p))) => (Some(u.to_string()), Some(p.to_string())),
            Some(None) => (userinfo.map(String::from), None),
            None => (None, None),
        };
        let user = self.username.as_deref().map(encode).or(url_user);
        let password = self.password.as_deref().map(encode).or(url_password);
        let credentials = match (user, password) {
            (Some(u), Some(p)) => format!("{u}:{p}@"),
            (Some(u), None) => format!("{u}@"),
            (None, Some(p)) => format!(":{p}@"),
            (None, None) => String::new(),
        };
        Ok((dialect, format!("{scheme}://{credentials}{host}")))
    }

    /// The URL as shown in messages: without a password.
    pub fn display_url(&self) -> String {
        let url = self.url.trim();
        match (url.find("://"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => match url[start + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_string(),
            },
            _ => url.to_string(),
        }
    }

    /// Opens a connection, driven by `driver`.
    fn connect(&self, driver: &Driver) -> Result<AnyConnection, JdbcError> {
        let (_, url) = self.parse_url()?;
        sqlx::any::install_default_drivers();
        driver
            .block_on(AnyConnection::connect(&url))
            .map_err(|source| JdbcError::Connect {
                table: self.table.clone(),
                url: self.display_url(),
                source,
            })
    }
}

/// Percent-encodes a user name or password for a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A single-threaded runtime for one connection, driven from threads of its own: the caller
/// may itself be on a runtime, where blocking on (or dropping) another one is not allowed.
pub(crate) struct Driver {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Driver {
    /// A new runtime.
    pub(crate) fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Driver {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` to completion.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, user: Option<&str>, password: Option<&str>) -> JdbcConfig {
        JdbcConfig {
            url: url.into(),
            table: "t".into(),
            username: user.map(String::from),
            password: password.map(String::from),
        }
    }

    #[test]
    fn urls_take_flink_forms_and_credentials() {
        let c = config("jdbc:mysql://127.0.0.1:3306/db", Some("root"), Some("p@ss"));
        assert_eq!(
            c.parse_url().unwrap(),
            (
                Dialect::MySql,
                "mysql://root:p%40ss@127.0.0.1:3306/db".into()
            )
        );
        let c = config("jdbc:postgresql://u:x@h/db", None, Some("y"));
        assert_eq!(
            c.parse_url().unwrap(),
            (Dialect::Postgres, "postgres://u:y@h/db".into())
        );
        assert_eq!(c.display_url(), "jdbc:postgresql://u:***@h/db");
        assert!(matches!(
            config("jdbc:oracle:thin:@h", None, None).parse_url(),
            Err(JdbcError::Url(_))
        ));
    }

    #[test]
    fn identifiers_are_quoted_per_dialect() {
        assert_eq!(Dialect::MySql.quote("db.t`x"), "`db`.`t``x`");
        assert_eq!(Dialect::Postgres.quote("public.t"), "\"public\".\"t\"");
        assert_eq!(Dialect::Postgres.placeholder(3), "$3");
    }
}
