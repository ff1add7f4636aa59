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
    /// `kafka`: a Kafka topic (declared and checked here; running it comes with the Kafka
    /// connector).
    Kafka,
    /// `spate-log`: a topic of Spate's embedded durable log.
    SpateLog,
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
}

const SPECS: &[Spec] = &[
    Spec {
        connector: Connector::Filesystem,
        name: "filesystem",
        required: &["path", "format"],
        optional: &[
            "source.monitor-interval",
            "source.path.regex-pattern",
            "partition.default-name",
            "sink.rolling-policy.file-size",
            "sink.rolling-policy.rollover-interval",
            "sink.rolling-policy.check-interval",
            "sink.parallelism",
            "auto-compaction",
            "compaction.file-size",
        ],
        prefixes: &[],
        format_keys: &["format"],
    },
    Spec {
        connector: Connector::Blackhole,
        name: "blackhole",
        required: &[],
        optional: &[],
        prefixes: &[],
        format_keys: &[],
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
    },
    Spec {
        connector: Connector::SpateLog,
        name: "spate-log",
        required: &["topic"],
        optional: &[
            "format",
            "scan.startup.mode",
            "scan.bounded.mode",
            "properties.group.id",
        ],
        prefixes: &[],
        format_keys: &["format"],
    },
];

/// The formats Spate reads and writes.
const FORMATS: &[&str] = &["json", "csv"];

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
    spec.required.contains(&key)
        || spec.optional.contains(&key)
        || spec.prefixes.iter().any(|p| key.starts_with(p))
        || formats.iter().any(|format| {
            let key = key
                .strip_prefix("key.")
                .or_else(|| key.strip_prefix("value."))
                .unwrap_or(key);
            key.strip_prefix(format)
                .is_some_and(|rest| rest.starts_with('.'))
        })
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
    fn required_options() {
        let err = validate(
            Position::new(1, 1),
            &[entry("connector", "kafka"), entry("format", "csv")],
        )
        .unwrap_err();
        assert!(matches!(err, SqlError::MissingOption { ref text, .. } if text == "topic"));
        assert_eq!(Connector::Kafka.required_options(), ["topic"]);
    }
}
