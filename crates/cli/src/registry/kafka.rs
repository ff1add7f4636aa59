//! The options of `'connector' = 'kafka'` and `'upsert-kafka'` tables, as Flink names them,
//! turned into the configurations of [`spate_connectors::kafka`]'s source and sink.
//!
//! `properties.*` go to librdkafka without the prefix (`properties.bootstrap.servers` is
//! required). Without `scan.startup.mode` a kafka source starts from the group's offsets when
//! it has `properties.group.id` (Flink's default) and from the earliest offset otherwise.
//!
//! An upsert-kafka table is keyed by its primary key (the record key, in `key.format`) and is
//! always read from the earliest offset, as Flink reads it: the table is the whole topic. Its
//! sink buffers with `sink.buffer-flush.max-rows` and `sink.buffer-flush.interval`, both
//! greater than zero or both zero (the default: no buffer), as Flink requires.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use spate_connectors::format::record::RecordFormat;
use spate_connectors::kafka::sink::{BufferFlush, KafkaSinkConfig};
use spate_connectors::kafka::source::{
    BoundedMode, KafkaSourceConfig, StartupMode, parse_specific_offsets,
};
use spate_connectors::kafka::{MetadataKey, OffsetCommits, Properties};
use spate_connectors::log_sink::Partitioner;
use spate_sql::catalog::ColumnKind;
use spate_sql::{Connector, SqlError, TableDef, parse_duration};

use super::invalid;

/// Records taken from librdkafka per poll of a source.
const POLL_RECORDS: usize = 8192;

/// The librdkafka properties of `table`.
fn properties(table: &TableDef) -> Result<Properties, SqlError> {
    if table.option("properties.bootstrap.servers").is_none() {
        return Err(SqlError::MissingOption {
            at: table.at,
            connector: "kafka".into(),
            text: "properties.bootstrap.servers".into(),
            hint: "add 'properties.bootstrap.servers' = 'host:port'".into(),
        });
    }
    Ok(table
        .options
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("properties.")?.to_string(), v.clone())))
        .collect())
}

/// The one topic of `table`.
fn topic(table: &TableDef) -> Result<String, SqlError> {
    let topic = table.option("topic").unwrap_or_default();
    if topic.is_empty() || topic.contains(';') {
        return Err(invalid(
            table,
            "topic",
            "Spate reads and writes one topic per table",
            "name one topic",
        ));
    }
    Ok(topic.to_string())
}

/// A record format option.
fn format(table: &TableDef, key: &str) -> Result<RecordFormat, SqlError> {
    let name = table.option(key).unwrap_or_default();
    RecordFormat::from_name(name).ok_or_else(|| {
        invalid(
            table,
            key,
            format!("Kafka records are json, csv or raw, not '{name}'"),
            format!("write '{key}' = 'json'"),
        )
    })
}

/// The key columns of a kafka table: `key.fields`, which go with `key.format`.
fn key_fields(table: &TableDef) -> Result<Vec<String>, SqlError> {
    let fields: Vec<String> = table
        .option("key.fields")
        .unwrap_or_default()
        .split(';')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    match (fields.is_empty(), table.option("key.format")) {
        (true, Some(_)) => Err(invalid(
            table,
            "key.format",
            "a key format needs 'key.fields'",
            "add 'key.fields' = 'column;…'",
        )),
        (false, None) => Err(invalid(
            table,
            "key.fields",
            "keys need 'key.format'",
            "add 'key.format' = 'json'",
        )),
        _ => Ok(fields),
    }
}

/// The key columns of an upsert-kafka table: its primary key.
fn primary_key(table: &TableDef) -> Result<Vec<String>, SqlError> {
    match &table.primary_key {
        Some(key) => Ok(key.columns.clone()),
        None => Err(SqlError::Unsupported {
            at: table.at,
            construct: "an upsert-kafka table without a primary key".into(),
            text: table.name.clone(),
            hint: "declare PRIMARY KEY (…) NOT ENFORCED: its columns are the record key, and \
                   records update or delete the row of their key"
                .into(),
        }),
    }
}

/// The value and key layout: the value's format and columns, and the key's format and
/// columns (`key_fields`), among the physical columns of `schema`.
type Layout = (
    RecordFormat,
    Vec<String>,
    Option<(RecordFormat, Vec<String>)>,
);

fn layout(
    table: &TableDef,
    schema: &SchemaRef,
    key_fields: Vec<String>,
) -> Result<Layout, SqlError> {
    let value_key = match table.option("value.format") {
        Some(_) => "value.format",
        None => "format",
    };
    let value_format = format(table, value_key)?;
    let physical: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Physical)
        .map(|c| c.name.clone())
        .collect();
    if let Some(missing) = key_fields.iter().find(|f| !physical.contains(f)) {
        return Err(match table.connector {
            Connector::UpsertKafka => SqlError::Unsupported {
                at: table.at,
                construct: format!(
                    "the primary key column {missing} of table {}, which is not physical",
                    table.name
                ),
                text: missing.clone(),
                hint: "key an upsert-kafka table by physical columns".into(),
            },
            _ => invalid(
                table,
                "key.fields",
                format!("{missing} is not a physical column of the table"),
                "name physical columns, separated by ';'",
            ),
        });
    }
    if table.option("key.fields-prefix").is_some() {
        return Err(invalid(
            table,
            "key.fields-prefix",
            "key columns are named as the key's fields",
            "drop 'key.fields-prefix'",
        ));
    }
    let key = match key_fields.is_empty() {
        true => None,
        false => Some((format(table, "key.format")?, key_fields.clone())),
    };
    let value_fields: Vec<String> = match table.option("value.fields-include") {
        None => physical,
        Some(v) if v.eq_ignore_ascii_case("ALL") => physical,
        Some(v) if v.eq_ignore_ascii_case("EXCEPT_KEY") => physical
            .into_iter()
            .filter(|f| !key_fields.contains(f))
            .collect(),
        Some(_) => {
            return Err(invalid(
                table,
                "value.fields-include",
                "expected ALL or EXCEPT_KEY",
                "write 'value.fields-include' = 'ALL'",
            ));
        }
    };
    let check = |format: RecordFormat, fields: &[String], key: &str| {
        let sub = schema
            .project(
                &fields
                    .iter()
                    .filter_map(|f| schema.index_of(f).ok())
                    .collect::<Vec<_>>(),
            )
            .map(Arc::new)
            .map_err(|e| invalid(table, key, e.to_string(), "check the table's columns"))?;
        format
            .check(&sub)
            .map_err(|m| invalid(table, key, m, "declare one STRING or BYTES column"))
    };
    check(value_format, &value_fields, value_key)?;
    if let Some((format, fields)) = &key {
        check(*format, fields, "key.format")?;
    }
    Ok((value_format, value_fields, key))
}

/// The metadata columns of `table`, with their keys; `writing` refuses read-only ones that
/// are not `VIRTUAL`.
fn metadata(table: &TableDef, writing: bool) -> Result<Vec<(String, MetadataKey)>, SqlError> {
    let mut columns = Vec::new();
    for (column, key) in table.metadata_columns() {
        let unsupported = |construct: String, hint: &str| SqlError::Unsupported {
            at: column.at,
            construct,
            text: column.name.clone(),
            hint: hint.into(),
        };
        let metadata = MetadataKey::from_name(key).ok_or_else(|| {
            unsupported(
                format!("the Kafka metadata key '{key}'"),
                "Kafka tables have the metadata topic, partition, offset and timestamp",
            )
        })?;
        let declared = column.data_type.clone().unwrap_or(DataType::Null);
        let (fits, type_name) = match metadata {
            MetadataKey::Topic => (declared == DataType::Utf8, "STRING"),
            MetadataKey::Partition => {
                (matches!(declared, DataType::Int32 | DataType::Int64), "INT")
            }
            MetadataKey::Offset => (declared == DataType::Int64, "BIGINT"),
            MetadataKey::Timestamp => (
                matches!(declared, DataType::Timestamp(..)),
                "TIMESTAMP_LTZ(3)",
            ),
        };
        if !fits {
            return Err(unsupported(
                format!("metadata '{key}' as {declared}"),
                &format!("declare the column {type_name}"),
            ));
        }
        let is_virtual = matches!(
            column.kind,
            ColumnKind::Metadata {
                is_virtual: true,
                ..
            }
        );
        if writing && !is_virtual && metadata != MetadataKey::Timestamp {
            return Err(unsupported(
                format!("writing the read-only metadata '{key}'"),
                "declare the column VIRTUAL",
            ));
        }
        columns.push((column.name.clone(), metadata));
    }
    Ok(columns)
}

/// The configuration of a source of the kafka table `table`, producing rows of `schema`.
pub(super) fn source_config(
    table: &TableDef,
    schema: SchemaRef,
) -> Result<KafkaSourceConfig, SqlError> {
    let key_fields = key_fields(table)?;
    source(table, schema, key_fields, startup(table)?, false)
}

/// The configuration of a source of the upsert-kafka table `table`: upserts from the earliest
/// offset on, keyed by the primary key.
pub(super) fn upsert_source_config(
    table: &TableDef,
    schema: SchemaRef,
) -> Result<KafkaSourceConfig, SqlError> {
    let key_fields = primary_key(table)?;
    source(table, schema, key_fields, StartupMode::Earliest, true)
}

fn source(
    table: &TableDef,
    schema: SchemaRef,
    key_fields: Vec<String>,
    startup: StartupMode,
    upsert: bool,
) -> Result<KafkaSourceConfig, SqlError> {
    let properties = properties(table)?;
    let topic = topic(table)?;
    let (value_format, value_fields, key) = layout(table, &schema, key_fields)?;
    let metadata = metadata(table, false)?;
    let bound = match table.option("scan.bounded.mode") {
        None | Some("unbounded") => BoundedMode::Unbounded,
        Some("latest-offset") => BoundedMode::LatestOffset,
        Some(_) => {
            return Err(invalid(
                table,
                "scan.bounded.mode",
                "Spate bounds Kafka sources at latest-offset only",
                "write 'scan.bounded.mode' = 'latest-offset'",
            ));
        }
    };
    Ok(KafkaSourceConfig {
        commits: match properties.contains_key("group.id") {
            true => OffsetCommits::Source,
            false => OffsetCommits::None,
        },
        properties,
        topic,
        schema,
        value_format,
        value_fields,
        key,
        metadata,
        startup,
        bound,
        poll_records: POLL_RECORDS,
        upsert,
        only_partitions: None,
    })
}

/// Where a kafka source starts without a checkpoint (`scan.startup.mode`).
fn startup(table: &TableDef) -> Result<StartupMode, SqlError> {
    let has_group = table.option("properties.group.id").is_some();
    Ok(match table.option("scan.startup.mode") {
        Some("earliest-offset") => StartupMode::Earliest,
        Some("latest-offset") => StartupMode::Latest,
        None if !has_group => StartupMode::Earliest,
        None | Some("group-offsets") => {
            if !has_group {
                return Err(invalid(
                    table,
                    "scan.startup.mode",
                    "group-offsets needs a consumer group",
                    "add 'properties.group.id' = '…'",
                ));
            }
            StartupMode::GroupOffsets {
                reset_to_latest: matches!(
                    table.option("properties.auto.offset.reset"),
                    Some("latest" | "largest" | "end")
                ),
            }
        }
        Some("timestamp") => {
            let millis = table
                .option("scan.startup.timestamp-millis")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    invalid(
                        table,
                        "scan.startup.timestamp-millis",
                        "the timestamp mode needs milliseconds since the epoch",
                        "add 'scan.startup.timestamp-millis' = '1700000000000'",
                    )
                })?;
            StartupMode::Timestamp(millis)
        }
        Some("specific-offsets") => {
            let text = table
                .option("scan.startup.specific-offsets")
                .unwrap_or_default();
            let offsets = parse_specific_offsets(text).map_err(|m| {
                invalid(
                    table,
                    "scan.startup.specific-offsets",
                    m,
                    "write 'partition:0,offset:42;partition:1,offset:300'",
                )
            })?;
            StartupMode::SpecificOffsets(offsets)
        }
        Some(_) => {
            return Err(invalid(
                table,
                "scan.startup.mode",
                "expected earliest-offset, latest-offset, group-offsets, timestamp or \
                 specific-offsets",
                "write 'scan.startup.mode' = 'earliest-offset'",
            ));
        }
    })
}

/// The configuration of a sink of the kafka table `table`.
pub(super) fn sink_config(table: &TableDef) -> Result<KafkaSinkConfig, SqlError> {
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
    let key_fields = key_fields(table)?;
    sink(table, key_fields, partitioner, false, None)
}

/// The configuration of a sink of the upsert-kafka table `table`: keyed by the primary key,
/// partitioned by the key's hash.
pub(super) fn upsert_sink_config(table: &TableDef) -> Result<KafkaSinkConfig, SqlError> {
    let key_fields = primary_key(table)?;
    let buffer = buffer_flush(table)?;
    sink(table, key_fields, Partitioner::Default, true, buffer)
}

fn sink(
    table: &TableDef,
    key_fields: Vec<String>,
    partitioner: Partitioner,
    upsert: bool,
    buffer: Option<BufferFlush>,
) -> Result<KafkaSinkConfig, SqlError> {
    let properties = properties(table)?;
    let topic = topic(table)?;
    let schema = Arc::new(table.sink_schema());
    let (value_format, value_fields, key) = layout(table, &schema, key_fields)?;
    let timestamp_column = metadata(table, true)?
        .into_iter()
        .find(|(column, key)| *key == MetadataKey::Timestamp && schema.index_of(column).is_ok())
        .map(|(column, _)| column);
    match table.option("sink.delivery-guarantee") {
        None | Some("at-least-once" | "none") => {}
        Some("exactly-once") => {
            return Err(SqlError::Unsupported {
                at: table.at,
                construct: "an exactly-once Kafka sink".into(),
                text: "exactly-once".into(),
                hint: "Kafka sinks are at least once (tansu, the broker of the tests, has no \
                       transactions); write 'sink.delivery-guarantee' = 'at-least-once', or \
                       use a filesystem or spate-log sink for exactly-once output"
                    .into(),
            });
        }
        Some(_) => {
            return Err(invalid(
                table,
                "sink.delivery-guarantee",
                "expected none, at-least-once or exactly-once",
                "write 'sink.delivery-guarantee' = 'at-least-once'",
            ));
        }
    }
    Ok(KafkaSinkConfig {
        properties,
        topic,
        schema,
        value_format,
        value_fields,
        key,
        timestamp_column,
        partitioner,
        upsert,
        buffer,
    })
}

/// `sink.buffer-flush.max-rows` and `sink.buffer-flush.interval` of an upsert-kafka table:
/// both greater than zero buffer, both zero (the default) do not, as in Flink.
fn buffer_flush(table: &TableDef) -> Result<Option<BufferFlush>, SqlError> {
    let max_rows = match table.option("sink.buffer-flush.max-rows") {
        None => 0,
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            invalid(
                table,
                "sink.buffer-flush.max-rows",
                "expected a number of rows",
                "write e.g. 'sink.buffer-flush.max-rows' = '1000'",
            )
        })?,
    };
    let interval = match table.option("sink.buffer-flush.interval") {
        None => Duration::ZERO,
        Some(text) => parse_duration(text).ok_or_else(|| {
            invalid(
                table,
                "sink.buffer-flush.interval",
                "expected a duration",
                "write e.g. 'sink.buffer-flush.interval' = '1 s'",
            )
        })?,
    };
    match (max_rows > 0, !interval.is_zero()) {
        (true, true) => Ok(Some(BufferFlush { max_rows, interval })),
        (false, false) => Ok(None),
        (set_rows, _) => {
            let (set, unset) = match set_rows {
                true => ("sink.buffer-flush.max-rows", "sink.buffer-flush.interval"),
                false => ("sink.buffer-flush.interval", "sink.buffer-flush.max-rows"),
            };
            Err(invalid(
                table,
                set,
                format!("buffering needs '{unset}' greater than zero too"),
                format!("set both '{set}' and '{unset}' above zero, or neither"),
            ))
        }
    }
}
