//! The listener of an HTTP ingest table (axum, on a runtime of its own so that the job's
//! tasks never hold up its answers), and what a request does to the backing topic.
//!
//! `POST <path>` takes NDJSON (`Content-Type` `application/x-ndjson`, `application/jsonl`,
//! `application/json`, or none) and answers with JSON:
//!
//! | status | when | body |
//! |---|---|---|
//! | 200 | some lines accepted (durable) | `accepted`, `rejected`, `errors` (line, reason), `partition`, `offset` |
//! | 422 | every line was JSON but none fit the schema (all dead-lettered) | as for 200 |
//! | 400 | the body holds no line, or no line is JSON at all; nothing is kept | `error` |
//! | 413 | the body is larger than the bound | `error` |
//! | 415 | another content type or a content encoding | `error` |
//! | 429 | the job lags behind the topic by more than the bound (`Retry-After`) | `error`, `lag`, `max_lag` |
//! | 503 | the job has not restored its position yet, or the append failed (`Retry-After`) | `error` |
//!
//! `GET <path>` answers `200` with the listener's figures while it accepts events, `503`
//! while it would refuse them.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::json;
use spate_engine::EngineError;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_log::{LogError, Record, Topic};
use tokio::sync::watch;

use super::{HttpIngestConfig, HttpIngestError};
use crate::format::json::JsonDecoder;
use crate::log_source::ReadPositions;

/// How long a stopping listener waits for the requests under way.
const DRAIN: Duration = Duration::from_secs(5);

/// How much of a body past the bound is read and dropped before answering 413, so that the
/// client, still sending, reads the answer (as nginx's lingering close).
const DISCARD_BYTES: usize = 64 << 20;

/// Line errors listed in an answer; the rest are only counted.
const MAX_LISTED_ERRORS: usize = 100;

/// The content types taken as NDJSON (besides none at all).
const NDJSON_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json",
];

/// A running listener; dropping it stops it after the requests under way.
pub(super) struct Listener {
    ingest: Arc<Ingest>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("table", &self.ingest.table)
            .finish()
    }
}

impl Listener {
    /// Binds the table's address and serves it from a thread of its own. Dead letters go to
    /// `task`'s side outputs and are counted in its metrics.
    pub(super) fn start(
        config: &HttpIngestConfig,
        topic: Arc<Topic>,
        task: &TaskInfo,
    ) -> Result<Listener, HttpIngestError> {
        let addr = format!("{}:{}", config.hostname, config.port);
        let bind_err = |source| HttpIngestError::Bind {
            table: config.table.clone(),
            addr: addr.clone(),
            source,
        };
        let socket = std::net::TcpListener::bind((config.hostname.as_str(), config.port))
            .map_err(bind_err)?;
        socket.set_nonblocking(true).map_err(bind_err)?;
        let bound = socket.local_addr().map_err(bind_err)?;
        let start_err = |source| HttpIngestError::Start {
            table: config.table.clone(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("http-ingest-{}", config.table))
            .enable_all()
            .build()
            .map_err(start_err)?;
        let ingest = Arc::new(Ingest::new(config, topic, task));
        let app = Router::new()
            .route(&config.path, get(status).post(post))
            .fallback(not_found)
            .with_state(Arc::clone(&ingest));
        let (stop, stopped) = watch::channel(false);
        let table = config.table.clone();
        let thread = std::thread::Builder::new()
            .name(format!("http-ingest-{}", config.table))
            .spawn(move || runtime.block_on(serve(socket, app, stopped, table)))
            .map_err(start_err)?;
        tracing::info!(
            table = %config.table, topic = %ingest.topic.name(),
            "HTTP ingest listening on http://{bound}{}", config.path
        );
        Ok(Listener {
            ingest,
            stop,
            thread: Some(thread),
        })
    }

    /// Where the job's source instances publish how far they have read.
    pub(super) fn positions(&self) -> &ReadPositions {
        &self.ingest.positions
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(table = %self.ingest.table, "the HTTP ingest listener panicked");
        }
    }
}

/// Serves `app` on `socket` until `stop`, then gives the requests under way [`DRAIN`].
async fn serve(
    socket: std::net::TcpListener,
    app: Router,
    stop: watch::Receiver<bool>,
    table: String,
) {
    let socket = match tokio::net::TcpListener::from_std(socket) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!(%table, "HTTP ingest cannot serve: {e}");
            return;
        }
    };
    let mut graceful = stop.clone();
    let server = axum::serve(
        socket,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    let mut deadline = stop;
    let drained = async move {
        let _ = deadline.wait_for(|stop| *stop).await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        result = server.into_future() => {
            if let Err(e) = result {
                tracing::error!(%table, "HTTP ingest listener: {e}");
            }
        }
        () = drained => tracing::warn!(%table, "HTTP ingest stopped with requests under way"),
    }
    tracing::info!(%table, "HTTP ingest stopped");
}

/// What the listener counts, shown by `GET`.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    throttled: AtomicU64,
}

/// The state requests share.
struct Ingest {
    table: String,
    path: String,
    topic: Arc<Topic>,
    positions: ReadPositions,
    schema: SchemaRef,
    /// Decoders of requests done, for the next ones.
    decoders: Mutex<Vec<JsonDecoder>>,
    max_body_bytes: usize,
    max_lag: u64,
    /// Seconds, for `Retry-After`.
    retry_after: u64,
    /// The source instance that started the listener: its side outputs and metrics.
    task: TaskInfo,
    counters: Counters,
}

/// Why a request's events were not taken.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// No line holds anything.
    #[error("the body holds no events: send NDJSON, one JSON object per line")]
    Empty,
    /// No line is JSON.
    #[error("the body is not NDJSON: line {line}: {reason}")]
    NotNdjson {
        /// The first line.
        line: u64,
        /// Why it is not JSON.
        reason: String,
    },
    /// Decoding failed as a whole.
    #[error("cannot decode the events: {0}")]
    Decode(#[from] EngineError),
    /// The backing topic did not take the events.
    #[error("topic {topic}: cannot append the events: {source}")]
    Append {
        /// The topic.
        topic: String,
        /// The cause.
        source: LogError,
    },
}

/// A line set aside, as listed in an answer.
#[derive(Debug, Serialize)]
struct LineError {
    /// The line's number in the body, from 1.
    line: u64,
    /// Why it was set aside.
    reason: String,
}

/// What a request's lines came to.
#[derive(Debug, Serialize)]
struct IngestOutcome {
    /// Lines appended to the backing topic (and synced).
    accepted: u64,
    /// Lines sent to the dead-letter output.
    rejected: u64,
    /// The first rejected lines with their reasons.
    errors: Vec<LineError>,
    /// The partition the accepted lines went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<u32>,
    /// The offset of the first accepted line in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

impl Ingest {
    /// The state of `config`'s listener, appending to `topic`.
    fn new(config: &HttpIngestConfig, topic: Arc<Topic>, task: &TaskInfo) -> Ingest {
        Ingest {
            table: config.table.clone(),
            path: config.path.clone(),
            positions: ReadPositions::new(topic.partitions()),
            topic,
            schema: config.schema.clone(),
            decoders: Mutex::new(Vec::new()),
            max_body_bytes: config.max_body_bytes,
            max_lag: config.max_lag,
            retry_after: config.retry_after.as_secs().max(1),
            task: task.clone(),
            counters: Counters::default(),
        }
    }

    /// Events appended but not yet read by the job; `None` until every partition's reader
    /// has restored its position.
    fn lag(&self) -> Option<u64> {
        let mut lag = 0u64;
        for p in 0..self.topic.partitions() {
            let read = self.positions.get(p)?;
            let end = self.topic.end_offset(p).ok()?;
            lag = lag.saturating_add(end.saturating_sub(read));
        }
        Some(lag)
    }

    /// Decodes `body`'s lines, appends the good ones as one synced batch and dead-letters
    /// the others (naming `origin` and the line).
    fn accept(&self, body: &[u8], origin: &str) -> Result<IngestOutcome, Refusal> {
        let lines = lines(body);
        if lines.is_empty() {
            return Err(Refusal::Empty);
        }
        let mut decoder = match self
            .decoders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            Some(decoder) => decoder,
            None => JsonDecoder::new(self.schema.clone())?,
        };
        let decoded = decoder.decode(lines.iter().map(|(_, line)| *line));
        self.decoders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(decoder);
        let rejected = decoded?.1;
        if rejected.len() == lines.len() {
            let not_json = lines
                .iter()
                .map(|(_, line)| serde_json::from_slice::<serde::de::IgnoredAny>(line).err())
                .collect::<Option<Vec<_>>>();
            if let Some(errors) = not_json {
                return Err(Refusal::NotNdjson {
                    line: lines[0].0,
                    reason: errors[0].to_string(),
                });
            }
        }
        let now = spate_log::now_ms();
        let mut set_aside = rejected.iter().map(|r| r.index).peekable();
        let records: Vec<Record<'_>> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| set_aside.next_if_eq(i).is_none())
            .map(|(_, (_, line))| Record::new(now, line))
            .collect();
        let mut outcome = IngestOutcome {
            accepted: records.len() as u64,
            rejected: rejected.len() as u64,
            errors: Vec::new(),
            partition: None,
            offset: None,
        };
        if !records.is_empty() {
            let partition = self.topic.partition_for(None);
            let appended =
                self.topic
                    .append(partition, &records)
                    .map_err(|source| Refusal::Append {
                        topic: self.topic.name().to_string(),
                        source,
                    })?;
            outcome.partition = Some(partition);
            outcome.offset = Some(appended.base_offset);
        }
        // Dead letters only once the good lines are in, so that a request retried after a
        // failed append does not set its lines aside twice.
        TaskMetrics::add(&self.task.metrics.dead_letters, outcome.rejected);
        for r in rejected {
            let (line, bytes) = lines[r.index];
            if outcome.errors.len() < MAX_LISTED_ERRORS {
                outcome.errors.push(LineError {
                    line,
                    reason: r.reason.clone(),
                });
            }
            self.task.side_outputs.send(SideRecord {
                kind: SideOutputKind::DeadLetter,
                reason: format!("line {line}: {}", r.reason),
                origin: format!("{origin}, line {line}"),
                payload: bytes.to_vec(),
            });
        }
        self.counters
            .accepted
            .fetch_add(outcome.accepted, Ordering::Relaxed);
        self.counters
            .rejected
            .fetch_add(outcome.rejected, Ordering::Relaxed);
        Ok(outcome)
    }
}

/// The lines of `body` that hold something, with their numbers (from 1); a `\r` before the
/// `\n` is dropped.
fn lines(body: &[u8]) -> Vec<(u64, &[u8])> {
    let mut lines = Vec::new();
    let mut start = 0;
    let tail = (!body.ends_with(b"\n")).then_some(body.len());
    for (n, end) in memchr::memchr_iter(b'\n', body).chain(tail).enumerate() {
        let line = &body[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.trim_ascii().is_empty() {
            lines.push((n as u64 + 1, line));
        }
        start = end + 1;
    }
    lines
}

/// Reads `body` if it holds at most `max` bytes (`None` past that, after reading and dropping
/// up to [`DISCARD_BYTES`] more); `declared` is its `Content-Length`, if given.
async fn read_body(
    mut body: Body,
    max: usize,
    declared: Option<u64>,
) -> Result<Option<Vec<u8>>, axum::Error> {
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(max as u64) as usize));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= max {
            kept.extend_from_slice(&data);
        } else if seen > max.saturating_add(DISCARD_BYTES) {
            return Ok(None);
        }
    }
    Ok((seen <= max).then_some(kept))
}

/// An answer with a JSON `error`.
fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// `answer` with `Retry-After`.
fn retry_after(mut answer: Response, seconds: u64) -> Response {
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    answer
}

/// Why the request's content type or encoding is not taken, if it is not.
fn unsupported_media(headers: &HeaderMap) -> Option<String> {
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING)
        && encoding.as_bytes() != b"identity"
    {
        return Some(format!(
            "Content-Encoding {encoding:?} is not taken: send the NDJSON uncompressed"
        ));
    }
    let content_type = headers.get(header::CONTENT_TYPE)?;
    let essence = content_type
        .to_str()
        .ok()
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    match essence {
        Some(t) if NDJSON_TYPES.contains(&t.as_str()) => None,
        _ => Some(format!(
            "Content-Type {content_type:?} is not taken: send NDJSON as {}",
            NDJSON_TYPES.join(", ")
        )),
    }
}

/// `POST`: takes a batch of events.
async fn post(
    State(ingest): State<Arc<Ingest>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Bodies are read even when refused: a client gets no answer from a connection closed
    // on the rest of its body.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} bytes: send smaller batches",
                ingest.max_body_bytes
            ),
        )
    };
    if declared.is_some_and(|n| n > (ingest.max_body_bytes + DISCARD_BYTES) as u64) {
        return too_large();
    }
    let body = match read_body(body, ingest.max_body_bytes, declared).await {
        Ok(Some(body)) => body,
        Ok(None) => return too_large(),
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
    };
    if let Some(why) = unsupported_media(&headers) {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, why);
    }
    match ingest.lag() {
        None => {
            return retry_after(
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the job has not restored its position in the topic yet",
                ),
                ingest.retry_after,
            );
        }
        Some(lag) if lag > ingest.max_lag => {
            ingest.counters.throttled.fetch_add(1, Ordering::Relaxed);
            let answer = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({
                    "error": format!(
                        "the job is {lag} events behind the topic, more than the {} allowed",
                        ingest.max_lag
                    ),
                    "lag": lag,
                    "max_lag": ingest.max_lag,
                })),
            );
            return retry_after(answer.into_response(), ingest.retry_after);
        }
        Some(_) => {}
    }
    let origin = format!("http POST {} from {peer}", ingest.path);
    let worker = Arc::clone(&ingest);
    // Appending waits for the fsync: off the runtime's workers.
    let done = tokio::task::spawn_blocking(move || worker.accept(&body, &origin)).await;
    match done {
        Ok(Ok(outcome)) => {
            let status = match outcome.accepted {
                0 => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::OK,
            };
            (status, axum::Json(outcome)).into_response()
        }
        Ok(Err(refusal @ (Refusal::Empty | Refusal::NotNdjson { .. }))) => {
            refuse(StatusCode::BAD_REQUEST, refusal)
        }
        Ok(Err(refusal @ Refusal::Decode(_))) => {
            tracing::error!(table = %ingest.table, "{refusal}");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, refusal)
        }
        Ok(Err(refusal @ Refusal::Append { .. })) => {
            tracing::error!(table = %ingest.table, "{refusal}");
            retry_after(
                refuse(StatusCode::SERVICE_UNAVAILABLE, refusal),
                ingest.retry_after,
            )
        }
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the ingest failed: {e}"),
        ),
    }
}

/// `GET`: whether events are taken now, with the listener's figures.
async fn status(State(ingest): State<Arc<Ingest>>) -> Response {
    let lag = ingest.lag();
    let (code, state) = match lag {
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Some(lag) if lag > ingest.max_lag => (StatusCode::SERVICE_UNAVAILABLE, "backpressure"),
        Some(_) => (StatusCode::OK, "ready"),
    };
    let c = &ingest.counters;
    let body = json!({
        "status": state,
        "table": ingest.table,
        "topic": ingest.topic.name(),
        "partitions": ingest.topic.partitions(),
        "lag": lag,
        "max_lag": ingest.max_lag,
        "accepted": c.accepted.load(Ordering::Relaxed),
        "rejected": c.rejected.load(Ordering::Relaxed),
        "throttled": c.throttled.load(Ordering::Relaxed),
    });
    (code, axum::Json(body)).into_response()
}

/// Any other path.
async fn not_found(State(ingest): State<Arc<Ingest>>) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        format!("POST NDJSON events to {}", ingest.path),
    )
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};
    use spate_engine::side_output::{SideOutputSink, SideOutputs};
    use spate_log::{FetchedRecords, FsyncPolicy, Log, LogOptions, TopicConfig};

    use super::*;

    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<SideRecord>>);

    impl SideOutputSink for Kept {
        fn send(&self, record: SideRecord) {
            self.0.lock().unwrap().push(record);
        }
    }

    /// A listener's configuration for topic `in` of `log`, taking at most 10 events of lag.
    fn config(log: &Log, schema: SchemaRef) -> HttpIngestConfig {
        HttpIngestConfig {
            table: "clicks".into(),
            hostname: "127.0.0.1".into(),
            port: 1,
            path: "/in".into(),
            log: log.clone(),
            topic: "in".into(),
            partitions: None,
            schema,
            max_body_bytes: 1 << 20,
            max_lag: 10,
            retry_after: Duration::from_secs(1),
        }
    }

    fn values(topic: &Topic, partition: u32) -> Vec<String> {
        let mut fetched = FetchedRecords::new();
        topic
            .fetch_into(partition, 0, 1 << 20, &mut fetched)
            .unwrap();
        fetched
            .iter()
            .map(|r| String::from_utf8(r.value.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn good_lines_are_appended_and_bad_ones_set_aside_with_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let topic_config = TopicConfig {
            fsync: FsyncPolicy::EveryBatch,
            ..TopicConfig::new(2)
        };
        let topic = log.create_topic("in", topic_config).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let config = config(&log, schema);
        let kept = Arc::new(Kept::default());
        let mut task = crate::testing::task(0, 1);
        task.side_outputs = SideOutputs::new(kept.clone());
        let ingest = Ingest::new(&config, Arc::clone(&topic), &task);

        let body = "{\"id\":1,\"name\":\"a\"}\r\n\n{\"id\":\"two\"}\nnot json\n  \n{\"id\":3}";
        let outcome = ingest.accept(body.as_bytes(), "test").unwrap();
        assert_eq!((outcome.accepted, outcome.rejected), (2, 2));
        let lines: Vec<u64> = outcome.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4]);
        let partition = outcome.partition.unwrap();
        assert_eq!(outcome.offset, Some(0));
        assert_eq!(
            values(&topic, partition),
            vec![r#"{"id":1,"name":"a"}"#, r#"{"id":3}"#]
        );
        let dead = kept.0.lock().unwrap();
        assert_eq!(dead.len(), 2);
        assert_eq!(dead[0].payload, br#"{"id":"two"}"#);
        assert!(dead[0].reason.starts_with("line 3: "), "{}", dead[0].reason);
        assert_eq!(dead[1].origin, "test, line 4");
        assert_eq!(TaskMetrics::get(&task.metrics.dead_letters), 2);
        drop(dead);

        // The next request goes to the other partition.
        let outcome = ingest.accept(b"{\"id\":4}\n", "test").unwrap();
        assert_ne!(outcome.partition, Some(partition));

        // Nothing JSON at all, or nothing at all: refused whole, nothing set aside.
        let refusal = ingest.accept(b"id,name\n1,a\n", "test").unwrap_err();
        assert!(
            matches!(refusal, Refusal::NotNdjson { line: 1, .. }),
            "{refusal}"
        );
        assert!(matches!(
            ingest.accept(b"\n \r\n", "test"),
            Err(Refusal::Empty)
        ));
        assert_eq!(kept.0.lock().unwrap().len(), 2);

        // Valid JSON that fits nothing is set aside, and nothing is appended.
        let outcome = ingest.accept(b"[1,2]\n{\"id\":[]}", "test").unwrap();
        assert_eq!((outcome.accepted, outcome.rejected), (0, 2));
        assert_eq!(outcome.partition, None);
        assert_eq!(kept.0.lock().unwrap().len(), 4);
    }

    #[test]
    fn the_lag_is_known_once_every_partition_has_a_reader_position() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let topic = log.create_topic("in", TopicConfig::new(2)).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let config = config(&log, schema);
        let ingest = Ingest::new(&config, Arc::clone(&topic), &crate::testing::task(0, 1));
        let records = [
            Record::new(0, b"{}"),
            Record::new(0, b"{}"),
            Record::new(0, b"{}"),
        ];
        topic.append(0, &records).unwrap();
        topic.append(1, &records[..1]).unwrap();
        assert_eq!(ingest.lag(), None);
        ingest.positions.set(0, 1);
        assert_eq!(ingest.lag(), None);
        ingest.positions.set(1, 0);
        assert_eq!(ingest.lag(), Some(3));
    }
}
