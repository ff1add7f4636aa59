//! HTTP ingest: Spate listens, clients POST batches of NDJSON events, and the job reads them.
//!
//! Each table has one listener, whatever the job's parallelism. A request's lines are decoded
//! against the table's schema; the good ones are appended, as one batch, to a partition of
//! the table's backing topic in the embedded log, and the answer (`200`) comes only once that
//! batch is fsynced (the topic is created with [`FsyncPolicy::EveryBatch`]). Lines that do
//! not decode go to the dead-letter output with their line number and reason. The job reads
//! the topic through [`LogSource`], its instances sharing the partitions and checkpointing
//! their offsets, so an acknowledged event survives a crash and is processed exactly once
//! by a job with exactly-once sinks.
//!
//! Backpressure: the source instances publish how far they have read ([`ReadPositions`](crate::log_source::ReadPositions));
//! while the events appended but not yet read exceed the table's bound, requests get `429`
//! with `Retry-After`. The listener starts when the job's first source instance restores and
//! stops, after finishing the requests under way, once they are all dropped.

mod server;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use spate_engine::EngineError;
use spate_engine::operator::TaskInfo;
use spate_engine::source::{Source, SourcePoll};
use spate_log::{FsyncPolicy, Log, LogError, Topic, TopicConfig};

use crate::log_source::{Bound, LogSource, LogSourceConfig, StartupMode};

/// Configuration of an HTTP ingest table, shared by its source instances.
#[derive(Debug, Clone)]
pub struct HttpIngestConfig {
    /// The table, to name it in errors and logs.
    pub table: String,
    /// Host name or address to listen on.
    pub hostname: String,
    /// Port to listen on.
    pub port: u16,
    /// The request path events are POSTed to (and whose GET tells readiness).
    pub path: String,
    /// The log holding the backing topic.
    pub log: Log,
    /// The backing topic.
    pub topic: String,
    /// Partitions of the backing topic when it is created; the source's parallelism without.
    pub partitions: Option<u32>,
    /// The schema lines are decoded into.
    pub schema: SchemaRef,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Events appended but not yet read by the job past which requests get `429`.
    pub max_lag: u64,
    /// The `Retry-After` of a `429` (whole seconds, at least one).
    pub retry_after: Duration,
}

/// Errors starting HTTP ingest.
#[derive(Debug, thiserror::Error)]
pub enum HttpIngestError {
    /// The listening address could not be bound.
    #[error("table {table}: cannot listen on {addr}: {source}")]
    Bind {
        /// The table.
        table: String,
        /// `host:port`.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The backing topic could not be opened or created.
    #[error("table {table}: backing topic {topic}: {source}")]
    Topic {
        /// The table.
        table: String,
        /// The topic.
        topic: String,
        /// The cause.
        source: LogError,
    },
    /// The backing topic exists but does not fsync every batch.
    #[error(
        "table {table}: backing topic {topic} fsyncs '{policy}', and HTTP ingest acknowledges \
         only synced events: give the table a new 'topic' (Spate creates it with fsync 'batch')"
    )]
    NotSynced {
        /// The table.
        table: String,
        /// The topic.
        topic: String,
        /// The topic's policy.
        policy: FsyncPolicy,
    },
    /// The listener's thread or runtime could not be started.
    #[error("table {table}: cannot start the HTTP listener: {source}")]
    Start {
        /// The table.
        table: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<HttpIngestError> for EngineError {
    fn from(e: HttpIngestError) -> Self {
        let name = match &e {
            HttpIngestError::Bind { table, .. }
            | HttpIngestError::Topic { table, .. }
            | HttpIngestError::NotSynced { table, .. }
            | HttpIngestError::Start { table, .. } => format!("http table {table}"),
        };
        EngineError::Source {
            name,
            message: e.to_string(),
        }
    }
}

/// Builds the source instances of an HTTP ingest table, starting its listener with the first
/// one and sharing it among them.
#[derive(Debug)]
pub struct HttpIngest {
    config: HttpIngestConfig,
    listener: Mutex<Weak<server::Listener>>,
}

impl HttpIngest {
    /// The ingest of one table; nothing listens until the first instance is built.
    pub fn new(config: HttpIngestConfig) -> Self {
        HttpIngest {
            config,
            listener: Mutex::new(Weak::new()),
        }
    }

    /// Source instance `task.instance`: once restored, it reads its share of the backing
    /// topic's partitions (p % parallelism == instance) and keeps the listener running while
    /// it lives. Nothing listens and no topic is created before the restore, so describing a
    /// plan (which builds each source once, as instance 0 of 1) opens no port.
    pub fn instance(self: &Arc<Self>, task: &TaskInfo) -> Box<dyn Source> {
        Box::new(HttpSource {
            ingest: Arc::clone(self),
            task: task.clone(),
            running: None,
        })
    }

    /// Starts reading for `task`: the listener (shared) and the instance's log source.
    fn start(&self, task: &TaskInfo) -> Result<Running, EngineError> {
        let listener = self.listener(task)?;
        let config = LogSourceConfig {
            log: self.config.log.clone(),
            topic: self.config.topic.clone(),
            schema: self.config.schema.clone(),
            startup: StartupMode::Earliest,
            bound: Bound::Unbounded,
            group: None,
            fetch_bytes: 1 << 20,
            positions: Some(listener.positions().clone()),
        };
        Ok(Running {
            source: LogSource::new(config, task)?,
            _listener: listener,
        })
    }

    /// The running listener, or a new one (the first instance of a run starts it).
    fn listener(&self, task: &TaskInfo) -> Result<Arc<server::Listener>, HttpIngestError> {
        let mut slot = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(listener) = slot.upgrade() {
            return Ok(listener);
        }
        let topic = self.topic(task.parallelism)?;
        let listener = Arc::new(server::Listener::start(&self.config, topic, task)?);
        *slot = Arc::downgrade(&listener);
        Ok(listener)
    }

    /// Opens the backing topic for writing, creating it (fsync `batch`) if needed.
    fn topic(&self, parallelism: usize) -> Result<Arc<Topic>, HttpIngestError> {
        let c = &self.config;
        let err = |source| HttpIngestError::Topic {
            table: c.table.clone(),
            topic: c.topic.clone(),
            source,
        };
        let topic = match c.log.topic(&c.topic) {
            Ok(topic) => topic,
            Err(LogError::UnknownTopic(_)) => {
                let partitions = c
                    .partitions
                    .unwrap_or(u32::try_from(parallelism.max(1)).unwrap_or(u32::MAX));
                let config = TopicConfig {
                    fsync: FsyncPolicy::EveryBatch,
                    ..TopicConfig::new(partitions)
                };
                c.log.create_topic(&c.topic, config).map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        if topic.config().fsync != FsyncPolicy::EveryBatch {
            return Err(HttpIngestError::NotSynced {
                table: c.table.clone(),
                topic: c.topic.clone(),
                policy: topic.config().fsync,
            });
        }
        Ok(topic)
    }
}

/// One source instance: a [`LogSource`] over the backing topic once restored, holding the
/// listener.
struct HttpSource {
    ingest: Arc<HttpIngest>,
    task: TaskInfo,
    running: Option<Running>,
}

/// A restored instance's reader, and the listener it keeps up.
struct Running {
    source: LogSource,
    _listener: Arc<server::Listener>,
}

impl HttpSource {
    fn running(&mut self) -> Result<&mut LogSource, EngineError> {
        match &mut self.running {
            Some(running) => Ok(&mut running.source),
            None => Err(EngineError::Source {
                name: format!("http table {}", self.ingest.config.table),
                message: "used before it was restored".into(),
            }),
        }
    }
}

impl Source for HttpSource {
    fn schema(&self) -> SchemaRef {
        self.ingest.config.schema.clone()
    }

    fn partitions(&self) -> Vec<String> {
        self.running
            .as_ref()
            .map(|r| r.source.partitions())
            .unwrap_or_default()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        self.running()?.poll()
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        self.running()?.snapshot(checkpoint)
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        if self.running.is_none() {
            self.running = Some(self.ingest.start(&self.task)?);
        }
        self.running()?.restore(state)
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        self.running()?.checkpoint_complete(checkpoint)
    }
}
