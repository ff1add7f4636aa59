//! The state of an upsert table: the latest row per primary key, materialized as it is
//! written so that a query reads plain batches.
//!
//! Rows live in slots (one per applied batch, merged by compaction); a slot keeps a mask of
//! its rows that are still the latest of their key, and the filtered batch a snapshot shows.
//! An index maps each key to its slot and row. Applying a change touches only the slots
//! holding keys it replaces or deletes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};
use spate_engine::changelog::{self, RowKind};

use crate::error::{Result, StoreError};
use crate::snapshot::MemBatch;

struct Slot {
    /// The rows as applied.
    batch: RecordBatch,
    /// Per row, when it was committed (epoch ms).
    ingest: Int64Array,
    /// Per row, whether it is still its key's latest.
    live: Vec<bool>,
    live_count: usize,
    /// The live rows, as queries see them.
    view: MemBatch,
}

impl Slot {
    fn new(batch: RecordBatch, ingest: Int64Array) -> Self {
        let rows = batch.num_rows();
        let view = MemBatch::new(batch.clone(), max_ingest(&ingest));
        Slot {
            batch,
            ingest,
            live: vec![true; rows],
            live_count: rows,
            view,
        }
    }

    /// Recomputes the view after rows died.
    fn refresh(&mut self) -> Result<()> {
        let mask = BooleanArray::from(self.live.clone());
        let live = filter_record_batch(&self.batch, &mask)?;
        let ingest = arrow::compute::filter(&self.ingest, &mask)?;
        let ingest = ingest
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("filtering keeps the type");
        self.view = MemBatch::new(live, max_ingest(ingest));
        Ok(())
    }
}

fn max_ingest(ingest: &Int64Array) -> i64 {
    arrow::compute::max(ingest).unwrap_or(0)
}

/// The latest row per key of an upsert table.
pub(crate) struct KeyedState {
    table: String,
    schema: SchemaRef,
    key_columns: Vec<usize>,
    converter: RowConverter,
    index: HashMap<OwnedRow, (u64, u32)>,
    slots: BTreeMap<u64, Slot>,
    next_slot: u64,
}

impl KeyedState {
    /// An empty state of `schema` keyed by `key`.
    pub fn new(table: &str, schema: SchemaRef, key: &[String]) -> Result<Self> {
        let key_columns = key
            .iter()
            .map(|k| schema.index_of(k))
            .collect::<Result<Vec<_>, _>>()?;
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        Ok(KeyedState {
            table: table.to_string(),
            schema,
            key_columns,
            converter,
            index: HashMap::new(),
            slots: BTreeMap::new(),
            next_slot: 0,
        })
    }

    fn keys(&self, batch: &RecordBatch) -> Result<arrow::row::Rows> {
        let columns: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// Applies a batch of rows of the table's schema, with a last row-kind column if it is a
    /// changelog: `+I`/`+U` upsert by key, `-D` deletes the key, `-U` is ignored. Within the
    /// batch the last change of a key wins.
    pub fn apply(&mut self, batch: &RecordBatch, ingest_ms: i64) -> Result<()> {
        let kinds = changelog::row_kinds(batch).map_err(|e| StoreError::BadRows {
            table: self.table.clone(),
            message: e.to_string(),
        })?;
        let rows = changelog::without_row_kind(batch);
        let keys = self.keys(&rows)?;
        // The last change of each key in this batch.
        let mut last: HashMap<arrow::row::Row<'_>, (usize, bool)> = HashMap::new();
        for i in 0..rows.num_rows() {
            let kind = kinds.as_ref().map_or(RowKind::Insert, |k| k[i]);
            match kind {
                RowKind::UpdateBefore => {}
                RowKind::Insert | RowKind::UpdateAfter => {
                    last.insert(keys.row(i), (i, true));
                }
                RowKind::Delete => {
                    last.insert(keys.row(i), (i, false));
                }
            }
        }
        let mut touched = Vec::new();
        let mut upserts: Vec<u32> = Vec::new();
        for (key, &(i, upsert)) in &last {
            if let Some((slot, row)) = self.index.remove(&key.owned()) {
                let s = self.slots.get_mut(&slot).expect("indexed slots exist");
                s.live[row as usize] = false;
                s.live_count -= 1;
                touched.push(slot);
            }
            if upsert {
                upserts.push(i as u32);
            }
        }
        upserts.sort_unstable();
        if !upserts.is_empty() {
            let taken = take_record_batch(&rows, &UInt32Array::from(upserts.clone()))?;
            let taken = RecordBatch::try_new(Arc::clone(&self.schema), taken.columns().to_vec())?;
            let id = self.next_slot;
            self.next_slot += 1;
            for (row, &i) in upserts.iter().enumerate() {
                self.index
                    .insert(keys.row(i as usize).owned(), (id, row as u32));
            }
            let ingest = Int64Array::from(vec![ingest_ms; upserts.len()]);
            self.slots.insert(id, Slot::new(taken, ingest));
        }
        self.refresh(touched)
    }

    /// Recomputes the views of `touched` slots, dropping slots with no live row.
    fn refresh(&mut self, mut touched: Vec<u64>) -> Result<()> {
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            let slot = self.slots.get_mut(&id).expect("touched slots exist");
            if slot.live_count == 0 {
                self.slots.remove(&id);
            } else {
                slot.refresh()?;
            }
        }
        Ok(())
    }

    /// Deletes the rows for which `expired(batch)` is true (per row), e.g. rows past
    /// retention. Returns how many were deleted.
    pub fn delete_where(
        &mut self,
        expired: impl Fn(&RecordBatch, &Int64Array) -> Result<BooleanArray>,
    ) -> Result<usize> {
        let mut deleted = 0;
        let mut touched = Vec::new();
        for (&id, slot) in &mut self.slots {
            let mask = expired(&slot.batch, &slot.ingest)?;
            let mut dead = Vec::new();
            for (row, live) in slot.live.iter_mut().enumerate() {
                if *live && mask.is_valid(row) && mask.value(row) {
                    *live = false;
                    slot.live_count -= 1;
                    dead.push(row);
                }
            }
            if !dead.is_empty() {
                let dead = UInt32Array::from_iter_values(dead.iter().map(|&r| r as u32));
                let keys = self.converter.convert_columns(
                    &self
                        .key_columns
                        .iter()
                        .map(|&i| arrow::compute::take(slot.batch.column(i), &dead, None))
                        .collect::<Result<Vec<_>, _>>()?,
                )?;
                for key in keys.iter() {
                    self.index.remove(&key.owned());
                }
                deleted += dead.len();
                touched.push(id);
            }
        }
        self.refresh(touched)?;
        Ok(deleted)
    }

    /// Merges slots into one when there are more than `max_slots`, dropping dead rows.
    pub fn compact(&mut self, max_slots: usize) -> Result<bool> {
        if self.slots.len() <= max_slots {
            return Ok(false);
        }
        let (batch, ingest) = self.live_rows()?;
        self.slots.clear();
        self.index.clear();
        self.load(batch, ingest)?;
        Ok(true)
    }

    /// Every live row, and its ingest time.
    pub fn live_rows(&self) -> Result<(RecordBatch, Int64Array)> {
        let mut batches: Vec<RecordBatch> = Vec::with_capacity(self.slots.len());
        let mut ingest: Vec<i64> = Vec::with_capacity(self.len());
        for slot in self.slots.values() {
            let mask = BooleanArray::from(slot.live.clone());
            batches.push(slot.view.batch.clone());
            let live = arrow::compute::filter(&slot.ingest, &mask)?;
            ingest.extend(
                live.as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("filtering keeps the type")
                    .values()
                    .iter(),
            );
        }
        Ok((
            concat_batches(&self.schema, &batches)?,
            Int64Array::from(ingest),
        ))
    }

    /// Loads rows known to have distinct keys (a state written by [`KeyedState::live_rows`]).
    pub fn load(&mut self, batch: RecordBatch, ingest: Int64Array) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.keys(&batch)?;
        let id = self.next_slot;
        self.next_slot += 1;
        for (row, key) in keys.iter().enumerate() {
            self.index.insert(key.owned(), (id, row as u32));
        }
        self.slots.insert(id, Slot::new(batch, ingest));
        Ok(())
    }

    /// The live rows as queries see them.
    pub fn views(&self) -> Vec<MemBatch> {
        self.slots.values().map(|s| s.view.clone()).collect()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }
}
