//! The connectors `spate sql` runs, by their Flink names: the [`ConnectorRegistry`] through
//! which the planner builds each table's source or sink.
//!
//! | connector | source | sink |
//! |---|---|---|
//! | `filesystem` | `json`, `csv`, `parquet` files (local, `s3://`, `oss://`), read once | `csv`, `json`, `parquet` part files, exactly once |
//! | `spate-log` | a topic of the embedded log (`json`) | a topic of the embedded log (`json`), exactly once |
//! | `kafka` | a Kafka topic (`json`, `csv`, `raw`; metadata columns) | a Kafka topic, at least once |
//! | `upsert-kafka` | a Kafka topic as a table's changelog by primary key (tombstones delete) | a table's changes as records and tombstones by key, at least once |
//! | `mqtt` | an MQTT topic filter (`json`; the `topic` metadata column), at least once | MQTT topics of a `{column}` pattern (`json`), at least once |
//! | `http` | NDJSON POSTed to a listener, kept in a synced log topic the job reads, exactly once | — |
//! | `datagen` | generated rows | — |
//! | `nexmark` | the Nexmark benchmark's events | — |
//! | `clickhouse` | — | a ClickHouse table, appended in batches over HTTP, at least once |
//! | `print` | — | standard output or error |
//! | `spate-store` | — | a table of the embedded serving store (`<data-dir>/store`), exactly once; upserts by primary key |
//! | `blackhole` | — | discards rows |
//!
//! Models for `ML_PREDICT` come from here too: `'provider' = 'spate'` scores in process with
//! a model registry's live version (see `model`).
//!
//! The SQL front end has checked the option names; the values are checked here, at planning,
//! and a bad one is reported at the table's `CREATE TABLE`.
//!
//! A `spate-log` sink's `sink.transactional-id-prefix` names its commit ledger (see
//! [`spate_connectors::log_sink`]); without one it is `spate-sink.<topic>.<n>`, n counting the
//! sinks of the job file, which keeps the INSERTs of one file apart. Two job files writing one
//! topic should set their own prefixes, as Flink asks.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use spate_connectors::blackhole::BlackholeSink;
use spate_connectors::clickhouse::sink::ClickHouseSink;
use spate_connectors::datagen::{DatagenConfig, DatagenError, DatagenSource};
use spate_connectors::file_sink::{FileFormat, FileSink};
use spate_connectors::file_source::FileSource;
use spate_connectors::http::HttpIngest;
use spate_connectors::jdbc::lookup::JdbcLookup;
use spate_connectors::jdbc::sink::JdbcSink;
use spate_connectors::jdbc::source::JdbcSource;
use spate_connectors::kafka::sink::KafkaSink;
use spate_connectors::kafka::source::{KafkaSource, KafkaSourceConfig};
use spate_connectors::kafka::{MemberCommits, OffsetCommits};
use spate_connectors::log_sink::{LogSink, LogSinkConfig, Partitioner};
use spate_connectors::log_source::{Bound, LogSource, LogSourceConfig, StartupMode};
use spate_connectors::mqtt::sink::MqttSink;
use spate_connectors::mqtt::source::MqttSource;
use spate_connectors::nexmark::{NexmarkConfig, NexmarkError, NexmarkSource};
use spate_connectors::print::{PrintSink, PrintTarget};
use spate_engine::lookup::KeyLookupFactory;
use spate_engine::sink::SinkFactory;
use spate_engine::source::SourceFactory;
use spate_log::Log;
use spate_sql::{
    ColumnsRead, Connector, ConnectorRegistry, ModelDef, Predictor, SqlError, TableDef,
};

mod clickhouse;
mod filesystem;
mod http;
mod jdbc;
mod kafka;
mod model;
mod mqtt;
mod store;

pub(crate) use store::{open_store, store_dir};

/// What each connector reads and writes, for hints.
const SUPPORTED: &str = "sources: filesystem (json, csv, parquet), spate-log (json), kafka (json, \
csv, raw), upsert-kafka (json, csv, raw), mqtt (json), http (json), jdbc, datagen, nexmark; sinks: filesystem (csv, json, parquet), spate-log (json), \
kafka (json, csv, raw), upsert-kafka (json, csv, raw), mqtt (json), jdbc, clickhouse, spate-store, \
print, blackhole";

/// The connectors of `spate sql`, over one embedded log.
pub struct Registry {
    log: Log,
    /// The serving store beside the log, opened by the first spate-store sink.
    store: store::StoreHandle,
    /// Sinks built so far: numbers each spate-log sink's default transactional id.
    sinks: Cell<usize>,
    /// MQTT sources built so far: each INSERT reading an MQTT table subscribes with a client
    /// identifier of its own.
    mqtt_sources: Cell<usize>,
    /// When the job was planned: the time of the first Nexmark event, the same for every
    /// scan of a table (a query reading its auctions and its bids joins them at equal times,
    /// as Flink's reused source does).
    planned_at_ms: i64,
    /// Reads every Kafka source from this partition only, its offsets committed by the
    /// process's group member (a scale-out job runs a copy of its source per partition it is
    /// assigned).
    kafka_partition: Option<(i32, MemberCommits)>,
    /// The Kafka sources built so far.
    kafka_sources: RefCell<Vec<KafkaSourceConfig>>,
    /// The tables written so far, with their connectors.
    sinks_built: RefCell<Vec<(String, Connector)>>,
}

impl Registry {
    /// The connectors, with `spate-log` tables in `log`.
    pub fn new(log: Log) -> Self {
        Registry {
            store: store::StoreHandle::beside(&log),
            log,
            sinks: Cell::new(0),
            mqtt_sources: Cell::new(0),
            planned_at_ms: spate_log::now_ms(),
            kafka_partition: None,
            kafka_sources: RefCell::new(Vec::new()),
            sinks_built: RefCell::new(Vec::new()),
        }
    }

    /// The connectors, with every Kafka source reading only `partition` of its topic and
    /// handing its checkpointed offsets to `commits`, for the group member to commit.
    pub fn reading_partition(log: Log, partition: i32, commits: MemberCommits) -> Self {
        Registry {
            kafka_partition: Some((partition, commits)),
            ..Registry::new(log)
        }
    }

    /// The Kafka sources planned so far.
    pub fn kafka_sources(&self) -> Vec<KafkaSourceConfig> {
        self.kafka_sources.borrow().clone()
    }

    /// The tables written so far, with their connectors.
    pub fn sinks_built(&self) -> Vec<(String, Connector)> {
        self.sinks_built.borrow().clone()
    }
}

fn unsupported(table: &TableDef, what: &str) -> SqlError {
    SqlError::Unsupported {
        at: table.at,
        construct: what.to_string(),
        text: table.name.clone(),
        hint: SUPPORTED.into(),
    }
}

/// An option of `table` whose value Spate cannot use.
fn invalid(
    table: &TableDef,
    key: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> SqlError {
    SqlError::Invalid {
        at: table.at,
        message: format!("table {}: option '{key}': {}", table.name, message.into()),
        text: table.option(key).unwrap_or_default().to_string(),
        hint: hint.into(),
    }
}

/// The `format` of a filesystem table.
fn file_format(table: &TableDef) -> Result<FileFormat, SqlError> {
    let format = match table.option("format") {
        Some("json") => FileFormat::Json,
        Some("csv") => FileFormat::Csv,
        Some("parquet") => FileFormat::Parquet,
        other => {
            return Err(invalid(
                table,
                "format",
                format!("the filesystem connector has no format {other:?}"),
                "formats are json, csv, parquet",
            ));
        }
    };
    check_format_options(table, format)?;
    Ok(format)
}

/// Refuses CSV and Parquet format options that would change the layout Spate reads and
/// writes, rather than ignoring them. `None` as the value takes any value.
fn check_format_options(table: &TableDef, format: FileFormat) -> Result<(), SqlError> {
    let (prefix, fixed): (&str, &[(&str, Option<&str>)]) = match format {
        FileFormat::Csv => (
            "csv.",
            &[
                ("csv.field-delimiter", Some(",")),
                ("csv.quote-character", Some("\"")),
                ("csv.allow-comments", Some("false")),
                ("csv.disable-quote-character", Some("false")),
                // Records that do not parse go to the dead-letter topic either way.
                ("csv.ignore-parse-errors", None),
            ],
        ),
        FileFormat::Parquet => ("parquet.", &[("parquet.compression", Some("snappy"))]),
        FileFormat::Json => return Ok(()),
    };
    for (key, value) in table.options.iter().filter(|(k, _)| k.starts_with(prefix)) {
        let accepted = fixed
            .iter()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, v)| v.is_none_or(|v| v.eq_ignore_ascii_case(value)));
        if !accepted {
            return Err(SqlError::Unsupported {
                at: table.at,
                construct: format!("the format option '{key}' = '{value}'"),
                text: value.clone(),
                hint: format!(
                    "Spate takes {}",
                    fixed
                        .iter()
                        .map(|(k, v)| format!("'{k}' = '{}'", v.unwrap_or("…")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Checks that the value format of a spate-log table (`value.format`, or `format`) is JSON.
fn check_json_value(table: &TableDef) -> Result<(), SqlError> {
    let key = match table.option("value.format") {
        Some(_) => "value.format",
        None => "format",
    };
    match table.option(key) {
        Some("json") => Ok(()),
        _ => Err(invalid(
            table,
            key,
            "spate-log records are JSON",
            format!("write '{key}' = 'json'"),
        )),
    }
}

/// A boolean option, `false` when absent.
fn flag(table: &TableDef, key: &str) -> Result<bool, SqlError> {
    match table.option(key).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(invalid(
            table,
            key,
            "expected true or false",
            format!("write '{key}' = 'true'"),
        )),
    }
}

/// A number option of `table`, counting `what` (e.g. "rows"); `default` when absent.
fn number<T: std::str::FromStr + std::fmt::Display>(
    table: &TableDef,
    key: &str,
    default: T,
    what: &str,
) -> Result<T, SqlError> {
    match table.option(key) {
        None => Ok(default),
        Some(text) => text.trim().parse::<T>().map_err(|_| {
            invalid(
                table,
                key,
                format!("expected a number of {what}"),
                format!("write e.g. '{key}' = '{default}'"),
            )
        }),
    }
}

/// A flush interval option of `table`, read as Flink reads durations (`1s`, `500 ms`; a bare
/// number is milliseconds); `default` when absent, `None` when zero (`zero` says what zero
/// does).
fn flush_interval(
    table: &TableDef,
    key: &str,
    default: Duration,
    zero: &str,
) -> Result<Option<Duration>, SqlError> {
    let Some(text) = table.option(key).map(str::trim) else {
        return Ok(Some(default));
    };
    let every = match text.parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => humantime::parse_duration(text).map_err(|e| {
            invalid(
                table,
                key,
                format!("not a duration: {e}"),
                format!("write e.g. '{key}' = '1s' ('0' {zero})"),
            )
        })?,
    };
    Ok((!every.is_zero()).then_some(every))
}

/// A stable seed from the table's name, so a job generates the same rows on every run.
fn seed(name: &str) -> u64 {
    // FNV-1a.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Registry {
    fn log_sink(&self, table: &TableDef, index: usize) -> spate_sql::Result<SinkFactory> {
        check_json_value(table)?;
        let schema = Arc::new(table.physical_schema());
        let key_fields: Vec<String> = match table.option("key.fields") {
            Some(fields) => fields
                .split(';')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
            None => Vec::new(),
        };
        if let Some(missing) = key_fields.iter().find(|f| schema.index_of(f).is_err()) {
            return Err(invalid(
                table,
                "key.fields",
                format!("{missing} is not a physical column of the table"),
                "name physical columns, separated by ';'",
            ));
        }
        if !key_fields.is_empty() && table.option("key.format") != Some("json") {
            return Err(invalid(
                table,
                "key.format",
                "keys from 'key.fields' are JSON",
                "add 'key.format' = 'json'",
            ));
        }
        let value_except_key = match table.option("value.fields-include") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("ALL") => false,
            Some(v) if v.eq_ignore_ascii_case("EXCEPT_KEY") => true,
            Some(_) => {
                return Err(invalid(
                    table,
                    "value.fields-include",
                    "expected ALL or EXCEPT_KEY",
                    "write 'value.fields-include' = 'ALL'",
                ));
            }
        };
        let partitioner = match table.option("sink.partitioner") {
            None | Some("default") => Partitioner::Default,
            Some("fixed") => Partitioner::Fixed,
            Some("round-robin") => Partitioner::RoundRobin,
            Some(_) => {
                return Err(invalid(
                    table,
                    "sink.partitioner",
                    "Spate has the partitioners default, fixed and round-robin",
                    "write 'sink.partitioner' = 'default' (the key's murmur2 hash)",
                ));
            }
        };
        match table.option("sink.delivery-guarantee") {
            None | Some("exactly-once" | "at-least-once" | "none") => {}
            Some(_) => {
                return Err(invalid(
                    table,
                    "sink.delivery-guarantee",
                    "expected exactly-once, at-least-once or none",
                    "spate-log sinks are exactly once whatever the setting",
                ));
            }
        }
        let topic = table.option("topic").unwrap_or_default().to_string();
        let prefix = match table.option("sink.transactional-id-prefix") {
            Some(prefix) => prefix.to_string(),
            None => format!("spate-sink.{topic}.{index}"),
        };
        if prefix.is_empty()
            || prefix.starts_with('.')
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(invalid(
                table,
                "sink.transactional-id-prefix",
                "the prefix names the sink's ledger: use [A-Za-z0-9._-], not starting with '.'",
                "write e.g. 'sink.transactional-id-prefix' = 'orders-sink'",
            ));
        }
        let config = LogSinkConfig {
            log: self.log.clone(),
            topic,
            schema,
            key_fields,
            value_except_key,
            partitioner,
            transactional_id_prefix: prefix,
        };
        Ok(Arc::new(move |task| {
            Ok(Box::new(LogSink::new(config.clone(), task.instance)?) as Box<_>)
        }))
    }
}

impl ConnectorRegistry for Registry {
    fn model(&self, model: &ModelDef) -> spate_sql::Result<Arc<dyn Predictor>> {
        model::predictor(model)
    }

    fn accepts_changes(&self, table: &TableDef) -> bool {
        // An upsert-kafka table without a primary key is refused when its sink is built.
        matches!(
            table.connector,
            Connector::Print | Connector::Blackhole | Connector::UpsertKafka
        ) || (table.connector == Connector::Jdbc && table.primary_key.is_some())
            || (table.connector == Connector::SpateStore && table.primary_key.is_some())
    }

    fn upsert_source(&self, table: &TableDef) -> bool {
        table.connector == Connector::UpsertKafka
    }

    fn lookup(
        &self,
        table: &TableDef,
        schema: SchemaRef,
        keys: &[String],
    ) -> spate_sql::Result<Option<KeyLookupFactory>> {
        if table.connector != Connector::Jdbc {
            return Ok(None);
        }
        let config = jdbc::config(table)?;
        let retries = jdbc::lookup_retries(table)?;
        let keys = keys.to_vec();
        Ok(Some(Arc::new(move |_| {
            Ok(Box::new(JdbcLookup::new(
                config.clone(),
                schema.clone(),
                keys.clone(),
                retries,
            )?) as Box<_>)
        })))
    }

    fn source(
        &self,
        table: &TableDef,
        schema: SchemaRef,
        read: &ColumnsRead,
    ) -> spate_sql::Result<SourceFactory> {
        refuse_metadata(table)?;
        match table.connector {
            Connector::Filesystem => {
                let format = file_format(table)?;
                filesystem::refuse_partitioned_source(table)?;
                let location = filesystem::location(table)?;
                Ok(Arc::new(move |task| {
                    Ok(
                        Box::new(FileSource::new(&location, format, schema.clone(), task)?)
                            as Box<_>,
                    )
                }))
            }
            Connector::SpateLog => {
                check_json_value(table)?;
                let config = LogSourceConfig {
                    log: self.log.clone(),
                    topic: table.option("topic").unwrap_or_default().to_string(),
                    schema,
                    startup: match table.option("scan.startup.mode") {
                        Some("latest-offset") => StartupMode::Latest,
                        Some("group-offsets") => StartupMode::GroupOffsets,
                        _ => StartupMode::Earliest,
                    },
                    bound: match table.option("scan.bounded.mode") {
                        Some("latest-offset") => Bound::LatestOffset,
                        _ => Bound::Unbounded,
                    },
                    group: table.option("properties.group.id").map(String::from),
                    fetch_bytes: 1 << 20,
                    positions: None,
                };
                Ok(Arc::new(move |task| {
                    Ok(Box::new(LogSource::new(config.clone(), task)?) as Box<_>)
                }))
            }
            Connector::Datagen => {
                let config = DatagenConfig::new(schema, &table.options, seed(&table.name))
                    .map_err(|e| datagen_error(table, e))?;
                Ok(Arc::new(move |task| {
                    Ok(Box::new(DatagenSource::new(config.clone(), task)) as Box<_>)
                }))
            }
            Connector::Nexmark => {
                let config = NexmarkConfig::new(schema, &table.options, self.planned_at_ms)
                    .map_err(|e| nexmark_error(table, e))?
                    .reading(|column, field| match field {
                        Some(field) => read.field(column, field),
                        None => read.column(column),
                    });
                Ok(Arc::new(move |task| {
                    Ok(Box::new(NexmarkSource::new(config.clone(), task)) as Box<_>)
                }))
            }
            Connector::Kafka | Connector::UpsertKafka => {
                let mut config = match table.connector {
                    Connector::Kafka => kafka::source_config(table, schema)?,
                    _ => kafka::upsert_source_config(table, schema)?,
                };
                if let Some((partition, commits)) = &self.kafka_partition {
                    config.only_partitions = Some(vec![*partition]);
                    if !matches!(config.commits, OffsetCommits::None) {
                        config.commits = OffsetCommits::Member(commits.clone());
                    }
                }
                self.kafka_sources.borrow_mut().push(config.clone());
                Ok(Arc::new(move |task| {
                    Ok(Box::new(KafkaSource::new(config.clone(), task)?) as Box<_>)
                }))
            }
            Connector::Mqtt => {
                let n = self.mqtt_sources.get();
                self.mqtt_sources.set(n + 1);
                let config = mqtt::source_config(table, schema, n)?;
                Ok(Arc::new(move |task| {
                    Ok(Box::new(MqttSource::new(config.clone(), task)?) as Box<_>)
                }))
            }
            Connector::Http => {
                let ingest = Arc::new(HttpIngest::new(http::config(table, schema, &self.log)?));
                Ok(Arc::new(move |task| Ok(ingest.instance(task))))
            }
            Connector::Blackhole => Err(unsupported(table, "reading from a blackhole table")),
            Connector::Print => Err(unsupported(table, "reading from a print table")),
            Connector::SpateStore => Err(unsupported(
                table,
                "reading from a spate-store table in a job (query it with spate query)",
            )),
            Connector::Jdbc => {
                let config = jdbc::config(table)?;
                Ok(Arc::new(move |task| {
                    Ok(Box::new(JdbcSource::new(config.clone(), schema.clone(), task)?) as Box<_>)
                }))
            }
            Connector::ClickHouse => Err(unsupported(
                table,
                "reading from a clickhouse table (the connector is a sink)",
            )),
        }
    }

    fn sink(&self, table: &TableDef) -> spate_sql::Result<SinkFactory> {
        let index = self.sinks.get();
        self.sinks.set(index + 1);
        refuse_metadata(table)?;
        self.sinks_built
            .borrow_mut()
            .push((table.name.clone(), table.connector));
        match table.connector {
            Connector::Filesystem => {
                let format = file_format(table)?;
                let location = filesystem::location(table)?;
                let partitions = filesystem::partition_spec(table)?;
                let rolling = filesystem::rolling_policy(table)?;
                Ok(Arc::new(move |task| {
                    let sink =
                        FileSink::new(location.clone(), format, task.instance)?.rolling(rolling);
                    Ok(Box::new(match &partitions {
                        Some(spec) => sink.partitioned(spec.clone()),
                        None => sink,
                    }) as Box<_>)
                }))
            }
            Connector::Blackhole => Ok(Arc::new(|_| Ok(Box::new(BlackholeSink) as Box<_>))),
            Connector::Print => {
                let identifier = table.option("print-identifier").map(String::from);
                let target = match flag(table, "standard-error")? {
                    true => PrintTarget::Stderr,
                    false => PrintTarget::Stdout,
                };
                Ok(Arc::new(move |task| {
                    Ok(Box::new(PrintSink::new(identifier.as_deref(), target, task)) as Box<_>)
                }))
            }
            Connector::SpateLog => self.log_sink(table, index),
            Connector::Kafka | Connector::UpsertKafka => {
                let config = match table.connector {
                    Connector::Kafka => kafka::sink_config(table)?,
                    _ => kafka::upsert_sink_config(table)?,
                };
                Ok(Arc::new(move |task| {
                    Ok(Box::new(KafkaSink::new(config.clone(), task.instance)?) as Box<_>)
                }))
            }
            Connector::Mqtt => {
                let config = mqtt::sink_config(table)?;
                Ok(Arc::new(move |task| {
                    Ok(Box::new(MqttSink::new(
                        config.clone(),
                        task.instance,
                        task.parallelism,
                    )?) as Box<_>)
                }))
            }
            Connector::SpateStore => store::sink(&self.store, table, index),
            Connector::Datagen => Err(unsupported(table, "writing to a datagen table")),
            Connector::Nexmark => Err(unsupported(table, "writing to a nexmark table")),
            Connector::Http => Err(unsupported(
                table,
                "writing to an http table (clients POST its events; it is a source)",
            )),
            Connector::Jdbc => {
                let config = jdbc::sink_config(table)?;
                Ok(Arc::new(move |_| {
                    Ok(Box::new(JdbcSink::new(config.clone())?) as Box<_>)
                }))
            }
            Connector::ClickHouse => {
                let config = clickhouse::sink_config(table)?;
                Ok(Arc::new(move |task| {
                    Ok(Box::new(ClickHouseSink::new(config.clone(), task)?) as Box<_>)
                }))
            }
        }
    }
}

/// Refuses metadata columns in tables of connectors other than Kafka and MQTT.
fn refuse_metadata(table: &TableDef) -> spate_sql::Result<()> {
    match table.metadata_columns().next() {
        Some((column, _))
            if !matches!(
                table.connector,
                Connector::Kafka | Connector::UpsertKafka | Connector::Mqtt
            ) =>
        {
            Err(SqlError::Unsupported {
                at: column.at,
                construct: format!("METADATA columns of {} tables", table.connector.name()),
                text: column.name.clone(),
                hint: "only kafka, upsert-kafka and mqtt tables have metadata columns; declare \
                       a physical column"
                    .into(),
            })
        }
        _ => Ok(()),
    }
}

/// A datagen option error at the table.
fn datagen_error(table: &TableDef, e: DatagenError) -> SqlError {
    let text = match &e {
        DatagenError::Option { value, .. } => value.clone(),
        DatagenError::UnknownColumn { key, .. } => key.clone(),
        DatagenError::Type { column, .. } => column.clone(),
    };
    let hint = match &e {
        DatagenError::Option { .. } => "see the datagen options of Flink's documentation",
        DatagenError::UnknownColumn { .. } => {
            "name a physical column in 'fields.<column>.<option>'"
        }
        DatagenError::Type { .. } => {
            "datagen makes TINYINT to BIGINT, FLOAT, DOUBLE, DECIMAL, BOOLEAN, STRING, \
             TIMESTAMP, TIMESTAMP_LTZ and DATE values"
        }
    };
    SqlError::Invalid {
        at: table.at,
        message: format!("table {}: {e}", table.name),
        text,
        hint: hint.into(),
    }
}

/// A nexmark option or column error at the table.
fn nexmark_error(table: &TableDef, e: NexmarkError) -> SqlError {
    let (text, hint) = match &e {
        NexmarkError::Option { value, .. } => (
            value.clone(),
            "see the options of Flink's nexmark connector (github.com/nexmark/nexmark)",
        ),
        NexmarkError::Column { column, .. } => (
            column.clone(),
            "declare the columns of Flink's nexmark DDL: event_type INT, person ROW<…>, \
             auction ROW<…>, bid ROW<…>",
        ),
    };
    SqlError::Invalid {
        at: table.at,
        message: format!("table {}: {e}", table.name),
        text,
        hint: hint.into(),
    }
}
