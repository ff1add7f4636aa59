//! [`FlinkPlanner`]: sends the SQL forms DataFusion plans itself, `EXTRACT(part FROM t)`,
//! `SUBSTRING(s FROM p FOR n)` and `OVERLAY(s PLACING r FROM p FOR n)`, to the Flink versions
//! of the functions.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{Expr, ScalarUDF};

use super::{string, time};

/// Plans `EXTRACT` with Flink's parts (`DOW` counts from Sunday = 1, results are BIGINT),
/// `SUBSTRING` with Flink's positions (negative ones count from the end) and `OVERLAY` with
/// Flink's edge cases.
#[derive(Debug)]
pub(super) struct FlinkPlanner {
    extract: Arc<ScalarUDF>,
    substring: Arc<ScalarUDF>,
    overlay: Arc<ScalarUDF>,
}

impl FlinkPlanner {
    pub(super) fn new() -> FlinkPlanner {
        FlinkPlanner {
            extract: Arc::new(time::extract_udf()),
            substring: Arc::new(string::substr_udf()),
            overlay: Arc::new(string::overlay_udf()),
        }
    }
}

impl ExprPlanner for FlinkPlanner {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.extract), args),
        )))
    }

    fn plan_substring(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.substring), args),
        )))
    }

    fn plan_overlay(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.overlay), args),
        )))
    }
}
