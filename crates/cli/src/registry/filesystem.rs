//! The options of filesystem tables, as Flink names them: where the files are (`path`, and
//! the `s3.*` options of object storage), how part files roll, and partitioning
//! (`PARTITIONED BY`).

use spate_connectors::file_sink::{CommitTrigger, PartitionCommit, PartitionSpec, RollingPolicy};
use spate_connectors::parse_memory_size;
use spate_connectors::storage::{Location, S3Options};
use spate_sql::{SqlError, TableDef};

use super::{flag, invalid};

/// Where `table`'s files are: its `path` (a local path, `file://`, `s3://` or `oss://`), with
/// the `s3.*` options (Flink's keys of its S3 file systems) over the `AWS_*` environment.
pub(super) fn location(table: &TableDef) -> Result<Location, SqlError> {
    let option = |key: &str| table.option(key).map(str::to_string);
    let options = S3Options {
        access_key: option("s3.access-key"),
        secret_key: option("s3.secret-key"),
        endpoint: option("s3.endpoint"),
        path_style: match table.option("s3.path.style.access") {
            Some(_) => Some(flag(table, "s3.path.style.access")?),
            None => None,
        },
    };
    Location::parse(table.option("path").unwrap_or_default(), &options).map_err(|e| {
        invalid(
            table,
            "path",
            e.to_string(),
            "write a local path, file:///dir, s3://bucket/prefix or oss://bucket/prefix",
        )
    })
}

/// `sink.rolling-policy.file-size` and `.rollover-interval` (Flink's defaults: 128 MB and
/// 30 min). Files are checked as rows arrive, so `.check-interval` only has to be a duration.
pub(super) fn rolling_policy(table: &TableDef) -> Result<RollingPolicy, SqlError> {
    let mut policy = RollingPolicy::default();
    if let Some(text) = table.option("sink.rolling-policy.file-size") {
        policy.file_size = parse_memory_size(text).filter(|n| *n > 0).ok_or_else(|| {
            invalid(
                table,
                "sink.rolling-policy.file-size",
                "not a memory size",
                "write e.g. '128MB', '512kb' or '1gb'",
            )
        })? as u64;
    }
    for key in [
        "sink.rolling-policy.rollover-interval",
        "sink.rolling-policy.check-interval",
    ] {
        let Some(text) = table.option(key) else {
            continue;
        };
        let duration = spate_sql::parse_duration(text)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                invalid(
                    table,
                    key,
                    "not a duration",
                    "write e.g. '30 min', '10 s' or '1 h'",
                )
            })?;
        if key == "sink.rolling-policy.rollover-interval" {
            policy.rollover_ms = duration.as_millis() as i64;
        }
    }
    Ok(policy)
}

/// Flink's directory name for NULL and empty partition values.
const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";

/// How `table` partitions its files, if it is `PARTITIONED BY`.
pub(super) fn partition_spec(table: &TableDef) -> Result<Option<PartitionSpec>, SqlError> {
    if table.partitioned_by.is_empty() {
        return Ok(None);
    }
    let schema = table.physical_schema();
    let columns = table
        .partitioned_by
        .iter()
        .map(|name| {
            schema
                .index_of(name)
                .map(|i| (i, name.clone()))
                .map_err(|_| SqlError::Invalid {
                    at: table.at,
                    message: format!(
                        "table {}: PARTITIONED BY names no column {name}",
                        table.name
                    ),
                    text: name.clone(),
                    hint: "partition by physical columns of the table".into(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if columns.len() == schema.fields().len() {
        return Err(SqlError::Invalid {
            at: table.at,
            message: format!("table {}: every column is a partition column", table.name),
            text: table.partitioned_by.join(", "),
            hint: "keep at least one column out of PARTITIONED BY".into(),
        });
    }
    Ok(Some(PartitionSpec {
        columns,
        default_name: table
            .option("partition.default-name")
            .unwrap_or(DEFAULT_PARTITION)
            .to_string(),
        commit: partition_commit(table)?,
    }))
}

/// The `sink.partition-commit.*` options: the `success-file` policy and its trigger.
fn partition_commit(table: &TableDef) -> Result<Option<PartitionCommit>, SqlError> {
    let Some(kinds) = table.option("sink.partition-commit.policy.kind") else {
        return Ok(None);
    };
    let key = "sink.partition-commit.policy.kind";
    for kind in kinds.split(',').map(str::trim) {
        match kind {
            "success-file" => {}
            "metastore" => {
                return Err(invalid(
                    table,
                    key,
                    "Spate has no metastore (Hive) to add partitions to",
                    "use 'success-file'",
                ));
            }
            other => {
                return Err(invalid(
                    table,
                    key,
                    format!("no commit policy '{other}'"),
                    "use 'success-file'",
                ));
            }
        }
    }
    let trigger = match table.option("sink.partition-commit.trigger") {
        None | Some("process-time") => CommitTrigger::ProcessTime,
        Some("partition-time") => CommitTrigger::PartitionTime {
            pattern: table
                .option("partition.time-extractor.timestamp-pattern")
                .map(str::to_string),
        },
        Some(other) => {
            return Err(invalid(
                table,
                "sink.partition-commit.trigger",
                format!("no trigger '{other}'"),
                "use 'process-time' or 'partition-time'",
            ));
        }
    };
    let delay_ms = match table.option("sink.partition-commit.delay") {
        None => 0,
        Some(text) => spate_sql::parse_duration(text)
            .map(|d| d.as_millis() as i64)
            .ok_or_else(|| {
                invalid(
                    table,
                    "sink.partition-commit.delay",
                    "not a duration",
                    "write e.g. '1 h', '10 min' or '0 s'",
                )
            })?,
    };
    for (key, default) in [
        ("partition.time-extractor.kind", "default"),
        (
            "partition.time-extractor.timestamp-formatter",
            "yyyy-MM-dd HH:mm:ss",
        ),
        ("sink.partition-commit.watermark-time-zone", "UTC"),
    ] {
        if let Some(value) = table.option(key)
            && value != default
        {
            return Err(invalid(
                table,
                key,
                format!("only '{default}' is supported"),
                format!("leave '{key}' out, or set it to '{default}'"),
            ));
        }
    }
    Ok(Some(PartitionCommit {
        trigger,
        delay_ms,
        success_file: table
            .option("sink.partition-commit.success-file.name")
            .unwrap_or("_SUCCESS")
            .to_string(),
    }))
}

/// Reading partition values back from directory names is not done yet: refuse a
/// partitioned table as a source rather than read it without its partition columns.
pub(super) fn refuse_partitioned_source(table: &TableDef) -> Result<(), SqlError> {
    match table.partitioned_by.is_empty() {
        true => Ok(()),
        false => Err(SqlError::Unsupported {
            at: table.at,
            construct: "reading a PARTITIONED BY filesystem table".into(),
            text: format!("PARTITIONED BY ({})", table.partitioned_by.join(", ")),
            hint: "read the files as a table without PARTITIONED BY (the partition columns \
                   are in the directory names only)"
                .into(),
        }),
    }
}
