//! The PostgreSQL wire protocol over the store, through `pgwire`: `psql`, JDBC, Grafana
//! and other PostgreSQL clients query the tables.
//!
//! Results are sent in text format, with each Arrow type's PostgreSQL type ([`types`]).
//! Session commands clients send on connecting are accepted (`SET`, `RESET`, `DISCARD`,
//! `BEGIN`/`COMMIT`, …) and `SHOW` answers the usual settings. Queries of PostgreSQL's
//! catalog (`pg_catalog`, `information_schema`: what `psql`'s `\d` and Grafana's table and
//! column lists read) are answered from the store's tables and their schemas ([`meta`]);
//! everything else is a query for the store. All are read-only and within the query limits.

use std::sync::Arc;
use std::time::Duration;

use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use spate_store::{QueryLimits, Store};
use tokio::net::TcpListener;

mod auth;
mod catalog;
mod functions;
mod handler;
mod meta;
mod params;
mod rewrite;
mod sql;
mod types;

/// How a password is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgAuth {
    /// In clear text (PostgreSQL's `password`): only over a trusted network.
    Cleartext,
    /// Hashed with MD5 and a salt per connection (PostgreSQL's `md5`).
    #[default]
    Md5,
}

/// Who may connect to the PostgreSQL endpoint.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// The password of the user `spate`; without one, any login as `spate` is let in (which
    /// [`crate::Server::start`] allows on loopback addresses only).
    pub password: Option<String>,
    /// How the password is sent.
    pub auth: PgAuth,
}

/// The handlers of every connection.
struct Handlers {
    startup: Arc<auth::Startup>,
    queries: Arc<handler::Queries>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }
}

/// Serves connections from `listener` until the task is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    store: Store,
    options: PgOptions,
    limits: QueryLimits,
) {
    let handlers = Arc::new(Handlers {
        startup: Arc::new(auth::Startup::new(options.password, options.auth)),
        queries: Arc::new(handler::Queries::new(store, limits)),
    });
    // The connections end with this task: when the server stops, so do they.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((socket, peer)) => {
                let handlers = Arc::clone(&handlers);
                connections.spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                        tracing::debug!(%peer, "PostgreSQL connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted.
                tracing::warn!("PostgreSQL endpoint: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
