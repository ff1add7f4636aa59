//! Binding the HTTP API and the PostgreSQL endpoint and running them as tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use spate_store::{QueryLimits, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::WebError;
use crate::health::Health;
use crate::jobs::JobService;
use crate::models::ModelService;
use crate::pg::{self, PgOptions};

/// What to serve, and where.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The HTTP API's address; `None` serves none.
    pub http: Option<SocketAddr>,
    /// The PostgreSQL endpoint's address; `None` serves none.
    pub pg: Option<SocketAddr>,
    /// Who may connect to the PostgreSQL endpoint.
    pub pg_options: PgOptions,
    /// The limits of each query, over HTTP and PostgreSQL alike.
    pub limits: QueryLimits,
    /// What `GET /healthz` reports.
    pub health: Health,
    /// The jobs of the console (`/api/jobs`, `/console`); `None` has no console.
    pub jobs: Option<Arc<dyn JobService>>,
    /// The fleet model's registry (`/api/model`); `None` has none.
    pub models: Option<Arc<dyn ModelService>>,
    /// More routes served on the HTTP address (say, the privacy API's), merged in.
    pub routes: Option<axum::Router>,
}

/// The running servers; dropping it stops them: no new connections are taken, open HTTP
/// connections close once their current request is answered (idle keep-alive ones at once),
/// and live subscriptions end.
#[derive(Debug)]
pub struct Server {
    http: Option<SocketAddr>,
    pg: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    /// Dropped with the server: its receivers (the live subscriptions) see it closed.
    _closing: watch::Sender<()>,
}

impl Server {
    /// Binds the configured addresses and serves `store` on them, in tasks of the current
    /// Tokio runtime. A PostgreSQL endpoint on an address other than loopback needs a
    /// password: without one, nothing is started.
    pub async fn start(store: Store, config: ServerConfig) -> Result<Server, WebError> {
        if let Some(addr) = config.pg
            && !addr.ip().is_loopback()
            && config.pg_options.password.is_none()
        {
            return Err(WebError::PasswordRequired { addr });
        }
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| WebError::Bind { addr, source })
        };
        let http = match config.http {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let pg = match config.pg {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let local = |l: &TcpListener, addr: SocketAddr| l.local_addr().unwrap_or(addr);
        let (closing, closed) = watch::channel(());
        let mut server = Server {
            http: http.as_ref().zip(config.http).map(|(l, a)| local(l, a)),
            pg: pg.as_ref().zip(config.pg).map(|(l, a)| local(l, a)),
            tasks: Vec::new(),
            _closing: closing,
        };
        if let Some(listener) = http {
            let mut app = crate::http::router(
                store.clone(),
                config.limits,
                config.health.clone(),
                config.jobs.clone(),
                config.models.clone(),
                closed,
            );
            if let Some(routes) = config.routes.clone() {
                app = app.merge(routes);
            }
            // Handlers may ask for the peer's address (the privacy API's access log does).
            // Dropping the server aborts this task, and with it axum's shutdown signal: each
            // connection then shuts down gracefully.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            server.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("the HTTP API stopped: {e}");
                }
            }));
        }
        if let Some(listener) = pg {
            server.tasks.push(tokio::spawn(pg::serve(
                listener,
                store,
                config.pg_options,
                config.limits,
            )));
        }
        Ok(server)
    }

    /// The address the HTTP API listens on (with the port chosen, if 0 was asked for).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The address the PostgreSQL endpoint listens on.
    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.pg
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
