//! An MQTT topic filter as a source: one subscription (`+`/`#` wildcards allowed) whose
//! messages are handed over as batches, each JSON payload a row, with the message's topic in
//! the `topic` metadata column if the table has one.
//!
//! The client's connection (rumqttc's event loop) runs on a thread of its own and hands the
//! messages over through a bounded channel; a full channel holds the connection back, and
//! the broker with it. A lost connection is logged and re-established; with a persistent
//! session the broker redelivers what was not acknowledged.
//!
//! Acknowledgements ([`AckMode`]): by default a QoS 1 message is acknowledged (PUBACK) only
//! once the checkpoint taken after it was handed over is complete, so in a persistent session
//! (`clean_start` = false, [`Session::Persistent`]) a message is never lost: if the job stops
//! before that checkpoint, the broker still holds the message and delivers it again when the
//! job reconnects (at least once; messages after the last checkpoint are read twice). A job
//! without checkpoints must acknowledge on receipt instead, which loses the messages handed
//! over but not yet processed when the job stops.
//!
//! Messages whose payload does not decode go to the dead-letter output with the reason and
//! the topic; they are acknowledged with the others.
//!
//! A stage of several instances shares the subscription (`$share/<client-id>/<filter>`), so
//! that each message goes to one instance.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{Schema, SchemaRef};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish, RetainForwardRule, SubscribeReasonCode};
use rumqttc::v5::{Client, Connection, Event};
use spate_engine::EngineError;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::source::{PendingCheckpoints, Source, SourcePoll};

use super::{Broker, CONNECT_TIMEOUT, MqttError, Qos, RECEIVE_MAXIMUM};
use crate::format::json::Rejected;
use crate::format::record::{RecordDecoder, RecordFormat};

/// How long the connection thread waits before reconnecting after an error.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What happens to the broker's session when the source disconnects (`scan.session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// `persistent`: `clean_start` = false; the broker keeps the subscription and queues the
    /// QoS 1 messages that arrive while the job is down, for `expiry`
    /// (`scan.session.expiry-interval`) after the disconnection.
    Persistent {
        /// How long the broker keeps the session of a disconnected source.
        expiry: Duration,
    },
    /// `clean`: a new session on every connection; what arrives while the job is down is lost.
    Clean,
}

/// When QoS 1 messages are acknowledged (`scan.ack-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// `checkpoint`: once the checkpoint covering the message is complete (at least once).
    Checkpoint,
    /// `receipt`: as the message is handed over (for jobs without checkpoints).
    Receipt,
}

/// Configuration of an MQTT source, shared by its instances.
#[derive(Debug, Clone)]
pub struct MqttSourceConfig {
    /// The broker and the client identity.
    pub broker: Broker,
    /// The topic filter subscribed to.
    pub filter: String,
    /// The subscription's QoS.
    pub qos: Qos,
    /// The broker session.
    pub session: Session,
    /// When messages are acknowledged.
    pub ack: AckMode,
    /// The rows produced: the payload's columns and the topic column, in the table's order.
    pub schema: SchemaRef,
    /// The columns the payload holds.
    pub value_fields: Vec<String>,
    /// The column holding each message's topic (`METADATA FROM 'topic'`).
    pub topic_column: Option<String>,
    /// Messages handed over per poll at most.
    pub poll_messages: usize,
    /// Messages the connection thread may hold for the source.
    pub queue: usize,
}

/// What the connection thread hands over.
enum Received {
    /// The subscription is in place.
    Subscribed,
    /// A message.
    Message(Publish),
    /// The connection failed; the thread reconnects.
    Lost(String),
    /// The thread stopped.
    Fatal(MqttError),
}

/// One instance of an MQTT source.
pub struct MqttSource {
    config: MqttSourceConfig,
    client: Client,
    received: Receiver<Received>,
    /// Messages received while waiting for the subscription.
    early: VecDeque<Publish>,
    decoder: RecordDecoder,
    /// Acknowledgements of the messages handed over since the last snapshot.
    handed: Vec<Publish>,
    /// Acknowledgements per checkpoint taken and not known to be complete.
    epochs: PendingCheckpoints<Vec<Publish>>,
    /// Acknowledgements due, not yet taken by the client's request queue.
    due: VecDeque<Publish>,
    shared: Arc<Shared>,
    connection: Option<JoinHandle<()>>,
    task: TaskInfo,
}

/// State shared with the connection thread.
#[derive(Default)]
struct Shared {
    /// Set by the source when it goes away.
    stop: AtomicBool,
    /// Set by the thread when it ends.
    ended: AtomicBool,
    /// Why the thread ended, if it failed.
    failure: Mutex<Option<String>>,
}

fn source_err(filter: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Source {
        name: format!("mqtt topic {filter}"),
        message: e.to_string(),
    }
}

/// The acknowledgement of `publish`: its packet identifier and QoS, without the payload.
fn ack_of(publish: &Publish) -> Publish {
    let mut ack = Publish::new("", publish.qos, Vec::new(), None);
    ack.pkid = publish.pkid;
    ack
}

impl MqttSource {
    /// Instance `task.instance` of `task.parallelism`: connects, subscribes, and waits for
    /// the broker to confirm the subscription.
    pub fn new(config: MqttSourceConfig, task: &TaskInfo) -> Result<Self, EngineError> {
        let err = |e: MqttError| source_err(&config.filter, e);
        let value_schema = Arc::new(Schema::new(
            config
                .value_fields
                .iter()
                .map(|n| {
                    config.schema.field_with_name(n).cloned().map_err(|_| {
                        source_err(&config.filter, format!("{n} is not a column of the table"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ));
        let decoder = RecordDecoder::new(RecordFormat::Json, value_schema)?;
        let client_id = config.broker.client_id_of(task.instance, task.parallelism);
        let mut options = config.broker.options(client_id.clone());
        options
            .set_manual_acks(true)
            .set_receive_maximum(Some(RECEIVE_MAXIMUM));
        match config.session {
            Session::Persistent { expiry } => {
                let secs = u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX);
                options
                    .set_clean_start(false)
                    .set_session_expiry_interval(Some(secs));
            }
            Session::Clean => {
                options.set_clean_start(true);
            }
        }
        let filter = match task.parallelism {
            1 => config.filter.clone(),
            _ => format!("$share/{}/{}", config.broker.client_id, config.filter),
        };
        let (client, connection) = Client::new(options, super::REQUEST_QUEUE);
        let (tx, received) = sync_channel(config.queue.max(1));
        let shared = Arc::new(Shared::default());
        let driver = {
            let (client, shared) = (client.clone(), Arc::clone(&shared));
            let qos = config.qos.mqtt();
            thread::Builder::new()
                .name(format!("mqtt-source-{}", task.instance))
                .spawn(move || drive(connection, client, filter, qos, tx, &shared))
                .map_err(|e| err(MqttError::Thread(e)))?
        };
        let mut source = MqttSource {
            client,
            received,
            early: VecDeque::new(),
            decoder,
            handed: Vec::new(),
            epochs: PendingCheckpoints::default(),
            due: VecDeque::new(),
            shared,
            connection: Some(driver),
            task: task.clone(),
            config,
        };
        source.await_subscription()?;
        Ok(source)
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        source_err(&self.config.filter, e)
    }

    /// Waits for the SUBACK, keeping the messages that come first.
    fn await_subscription(&mut self) -> Result<(), EngineError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut last = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(Received::Subscribed) => {
                    tracing::info!(
                        filter = %self.config.filter,
                        broker = %self.config.broker.address(),
                        "MQTT source subscribed"
                    );
                    return Ok(());
                }
                Ok(Received::Message(p)) => self.early.push_back(p),
                Ok(Received::Lost(e)) => last = Some(e),
                Ok(Received::Fatal(e)) => return Err(self.err(e)),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(self.err(MqttError::ConnectTimeout {
                        broker: self.config.broker.address(),
                        last,
                    }));
                }
            }
        }
    }

    /// Hands due acknowledgements to the client, as many as its queue takes.
    fn send_acks(&mut self) -> Result<(), EngineError> {
        while let Some(ack) = self.due.front() {
            if self.client.try_ack(ack).is_err() {
                if self.shared.ended.load(Ordering::Acquire) {
                    return Err(self.err(self.thread_failure()));
                }
                // The queue is full: the rest goes with a later poll.
                break;
            }
            self.due.pop_front();
        }
        Ok(())
    }

    fn thread_failure(&self) -> MqttError {
        match self
            .shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            Some(reason) => MqttError::Connection {
                broker: self.config.broker.address(),
                reason,
            },
            None => MqttError::Closed,
        }
    }

    /// The next messages: those kept while subscribing, then what the thread handed over.
    fn take(&mut self) -> Result<Vec<Publish>, EngineError> {
        let mut messages = Vec::new();
        while messages.len() < self.config.poll_messages {
            if let Some(p) = self.early.pop_front() {
                messages.push(p);
                continue;
            }
            match self.received.try_recv() {
                Ok(Received::Message(p)) => messages.push(p),
                Ok(Received::Subscribed) => {}
                Ok(Received::Lost(e)) => {
                    tracing::warn!(filter = %self.config.filter, error = %e, "MQTT connection lost; reconnecting");
                }
                Ok(Received::Fatal(e)) => return Err(self.err(e)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err(self.err(self.thread_failure()));
                }
            }
        }
        Ok(messages)
    }

    fn dead_letter(&self, message: &Publish, reason: String) {
        TaskMetrics::add(&self.task.metrics.dead_letters, 1);
        self.task.side_outputs.send(SideRecord {
            kind: SideOutputKind::DeadLetter,
            reason,
            origin: format!("mqtt topic {}", String::from_utf8_lossy(&message.topic)),
            payload: message.payload.to_vec(),
        });
    }

    /// The rows of `messages` that decoded, with their topics.
    fn decode(&mut self, messages: &[Publish]) -> Result<RecordBatch, EngineError> {
        let (values, rejected) = self
            .decoder
            .decode(messages.iter().map(|m| m.payload.as_ref()))?;
        let mut keep = vec![true; messages.len()];
        for Rejected { index, reason } in rejected {
            keep[index] = false;
            self.dead_letter(&messages[index], reason);
        }
        let schema = &self.config.schema;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = match values.column_by_name(field.name()) {
                Some(c) => Arc::clone(c),
                None if self.config.topic_column.as_ref() == Some(field.name()) => {
                    let topics: StringArray = messages
                        .iter()
                        .zip(&keep)
                        .filter(|(_, k)| **k)
                        .map(|(m, _)| Some(String::from_utf8_lossy(&m.topic).into_owned()))
                        .collect();
                    arrow::compute::cast(&topics, field.data_type())?
                }
                None => return Err(self.err(format!("no value for column {}", field.name()))),
            };
            columns.push(column);
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// The connection thread: drives the event loop, subscribes on every connection, and hands the messages over until the source goes away.
fn drive(
    mut connection: Connection,
    client: Client,
    filter: String,
    qos: QoS,
    tx: SyncSender<Received>,
    shared: &Shared,
) {
    let mut failure = None;
    for event in connection.iter() {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let handed = match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // Subscribed on every connection, in case the filter changed since the
                // session began; retained messages come only with a new subscription.
                let mut subscription = Filter::new(filter.clone(), qos);
                subscription.retain_forward_rule = RetainForwardRule::OnNewSubscribe;
                if client.try_subscribe_many([subscription]).is_err() {
                    failure = Some("cannot queue the SUBSCRIBE".to_string());
                    break;
                }
                Ok(())
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                match ack
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                {
                    Some(code) => {
                        let _ = tx.send(Received::Fatal(MqttError::Subscription {
                            filter: filter.clone(),
                            reason: format!("{code:?}"),
                        }));
                        break;
                    }
                    None => tx.send(Received::Subscribed),
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => tx.send(Received::Message(publish)),
            Ok(Event::Incoming(Packet::Disconnect(d))) => tx.send(Received::Lost(format!(
                "the broker disconnected: {:?}",
                d.reason_code
            ))),
            Ok(_) => Ok(()),
            Err(e) => {
                let sent = tx.send(Received::Lost(e.to_string()));
                if sent.is_ok() && !shared.stop.load(Ordering::Acquire) {
                    thread::sleep(RECONNECT_DELAY);
                }
                sent
            }
        };
        if handed.is_err() {
            // The source went away.
            break;
        }
    }
    *shared
        .failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = failure;
    shared.ended.store(true, Ordering::Release);
}

impl Source for MqttSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.config.schema)
    }

    fn partitions(&self) -> Vec<String> {
        vec![self.config.filter.clone()]
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        self.send_acks()?;
        let messages = self.take()?;
        if messages.is_empty() {
            return Ok(SourcePoll::Idle);
        }
        let batch = self.decode(&messages)?;
        let acks = messages
            .iter()
            .filter(|m| m.qos != QoS::AtMostOnce)
            .map(ack_of);
        match self.config.ack {
            AckMode::Checkpoint => self.handed.extend(acks),
            AckMode::Receipt => {
                self.due.extend(acks);
                self.send_acks()?;
            }
        }
        if batch.num_rows() == 0 {
            return Ok(SourcePoll::Idle);
        }
        Ok(SourcePoll::Batch {
            partition: 0,
            batch,
        })
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        // The broker keeps the position: the checkpoint holds nothing, and what it covers is
        // acknowledged once it is complete.
        self.epochs
            .insert(checkpoint, std::mem::take(&mut self.handed));
        Ok(Vec::new())
    }

    fn restore(&mut self, _state: Option<&[u8]>) -> Result<(), EngineError> {
        // The broker redelivers what the last complete checkpoint did not acknowledge.
        Ok(())
    }

    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        for acks in self.epochs.complete(checkpoint) {
            self.due.extend(acks);
        }
        self.send_acks()
    }
}

impl Drop for MqttSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Unacknowledged messages stay with the broker's session. Best effort: the thread
        // ends once the DISCONNECT is out, or at its next event.
        let _ = self.client.try_disconnect();
        if let Some(connection) = self.connection.take()
            && connection.is_finished()
        {
            let _ = connection.join();
        }
    }
}
