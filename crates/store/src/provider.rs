//! The DataFusion view of the store: a table provider over one snapshot of a table (its
//! in-memory batches, skipped by their column statistics where filters rule them out, and
//! its Parquet files), and the schema provider that names the store's tables.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, col, lit};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::union::UnionExec;

use crate::retention;
use crate::snapshot::{BatchStatistics, MemBatch, Snapshot};
use crate::table::now_ms;

/// One snapshot of a table, as DataFusion scans it.
#[derive(Debug)]
pub struct SnapshotTable {
    snapshot: Arc<Snapshot>,
}

impl SnapshotTable {
    /// A provider over `snapshot`.
    pub fn new(snapshot: Arc<Snapshot>) -> Self {
        SnapshotTable { snapshot }
    }

    /// The predicate keeping rows within retention by the time column, if the table ages
    /// rows by one: `column >= cutoff OR column IS NULL`.
    fn retention_filter(&self, cutoff: Option<i64>) -> Option<Expr> {
        let config = &self.snapshot.config;
        let column = config.retention.as_ref()?.time_column.as_ref()?;
        let cutoff = cutoff?;
        let data_type = config.schema.field_with_name(column).ok()?.data_type();
        let value = match data_type {
            DataType::Timestamp(unit, tz) => {
                let ms = ScalarValue::TimestampMillisecond(Some(cutoff), tz.clone());
                ms.cast_to(&DataType::Timestamp(*unit, tz.clone())).ok()?
            }
            _ => ScalarValue::Int64(Some(cutoff)),
        };
        Some(col(column).gt_eq(lit(value)).or(col(column).is_null()))
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.snapshot.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters skip batches, row groups and files; DataFusion still applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.snapshot.schema();
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let config = &self.snapshot.config;
        let cutoff = retention::cutoff(config, now_ms());
        let by_time = config
            .retention
            .as_ref()
            .is_some_and(|r| r.time_column.is_some());
        let retention_filter = self.retention_filter(cutoff);

        // In memory: batches within retention by ingest time that the filters may match.
        let mut batches: Vec<&MemBatch> = self
            .snapshot
            .batches
            .iter()
            .filter(|b| by_time || cutoff.is_none_or(|c| b.ingest_ms >= c))
            .collect();
        if let Some(predicate) = conjunction(filters.to_vec()) {
            let predicate = state.create_physical_expr(predicate, &df_schema)?;
            // A predicate the pruner cannot use prunes nothing.
            if let Ok(pruning) = PruningPredicateBuilder::new()
                .with_file_schema(Arc::clone(&schema))
                .try_build(predicate)
            {
                let keep = pruning.prune(&BatchStatistics {
                    schema: &schema,
                    batches: &batches,
                })?;
                batches = batches
                    .into_iter()
                    .zip(keep)
                    .filter_map(|(b, keep)| keep.then_some(b))
                    .collect();
            }
        }
        let files: Vec<_> = self
            .snapshot
            .files
            .iter()
            .filter(|(_, f)| match (cutoff, by_time) {
                (None, _) => true,
                (Some(c), true) => f.max_time_ms.is_none_or(|t| t >= c),
                (Some(c), false) => f.max_ingest_ms >= c,
            })
            .collect();

        // Rows filtered for retention are read whole, then projected by the filter.
        let (inner_projection, inner_limit) = match retention_filter {
            Some(_) => (None, None),
            None => (projection.cloned(), limit),
        };
        let mut plans = Vec::new();
        if !batches.is_empty() || files.is_empty() {
            let n = state
                .config()
                .target_partitions()
                .clamp(1, batches.len().max(1));
            let mut partitions = vec![Vec::new(); n];
            for (i, b) in batches.iter().enumerate() {
                partitions[i % n].push(b.batch.clone());
            }
            let memory = MemTable::try_new(Arc::clone(&schema), partitions)?;
            plans.push(
                memory
                    .scan(state, inner_projection.as_ref(), &[], inner_limit)
                    .await?,
            );
        }
        if !files.is_empty() {
            let urls = files
                .iter()
                .map(|(path, _)| ListingTableUrl::parse(path.to_string_lossy()))
                .collect::<DfResult<Vec<_>>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let listing = ListingTable::try_new(
                ListingTableConfig::new_with_multi_paths(urls)
                    .with_listing_options(options)
                    .with_schema(Arc::clone(&schema)),
            )?;
            plans.push(
                listing
                    .scan(state, inner_projection.as_ref(), filters, inner_limit)
                    .await?,
            );
        }
        let plan = UnionExec::try_new(plans)?;
        match retention_filter {
            None => Ok(plan),
            Some(keep) => {
                let keep = state.create_physical_expr(keep, &df_schema)?;
                Ok(Arc::new(
                    FilterExecBuilder::new(keep, plan)
                        .apply_projection(projection.cloned())?
                        .build()?,
                ))
            }
        }
    }
}

/// The tables of a store, as the schema `public` of a query's catalog.
#[derive(Debug)]
pub(crate) struct StoreSchema {
    pub tables: Weak<dyn TableSource>,
}

/// Where a [`StoreSchema`] finds tables.
pub(crate) trait TableSource: Send + Sync + std::fmt::Debug {
    /// The names of the tables.
    fn names(&self) -> Vec<String>;
    /// The current snapshot of a table.
    fn snapshot(&self, name: &str) -> Option<Arc<Snapshot>>;
}

#[async_trait]
impl SchemaProvider for StoreSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.upgrade().map(|t| t.names()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .tables
            .upgrade()
            .and_then(|t| t.snapshot(name))
            .map(|s| Arc::new(SnapshotTable::new(s)) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables
            .upgrade()
            .is_some_and(|t| t.names().iter().any(|n| n == name))
    }
}
