//! Traffic for the privacy API (`spate loadgen api`): normal users from many countries whose
//! activity follows their local time of day, and attackers — credential stuffing, scanning,
//! scraping and a botnet's flood — whose clients and times go to a labels file, to evaluate
//! attack detection against.
//!
//! The run is drawn from a seed ([`plan`]), then sent ([`run`]). Clients are named in
//! `X-Forwarded-For`, so the API must trust the load generator's address as a proxy.

#![warn(missing_docs)]

pub mod agents;
pub mod geo;
pub mod images;
pub mod plan;
pub mod run;

pub use plan::{AttackKind, Plan, Settings, plan};
pub use run::{Label, Report, run, write_labels};

use std::path::PathBuf;

/// What can go wrong in a load generator run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The settings cannot make a plan.
    #[error("{0}")]
    Plan(String),
    /// The target URL is not usable.
    #[error("target {0}")]
    Target(String),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
