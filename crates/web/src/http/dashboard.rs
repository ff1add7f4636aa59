//! The live dashboards: `GET /dashboard/` (an index), `GET /dashboard/api` (API analytics),
//! `GET /dashboard/fleet` (vehicle health), `GET /dashboard/pipeline` (the jobs' progress)
//! and the job console `GET /console`, with their scripts, styles and map under
//! `GET /dashboard/assets/{file}`.
//!
//! The pages are static: their scripts query `/api/query` and follow
//! `/api/tables/{name}/live`, so the dashboards show whatever the store holds, live. Every
//! file is embedded in the binary ([`crate::assets`]) and answered with its content type
//! and an `ETag` (`304 Not Modified` when the browser has it already).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use crate::assets::{self, Asset};

/// The dashboards' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(|h: HeaderMap| page(h, "index.html")))
        .route("/dashboard/api", get(|h: HeaderMap| page(h, "api.html")))
        .route(
            "/dashboard/fleet",
            get(|h: HeaderMap| page(h, "fleet.html")),
        )
        .route(
            "/dashboard/pipeline",
            get(|h: HeaderMap| page(h, "pipeline.html")),
        )
        .route("/console", get(|h: HeaderMap| page(h, "console.html")))
        .route("/dashboard/assets/{file}", get(asset))
}

/// A page: one of the embedded files.
async fn page(headers: HeaderMap, file: &'static str) -> Response {
    match assets::find(file) {
        Some(asset) => serve(asset, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /dashboard/assets/{file}`.
async fn asset(headers: HeaderMap, Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some(asset) => serve(asset, &headers),
        None => (StatusCode::NOT_FOUND, format!("no asset {file:?}\n")).into_response(),
    }
}

/// The file, or `304 Not Modified` when `If-None-Match` names its `ETag`. Browsers check
/// again on each load (`no-cache`), so a new binary's files are seen at once.
fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = asset.etag();
    let cached = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let etag = HeaderValue::from_str(&etag).expect("an ETag is hex digits in quotes");
    let cache = HeaderValue::from_static("no-cache");
    if cached {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response()
}
