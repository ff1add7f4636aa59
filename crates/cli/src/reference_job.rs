//! The reference job of `../shared/bench/flink`, built directly on the engine until the SQL
//! layer plans it from Flink SQL:
//!
//! ```sql
//! SELECT window_start, window_end, client_ip,
//!        COUNT(*), AVG(latency_ms), SUM(bytes_out), COUNT(*) FILTER (WHERE status >= 400)
//! FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
//! GROUP BY window_start, window_end, client_ip
//! -- with WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{binary, col, lit};
use spate_connectors::log_source::{Bound, LogSource, LogSourceConfig, StartupMode};
use spate_engine::exchange::Partitioning;
use spate_engine::operator::OperatorFactory;
use spate_engine::sink::SinkFactory;
use spate_engine::source::SourceFactory;
use spate_engine::time::WatermarkStrategy;
use spate_engine::window::{AggregateSpec, Aggregation, LatePolicy, WindowConfig, WindowKind};
use spate_engine::{JobGraph, Link, SourceStage, Stage};
use spate_log::Log;

/// The columns of the access-log events the job reads (others are ignored).
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("client_ip", DataType::Utf8, false),
        Field::new("status", DataType::Int32, false),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("bytes_out", DataType::Int64, false),
    ]))
}

/// Where the job reads from and writes to.
pub struct ReferenceJob {
    /// The log holding the events.
    pub log: Log,
    /// The events topic.
    pub topic: String,
    /// When the source stops.
    pub bound: Bound,
    /// Instances per stage.
    pub parallelism: usize,
    /// The sink.
    pub sink: SinkFactory,
    /// Emit partial window results this often.
    pub early_fire: Option<std::time::Duration>,
}

fn count_star() -> Arc<dyn PhysicalExpr> {
    lit(ScalarValue::Int64(Some(1)))
}

impl ReferenceJob {
    /// The dataflow: log source (watermark ts - 2 s) → hash by client_ip → 10 s tumbling
    /// window aggregate → sink.
    pub fn graph(self) -> anyhow::Result<JobGraph> {
        let schema = event_schema();
        let client_ip = col("client_ip", &schema)?;
        let aggregate = |f, args: Vec<Arc<dyn PhysicalExpr>>, name: &str| {
            AggregateExprBuilder::new(f, args)
                .schema(Arc::clone(&schema))
                .alias(name)
                .build()
                .map(Arc::new)
        };
        let errors_filter = binary(
            col("status", &schema)?,
            BinaryOp::GtEq,
            lit(ScalarValue::Int32(Some(400))),
            &schema,
        )?;
        let aggregates = vec![
            AggregateSpec {
                function: aggregate(count_udaf(), vec![count_star()], "cnt")?,
                filter: None,
            },
            AggregateSpec {
                function: aggregate(avg_udaf(), vec![col("latency_ms", &schema)?], "avg_latency")?,
                filter: None,
            },
            AggregateSpec {
                function: aggregate(sum_udaf(), vec![col("bytes_out", &schema)?], "sum_bytes")?,
                filter: None,
            },
            AggregateSpec {
                function: aggregate(count_udaf(), vec![count_star()], "errors")?,
                filter: Some(errors_filter),
            },
        ];
        let window = WindowConfig {
            kind: WindowKind::Tumble { size_ms: 10_000 },
            rowtime_column: 0,
            aggregation: Aggregation::new(
                &schema,
                vec![Arc::clone(&client_ip)],
                vec!["client_ip".into()],
                aggregates,
            )?,
            late: LatePolicy::Drop,
            early_fire: self.early_fire,
        };
        let window_op: OperatorFactory = Arc::new(move |task| window.build(task));
        let source_config = LogSourceConfig {
            log: self.log,
            topic: self.topic.clone(),
            schema: Arc::clone(&schema),
            startup: StartupMode::Earliest,
            bound: self.bound,
            group: None,
            fetch_bytes: 1 << 20,
            positions: None,
        };
        let source: SourceFactory = Arc::new(move |task| {
            Ok(Box::new(LogSource::new(source_config.clone(), task)?) as Box<_>)
        });
        Ok(JobGraph {
            name: "api-metrics-10s".into(),
            sources: vec![SourceStage {
                name: format!("source: {}", self.topic),
                source,
                parallelism: self.parallelism,
                watermarks: Some(WatermarkStrategy {
                    rowtime_column: 0,
                    max_out_of_orderness_ms: 2_000,
                    idle_timeout: None,
                }),
                chain: Vec::new(),
                output: Link::default(),
            }],
            stages: vec![Stage {
                name: "window".into(),
                input: Partitioning::Hash(vec![client_ip]),
                input_schema: None,
                parallelism: self.parallelism,
                chain: vec![window_op],
                sink: Some(self.sink),
                output: None,
            }],
        })
    }
}
