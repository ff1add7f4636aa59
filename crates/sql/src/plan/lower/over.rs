//! OVER aggregations: `agg(…) OVER (PARTITION BY … ORDER BY rowtime ROWS|RANGE BETWEEN …
//! PRECEDING AND CURRENT ROW)`, lowered into the engine's [`OverAggregate`], keyed by the
//! PARTITION BY columns. As in Flink, every OVER call of a SELECT shares one window, ordered
//! by the rowtime ascending, and ends at the current row.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::{
    Expr, Window, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use spate_engine::exchange::Partitioning;
use spate_engine::over::{OverAggregate, OverConfig, OverFrame};
use spate_engine::window::{AggregateSpec, Aggregation};

use super::{Pipeline, strip_alias};
use crate::error::Result;
use crate::plan::Planner;
use crate::plan::tables::Relations;

impl Planner<'_> {
    /// `Window` nodes outside a Top-N: OVER aggregations.
    pub(super) fn over_aggregate(
        &self,
        window: &Window,
        relations: &Relations,
    ) -> Result<Pipeline> {
        let text = || {
            window
                .window_expr
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let input = window.input.schema();
        let arrow_input = Arc::new(input.as_arrow().clone());
        let props = datafusion::execution::context::ExecutionProps::new();
        let planning =
            datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext::default();
        let mut shared: Option<&WindowFunction> = None;
        let mut specs = Vec::new();
        for expr in &window.window_expr {
            let Expr::WindowFunction(function) = strip_alias(expr) else {
                return Err(self.unsupported("this OVER expression", &text(), "call an aggregate"));
            };
            let WindowFunctionDefinition::AggregateUDF(udaf) = &function.fun else {
                return Err(self.unsupported(
                    &format!("{}() OVER without a Top-N filter", function.fun.name()),
                    &text(),
                    "keep the first rows with WHERE rn <= N over the row number, or call an \
                     aggregate OVER the window",
                ));
            };
            let params = &function.params;
            if let Some(first) = shared {
                let p = &first.params;
                if (&p.partition_by, &p.order_by, &p.window_frame)
                    != (&params.partition_by, &params.order_by, &params.window_frame)
                {
                    return Err(self.unsupported(
                        "OVER windows that differ within one SELECT",
                        &text(),
                        "give every OVER of the SELECT the same PARTITION BY, ORDER BY and \
                         frame",
                    ));
                }
            } else {
                shared = Some(function);
            }
            let aggregate = Expr::AggregateFunction(AggregateFunction::new_udf(
                Arc::clone(udaf),
                params.args.clone(),
                params.distinct,
                params.filter.clone(),
                Vec::new(),
                params.null_treatment,
            ));
            let lowered =
                LoweredAggregateBuilder::new(&aggregate, input, &arrow_input, &props, &planning)
                    .with_name(expr.schema_name().to_string())
                    .build()
                    .map_err(|e| self.datafusion(e))?;
            specs.push(AggregateSpec {
                function: lowered.aggregate,
                filter: lowered.filter,
            });
        }
        let Some(function) = shared else {
            return Err(
                self.unsupported_node(&datafusion::logical_expr::LogicalPlan::Window(
                    window.clone(),
                )),
            );
        };
        let params = &function.params;
        let rowtime_column = match params.order_by.as_slice() {
            [sort] if sort.asc => match &sort.expr {
                Expr::Column(c) => input.index_of_column(c).ok().filter(|&i| {
                    matches!(
                        input.field(i).data_type(),
                        DataType::Timestamp(TimeUnit::Millisecond, _)
                    )
                }),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            self.unsupported(
                "an OVER window not ordered by one time attribute ascending",
                &text(),
                "ORDER BY the table's rowtime column (ASC)",
            )
        })?;
        let frame = self.over_frame(&params.window_frame, &text())?;
        let keys = self.physical_exprs(&params.partition_by, input)?;
        let key_names = params
            .partition_by
            .iter()
            .map(|e| e.schema_name().to_string())
            .collect();
        let aggregation = Aggregation::new(&arrow_input, keys.clone(), key_names, specs)
            .map_err(|e| self.engine(e))?;
        let config = OverConfig {
            rowtime_column,
            aggregation,
            frame,
            late: self.options.late,
        };
        // Check now what the operator would refuse at run time.
        let probe = spate_engine::operator::TaskInfo {
            name: "over aggregate".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: Default::default(),
            metrics: Default::default(),
        };
        OverAggregate::new(config.clone(), Arc::clone(&arrow_input), &probe)
            .map_err(|e| self.engine(e))?;
        let mut pipeline = self.lower(&window.input, relations)?;
        if pipeline.changelog {
            return Err(self.unsupported(
                "an OVER aggregation of an updating input",
                &text(),
                "aggregate OVER an append-only table or view",
            ));
        }
        let parallelism = if keys.is_empty() {
            1
        } else {
            self.options.parallelism
        };
        pipeline.exchange(
            "over aggregate",
            Partitioning::Hash(keys),
            parallelism,
            Arc::clone(&arrow_input),
        );
        pipeline.push(Arc::new(move |task| {
            Ok(Box::new(OverAggregate::new(
                config.clone(),
                Arc::clone(&arrow_input),
                task,
            )?) as Box<_>)
        }));
        Ok(pipeline)
    }

    /// The engine's frame of `frame`, which must end at the current row.
    fn over_frame(&self, frame: &WindowFrame, text: &str) -> Result<OverFrame> {
        let refuse = |what: &str| {
            self.unsupported(
                what,
                text,
                "write ROWS BETWEEN n PRECEDING AND CURRENT ROW or RANGE BETWEEN INTERVAL … \
                 PRECEDING AND CURRENT ROW (or UNBOUNDED PRECEDING)",
            )
        };
        if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
            return Err(refuse("an OVER frame that does not end at the current row"));
        }
        let preceding = match &frame.start_bound {
            WindowFrameBound::Preceding(value) => value,
            WindowFrameBound::CurrentRow => {
                return Ok(match frame.units {
                    WindowFrameUnits::Rows => OverFrame::Rows(Some(0)),
                    _ => OverFrame::Range(Some(0)),
                });
            }
            WindowFrameBound::Following(_) => {
                return Err(refuse("an OVER frame that starts after the current row"));
            }
        };
        match frame.units {
            WindowFrameUnits::Rows if preceding.is_null() => Ok(OverFrame::Rows(None)),
            WindowFrameUnits::Rows => match preceding {
                ScalarValue::UInt64(Some(n)) => Ok(OverFrame::Rows(Some(*n))),
                _ => Err(refuse("a ROWS frame of a non-integer size")),
            },
            WindowFrameUnits::Range if preceding.is_null() => Ok(OverFrame::Range(None)),
            WindowFrameUnits::Range => match preceding {
                ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
                    Ok(OverFrame::Range(Some(
                        i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000,
                    )))
                }
                ScalarValue::IntervalDayTime(Some(v)) => Ok(OverFrame::Range(Some(
                    i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds),
                ))),
                _ => Err(refuse(
                    "a RANGE frame that is not an INTERVAL of days or less",
                )),
            },
            WindowFrameUnits::Groups => Err(refuse("a GROUPS frame")),
        }
    }
}
