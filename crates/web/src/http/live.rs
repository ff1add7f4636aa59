//! `GET /api/tables/{name}/live`: each commit to a table as Server-Sent Events.
//!
//! The first event, `subscribed`, tells that commits from then on will be sent. Then each
//! commit is one event whose `id` is its commit time (epoch ms) and whose data is the JSON
//! array of its rows:
//!
//! - `rows`: rows appended to an append table;
//! - `upsert`: rows inserted or replaced, by primary key, in an upsert table;
//! - `delete`: rows whose keys were deleted from an upsert table (a commit with both has
//!   an `upsert` and a `delete` event, in that order).
//!
//! A subscriber too slow to keep up gets `lagged` (`{"missed": N}`, N commits missed) and
//! should query the table again; an encoding failure is an `error` event. The stream ends
//! when the server stops.

use std::convert::Infallible;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use spate_engine::changelog::{self, RowKind};
use spate_store::{StoreError, TableChange};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ApiError;
use crate::encode;

/// `GET /api/tables/{name}/live`.
pub(super) async fn subscribe(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let table = state.store.table(&name).map_err(|e| match e {
        e @ StoreError::NoSuchTable { .. } => ApiError {
            status: StatusCode::NOT_FOUND,
            message: e.to_string(),
        },
        e => ApiError::from(e),
    })?;
    let upsert = table.config().is_upsert();
    let receiver = table.subscribe();
    let first = Event::default().event("subscribed").data(
        serde_json::json!({
            "table": name,
            "kind": if upsert { "upsert" } else { "append" },
        })
        .to_string(),
    );
    let commits = stream::unfold(receiver, move |mut receiver| async move {
        let events = match receiver.recv().await {
            Ok(change) => change_events(&change, upsert),
            Err(RecvError::Lagged(missed)) => vec![
                Event::default().event("lagged").data(
                    serde_json::json!({
                        "missed": missed,
                        "message": "commits were missed: query the table again",
                    })
                    .to_string(),
                ),
            ],
            Err(RecvError::Closed) => return None,
        };
        Some((stream::iter(events), receiver))
    })
    .flatten();
    let mut closed = state.closed.clone();
    let server_stopped = async move { while closed.changed().await.is_ok() {} };
    let events = stream::once(async { first })
        .chain(commits)
        .take_until(server_stopped)
        .map(Ok::<Event, Infallible>);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The events of one commit.
fn change_events(change: &TableChange, upsert: bool) -> Vec<Event> {
    let id = change.ingest_ms.to_string();
    let event = |kind: &str, rows: &[RecordBatch]| match encode::json_rows(rows) {
        Ok(json) => Event::default()
            .event(kind)
            .id(id.clone())
            .data(String::from_utf8_lossy(&json)),
        Err(e) => Event::default()
            .event("error")
            .data(format!("cannot encode the rows of {}: {e}", change.table)),
    };
    if !upsert {
        let rows: Vec<RecordBatch> = change
            .rows
            .iter()
            .map(changelog::without_row_kind)
            .collect();
        return vec![event("rows", &rows)];
    }
    let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
    for batch in &change.rows {
        match split_changes(batch) {
            Ok((up, del)) => {
                upserts.extend(up);
                deletes.extend(del);
            }
            Err(e) => {
                return vec![
                    Event::default()
                        .event("error")
                        .data(format!("cannot read a commit of {}: {e}", change.table)),
                ];
            }
        }
    }
    let mut events = Vec::new();
    if upserts.iter().any(|b| b.num_rows() > 0) {
        events.push(event("upsert", &upserts));
    }
    if deletes.iter().any(|b| b.num_rows() > 0) {
        events.push(event("delete", &deletes));
    }
    events
}

/// An upsert table's changes split into upserted rows (inserts and updates' new rows) and
/// deleted rows; updates' old rows are dropped, as the table drops them.
fn split_changes(
    batch: &RecordBatch,
) -> Result<(Option<RecordBatch>, Option<RecordBatch>), String> {
    let Some(kinds) = changelog::row_kinds(batch).map_err(|e| e.to_string())? else {
        return Ok((Some(batch.clone()), None));
    };
    let rows = changelog::without_row_kind(batch);
    let select = |keep: fn(RowKind) -> bool| {
        let mask: BooleanArray = kinds.iter().map(|k| Some(keep(*k))).collect();
        filter_record_batch(&rows, &mask).map_err(|e| e.to_string())
    };
    Ok((
        Some(select(|k| {
            matches!(k, RowKind::Insert | RowKind::UpdateAfter)
        })?),
        Some(select(|k| k == RowKind::Delete)?),
    ))
}
