//! Spate's Flink SQL front end: it reads a job script the way Flink's SQL client does and
//! hands the planner typed, position-carrying pieces.
//!
//! In reading order:
//!
//! - [`error`]: [`SqlError`], every failure with the user's `line:column`, text and a hint.
//! - [`dialect`]: [`FlinkDialect`], Flink's lexical rules for `sqlparser`.
//! - [`split`]: cutting a script into statements and statement sets, keeping positions.
//! - `tokens` (internal): a cursor over a statement's tokens for the hand-written parts.
//! - [`interval`]: `INTERVAL '2' SECOND` → milliseconds.
//! - [`types`]: Flink data types → Arrow [`DataType`](arrow::datatypes::DataType)s.
//! - [`connector`]: the connectors Spate knows and their `WITH` options.
//! - [`catalog`]: the catalog model: tables, columns, watermarks, views, functions.
//! - [`ddl`]: `CREATE TABLE` and `CREATE FUNCTION` into the catalog model.
//! - [`functions`]: Flink's built-in scalar functions DataFusion lacks or computes
//!   differently.
//! - [`window`]: window table-valued functions (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`),
//!   recognised and rewritten away so `sqlparser`/DataFusion can read the rest.
//! - [`ml_predict`]: `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(…))` calls, recognised and
//!   rewritten away like window TVFs.
//! - `group_window` (internal): Flink's legacy `GROUP BY TUMBLE(ts, …)` windows, rewritten
//!   into window TVFs.
//! - [`query`]: `INSERT INTO … SELECT …` and views into `sqlparser` ASTs.
//! - [`script`]: [`parse_script`], the whole job file into a [`Script`].
//! - [`predict`]: [`Predictor`], the models `ML_PREDICT` calls, and how a batch calls one.
//! - [`plan`]: [`plan_script`], the script's INSERTs into engine job graphs.

#![warn(missing_docs)]

pub mod catalog;
pub mod connector;
pub mod ddl;
pub mod dialect;
pub mod error;
pub mod functions;
mod group_window;
pub mod interval;
pub mod ml_predict;
pub mod plan;
pub mod predict;
pub mod query;
pub mod script;
pub mod split;
mod tokens;
pub mod types;
pub mod window;

pub use catalog::{
    Catalog, Column, ColumnKind, FunctionDef, ModelColumn, ModelDef, PrimaryKey, TableDef, ViewDef,
    Watermark,
};
pub use connector::Connector;
pub use dialect::FlinkDialect;
pub use error::{Position, Result, SqlError};
pub use ml_predict::MlPredictCall;
pub use plan::{
    AggPhaseStrategy, ColumnsRead, ConnectorRegistry, PlanOptions, parse_duration, plan_insert,
    plan_script,
};
pub use predict::Predictor;
pub use query::{Insert, LookupJoin, ParsedQuery};
pub use script::{Script, parse_script};
pub use split::{RawStatement, split_script};
pub use window::WindowTvf;
