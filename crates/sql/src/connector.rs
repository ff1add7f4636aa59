//! The connectors Spate knows, named as Flink names them in `'connector' = '…'`, and the
//! `WITH` options each takes. A table whose options do not fit is refused where it is
//! declared, pointing at the offending key.

use crate::error::{Position, Result, SqlError};

/// A table's connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connector {
    /// `filesystem`: files under `path` in `format` (a source reads them, a sink writes
    /// part files).
    Filesystem,
    /// `blackhole`: a sink that discards rows.
    Blackhole,
    /// `kafka`: a Kafka topic, read and written through a Kafka broker.
    Kafka,
    /// `upsert-kafka`: a Kafka topic read and written as the changelog of a table with a
    /// primary key: a record upserts its key's row, a tombstone (no value) deletes it.
    UpsertKafka,
    /// `spate-log`: a topic of Spate's embedded durable log.
    SpateLog,
    /// `datagen`: generated rows, random or sequences, per `fields.<column>.…` options.
    Datagen,
    /// `print`: a sink that prints rows to standard output (or standard error).
    Print,
    /// `nexmark`: the events of the Nexmark benchmark (people, auctions and bids), as Flink's
    /// nexmark connector generates them.
    Nexmark,
    /// `jdbc`: a table of a MySQL/MariaDB or PostgreSQL database, written by batched inserts
    /// or upserts and read by lookup joins.
    Jdbc,
    /// `spate-store`: a table of Spate's embedded serving store, written exactly once
    /// (appended, or upserted by the primary key) and queried with `spate query`.
    SpateStore,
    /// `mqtt`: MQTT topics of a broker, read through a topic filter and written through a
    /// topic pattern.
    Mqtt,
    /// `clickhouse`: a ClickHouse table, appended to in batches over HTTP.
    ClickHouse,
    /// `http`: HTTP ingest: Spate listens for POSTed NDJSON batches, keeps them in a topic of
    /// its embedded log, and the job reads that topic.
    Http,
}

/// What a connector accepts.
struct Spec {
    connector: Connector,
    name: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    /// Option prefixes taken as a group, e.g. `properties.` of Kafka.
    prefixes: &'static [&'static str],
    /// Keys naming formats; `<format>.` options of the named formats are accepted, also
    /// behind `key.`/`value.`.
    format_keys: &'static [&'static str],
    /// Per-column options, written `fields.<column>.<option>` (datagen's).
    column_options: &'static [&'static str],
}

/// The prefix of per-column options.
const COLUMN_PREFIX: &str = "fields.";

/// Flink's lookup-cache options, taken by every connector a lookup join can read.
const LOOKUP_OPTIONS: &[&str] = &[
    "lookup.cache",
    "lookup.max-retries",
    "lookup.partial-cache.max-rows",
    "lookup.partial-cache.expire-after-write",
    "lookup.partial-cache.expire-after-access",
    "lookup.partial-cache.cache-missing-key",
    "lookup.full-cache.reload-strategy",
    "lookup.full-cache.periodic-reload.interval",
    "lookup.full-cache.periodic-reload.schedule-mode",
    "lookup.full-cache.timed-reload.at-time",
    "lookup.full-cache.timed-reload.interval-in-days",
];

const SPECS: &[Spec] = &[
    Spec {
        connector: Connector::Filesystem,
        name: "filesystem",
        required: &["path", "format"],
        optional: &[
            "source.monitor-interval",
            "source.path.regex-pattern",
            "partition.default-name",
            "partition.time-extractor.kind",
            "partition.time-extractor.timestamp-pattern",
            "partition.time-extractor.timestamp-formatter",
            "sink.partition-commit.trigger",
            "sink.partition-commit.delay",
            "sink.partition-commit.policy.kind",
            "sink.partition-commit.success-file.name",
            "sink.partition-commit.watermark-time-zone",
            "sink.rolling-policy.file-size",
            "sink.rolling-policy.rollover-interval",
            "sink.rolling-policy.check-interval",
            "sink.parallelism",
            "auto-compaction",
            "compaction.file-size",
            // Flink's keys of its S3 file systems, per table here (see the README).
            "s3.access-key",
            "s3.secret-key",
            "s3.endpoint",
            "s3.path.style.access",
        ],
        prefixes: &[],
        format_keys: &["format"],
        column_options: &[],
    },
    Spec {
        connector: Connector::Blackhole,
        name: "blackhole",
        required: &[],
        optional: &[],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::Kafka,
        name: "kafka",
        required: &["topic"],
        optional: &[
            "format",
            "key.format",
            "value.format",
            "key.fields",
            "key.fields-prefix",
            "value.fields-include",
            "scan.startup.mode",
            "scan.startup.specific-offsets",
            "scan.startup.timestamp-millis",
            "scan.bounded.mode",
            "scan.bounded.specific-offsets",
            "scan.bounded.timestamp-millis",
            "scan.topic-partition-discovery.interval",
            "sink.partitioner",
            "sink.delivery-guarantee",
            "sink.transactional-id-prefix",
            "sink.parallelism",
        ],
        prefixes: &["properties."],
        format_keys: &["format", "key.format", "value.format"],
        column_options: &[],
    },
    Spec {
        connector: Connector::UpsertKafka,
        name: "upsert-kafka",
        required: &["topic", "key.format", "value.format"],
        optional: &[
            "key.fields-prefix",
            "value.fields-include",
            "scan.bounded.mode",
            "sink.buffer-flush.max-rows",
            "sink.buffer-flush.interval",
            "sink.delivery-guarantee",
        ],
        prefixes: &["properties."],
        format_keys: &["key.format", "value.format"],
        column_options: &[],
    },
    Spec {
        connector: Connector::SpateLog,
        name: "spate-log",
        required: &["topic"],
        optional: &[
            "format",
            "key.format",
            "key.fields",
            "value.format",
            "value.fields-include",
            "scan.startup.mode",
            "scan.bounded.mode",
            "properties.group.id",
            "sink.partitioner",
            "sink.delivery-guarantee",
            "sink.transactional-id-prefix",
        ],
        prefixes: &[],
        format_keys: &["format", "key.format", "value.format"],
        column_options: &[],
    },
    Spec {
        connector: Connector::Datagen,
        name: "datagen",
        required: &[],
        optional: &["rows-per-second", "number-of-rows"],
        prefixes: &[],
        format_keys: &[],
        column_options: &[
            "kind",
            "min",
            "max",
            "max-past",
            "length",
            "var-len",
            "start",
            "end",
            "null-rate",
        ],
    },
    Spec {
        connector: Connector::Nexmark,
        name: "nexmark",
        required: &[],
        optional: &[
            "events.num",
            "first-event.rate",
            "next-event.rate",
            "rate.shape",
            "rate.period",
            "rate.limited",
            "max-emit-speed",
            "keep-alive",
            "person.proportion",
            "auction.proportion",
            "bid.proportion",
            "person.avg-size",
            "auction.avg-size",
            "bid.avg-size",
            "bid.hot-ratio.auctions",
            "bid.hot-ratio.bidders",
            "auction.hot-ratio.sellers",
            "base-time-millis",
        ],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::Print,
        name: "print",
        required: &[],
        optional: &["print-identifier", "standard-error"],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::Jdbc,
        name: "jdbc",
        required: &["url", "table-name"],
        optional: &[
            "username",
            "password",
            "driver",
            "sink.buffer-flush.max-rows",
            "sink.buffer-flush.interval",
            "sink.max-retries",
            "lookup.cache",
            "lookup.partial-cache.max-rows",
            "lookup.partial-cache.expire-after-write",
            "lookup.partial-cache.expire-after-access",
            "lookup.max-retries",
        ],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::SpateStore,
        name: "spate-store",
        required: &[],
        optional: &["table-name", "retention", "retention.time-column"],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::Mqtt,
        name: "mqtt",
        required: &["hostname", "topic"],
        optional: &[
            "format",
            "port",
            "client-id",
            "username",
            "password",
            "qos",
            "scan.session",
            "scan.session.expiry-interval",
            "scan.ack-mode",
        ],
        prefixes: &[],
        format_keys: &["format"],
        column_options: &[],
    },
    Spec {
        connector: Connector::ClickHouse,
        name: "clickhouse",
        required: &["url", "table-name"],
        optional: &[
            "database-name",
            "username",
            "password",
            "sink.batch-size",
            "sink.flush-interval",
            "sink.max-retries",
        ],
        prefixes: &[],
        format_keys: &[],
        column_options: &[],
    },
    Spec {
        connector: Connector::Http,
        name: "http",
        required: &["port"],
        optional: &[
            "format",
            "hostname",
            "path",
            "topic",
            "topic.partitions",
            "request.max-body-size",
            "backpressure.max-lag",
            "backpressure.retry-after",
        ],
        prefixes: &[],
        format_keys: &["format"],
        column_options: &[],
    },
];

/// The formats Spate reads and writes (`raw` is a message format, for Kafka).
const FORMATS: &[&str] = &["json", "csv", "parquet", "raw"];

impl Connector {
    /// The connector's name in `'connector' = '…'`.
    pub fn name(self) -> &'static str {
        spec(self).name
    }

    /// The options a table of this connector must set, besides `connector`.
    pub fn required_options(self) -> &'static [&'static str] {
        spec(self).required
    }
}

/// The spec of `connector`.
fn spec(connector: Connector) -> &'static Spec {
    SPECS
        .iter()
        .find(|spec| spec.connector == connector)
        .unwrap_or(&SPECS[0])
}

/// One `'key' = 'value'` of a `WITH` clause, with where its key and value are.
#[derive(Debug, Clone)]
pub(crate) struct OptionEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Where the key is.
    pub key_at: Position,
    /// Where the value is.
    pub value_at: Position,
}

/// The keys of Flink's legacy table descriptors (before Flink 1.11) and the keys they are now.
const LEGACY_KEYS: &[(&str, &str)] = &[
    ("connector.type", "connector"),
    ("connector.path", "path"),
    ("format.type", "format"),
];

/// Options written with Flink's legacy descriptor keys (`'connector.type' = 'filesystem'`,
/// `'connector.path'`, `'format.type'`, as Nexmark's q13 still declares its side input) under
/// today's keys; options with a `'connector'` are left alone.
pub(crate) fn modern_keys(mut options: Vec<OptionEntry>) -> Vec<OptionEntry> {
    if options.iter().all(|o| o.key != "connector") {
        for option in &mut options {
            if let Some((_, modern)) = LEGACY_KEYS.iter().find(|(legacy, _)| *legacy == option.key)
            {
                option.key = modern.to_string();
            }
        }
    }
    options
}

/// Checks a table's options against its connector; `table_at` is where the table is declared.
pub(crate) fn validate(table_at: Position, options: &[OptionEntry]) -> Result<Connector> {
    let Some(connector) = options.iter().find(|o| o.key == "connector") else {
        return Err(SqlError::MissingOption {
            at: table_at,
            connector: "(none)".into(),
            text: "connector".into(),
            hint: format!("add WITH ('connector' = '…'); connectors are {}", names()),
        });
    };
    let Some(spec) = SPECS.iter().find(|spec| spec.name == connector.value) else {
        return Err(SqlError::UnknownConnector {
            at: connector.value_at,
            text: connector.value.clone(),
            hint: match closest(&connector.value, SPECS.iter().map(|s| s.name)) {
                Some(name) => format!("did you mean '{name}'?"),
                None => format!("connectors are {}", names()),
            },
        });
    };
    let formats: Vec<&str> = options
        .iter()
        .filter(|o| spec.format_keys.contains(&o.key.as_str()))
        .map(|o| check_format(o))
        .collect::<Result<_>>()?;
    for option in options.iter().filter(|o| o.key != "connector") {
        if !accepts(spec, &formats, &option.key) {
            let known = spec.required.iter().chain(spec.optional);
            return Err(SqlError::UnknownOption {
                at: option.key_at,
                connector: spec.name.into(),
                text: option.key.clone(),
                hint: match closest(&option.key, known.copied()) {
                    Some(name) => format!("did you mean '{name}'?"),
                    None if !spec.column_options.is_empty()
                        && option.key.starts_with(COLUMN_PREFIX) =>
                    {
                        column_option_hint(spec, &option.key)
                    }
                    None if spec.required.is_empty() && spec.optional.is_empty() => {
                        format!("'{}' takes no options besides 'connector'", spec.name)
                    }
                    None => format!(
                        "'{}' takes {}",
                        spec.name,
                        spec.required
                            .iter()
                            .chain(spec.optional)
                            .chain(spec.prefixes)
                            .map(|k| format!("'{k}'"))
                            .chain(
                                (!spec.column_options.is_empty())
                                    .then(|| format!("'{COLUMN_PREFIX}<column>.<option>'"))
                            )
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            });
        }
    }
    if let Some(missing) = spec
        .required
        .iter()
        .find(|key| !options.iter().any(|o| o.key == **key))
    {
        return Err(SqlError::MissingOption {
            at: table_at,
            connector: spec.name.into(),
            text: (*missing).into(),
            hint: format!("add '{missing}' = '…' to the WITH clause"),
        });
    }
    if !spec.format_keys.is_empty() && formats.is_empty() {
        return Err(SqlError::MissingOption {
            at: table_at,
            connector: spec.name.into(),
            text: spec.format_keys[0].into(),
            hint: format!("add 'format' = 'json' (formats are {})", FORMATS.join(", ")),
        });
    }
    Ok(spec.connector)
}

/// The format an option names, if Spate has it.
fn check_format(option: &OptionEntry) -> Result<&str> {
    if FORMATS.contains(&option.value.as_str()) {
        Ok(&option.value)
    } else {
        Err(SqlError::Invalid {
            at: option.value_at,
            message: format!("unknown format '{}'", option.value),
            text: option.value.clone(),
            hint: format!("formats are {}", FORMATS.join(", ")),
        })
    }
}

/// Whether `spec` takes the option `key`, given the table's formats.
fn accepts(spec: &Spec, formats: &[&str], key: &str) -> bool {
    let lookup_source = matches!(
        spec.connector,
        Connector::Filesystem | Connector::Datagen | Connector::SpateLog | Connector::Kafka
    );
    (lookup_source && LOOKUP_OPTIONS.contains(&key))
        || spec.required.contains(&key)
        || spec.optional.contains(&key)
        || spec.prefixes.iter().any(|p| key.starts_with(p))
        || column_option(key).is_some_and(|(_, option)| spec.column_options.contains(&option))
        || formats.iter().any(|format| {
            let key = key
                .strip_prefix("key.")
                .or_else(|| key.strip_prefix("value."))
                .unwrap_or(key);
            key.strip_prefix(format)
                .is_some_and(|rest| rest.starts_with('.'))
        })
}

/// Splits `fields.<column>.<option>` into the column and the option (the column's name may
/// itself hold dots).
fn column_option(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(COLUMN_PREFIX)?
        .rsplit_once('.')
        .filter(|(column, option)| !column.is_empty() && !option.is_empty())
}

/// The hint for a per-column option `key` that `spec` does not take.
fn column_option_hint(spec: &Spec, key: &str) -> String {
    let listed = spec
        .column_options
        .iter()
        .map(|o| format!("'{o}'"))
        .collect::<Vec<_>>()
        .join(", ");
    match column_option(key) {
        Some((column, option)) => match closest(option, spec.column_options.iter().copied()) {
            Some(name) => format!("did you mean '{COLUMN_PREFIX}{column}.{name}'?"),
            None => format!("per-column options of '{}' are {listed}", spec.name),
        },
        None => format!("write '{COLUMN_PREFIX}<column>.<option>' with an option among {listed}"),
    }
}

/// The known connector names, quoted.
fn names() -> String {
    SPECS
        .iter()
        .map(|s| format!("'{}'", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2.max(c.len() / 4))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> OptionEntry {
        OptionEntry {
            key: key.into(),
            value: value.into(),
            key_at: Position::new(1, 1),
            value_at: Position::new(1, 2),
        }
    }

    #[test]
    fn format_options_follow_the_format() {
        let options = [
            entry("connector", "filesystem"),
            entry("path", "/x"),
            entry("format", "json"),
            entry("json.ignore-parse-errors", "true"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::Filesystem)
        );
        let options = [
            entry("connector", "filesystem"),
            entry("path", "/x"),
            entry("format", "json"),
            entry("csv.field-delimiter", ";"),
        ];
        assert!(matches!(
            validate(Position::new(1, 1), &options),
            Err(SqlError::UnknownOption { .. })
        ));
    }

    #[test]
    fn typos_get_suggestions() {
        let options = [
            entry("connector", "kafka"),
            entry("topc", "t"),
            entry("format", "json"),
        ];
        let err = validate(Position::new(1, 1), &options).unwrap_err();
        assert_eq!(err.hint(), "did you mean 'topic'?");
        let err = validate(Position::new(1, 1), &[entry("connector", "blakhole")]).unwrap_err();
        assert!(matches!(err, SqlError::UnknownConnector { .. }));
        assert_eq!(err.hint(), "did you mean 'blackhole'?");
    }

    #[test]
    fn datagen_takes_per_column_options() {
        let options = [
            entry("connector", "datagen"),
            entry("number-of-rows", "10"),
            entry("fields.id.kind", "sequence"),
            entry("fields.a.b.length", "5"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::Datagen)
        );
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "datagen"), entry("fields.id.kidn", "x")],
        )
        .unwrap_err();
        assert!(
            matches!(err, SqlError::UnknownOption { ref text, .. } if text == "fields.id.kidn")
        );
        assert_eq!(err.hint(), "did you mean 'fields.id.kind'?");
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "datagen"), entry("fields.id", "x")],
        )
        .unwrap_err();
        assert!(
            err.hint().starts_with("write 'fields.<column>.<option>'"),
            "{}",
            err.hint()
        );
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "datagen"), entry("rows-per-secnd", "1")],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'rows-per-second'?");
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "print"), entry("print-identifer", "x")],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'print-identifier'?");
        // Per-column options belong to datagen only.
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "print"),
                entry("fields.id.kind", "random"),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::UnknownOption { .. }));
    }

    #[test]
    fn spate_log_takes_flink_sink_options() {
        let options = [
            entry("connector", "spate-log"),
            entry("topic", "out"),
            entry("value.format", "json"),
            entry("key.format", "json"),
            entry("key.fields", "id"),
            entry("sink.partitioner", "default"),
            entry("sink.delivery-guarantee", "exactly-once"),
            entry("sink.transactional-id-prefix", "job"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::SpateLog)
        );
        let options = [
            entry("connector", "filesystem"),
            entry("path", "/x"),
            entry("format", "parquet"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::Filesystem)
        );
    }

    #[test]
    fn nexmark_takes_flinks_generator_options() {
        let options = [
            entry("connector", "nexmark"),
            entry("first-event.rate", "10000000"),
            entry("next-event.rate", "10000000"),
            entry("events.num", "100000000"),
            entry("person.proportion", "1"),
            entry("auction.proportion", "3"),
            entry("bid.proportion", "46"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::Nexmark)
        );
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "nexmark"), entry("event.num", "10")],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'events.num'?");
    }

    #[test]
    fn required_options() {
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "kafka"), entry("format", "csv")],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "topic"));
        assert_eq!(Connector::Kafka.required_options(), ["topic"]);
    }

    #[test]
    fn upsert_kafka_takes_flinks_options() {
        let options = [
            entry("connector", "upsert-kafka"),
            entry("topic", "counts"),
            entry("properties.bootstrap.servers", "127.0.0.1:9092"),
            entry("key.format", "json"),
            entry("value.format", "json"),
            entry("value.fields-include", "EXCEPT_KEY"),
            entry("sink.buffer-flush.max-rows", "1000"),
            entry("sink.buffer-flush.interval", "1 s"),
            entry("value.json.ignore-parse-errors", "true"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::UpsertKafka)
        );
        let without_key_format = [
            entry("connector", "upsert-kafka"),
            entry("topic", "counts"),
            entry("value.format", "json"),
        ];
        let err = validate(Position::new(1, 1), &without_key_format).unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "key.format"));
        // upsert-kafka starts at the earliest offset, always, as Flink's does.
        let mut with_startup = options.to_vec();
        with_startup.push(entry("scan.startup.mode", "latest-offset"));
        let err = validate(Position::new(1, 1), &with_startup).unwrap_err();
        assert!(
            matches!(err, SqlError::UnknownOption { ref text, .. } if text == "scan.startup.mode")
        );
    }

    #[test]
    fn mqtt_takes_its_options() {
        let options = [
            entry("connector", "mqtt"),
            entry("hostname", "127.0.0.1"),
            entry("port", "1883"),
            entry("topic", "vehicles/+/telemetry"),
            entry("client-id", "fleet"),
            entry("qos", "1"),
            entry("scan.session", "persistent"),
            entry("scan.session.expiry-interval", "1 h"),
            entry("scan.ack-mode", "checkpoint"),
            entry("format", "json"),
        ];
        assert_eq!(validate(Position::new(1, 1), &options), Ok(Connector::Mqtt));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "mqtt"),
                entry("hostname", "h"),
                entry("topic", "t"),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "format"));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "mqtt"),
                entry("hostname", "h"),
                entry("topic", "t"),
                entry("format", "json"),
                entry("clientid", "x"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'client-id'?");
    }

    #[test]
    fn http_takes_its_options_and_needs_a_port() {
        let options = [
            entry("connector", "http"),
            entry("hostname", "0.0.0.0"),
            entry("port", "8088"),
            entry("path", "/events"),
            entry("topic", "events-in"),
            entry("topic.partitions", "4"),
            entry("request.max-body-size", "16mb"),
            entry("backpressure.max-lag", "100000"),
            entry("backpressure.retry-after", "2 s"),
            entry("format", "json"),
        ];
        assert_eq!(validate(Position::new(1, 1), &options), Ok(Connector::Http));
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "http"), entry("format", "json")],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "port"));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "http"),
                entry("port", "8088"),
                entry("format", "json"),
                entry("backpressure.max-lags", "1"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'backpressure.max-lag'?");
    }

    #[test]
    fn spate_store_takes_a_table_name_and_retention() {
        let options = [
            entry("connector", "spate-store"),
            entry("table-name", "metrics"),
            entry("retention", "7 d"),
            entry("retention.time-column", "window_start"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::SpateStore)
        );
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "spate-store"), entry("retension", "1 d")],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'retention'?");
    }

    #[test]
    fn jdbc_takes_flinks_options() {
        let options = [
            entry("connector", "jdbc"),
            entry("url", "jdbc:mysql://127.0.0.1:3306/db"),
            entry("table-name", "t"),
            entry("driver", "com.mysql.cj.jdbc.Driver"),
            entry("sink.buffer-flush.max-rows", "10"),
            entry("lookup.cache", "PARTIAL"),
            entry("lookup.partial-cache.max-rows", "100"),
        ];
        assert_eq!(validate(Position::new(1, 1), &options), Ok(Connector::Jdbc));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "jdbc"),
                entry("url", "jdbc:mysql://h/db"),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "table-name"));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "jdbc"),
                entry("url", "jdbc:mysql://h/db"),
                entry("table-name", "t"),
                entry("sink.buffer-flush.max-row", "1"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'sink.buffer-flush.max-rows'?");
    }

    #[test]
    fn clickhouse_takes_the_flink_connectors_options() {
        let options = [
            entry("connector", "clickhouse"),
            entry("url", "clickhouse://127.0.0.1:8123"),
            entry("database-name", "default"),
            entry("table-name", "t"),
            entry("username", "default"),
            entry("password", ""),
            entry("sink.batch-size", "1000"),
            entry("sink.flush-interval", "1s"),
            entry("sink.max-retries", "3"),
        ];
        assert_eq!(
            validate(Position::new(1, 1), &options),
            Ok(Connector::ClickHouse)
        );
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "clickhouse"),
                entry("url", "clickhouse://h:8123"),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "table-name"));
        let err = validate(
            Position::new(1, 1),
            &[
                entry("connector", "clickhouse"),
                entry("url", "clickhouse://h:8123"),
                entry("table-name", "t"),
                entry("sink.batch-sise", "10"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.hint(), "did you mean 'sink.batch-size'?");
    }
}
