//! `GET|POST /api/query`: SQL in, JSON rows or an Arrow IPC stream out.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::encode;

/// The media type of an Arrow IPC stream.
pub(crate) const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The query string of `/api/query`.
#[derive(Debug, Deserialize)]
pub(super) struct Params {
    sql: Option<String>,
    format: Option<String>,
}

/// The JSON body of `POST /api/query`.
#[derive(Debug, Deserialize)]
struct Body {
    sql: String,
}

/// How the rows are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Arrow,
}

/// `GET /api/query?sql=…[&format=json|arrow]`.
pub(super) async fn get(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = format(params.format.as_deref(), &headers)?;
    let sql = params
        .sql
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("no query: pass it as ?sql=…"))?;
    answer(&state, sql, format).await
}

/// `POST /api/query[?format=json|arrow]` with the SQL as the body, or JSON `{"sql": …}`.
pub(super) async fn post(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let format = format(params.format.as_deref(), &headers)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
        || text.trim_start().starts_with('{');
    let sql = match is_json {
        true => {
            serde_json::from_str::<Body>(text)
                .map_err(|e| ApiError::bad_request(format!("the body is not {{\"sql\": …}}: {e}")))?
                .sql
        }
        false => text.to_string(),
    };
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("no query: send the SQL as the body"));
    }
    answer(&state, sql, format).await
}

/// The format asked for: `?format=` first, then the `Accept` header; JSON by default.
fn format(param: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    match param {
        Some("json") => return Ok(Format::Json),
        Some("arrow") => return Ok(Format::Arrow),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "no format {other:?}: use json or arrow"
            )));
        }
        None => {}
    }
    let accepts_arrow = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(ARROW_STREAM));
    Ok(match accepts_arrow {
        true => Format::Arrow,
        false => Format::Json,
    })
}

/// Runs the query (in a task of its own, so that a panic in it is an error answer, not a
/// dropped connection) and encodes its rows.
async fn answer(state: &AppState, sql: String, format: Format) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let limits = state.limits;
    let output = tokio::spawn(async move { store.query_with(&sql, limits).await })
        .await
        .map_err(|e| ApiError::internal(format!("the query failed: {e}")))??;
    let (body, media_type) = match format {
        Format::Json => (encode::json_rows(&output.batches)?, "application/json"),
        Format::Arrow => (
            encode::arrow_stream(&output.schema, &output.batches)?,
            ARROW_STREAM,
        ),
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        body,
    )
        .into_response())
}
