//! The errors of starting the servers.

use std::net::SocketAddr;

/// What can go wrong starting the query interfaces.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The PostgreSQL endpoint would be reachable from other machines without a password.
    #[error(
        "the PostgreSQL endpoint {addr} is not a loopback address: set a password \
         (--pg-password or SPATE_PG_PASSWORD) to listen there"
    )]
    PasswordRequired {
        /// The address.
        addr: SocketAddr,
    },
}
