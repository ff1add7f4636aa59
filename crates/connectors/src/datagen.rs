//! The `datagen` source: rows generated from per-column rules, with Flink's options.
//!
//! - `rows-per-second` (default 10000): a rate limit for the whole source, shared evenly by its
//!   instances.
//! - `number-of-rows`: makes the source bounded; the job ends once every row is emitted.
//! - `fields.<column>.kind`: `random` (the default) or `sequence`.
//! - `fields.<column>.min` / `.max`: the range of random numbers (the type's range by default;
//!   `FLOAT`/`DOUBLE` from 0 to the type's largest value, as Flink's).
//! - `fields.<column>.length` (default 100) and `.var-len` (lengths 1 to `length`): random
//!   alphanumeric strings.
//! - `fields.<column>.start` / `.end`: a sequence, both inclusive; a sequence also bounds the
//!   source (the shortest one, and `number-of-rows`, whichever ends first).
//! - `fields.<column>.max-past`: random timestamps (and dates) between now − max-past and now.
//! - `fields.<column>.null-rate`: the share of NULLs, 0 to 1.
//!
//! Types: `TINYINT` to `BIGINT`, `FLOAT`, `DOUBLE`, `DECIMAL(p, s)`, `BOOLEAN`, `STRING`/`VARCHAR`,
//! `TIMESTAMP(p)`/`TIMESTAMP_LTZ(p)` and `DATE`.
//!
//! Rows are numbered 0, 1, 2, … across the whole source, and every value is a function of the
//! seed, the column and the row's number (a counter-based generator; only timestamps and
//! dates read the clock). Instance *i* of *n* emits rows *i*, *i + n*, *i + 2n*, …, so the
//! union of the instances' rows is what one instance emits, and a checkpoint only needs the
//! number of rows an instance has emitted: a restored job continues after it, without
//! duplicates or gaps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use spate_engine::operator::TaskInfo;
use spate_engine::source::{Source, SourcePoll};

/// The largest batch one poll emits.
const BATCH_ROWS: u64 = 4096;

/// Flink's default `rows-per-second`.
const DEFAULT_ROWS_PER_SECOND: f64 = 10_000.0;

/// Flink's default length of random strings.
const DEFAULT_STRING_LENGTH: usize = 100;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A datagen table whose options do not fit its columns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatagenError {
    /// An option's value is malformed or contradicts another option.
    #[error("option '{key}' = '{value}': {message}")]
    Option {
        /// The option's key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A per-column option names no column of the table.
    #[error("option '{key}' names no column of the table (columns: {columns})")]
    UnknownColumn {
        /// The option's key.
        key: String,
        /// The table's columns.
        columns: String,
    },
    /// A column whose type datagen does not generate.
    #[error("column {column} has type {data_type}, which datagen does not generate")]
    Type {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
    },
}

/// Random values or a sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind<T> {
    Random { min: T, max: T },
    Sequence { start: T, end: T },
}

/// How one column's values are made.
#[derive(Debug, Clone, PartialEq)]
enum Generator {
    /// Integers of any width, cast to the column's type.
    Int(Kind<i64>),
    /// `FLOAT` and `DOUBLE`.
    Float(Kind<f64>),
    /// Unscaled decimals.
    Decimal(Kind<i128>, u8, i8),
    Boolean,
    /// Random alphanumeric strings of `length` (1 to `length` with `var_len`).
    RandomString {
        length: usize,
        var_len: bool,
    },
    /// A sequence of integers, as strings.
    SequenceString {
        start: i64,
        end: i64,
    },
    /// Now minus up to `max_past_ms`, in the column's unit.
    Timestamp {
        max_past_ms: i64,
        unit: TimeUnit,
    },
    /// Today minus up to `max_past_days`.
    Date {
        max_past_days: i64,
    },
}

/// One column: its generator and share of NULLs.
#[derive(Debug, Clone, PartialEq)]
struct ColumnGen {
    generator: Generator,
    null_rate: f64,
}

/// A datagen table's configuration, shared by the source's instances.
#[derive(Debug, Clone)]
pub struct DatagenConfig {
    schema: SchemaRef,
    columns: Vec<ColumnGen>,
    rows_per_second: f64,
    rows: Option<u64>,
    seed: u64,
}

impl DatagenConfig {
    /// The configuration of a table of `schema` with the `WITH` options `options` (the
    /// `connector` key and other non-datagen keys are ignored; the SQL front end has checked
    /// the keys). `seed` picks the random values.
    pub fn new(
        schema: SchemaRef,
        options: &BTreeMap<String, String>,
        seed: u64,
    ) -> Result<Self, DatagenError> {
        let mut per_column: Vec<BTreeMap<&str, (&str, &str)>> =
            vec![BTreeMap::new(); schema.fields().len()];
        for (key, value) in options {
            let Some((column, option)) = key
                .strip_prefix("fields.")
                .and_then(|rest| rest.rsplit_once('.'))
            else {
                continue;
            };
            let Some((index, _)) = schema.column_with_name(column) else {
                return Err(DatagenError::UnknownColumn {
                    key: key.clone(),
                    columns: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            per_column[index].insert(option, (key.as_str(), value.as_str()));
        }
        let columns = schema
            .fields()
            .iter()
            .zip(&per_column)
            .map(|(field, opts)| {
                column_gen(field.name(), field.data_type(), field.is_nullable(), opts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows_per_second = match options.get("rows-per-second") {
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| option_err("rows-per-second", v, "expected a positive number"))?,
            None => DEFAULT_ROWS_PER_SECOND,
        };
        let number_of_rows =
            match options.get("number-of-rows") {
                Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                    option_err("number-of-rows", v, "expected a non-negative integer")
                })?),
                None => None,
            };
        let rows = columns
            .iter()
            .filter_map(|c| c.generator.sequence_len())
            .chain(number_of_rows)
            .min();
        Ok(DatagenConfig {
            schema,
            columns,
            rows_per_second,
            rows,
            seed,
        })
    }

    /// The total number of rows, if the source is bounded.
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }

    /// The schema of the generated rows.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The rows numbered `rows`, generated at `now_ms` (for timestamps and dates).
    fn generate(&self, rows: &[u64], now_ms: i64) -> Result<RecordBatch, EngineError> {
        let columns = self
            .columns
            .iter()
            .zip(self.schema.fields())
            .enumerate()
            .map(|(c, (column, field))| {
                column.array(
                    self.seed ^ (c as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407),
                    rows,
                    field.data_type(),
                    now_ms,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

fn option_err(key: &str, value: &str, message: impl Into<String>) -> DatagenError {
    DatagenError::Option {
        key: key.into(),
        value: value.into(),
        message: message.into(),
    }
}

/// The generator of column `name` from its `fields.<name>.…` options (by option name, with
/// the full key and the value).
fn column_gen(
    name: &str,
    data_type: &DataType,
    nullable: bool,
    opts: &BTreeMap<&str, (&str, &str)>,
) -> Result<ColumnGen, DatagenError> {
    let get = |option: &str| opts.get(option).copied();
    let kind = match get("kind") {
        None | Some((_, "random")) => "random",
        Some((_, "sequence")) => "sequence",
        Some((key, value)) => return Err(option_err(key, value, "expected random or sequence")),
    };
    // Options that do not apply to this kind and type are refused rather than ignored.
    let allowed: &[&str] = match (kind, data_type) {
        ("sequence", _) => &["kind", "start", "end", "null-rate"],
        (_, DataType::Utf8 | DataType::LargeUtf8) => &["kind", "length", "var-len", "null-rate"],
        (_, DataType::Timestamp(..) | DataType::Date32) => &["kind", "max-past", "null-rate"],
        (_, DataType::Boolean) => &["kind", "null-rate"],
        _ => &["kind", "min", "max", "null-rate"],
    };
    if let Some((option, (key, value))) = opts.iter().find(|(o, _)| !allowed.contains(o)) {
        return Err(option_err(
            key,
            value,
            format!(
                "'{option}' does not apply to a {kind} {data_type} column; it takes {}",
                allowed.join(", ")
            ),
        ));
    }
    let null_rate = match get("null-rate") {
        Some((key, value)) => {
            let rate = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| option_err(key, value, "expected a number from 0 to 1"))?;
            if rate > 0.0 && !nullable {
                return Err(option_err(key, value, format!("column {name} is NOT NULL")));
            }
            rate
        }
        None => 0.0,
    };
    let unsupported = || DatagenError::Type {
        column: name.into(),
        data_type: data_type.clone(),
    };
    let generator = if kind == "sequence" {
        let (start_key, start) = get("start").ok_or_else(|| {
            option_err(
                &format!("fields.{name}.kind"),
                "sequence",
                format!("a sequence needs 'fields.{name}.start' and 'fields.{name}.end'"),
            )
        })?;
        let (end_key, end) = get("end").ok_or_else(|| {
            option_err(
                start_key,
                start,
                format!("a sequence needs 'fields.{name}.end' too"),
            )
        })?;
        let ordered = |ok: bool| match ok {
            true => Ok(()),
            false => Err(option_err(end_key, end, "the end is below the start")),
        };
        match data_type {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                let (start, end) = (
                    parse_int(start_key, start, data_type)?,
                    parse_int(end_key, end, data_type)?,
                );
                ordered(start <= end)?;
                Generator::Int(Kind::Sequence { start, end })
            }
            DataType::Utf8 | DataType::LargeUtf8 => {
                let (start, end) = (
                    parse_int(start_key, start, &DataType::Int64)?,
                    parse_int(end_key, end, &DataType::Int64)?,
                );
                ordered(start <= end)?;
                Generator::SequenceString { start, end }
            }
            DataType::Float32 | DataType::Float64 => {
                let (start, end) = (parse_float(start_key, start)?, parse_float(end_key, end)?);
                ordered(start <= end)?;
                Generator::Float(Kind::Sequence { start, end })
            }
            DataType::Decimal128(p, s) => {
                let (start, end) = (
                    parse_decimal(start_key, start, *p, *s)?,
                    parse_decimal(end_key, end, *p, *s)?,
                );
                ordered(start <= end)?;
                Generator::Decimal(Kind::Sequence { start, end }, *p, *s)
            }
            _ => {
                return Err(option_err(
                    &format!("fields.{name}.kind"),
                    "sequence",
                    format!(
                        "sequences are of integers, FLOAT, DOUBLE, DECIMAL or STRING, not {data_type}"
                    ),
                ));
            }
        }
    } else {
        match data_type {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                let (lo, hi) = int_range(data_type);
                let min = get("min").map_or(Ok(lo), |(k, v)| parse_int(k, v, data_type))?;
                let max = get("max").map_or(Ok(hi), |(k, v)| parse_int(k, v, data_type))?;
                check_min_max(get("max"), min <= max)?;
                Generator::Int(Kind::Random { min, max })
            }
            DataType::Float32 | DataType::Float64 => {
                let top = if *data_type == DataType::Float32 {
                    f64::from(f32::MAX)
                } else {
                    f64::MAX
                };
                let min = get("min").map_or(Ok(0.0), |(k, v)| parse_float(k, v))?;
                let max = get("max").map_or(Ok(top), |(k, v)| parse_float(k, v))?;
                check_min_max(get("max"), min <= max)?;
                Generator::Float(Kind::Random { min, max })
            }
            DataType::Decimal128(p, s) => {
                let top = 10i128.pow(u32::from(*p)) - 1;
                let min = get("min").map_or(Ok(-top), |(k, v)| parse_decimal(k, v, *p, *s))?;
                let max = get("max").map_or(Ok(top), |(k, v)| parse_decimal(k, v, *p, *s))?;
                check_min_max(get("max"), min <= max)?;
                Generator::Decimal(Kind::Random { min, max }, *p, *s)
            }
            DataType::Boolean => Generator::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 => {
                let length = match get("length") {
                    Some((key, value)) => value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|l| *l > 0)
                        .ok_or_else(|| option_err(key, value, "expected a positive integer"))?,
                    None => DEFAULT_STRING_LENGTH,
                };
                let var_len = match get("var-len") {
                    Some((key, value)) => parse_bool(key, value)?,
                    None => false,
                };
                Generator::RandomString { length, var_len }
            }
            DataType::Timestamp(unit, _) => Generator::Timestamp {
                max_past_ms: max_past(get("max-past"))?,
                unit: *unit,
            },
            DataType::Date32 => Generator::Date {
                max_past_days: max_past(get("max-past"))? / 86_400_000,
            },
            _ => return Err(unsupported()),
        }
    };
    Ok(ColumnGen {
        generator,
        null_rate,
    })
}

fn check_min_max(max: Option<(&str, &str)>, ordered: bool) -> Result<(), DatagenError> {
    match (ordered, max) {
        (true, _) => Ok(()),
        (false, Some((key, value))) => Err(option_err(key, value, "the max is below the min")),
        (false, None) => Ok(()),
    }
}

/// The range of an integer type.
fn int_range(data_type: &DataType) -> (i64, i64) {
    match data_type {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN, i64::MAX),
    }
}

fn parse_int(key: &str, value: &str, data_type: &DataType) -> Result<i64, DatagenError> {
    let (lo, hi) = int_range(data_type);
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| option_err(key, value, format!("expected an integer from {lo} to {hi}")))
}

fn parse_float(key: &str, value: &str) -> Result<f64, DatagenError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| option_err(key, value, "expected a number"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, DatagenError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(option_err(key, value, "expected true or false")),
    }
}

/// A decimal literal such as `-12.5` as an unscaled value of scale `scale` that fits
/// `precision` digits.
fn parse_decimal(key: &str, value: &str, precision: u8, scale: i8) -> Result<i128, DatagenError> {
    let bad = || {
        option_err(
            key,
            value,
            format!("expected a number that fits DECIMAL({precision}, {scale})"),
        )
    };
    let text = value.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::try_from(scale).map_err(|_| bad())?;
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || fraction.trim_end_matches('0').len() > scale
    {
        return Err(bad());
    }
    let padded = format!("{whole}{fraction:0<scale$}");
    let unscaled = padded[..whole.len() + scale]
        .parse::<i128>()
        .map_err(|_| bad())?;
    if unscaled > 10i128.pow(u32::from(precision)) - 1 {
        return Err(bad());
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// `max-past` as milliseconds: a Flink duration, milliseconds without a unit.
fn max_past(option: Option<(&str, &str)>) -> Result<i64, DatagenError> {
    let Some((key, value)) = option else {
        return Ok(0);
    };
    parse_duration_ms(value).ok_or_else(|| {
        option_err(
            key,
            value,
            "expected a duration such as '5 s', '10 min' or '1000' (milliseconds)",
        )
    })
}

/// A Flink duration (`TimeUtils.parseDuration`): an integer and an optional unit.
fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: i64 = text[..split].parse().ok()?;
    let (numerator, denominator) = match text[split..].trim().to_ascii_lowercase().as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => (1, 1_000_000),
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => (1, 1_000),
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => (1, 1),
        "s" | "sec" | "secs" | "second" | "seconds" => (1_000, 1),
        "m" | "min" | "minute" | "minutes" => (60_000, 1),
        "h" | "hour" | "hours" => (3_600_000, 1),
        "d" | "day" | "days" => (86_400_000, 1),
        _ => return None,
    };
    Some(amount.checked_mul(numerator)? / denominator)
}

impl Generator {
    /// The number of values of a sequence.
    fn sequence_len(&self) -> Option<u64> {
        let len = match *self {
            Generator::Int(Kind::Sequence { start, end })
            | Generator::SequenceString { start, end } => (end as i128 - start as i128) as u128,
            Generator::Float(Kind::Sequence { start, end }) => (end - start).floor() as u128,
            Generator::Decimal(Kind::Sequence { start, end }, _, scale) => {
                end.abs_diff(start) / 10u128.pow(u32::try_from(scale).unwrap_or(0))
            }
            _ => return None,
        };
        Some(u64::try_from(len.saturating_add(1)).unwrap_or(u64::MAX))
    }
}

impl ColumnGen {
    /// The values of rows `rows`; `seed` is the column's.
    fn array(
        &self,
        seed: u64,
        rows: &[u64],
        data_type: &DataType,
        now_ms: i64,
    ) -> Result<ArrayRef, EngineError> {
        let cells = rows.iter().map(|&row| {
            let mut rng = Rng::new(seed, row);
            let null = self.null_rate > 0.0 && rng.unit() < self.null_rate;
            (row, rng, null)
        });
        let array: ArrayRef = match &self.generator {
            Generator::Int(kind) => {
                let values: Int64Array = cells
                    .map(|(row, mut rng, null)| {
                        (!null).then(|| match *kind {
                            Kind::Random { min, max } => {
                                let width = (max as i128 - min as i128 + 1) as u128;
                                (min as i128 + (rng.next() as u128 % width) as i128) as i64
                            }
                            Kind::Sequence { start, .. } => start + row as i64,
                        })
                    })
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
            Generator::Float(kind) => {
                let values: Float64Array = cells
                    .map(|(row, mut rng, null)| {
                        (!null).then(|| match *kind {
                            Kind::Random { min, max } => {
                                let u = rng.unit();
                                (1.0 - u) * min + u * max
                            }
                            Kind::Sequence { start, .. } => start + row as f64,
                        })
                    })
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
            Generator::Decimal(kind, precision, scale) => {
                let step = 10i128.pow(u32::try_from(*scale).unwrap_or(0));
                let values: Decimal128Array = cells
                    .map(|(row, mut rng, null)| {
                        (!null).then(|| match *kind {
                            Kind::Random { min, max } => {
                                let width = max.abs_diff(min) + 1;
                                let draw = (u128::from(rng.next()) << 64) | u128::from(rng.next());
                                min.wrapping_add_unsigned(draw % width)
                            }
                            Kind::Sequence { start, .. } => start + row as i128 * step,
                        })
                    })
                    .collect();
                Arc::new(values.with_precision_and_scale(*precision, *scale)?)
            }
            Generator::Boolean => Arc::new(
                cells
                    .map(|(_, mut rng, null)| (!null).then(|| rng.next() & 1 == 1))
                    .collect::<BooleanArray>(),
            ),
            Generator::RandomString { length, var_len } => {
                let mut text = String::new();
                let values: StringArray = cells
                    .map(|(_, mut rng, null)| {
                        if null {
                            return None;
                        }
                        let n = if *var_len {
                            1 + (rng.next() % *length as u64) as usize
                        } else {
                            *length
                        };
                        text.clear();
                        text.extend((0..n).map(|_| {
                            ALPHANUMERIC[(rng.next() % ALPHANUMERIC.len() as u64) as usize] as char
                        }));
                        Some(text.clone())
                    })
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
            Generator::SequenceString { start, .. } => {
                let values: StringArray = cells
                    .map(|(row, _, null)| (!null).then(|| (start + row as i64).to_string()))
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
            Generator::Timestamp { max_past_ms, unit } => {
                let values: Int64Array = cells
                    .map(|(_, mut rng, null)| {
                        (!null).then(|| {
                            let ms = now_ms - (rng.next() % (*max_past_ms as u64 + 1)) as i64;
                            match unit {
                                TimeUnit::Second => ms.div_euclid(1000),
                                TimeUnit::Millisecond => ms,
                                TimeUnit::Microsecond => ms * 1_000,
                                TimeUnit::Nanosecond => ms * 1_000_000,
                            }
                        })
                    })
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
            Generator::Date { max_past_days } => {
                let today = now_ms.div_euclid(86_400_000);
                let values: Int32Array = cells
                    .map(|(_, mut rng, null)| {
                        (!null).then(|| {
                            let days = today - (rng.next() % (*max_past_days as u64 + 1)) as i64;
                            i32::try_from(days).unwrap_or(i32::MAX)
                        })
                    })
                    .collect();
                arrow::compute::cast(&values, data_type)?
            }
        };
        Ok(array)
    }
}

/// SplitMix64, seeded per cell from the column's seed and the row's number, so a value does
/// not depend on which instance makes it or on what was made before.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, row: u64) -> Rng {
        let mut rng = Rng(seed ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a checkpoint keeps of a generator instance (datagen, nexmark): how far it got.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Position {
    pub instance: usize,
    pub parallelism: usize,
    /// Rows this instance has emitted.
    pub emitted: u64,
    /// The base time of generated timestamps (nexmark's), if the generator has one.
    #[serde(default)]
    pub base_time_ms: i64,
}

impl Position {
    /// The position in `bytes`, checked against `task` (same instance layout) and the
    /// instance's `limit` of rows, if any; errors name `generator`.
    pub fn decode(
        bytes: &[u8],
        task: &TaskInfo,
        generator: &str,
        limit: Option<u64>,
    ) -> Result<Position, EngineError> {
        let corrupt = |reason: String| EngineError::CorruptState {
            task: task.name.clone(),
            reason,
        };
        let position: Position = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("{generator} position: {e}")))?;
        if (position.instance, position.parallelism) != (task.instance, task.parallelism) {
            return Err(corrupt(format!(
                "the checkpoint is of {generator} instance {} of {}, this is instance {} of {}; \
                 restore with the same parallelism",
                position.instance, position.parallelism, task.instance, task.parallelism
            )));
        }
        if let Some(limit) = limit.filter(|limit| position.emitted > *limit) {
            return Err(corrupt(format!(
                "the checkpoint has {} rows emitted, more than this instance's {limit}",
                position.emitted
            )));
        }
        Ok(position)
    }
}

/// One instance of the datagen source.
pub struct DatagenSource {
    config: DatagenConfig,
    task: TaskInfo,
    /// This instance's share of the rows, if bounded.
    rows: Option<u64>,
    /// Rows emitted so far (since the start, restored from checkpoints).
    emitted: u64,
    /// This instance's share of `rows-per-second`.
    rate: f64,
    /// When rate limiting started, and `emitted` then.
    paced_from: Option<(Instant, u64)>,
    partition_finished: bool,
    row_numbers: Vec<u64>,
}

impl DatagenSource {
    /// Instance `task.instance` of `task.parallelism`.
    pub fn new(config: DatagenConfig, task: &TaskInfo) -> Self {
        let (i, n) = (task.instance as u64, task.parallelism.max(1) as u64);
        let rows = config.rows.map(|total| {
            if total > i {
                (total - i - 1) / n + 1
            } else {
                0
            }
        });
        DatagenSource {
            rate: config.rows_per_second / n as f64,
            config,
            task: task.clone(),
            rows,
            emitted: 0,
            paced_from: None,
            partition_finished: false,
            row_numbers: Vec::new(),
        }
    }
}

impl Source for DatagenSource {
    fn schema(&self) -> SchemaRef {
        self.config.schema()
    }

    fn partitions(&self) -> Vec<String> {
        vec![format!(
            "datagen {}/{}",
            self.task.instance, self.task.parallelism
        )]
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        let left = self.rows.map_or(u64::MAX, |rows| rows - self.emitted);
        if left == 0 {
            if self.partition_finished {
                return Ok(SourcePoll::Finished);
            }
            self.partition_finished = true;
            return Ok(SourcePoll::PartitionFinished(0));
        }
        let (since, emitted_then) = *self
            .paced_from
            .get_or_insert_with(|| (Instant::now(), self.emitted));
        let allowed = (since.elapsed().as_secs_f64() * self.rate).min(u64::MAX as f64) as u64;
        let due = allowed.saturating_sub(self.emitted - emitted_then);
        let count = due.min(left).min(BATCH_ROWS);
        if count == 0 {
            return Ok(SourcePoll::Idle);
        }
        let (i, n) = (self.task.instance as u64, self.task.parallelism as u64);
        self.row_numbers.clear();
        self.row_numbers
            .extend((self.emitted..self.emitted + count).map(|k| i + k * n));
        let batch = self
            .config
            .generate(&self.row_numbers, spate_log::now_ms())?;
        self.emitted += count;
        Ok(SourcePoll::Batch {
            partition: 0,
            batch,
        })
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        let position = Position {
            instance: self.task.instance,
            parallelism: self.task.parallelism,
            emitted: self.emitted,
            base_time_ms: 0,
        };
        Ok(serde_json::to_vec(&position).expect("position serializes"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        let Some(bytes) = state else {
            return Ok(());
        };
        let position = Position::decode(bytes, &self.task, "datagen", self.rows)?;
        self.emitted = position.emitted;
        self.paced_from = None;
        self.partition_finished = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Int32Type, Int64Type, Schema};

    use super::*;
    use crate::testing::drain;
    use crate::testing::task;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("small", DataType::Int8, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("price", DataType::Decimal128(6, 2), true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("code", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("day", DataType::Date32, true),
        ]))
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(rows: u64) -> DatagenConfig {
        let rows = rows.to_string();
        DatagenConfig::new(
            schema(),
            &options(&[
                ("connector", "datagen"),
                ("rows-per-second", "1000000000000"),
                ("number-of-rows", &rows),
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "100"),
                ("fields.id.end", "1000000"),
                ("fields.small.min", "-3"),
                ("fields.small.max", "3"),
                ("fields.small.null-rate", "0.25"),
                ("fields.name.length", "8"),
                ("fields.score.min", "0.5"),
                ("fields.score.max", "1.5"),
                ("fields.price.min", "-10.5"),
                ("fields.price.max", "99.99"),
                ("fields.code.kind", "sequence"),
                ("fields.code.start", "1"),
                ("fields.code.end", "1000000"),
                ("fields.ts.max-past", "5 min"),
                ("fields.day.max-past", "3 d"),
            ]),
            7,
        )
        .unwrap()
    }

    /// The rows, sorted by id, without the clock-dependent columns.
    fn rows_by_id(batches: &[RecordBatch]) -> RecordBatch {
        let all = arrow::compute::concat_batches(&schema(), batches).unwrap();
        let order = arrow::compute::sort_to_indices(all.column(0), None, None).unwrap();
        let sorted = arrow::compute::take_record_batch(&all, &order).unwrap();
        sorted.project(&[0, 1, 2, 3, 4, 5, 6]).unwrap()
    }

    #[test]
    fn values_follow_the_options() {
        let mut source = DatagenSource::new(config(5000), &task(0, 1));
        let started = spate_log::now_ms();
        let batch = arrow::compute::concat_batches(&schema(), &drain(&mut source)).unwrap();
        let ended = spate_log::now_ms();
        assert_eq!(batch.num_rows(), 5000);
        let ids = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), (100..5100).collect::<Vec<i64>>());
        let small = batch.column(1).as_primitive::<arrow::datatypes::Int8Type>();
        assert!(small.iter().flatten().all(|v| (-3..=3).contains(&v)));
        let distinct: std::collections::BTreeSet<i8> = small.iter().flatten().collect();
        assert_eq!(distinct.len(), 7, "every value of -3..=3 shows up");
        let nulls = small.null_count() as f64 / 5000.0;
        assert!((0.2..0.3).contains(&nulls), "null share {nulls}");
        let names = batch.column(2).as_string::<i32>();
        assert!(
            names
                .iter()
                .flatten()
                .all(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
        assert_eq!(names.null_count(), 0);
        let scores = batch
            .column(3)
            .as_primitive::<arrow::datatypes::Float64Type>();
        assert!(scores.values().iter().all(|v| (0.5..=1.5).contains(v)));
        let prices = batch
            .column(4)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert!(prices.values().iter().all(|v| (-1050..=9999).contains(v)));
        let flags = batch.column(5).as_boolean();
        assert!((1000..4000).contains(&flags.true_count()));
        let codes = batch.column(6).as_string::<i32>();
        assert_eq!(codes.value(0), "1");
        assert_eq!(codes.value(4999), "5000");
        let ts = batch
            .column(7)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert!(
            ts.values()
                .iter()
                .all(|t| (started - 300_000..=ended).contains(t))
        );
        let days = batch
            .column(8)
            .as_primitive::<arrow::datatypes::Date32Type>();
        let today = (ended / 86_400_000) as i32;
        assert!(
            days.values()
                .iter()
                .all(|d| (today - 3..=today).contains(d))
        );
        // The same seed makes the same values; another seed others.
        let mut again = DatagenSource::new(config(5000), &task(0, 1));
        let again = rows_by_id(&drain(&mut again));
        assert_eq!(again, rows_by_id(std::slice::from_ref(&batch)));
        let mut other = config(5000);
        other.seed = 8;
        let other = rows_by_id(&drain(&mut DatagenSource::new(other, &task(0, 1))));
        assert_ne!(other.column(2), again.column(2));
    }

    #[test]
    fn two_instances_make_the_rows_of_one() {
        let one = rows_by_id(&drain(&mut DatagenSource::new(config(10_001), &task(0, 1))));
        let mut parts = drain(&mut DatagenSource::new(config(10_001), &task(0, 2)));
        let first: usize = parts.iter().map(RecordBatch::num_rows).sum();
        parts.extend(drain(&mut DatagenSource::new(config(10_001), &task(1, 2))));
        assert_eq!(first, 5001);
        assert_eq!(rows_by_id(&parts), one);
        assert_eq!(one.num_rows(), 10_001);
    }

    #[test]
    fn a_restored_instance_goes_on_without_duplicates() {
        let cfg = config(20_000);
        let whole = rows_by_id(&drain(&mut DatagenSource::new(cfg.clone(), &task(1, 2))));
        let mut source = DatagenSource::new(cfg.clone(), &task(1, 2));
        source.restore(None).unwrap();
        let mut before = Vec::new();
        while before.iter().map(RecordBatch::num_rows).sum::<usize>() < 3000 {
            if let SourcePoll::Batch { batch, .. } = source.poll().unwrap() {
                before.push(batch);
            }
        }
        let state = source.snapshot(1).unwrap();
        // Rows after the checkpoint are lost with the failure and made again after restore.
        source.poll().unwrap();
        let mut restored = DatagenSource::new(cfg.clone(), &task(1, 2));
        restored.restore(Some(&state)).unwrap();
        before.extend(drain(&mut restored));
        assert_eq!(rows_by_id(&before), whole);
        // A checkpoint of another instance is refused.
        let mut other = DatagenSource::new(cfg, &task(0, 2));
        assert!(matches!(
            other.restore(Some(&state)),
            Err(EngineError::CorruptState { .. })
        ));
    }

    #[test]
    fn the_rate_is_limited() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let cfg = DatagenConfig::new(
            schema,
            &options(&[
                ("rows-per-second", "2000"),
                ("fields.n.min", "1"),
                ("fields.n.max", "1"),
            ]),
            1,
        )
        .unwrap();
        assert_eq!(cfg.rows(), None);
        // Two instances share the rate.
        let mut source = DatagenSource::new(cfg, &task(0, 2));
        let started = Instant::now();
        let mut rows = 0;
        while started.elapsed() < std::time::Duration::from_millis(200) {
            if let SourcePoll::Batch { batch, .. } = source.poll().unwrap() {
                assert!(
                    batch
                        .column(0)
                        .as_primitive::<Int32Type>()
                        .values()
                        .iter()
                        .all(|v| *v == 1)
                );
                rows += batch.num_rows() as u64;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let allowed = (started.elapsed().as_secs_f64() * 1000.0) as u64 + 1;
        assert!(
            rows > 0 && rows <= allowed,
            "{rows} rows, at most {allowed}"
        );
    }

    #[test]
    fn sequences_bound_the_source() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Decimal128(5, 1), false),
        ]));
        let cfg = DatagenConfig::new(
            schema,
            &options(&[
                ("fields.a.kind", "sequence"),
                ("fields.a.start", "-5"),
                ("fields.a.end", "5"),
                ("fields.b.kind", "sequence"),
                ("fields.b.start", "0.5"),
                ("fields.b.end", "100"),
            ]),
            1,
        )
        .unwrap();
        assert_eq!(cfg.rows(), Some(11));
        let batch = cfg.generate(&[0, 10], 0).unwrap();
        assert_eq!(
            batch.column(0).as_primitive::<Int32Type>().values(),
            &[-5, 5]
        );
        let b = batch
            .column(1)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(b.values(), &[5, 105]);
    }

    #[test]
    fn bad_options_are_refused_with_their_key() {
        let check = |pairs: &[(&str, &str)], expected: &str| {
            let err = DatagenConfig::new(schema(), &options(pairs), 0).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        };
        check(
            &[("fields.nope.kind", "random")],
            "'fields.nope.kind' names no column",
        );
        check(
            &[("fields.id.kind", "sequential")],
            "expected random or sequence",
        );
        check(
            &[("fields.id.kind", "sequence"), ("fields.id.start", "1")],
            "needs 'fields.id.end'",
        );
        check(
            &[
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "5"),
                ("fields.id.end", "1"),
            ],
            "the end is below the start",
        );
        check(
            &[("fields.small.min", "5"), ("fields.small.max", "1")],
            "the max is below the min",
        );
        check(
            &[("fields.small.max", "300")],
            "expected an integer from -128 to 127",
        );
        check(&[("fields.id.null-rate", "0.5")], "column id is NOT NULL");
        check(&[("fields.name.min", "1")], "'min' does not apply");
        check(
            &[
                ("fields.flag.kind", "sequence"),
                ("fields.flag.start", "0"),
                ("fields.flag.end", "1"),
            ],
            "sequences are of",
        );
        check(
            &[("fields.ts.max-past", "5 fortnights")],
            "expected a duration",
        );
        check(&[("fields.price.max", "12345.678")], "fits DECIMAL(6, 2)");
        check(&[("number-of-rows", "-1")], "number-of-rows");
        check(&[("rows-per-second", "0")], "rows-per-second");
        let bad_type = Arc::new(Schema::new(vec![Field::new("b", DataType::Binary, true)]));
        assert!(matches!(
            DatagenConfig::new(bad_type, &BTreeMap::new(), 0),
            Err(DatagenError::Type { .. })
        ));
    }

    #[test]
    fn durations_and_decimals_parse_like_flink() {
        assert_eq!(parse_duration_ms("1000"), Some(1000));
        assert_eq!(parse_duration_ms("5 s"), Some(5000));
        assert_eq!(parse_duration_ms("2min"), Some(120_000));
        assert_eq!(parse_duration_ms("1 d"), Some(86_400_000));
        assert_eq!(parse_duration_ms("x"), None);
        assert_eq!(parse_decimal("k", "-12.5", 6, 2), Ok(-1250));
        assert_eq!(parse_decimal("k", "3", 6, 2), Ok(300));
        assert_eq!(parse_decimal("k", ".25", 6, 2), Ok(25));
        assert_eq!(parse_decimal("k", "1.250", 6, 2), Ok(125));
        assert!(parse_decimal("k", "1.255", 6, 2).is_err());
        assert!(parse_decimal("k", "1e3", 6, 2).is_err());
        assert!(parse_decimal("k", ".", 6, 2).is_err());
    }
}
