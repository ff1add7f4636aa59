//! The HTTP API: `POST /v1/privacy/blur`, the upload page at `/`, and `/metrics`.

pub mod access_log;
pub mod complete;
pub mod keys;
pub mod page;
pub mod proxy;

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::{ConnectInfo, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use image::{ImageFormat, ImageReader};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::detect::Detector;
use crate::geometry::Detection;
use crate::redact::{Mode, blur_background, redact};
use access_log::{AccessLog, AccessRecord};
use keys::KeyTable;
use proxy::TrustedProxies;

/// Limits of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest image, in pixels (width × height), checked before decoding.
    pub max_pixels: u64,
    /// How many images are processed at once; more requests wait.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 20 << 20,
            max_pixels: 40_000_000,
            max_concurrent: 2,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    detector: Option<Arc<dyn Detector>>,
    keys: Arc<KeyTable>,
    access_log: Option<Arc<AccessLog>>,
    limits: Limits,
    trusted: Arc<TrustedProxies>,
    permits: Arc<Semaphore>,
    metrics: PrometheusHandle,
}

impl AppState {
    /// State for a server using `detector` (none: uploads are checked, then refused with 503),
    /// `keys`, an optional access log, `limits`, and the proxies whose `X-Forwarded-For` is
    /// believed.
    pub fn new(
        detector: Option<Arc<dyn Detector>>,
        keys: KeyTable,
        access_log: Option<AccessLog>,
        limits: Limits,
        trusted: TrustedProxies,
    ) -> Self {
        AppState {
            detector,
            keys: Arc::new(keys),
            access_log: access_log.map(Arc::new),
            limits,
            trusted: Arc::new(trusted),
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            metrics: prometheus(),
        }
    }
}

/// The process-wide Prometheus recorder, installed on first use.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(|| async { Html(page::INDEX_HTML) }))
        .route("/metrics", get(metrics_text))
        .route("/v1/privacy/blur", post(blur))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Binds a TCP listener on `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Completes on ctrl-c or SIGTERM, for [`serve`]'s graceful shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM ({e}); only ctrl-c stops the server");
            let _ = ctrl_c.await;
        }
    }
}

fn request_id_of(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

async fn not_found(req: Request) -> Response {
    let id = request_id_of(&req);
    fail(
        StatusCode::NOT_FOUND,
        format!("no such resource: {} {}", req.method(), req.uri().path()),
    )
    .into_response(&id, Usage::default())
}

async fn method_not_allowed(req: Request) -> Response {
    let id = request_id_of(&req);
    fail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .into_response(&id, Usage::default())
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Facts a handler reports to the access log through response extensions.
#[derive(Clone, Default)]
struct Usage {
    key_id: Option<String>,
    bytes_in: Option<u64>,
    detections: Option<usize>,
}

fn request_id(headers: &HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
        && !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_graphic())
    {
        return id.to_string();
    }
    let started = chrono::Utc::now().timestamp_micros();
    format!("{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Request ids, metrics and the access log around every request.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let id = request_id(req.headers());
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let header_str = |req: &Request, name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let user_agent = header_str(&req, header::USER_AGENT);
    let referer = header_str(&req, header::REFERER);
    let content_length = header_str(&req, header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
    let protocol = format!("{:?}", req.version());
    let client_ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        state.trusted.client_ip(c.0.ip(), forwarded).to_string()
    });
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let latency = started.elapsed();
    let status = resp.status().as_u16();
    let usage = resp
        .extensions()
        .get::<Usage>()
        .cloned()
        .unwrap_or_default();
    let route = match path.as_str() {
        "/" | "/metrics" | "/v1/privacy/blur" => path.clone(),
        _ => "other".to_string(),
    };
    metrics::counter!("privacy_http_requests_total", "path" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("privacy_http_request_seconds", "path" => route)
        .record(latency.as_secs_f64());
    if let Some(log) = &state.access_log {
        let record = AccessRecord {
            ts,
            request_id: id,
            client_ip,
            api_key: usage.key_id,
            method,
            path,
            protocol,
            status,
            latency_ms: (latency.as_secs_f64() * 1e6).round() / 1e3,
            bytes_in: usage.bytes_in.or(content_length).unwrap_or(0),
            bytes_out: resp.body().size_hint().exact().unwrap_or(0),
            user_agent,
            referer,
            detections: usage.detections,
        };
        if let Err(e) = log.write(&record) {
            tracing::error!("access log: {e}");
        }
    }
    resp
}

/// The request id, for handlers.
#[derive(Clone)]
struct RequestId(String);

/// Query parameters of `POST /v1/privacy/blur`.
#[derive(Debug, Default, Deserialize)]
struct BlurQuery {
    /// `json` returns detections instead of an image.
    boxes: Option<String>,
    /// Redaction style.
    #[serde(default)]
    mode: Mode,
    /// `blur` asks for the background outside the vehicle to be blurred.
    background: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    request_id: &'a str,
}

/// An error answer: a status and a message, sent as JSON.
struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

fn fail(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
        retry_after: None,
    }
}

impl ApiError {
    fn into_response(self, id: &str, usage: Usage) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            error: &self.message,
            request_id: id,
        })
        .expect("error body serialises");
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().min(86_400.0) as u64;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp.extensions_mut().insert(usage);
        resp
    }
}

async fn blur(State(state): State<AppState>, req: Request) -> Response {
    let id = request_id_of(&req);
    let mut usage = Usage::default();
    match blur_inner(&state, req, &mut usage).await {
        Ok(mut resp) => {
            resp.extensions_mut().insert(usage);
            resp
        }
        Err(e) => e.into_response(&id, usage),
    }
}

async fn blur_inner(
    state: &AppState,
    req: Request,
    usage: &mut Usage,
) -> Result<Response, ApiError> {
    let key = req
        .headers()
        .get("x-api-key")
        .ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "missing X-API-Key header"))?;
    let entry = key
        .to_str()
        .ok()
        .and_then(|k| state.keys.lookup(k))
        .ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "unknown API key"))?
        .clone();
    usage.key_id = Some(entry.id.clone());
    if let Err(wait) = state.keys.take(&entry, Instant::now()) {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "rate limit of key {:?} exceeded; retry in {:.1} s",
                entry.id,
                wait.as_secs_f64()
            ),
            retry_after: Some(wait),
        });
    }
    metrics::counter!("privacy_requests_by_key_total", "key" => entry.id.clone()).increment(1);
    let query: Query<BlurQuery> = Query::try_from_uri(req.uri())
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("query string: {e}")))?;
    let as_json = match query.boxes.as_deref() {
        None => false,
        Some("json") => true,
        Some(other) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                format!("boxes={other}: only boxes=json is known"),
            ));
        }
    };
    let blur_background = match query.background.as_deref() {
        None | Some("keep") => false,
        Some("blur") => true,
        Some(other) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                format!("background={other}: expected blur or keep"),
            ));
        }
    };
    let (bytes, declared) = read_image_body(req, state.limits.max_body_bytes).await?;
    usage.bytes_in = Some(bytes.len() as u64);

    let reader = ImageReader::new(Cursor::new(bytes.clone()))
        .with_guessed_format()
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("reading image: {e}")))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        Some(f) => {
            return Err(fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{f:?} images are not accepted; send JPEG, PNG or WebP"),
            ));
        }
        None => {
            return Err(fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body is not a JPEG, PNG or WebP image",
            ));
        }
    };
    if let Some(declared) = declared.filter(|t| t.starts_with("image/"))
        && declared != format.to_mime_type()
    {
        return Err(fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type says {declared}, but the body is a {format:?} image"),
        ));
    }
    let (w, h) = reader.into_dimensions().map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            format!(
                "truncated or corrupt {format:?} image header: {}",
                e.to_string().trim_end()
            ),
        )
    })?;
    complete::check_complete(format, &bytes).map_err(|m| fail(StatusCode::BAD_REQUEST, m))?;
    let pixels = w as u64 * h as u64;
    if pixels > state.limits.max_pixels {
        return Err(fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "image is {w}x{h} = {pixels} pixels, over the limit of {}",
                state.limits.max_pixels
            ),
        ));
    }

    let _permit = state
        .permits
        .acquire()
        .await
        .expect("semaphore never closed");
    let detector = state.detector.clone();
    let mode = query.mode;
    let work = tokio::task::spawn_blocking(move || {
        let wanted = Wanted {
            mode,
            as_json,
            blur_background,
        };
        process(&bytes, format, detector.as_deref(), wanted)
    });
    let out = work.await.map_err(|e| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker failed: {e}"),
        )
    })??;
    usage.detections = Some(out.detections.len());
    metrics::histogram!("privacy_inference_seconds").record(out.inference.as_secs_f64());
    for d in &out.detections {
        metrics::counter!("privacy_detections_total", "kind" => d.kind.as_str()).increment(1);
    }
    let count = HeaderValue::from(out.detections.len());
    let mut resp = if as_json {
        let mut body = serde_json::json!({
            "width": w,
            "height": h,
            "inference_ms": out.inference.as_secs_f64() * 1e3,
            "detections": out.detections,
        });
        if let Some(vehicles) = &out.vehicles {
            body["vehicles"] = serde_json::json!(vehicles);
        }
        axum::Json(body).into_response()
    } else {
        ([(header::CONTENT_TYPE, format.to_mime_type())], out.image).into_response()
    };
    resp.headers_mut().insert("x-detections", count);
    if let Some(vehicles) = &out.vehicles {
        resp.headers_mut()
            .insert("x-vehicles", HeaderValue::from(vehicles.len()));
    }
    Ok(resp)
}

/// The media types an upload may declare (`image/jpg` is read as `image/jpeg`).
const ACCEPTED_TYPES: [&str; 4] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/octet-stream",
];

/// The media type of a `Content-Type` value, lower-case and without parameters; refused with
/// 415 unless it is one of [`ACCEPTED_TYPES`].
fn declared_type(value: &str) -> Result<String, ApiError> {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let essence = if essence == "image/jpg" {
        "image/jpeg".to_string()
    } else {
        essence
    };
    if ACCEPTED_TYPES.contains(&essence.as_str()) {
        Ok(essence)
    } else {
        Err(fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {value} is not accepted; send image/jpeg, image/png, image/webp or application/octet-stream, or a multipart/form-data upload"
            ),
        ))
    }
}

/// The uploaded image's bytes and the media type declared for them, from a raw body or the
/// first file (or `image` field) of a multipart form.
async fn read_image_body(req: Request, limit: usize) -> Result<(Bytes, Option<String>), ApiError> {
    let too_big = || {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let content_type = match req.headers().get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type is not readable text",
            )
        })?),
    };
    let is_multipart = content_type.is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let declared = content_type.map(declared_type).transpose()?;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_big())?;
        return Ok((bytes, declared));
    }
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("multipart body: {e}")))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| fail(e.status(), format!("multipart body: {}", e.body_text())))?
    {
        if field.name() == Some("image") || field.file_name().is_some() {
            let declared = field.content_type().map(declared_type).transpose()?;
            let bytes = field
                .bytes()
                .await
                .map_err(|e| fail(e.status(), format!("multipart field: {}", e.body_text())))?;
            return Ok((bytes, declared));
        }
    }
    Err(fail(
        StatusCode::BAD_REQUEST,
        "multipart body has no field named image and no file",
    ))
}

/// Encodes `image` as a JPEG of quality 90 without chroma subsampling (as `image`'s encoder
/// did, at a fraction of its time), into `out`.
fn encode_jpeg(image: &image::RgbImage, out: &mut Cursor<Vec<u8>>) -> Result<(), String> {
    let (w, h) = image.dimensions();
    match (u16::try_from(w), u16::try_from(h)) {
        (Ok(w), Ok(h)) => {
            let mut encoder = jpeg_encoder::Encoder::new(out.get_mut(), 90);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
            encoder
                .encode(image.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| e.to_string())
        }
        // Beyond what a JPEG can hold: let `image` say so.
        _ => image::codecs::jpeg::JpegEncoder::new_with_quality(out, 90)
            .encode_image(image)
            .map_err(|e| e.to_string()),
    }
}

struct Processed {
    image: Vec<u8>,
    detections: Vec<Detection>,
    /// The vehicles kept sharp, when the background was blurred.
    vehicles: Option<Vec<Detection>>,
    inference: Duration,
}

/// What the client asked for.
#[derive(Clone, Copy)]
struct Wanted {
    mode: Mode,
    as_json: bool,
    blur_background: bool,
}

fn process(
    bytes: &[u8],
    format: ImageFormat,
    detector: Option<&dyn Detector>,
    wanted: Wanted,
) -> Result<Processed, ApiError> {
    let mut image = ImageReader::with_format(Cursor::new(bytes), format)
        .decode()
        .map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "{format:?} image could not be decoded (truncated or corrupt?): {}",
                    e.to_string().trim_end()
                ),
            )
        })?
        .into_rgb8();
    let detector = detector.ok_or_else(|| {
        fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server runs without detectors (--without-models): the upload is valid, but it cannot be anonymised here",
        )
    })?;
    let failed = |e: crate::PrivacyError| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("detection failed: {e}"),
        )
    };
    let started = Instant::now();
    let vehicles = if wanted.blur_background {
        let found = detector.vehicles(&image).map_err(failed)?.ok_or_else(|| {
            fail(
                StatusCode::NOT_IMPLEMENTED,
                "background=blur needs the vehicle model (nanodet.json), which this server has not loaded; run `spate models fetch`",
            )
        })?;
        Some(found)
    } else {
        None
    };
    let detections = detector.detect(&image).map_err(failed)?;
    let inference = started.elapsed();
    if wanted.as_json {
        return Ok(Processed {
            image: Vec::new(),
            detections,
            vehicles,
            inference,
        });
    }
    if let Some(vehicles) = &vehicles {
        blur_background(&mut image, vehicles);
    }
    redact(&mut image, &detections, wanted.mode);
    let mut out = Cursor::new(Vec::new());
    let encoded = match format {
        ImageFormat::Jpeg => encode_jpeg(&image, &mut out),
        _ => image.write_to(&mut out, format).map_err(|e| e.to_string()),
    };
    encoded.map_err(|e| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding {format:?}: {e}"),
        )
    })?;
    Ok(Processed {
        image: out.into_inner(),
        detections,
        vehicles,
        inference,
    })
}
