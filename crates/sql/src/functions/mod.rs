//! Flink's built-in scalar functions for DataFusion.
//!
//! Jobs written for Flink must run unchanged, so every function Flink has and DataFusion
//! lacks, names differently or computes differently is provided here with Flink's semantics
//! (Flink 1.x/2.x "System (Built-in) Functions"). The session time zone is UTC
//! ([`LTZ_TIME_ZONE`](crate::types::LTZ_TIME_ZONE)): a `TIMESTAMP_LTZ` shows as its UTC wall
//! clock. [`register`] puts all of it into a [`SessionContext`]; [`rewrite`] turns the few
//! Flink forms DataFusion's SQL planner cannot read into calls of these functions.
//!
//! In reading order:
//!
//! - `aggregate` (internal): `SUM` and `AVG` typed as Flink types them (an `INT`'s sum and
//!   average are `INT`).
//! - `udf` (internal): [`Func`](udf::Func), a function described by its parameter kinds,
//!   result type and evaluation; argument checks with errors that name the function.
//! - `conditional`: `COALESCE` and `IFNULL`, evaluated without DataFusion's optimizer.
//! - `string`: `SUBSTRING`/`SUBSTR` (Flink's 1-based, negative-from-the-end positions),
//!   `CONCAT` (NULL if any argument is), `LEFT`/`RIGHT`, `LPAD`/`RPAD`, `LOCATE`, `OVERLAY`,
//!   `CHR`, `SPLIT_INDEX`.
//! - `regexp`: `REGEXP_EXTRACT`, `REGEXP_REPLACE` (all matches, the replacement taken literally),
//!   `REGEXP`.
//! - `json`: `JSON_VALUE`, `JSON_EXISTS` and their JSON path subset.
//! - `math`: `LOG` (natural by default, base first), `RAND`/`RAND_INTEGER` (Java's
//!   generator, so seeded sequences match Flink's), `BIN`, `HEX`, `TRUNCATE`, `SIGN`, `E`,
//!   `MOD`.
//! - `hash`: `SHA1`, `SHA224` … `SHA512`, `SHA2` as lower-case hex strings.
//! - `datetime_format` (internal): Java date-time patterns (`yyyy-MM-dd HH:mm:ss.SSS`),
//!   formatting and parsing.
//! - `time`: `DATE_FORMAT`, `TO_TIMESTAMP`, `TO_DATE`, `FROM_UNIXTIME`, `UNIX_TIMESTAMP`,
//!   `TIMESTAMPADD`, `TIMESTAMPDIFF`, `EXTRACT` and `YEAR` … `SECOND`, `FLOOR`/`CEIL` to a
//!   unit, and the clock functions (`NOW`, `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP`,
//!   `CURRENT_DATE`, `PROCTIME`, …), evaluated per row as Flink's streaming mode does.
//! - `planner` (internal): the expression planner that sends `EXTRACT(… FROM …)`,
//!   `SUBSTRING(… FROM … FOR …)` and `OVERLAY(… PLACING …)` to the Flink versions.
//! - `shipped`: the UDFs Spate ships for `CREATE FUNCTION name AS 'class'`, by their Flink
//!   class names ([`shipped_udf`]): Nexmark's `count_char`.
//! - `syntax`: [`rewrite`], for `TIMESTAMPADD(DAY, …)`, `FLOOR(ts TO HOUR)`, `IF(c, a, b)`
//!   and `JSON_VALUE(… RETURNING type)`.
//!
//! Functions DataFusion already has with Flink's semantics are left to it and covered by the
//! tests: `CHAR_LENGTH`, `UPPER`, `LOWER`, `INITCAP`, `POSITION`, `INSTR`, `REPEAT`,
//! `REVERSE`, `REPLACE`, `CONCAT_WS`, `TRIM`/`LTRIM`/`RTRIM`, `||`, `MD5`,
//! `NULLIF`, `GREATEST`, `LEAST`, `ABS`, `POWER`, `SQRT`, `LN`, `LOG10`, `LOG2`, `EXP`,
//! `ROUND`, `PI`, `CEIL`/`FLOOR` of numbers, the trigonometric functions and `UUID`.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

mod aggregate;
mod conditional;
mod datetime_format;
mod hash;
mod json;
mod math;
mod planner;
mod regexp;
mod shipped;
mod string;
mod syntax;
mod time;
mod udf;

pub use shipped::{SHIPPED, shipped_udf};
pub use syntax::rewrite;

/// Registers Flink's built-in functions into `ctx`, replacing DataFusion functions of the same
/// name whose semantics differ, and puts Flink's `EXTRACT` and `SUBSTRING` planning ahead of
/// DataFusion's.
///
/// Call it on the context that plans: a state rebuilt from this one
/// (`SessionStateBuilder::new_from_existing`) registers every function again in no particular
/// order, and may bring DataFusion's back under names these replace.
pub fn register(ctx: &SessionContext) {
    let state = ctx.state_ref();
    let mut state = state.write();
    let mut planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(planner::FlinkPlanner::new())];
    planners.extend(state.expr_planners().iter().cloned());
    // DataFusion's functions first and these last, so that these win every name they share.
    let mut udfs: Vec<Arc<ScalarUDF>> = state.scalar_functions().values().cloned().collect();
    udfs.extend(functions().into_iter().map(Arc::new));
    let mut udafs: Vec<Arc<AggregateUDF>> = state.aggregate_functions().values().cloned().collect();
    udafs.extend(aggregate::functions().into_iter().map(Arc::new));
    *state = SessionStateBuilder::new_from_existing(state.clone())
        .with_expr_planners(planners)
        .with_scalar_functions(udfs)
        .with_aggregate_functions(udafs)
        .build();
}

/// Every function of this module.
fn functions() -> Vec<ScalarUDF> {
    let mut all = Vec::new();
    all.extend(conditional::functions());
    all.extend(string::functions());
    all.extend(regexp::functions());
    all.extend(json::functions());
    all.extend(math::functions());
    all.extend(hash::functions());
    all.extend(time::functions());
    all
}
