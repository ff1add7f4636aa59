//! The options of `'connector' = 'mqtt'` tables, turned into the configurations of
//! [`spate_connectors::mqtt`]'s source and sink.
//!
//! Flink has no MQTT connector of its own; the options follow the community connectors'
//! names: `hostname` and `port` (1883), `topic` (a filter with `+`/`#` for a source, a topic
//! or a `{column}` pattern for a sink), `client-id`, `username`/`password`, `qos` (0 or 1,
//! 1 by default) and `format` = `json`. Sources also take `scan.session` (`persistent`, the
//! default, or `clean`), `scan.session.expiry-interval` (how long the broker keeps a
//! persistent session after the job disconnects, 1 day by default) and `scan.ack-mode`
//! (`checkpoint`, the default, or `receipt` for jobs without checkpoints). A source's one
//! metadata column is `topic` (`STRING`), read only.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use spate_connectors::mqtt::sink::{MqttSinkConfig, TopicPattern};
use spate_connectors::mqtt::source::{AckMode, MqttSourceConfig, Session};
use spate_connectors::mqtt::{Broker, Qos, unique_client_id, valid_filter};
use spate_sql::catalog::ColumnKind;
use spate_sql::{SqlError, TableDef};

use super::invalid;

/// Messages handed over per poll of a source.
const POLL_MESSAGES: usize = 8192;
/// Messages a source's connection thread may hold for it.
const QUEUE: usize = 16_384;
/// How long the broker keeps a persistent session without `scan.session.expiry-interval`.
const DEFAULT_SESSION_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// The broker of `table`; `default_client_id` without `client-id`.
fn broker(table: &TableDef, default_client_id: String) -> Result<Broker, SqlError> {
    let host = table.option("hostname").unwrap_or_default().trim();
    if host.is_empty() || host.contains("://") {
        return Err(invalid(
            table,
            "hostname",
            "expected the broker's host name or address",
            "write 'hostname' = '127.0.0.1' (and 'port' = '1883')",
        ));
    }
    let port = match table.option("port") {
        None => 1883,
        Some(text) => text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(table, "port", "not a port", "write 'port' = '1883'"))?,
    };
    let client_id = match table.option("client-id") {
        Some(id) if id.trim().is_empty() => {
            return Err(invalid(
                table,
                "client-id",
                "the client identifier is empty",
                "name the client, e.g. 'client-id' = 'fleet-job'",
            ));
        }
        Some(id) => id.trim().to_string(),
        None => default_client_id,
    };
    let credentials = match (table.option("username"), table.option("password")) {
        (Some(user), password) => Some((user.to_string(), password.unwrap_or_default().into())),
        (None, Some(_)) => {
            return Err(invalid(
                table,
                "password",
                "a password needs a 'username'",
                "add 'username' = '…'",
            ));
        }
        (None, None) => None,
    };
    Ok(Broker {
        host: host.to_string(),
        port,
        client_id,
        credentials,
    })
}

/// The `qos` of `table`, 1 by default.
fn qos(table: &TableDef) -> Result<Qos, SqlError> {
    match table.option("qos") {
        None => Ok(Qos::AtLeastOnce),
        Some(text) => Qos::from_name(text).ok_or_else(|| {
            invalid(
                table,
                "qos",
                "Spate reads and writes MQTT at QoS 0 or 1",
                "write 'qos' = '1' (at least once)",
            )
        }),
    }
}

/// Checks that the messages are JSON.
fn check_json(table: &TableDef) -> Result<(), SqlError> {
    match table.option("format") {
        Some("json") => Ok(()),
        _ => Err(invalid(
            table,
            "format",
            "Spate's MQTT messages are JSON objects",
            "write 'format' = 'json'",
        )),
    }
}

/// The `topic` metadata column of `table`, if it has one; `writing` refuses one that is not
/// `VIRTUAL`.
fn topic_column(table: &TableDef, writing: bool) -> Result<Option<String>, SqlError> {
    let mut found = None;
    for (column, key) in table.metadata_columns() {
        let unsupported = |construct: String, hint: &str| SqlError::Unsupported {
            at: column.at,
            construct,
            text: column.name.clone(),
            hint: hint.into(),
        };
        if key != "topic" {
            return Err(unsupported(
                format!("the MQTT metadata key '{key}'"),
                "MQTT tables have the metadata topic",
            ));
        }
        if column.data_type != Some(DataType::Utf8) {
            return Err(unsupported(
                "metadata 'topic' as a type other than STRING".into(),
                "declare the column STRING",
            ));
        }
        let is_virtual = matches!(
            column.kind,
            ColumnKind::Metadata {
                is_virtual: true,
                ..
            }
        );
        if writing && !is_virtual {
            return Err(unsupported(
                "writing the read-only metadata 'topic'".into(),
                "declare the column VIRTUAL; a sink's topic is its 'topic' option, which may \
                 name columns: 'vehicles/{vin}/telemetry'",
            ));
        }
        found = Some(column.name.clone());
    }
    Ok(found)
}

/// The configuration of the `n`-th MQTT source of the job file (from 0), reading `table` into
/// rows of `schema`. Each is a subscriber of its own: the first has the table's client
/// identifier, the n-th `<client-id>.<n>` (the order of the job file keeps the numbers, and
/// so the persistent sessions, from one run to the next).
pub(super) fn source_config(
    table: &TableDef,
    schema: SchemaRef,
    n: usize,
) -> Result<MqttSourceConfig, SqlError> {
    check_json(table)?;
    let mut broker = broker(table, format!("spate-{}", table.name))?;
    if n > 0 {
        broker.client_id = format!("{}.{n}", broker.client_id);
    }
    let filter = table.option("topic").unwrap_or_default().to_string();
    if !valid_filter(&filter) {
        return Err(invalid(
            table,
            "topic",
            "not a topic filter: '+' and '#' stand for whole levels, '#' only for the last",
            "write e.g. 'topic' = 'vehicles/+/telemetry'",
        ));
    }
    let session = match table.option("scan.session") {
        None | Some("persistent") => {
            let expiry = match table.option("scan.session.expiry-interval") {
                None => DEFAULT_SESSION_EXPIRY,
                Some(text) => spate_sql::parse_duration(text)
                    .filter(|d| d.as_secs() > 0)
                    .ok_or_else(|| {
                        invalid(
                            table,
                            "scan.session.expiry-interval",
                            "expected a duration of a second or more",
                            "write e.g. 'scan.session.expiry-interval' = '1 d'",
                        )
                    })?,
            };
            Session::Persistent { expiry }
        }
        Some("clean") => Session::Clean,
        Some(_) => {
            return Err(invalid(
                table,
                "scan.session",
                "expected persistent or clean",
                "write 'scan.session' = 'persistent'",
            ));
        }
    };
    let ack = match table.option("scan.ack-mode") {
        None | Some("checkpoint") => AckMode::Checkpoint,
        Some("receipt") => AckMode::Receipt,
        Some(_) => {
            return Err(invalid(
                table,
                "scan.ack-mode",
                "expected checkpoint or receipt",
                "write 'scan.ack-mode' = 'checkpoint' (at least once, with checkpoints)",
            ));
        }
    };
    let value_fields = table
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Physical)
        .map(|c| c.name.clone())
        .collect();
    Ok(MqttSourceConfig {
        broker,
        filter,
        qos: qos(table)?,
        session,
        ack,
        schema,
        value_fields,
        topic_column: topic_column(table, false)?,
        poll_messages: POLL_MESSAGES,
        queue: QUEUE,
    })
}

/// The configuration of a sink of `table`.
pub(super) fn sink_config(table: &TableDef) -> Result<MqttSinkConfig, SqlError> {
    check_json(table)?;
    for key in [
        "scan.session",
        "scan.session.expiry-interval",
        "scan.ack-mode",
    ] {
        if table.option(key).is_some() {
            return Err(invalid(
                table,
                key,
                "a source option, and the table is written",
                format!("drop '{key}'"),
            ));
        }
    }
    topic_column(table, true)?;
    let schema = Arc::new(table.sink_schema());
    let topic =
        TopicPattern::parse(table.option("topic").unwrap_or_default(), &schema).map_err(|m| {
            invalid(
                table,
                "topic",
                m,
                "write a topic, or a pattern naming columns: 'vehicles/{vin}/telemetry'",
            )
        })?;
    Ok(MqttSinkConfig {
        broker: broker(table, unique_client_id("spate-sink"))?,
        topic,
        qos: qos(table)?,
        schema,
    })
}
