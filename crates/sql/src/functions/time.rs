//! Date and time functions. The session time zone is UTC: a `TIMESTAMP_LTZ` is read and shown
//! as its UTC wall clock, and so are epoch seconds.
//!
//! Clock functions (`NOW()`, `CURRENT_TIMESTAMP`, …) are evaluated for every batch, as Flink's
//! streaming mode evaluates them for every record; DataFusion's own fold them into a constant
//! when a query is optimised, which a streaming job never is.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Date64Array, Int32Array, Int64Array, PrimitiveArray,
    StringArray, Time32MillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowTimestampType, DataType, Date32Type, Date64Type, Float64Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike, Utc};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;

use super::datetime_format::{Parse, Pattern, parse_default_date, parse_default_timestamp};
use super::udf::{Args, Col, Eval, Func, Param, Returns, exec_error, scalar_str};
use crate::types::LTZ_TIME_ZONE;

use Param::{Int, Number, Str, Temporal, TemporalOrStr};

/// TIMESTAMP(3).
fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// TIMESTAMP_LTZ(3).
fn ltz_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(LTZ_TIME_ZONE.into()))
}

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    let mut all = vec![
        Func::new(
            "TO_TIMESTAMP_LTZ(epoch [, precision])",
            &[&[Number], &[Number, Int]],
            Returns::Type(ltz_ms()),
            to_timestamp_ltz,
        )
        .check(check_precision)
        .udf(),
        Func::new(
            "DATE_FORMAT(timestamp, format)",
            &[&[TemporalOrStr, Str]],
            Returns::Type(DataType::Utf8),
            date_format,
        )
        .check(|s| check_format(s, 1))
        .udf(),
        Func::new(
            "TO_TIMESTAMP(string [, format])",
            &[&[Str], &[Str, Str]],
            Returns::Type(timestamp_ms()),
            to_timestamp,
        )
        .check(|s| check_format(s, 1))
        .udf(),
        Func::new(
            "TO_DATE(string [, format])",
            &[&[Str], &[Str, Str]],
            Returns::Type(DataType::Date32),
            to_date,
        )
        .check(|s| check_format(s, 1))
        .udf(),
        Func::new(
            "FROM_UNIXTIME(seconds [, format])",
            &[&[Int], &[Int, Str]],
            Returns::Type(DataType::Utf8),
            from_unixtime,
        )
        .check(|s| check_format(s, 1))
        .udf(),
        Func::new(
            "UNIX_TIMESTAMP([string [, format]])",
            &[&[], &[Str], &[Str, Str]],
            Returns::Type(DataType::Int64),
            unix_timestamp,
        )
        .check(|s| check_format(s, 1))
        .volatile()
        .udf(),
        Func::new(
            "TIMESTAMPADD(unit, count, timestamp)",
            &[&[Str, Int, Temporal]],
            Returns::Computed(timestampadd_type),
            timestampadd,
        )
        .check(check_unit)
        .udf(),
        Func::new(
            "TIMESTAMPDIFF(unit, timestamp1, timestamp2)",
            &[&[Str, Temporal, Temporal]],
            Returns::Type(DataType::Int32),
            timestampdiff,
        )
        .check(check_unit)
        .udf(),
        extract_udf(),
        Func::new(
            "FLOOR_TIME(unit, timestamp)",
            &[&[Str, Temporal]],
            Returns::Computed(|types, _| Ok(types[1].clone())),
            |a| round_time(a, false),
        )
        .check(check_unit)
        .udf(),
        Func::new(
            "CEIL_TIME(unit, timestamp)",
            &[&[Str, Temporal]],
            Returns::Computed(|types, _| Ok(types[1].clone())),
            |a| round_time(a, true),
        )
        .check(check_unit)
        .udf(),
    ];
    let parts: [(&'static str, Eval); 10] = [
        ("YEAR(date)", |a| date_part(a, Part::Year)),
        ("QUARTER(date)", |a| date_part(a, Part::Quarter)),
        ("MONTH(date)", |a| date_part(a, Part::Month)),
        ("WEEK(date)", |a| date_part(a, Part::Week)),
        ("DAYOFYEAR(date)", |a| date_part(a, Part::DayOfYear)),
        ("DAYOFMONTH(date)", |a| date_part(a, Part::Day)),
        ("DAYOFWEEK(date)", |a| date_part(a, Part::DayOfWeek)),
        ("HOUR(timestamp)", |a| date_part(a, Part::Hour)),
        ("MINUTE(timestamp)", |a| date_part(a, Part::Minute)),
        ("SECOND(timestamp)", |a| date_part(a, Part::Second)),
    ];
    all.extend(parts.into_iter().map(|(usage, eval)| {
        Func::new(usage, &[&[Temporal]], Returns::Type(DataType::Int64), eval).udf()
    }));
    all.extend([
        clock("NOW()", ltz_ms()).udf(),
        clock("CURRENT_TIMESTAMP()", ltz_ms()).udf(),
        clock("CURRENT_ROW_TIMESTAMP()", ltz_ms()).udf(),
        clock("PROCTIME()", ltz_ms()).udf(),
        clock("LOCALTIMESTAMP()", timestamp_ms()).udf(),
        clock("CURRENT_DATE()", DataType::Date32).udf(),
        clock("CURRENT_TIME()", DataType::Time32(TimeUnit::Millisecond)).udf(),
        clock("LOCALTIME()", DataType::Time32(TimeUnit::Millisecond)).udf(),
    ]);
    all
}

/// `EXTRACT(part FROM t)`, planned as `extract('PART', t)`.
pub(super) fn extract_udf() -> ScalarUDF {
    Func::new(
        "EXTRACT(part, timestamp)",
        &[&[Str, Temporal]],
        Returns::Type(DataType::Int64),
        extract,
    )
    .check(check_part)
    .udf()
}

/// A clock function: the current time in `t`, per batch.
fn clock(usage: &'static str, t: DataType) -> Func {
    Func::new(usage, &[&[]], Returns::Type(t), now).volatile()
}

/// The current time, as the result type asks.
fn now(args: &Args) -> Result<ArrayRef> {
    let t = Utc::now().naive_utc();
    match &args.return_type {
        DataType::Time32(_) => {
            let ms = (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32;
            Ok(Arc::new(Time32MillisecondArray::from(vec![ms; args.rows])))
        }
        other => to_temporal(vec![Some(t); args.rows], other),
    }
}

// ---------------------------------------------------------------------------------------
// Values.

/// A DATE, TIME, TIMESTAMP or (default-format) string argument as UTC wall clocks.
struct Times {
    values: Vec<Option<NaiveDateTime>>,
    scalar: bool,
}

impl Times {
    fn new(args: &Args, i: usize) -> Result<Times> {
        Ok(Times {
            values: datetimes(args.array(i))?,
            scalar: args.is_scalar(i),
        })
    }

    fn get(&self, row: usize) -> Option<NaiveDateTime> {
        self.values[if self.scalar { 0 } else { row }]
    }
}

/// `v` in `unit`s since the epoch as a UTC wall clock.
fn from_epoch(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let t = match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0)?,
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v)?,
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v)?,
        TimeUnit::Nanosecond => DateTime::from_timestamp_nanos(v),
    };
    Some(t.naive_utc())
}

/// `t` in `unit`s since the epoch.
fn to_epoch(t: NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let t = t.and_utc();
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

/// Days since the epoch of `date`.
fn epoch_days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

/// The values of a DATE, TIME, TIMESTAMP or string array as UTC wall clocks (a TIME on
/// 1970-01-01); strings in Flink's default format, NULL when they do not fit it.
fn datetimes(array: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0);
    Ok(match array.data_type() {
        DataType::Date32 => array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| {
                d.and_then(|d| NaiveDate::default().checked_add_signed(Duration::days(d.into())))
                    .and_then(midnight)
            })
            .collect(),
        DataType::Date64 => array
            .as_primitive::<Date64Type>()
            .iter()
            .map(|d| d.and_then(|d| from_epoch(d, TimeUnit::Millisecond)))
            .collect(),
        DataType::Timestamp(unit, _) => {
            let values = cast(array, &DataType::Int64)?;
            values
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.and_then(|v| from_epoch(v, *unit)))
                .collect()
        }
        DataType::Time32(unit) | DataType::Time64(unit) => {
            let values = cast(array, &DataType::Int64)?;
            values
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.and_then(|v| from_epoch(v, *unit)))
                .collect()
        }
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|s| s.and_then(parse_default_timestamp))
            .collect(),
        DataType::Null => vec![None; array.len()],
        other => {
            return Err(DataFusionError::Internal(format!(
                "not a date or timestamp: {other}"
            )));
        }
    })
}

fn timestamps<T: ArrowTimestampType>(
    values: &[Option<NaiveDateTime>],
    unit: TimeUnit,
    tz: Option<Arc<str>>,
) -> ArrayRef {
    let array: PrimitiveArray<T> = values
        .iter()
        .map(|t| t.and_then(|t| to_epoch(t, unit)))
        .collect();
    Arc::new(array.with_timezone_opt(tz))
}

/// UTC wall clocks as an array of DATE, TIME or TIMESTAMP type `t` (a TIME keeps the time of
/// day).
fn to_temporal(values: Vec<Option<NaiveDateTime>>, t: &DataType) -> Result<ArrayRef> {
    Ok(match t {
        DataType::Date32 => Arc::new(
            values
                .iter()
                .map(|v| v.map(|v| epoch_days(v.date())))
                .collect::<Date32Array>(),
        ),
        DataType::Date64 => Arc::new(
            values
                .iter()
                .map(|v| {
                    v.and_then(|v| to_epoch(v.date().and_hms_opt(0, 0, 0)?, TimeUnit::Millisecond))
                })
                .collect::<Date64Array>(),
        ),
        DataType::Time32(_) | DataType::Time64(_) => {
            let nanos: Int64Array = values
                .iter()
                .map(|v| {
                    v.map(|v| {
                        i64::from(v.num_seconds_from_midnight()) * 1_000_000_000
                            + i64::from(v.nanosecond() % 1_000_000_000)
                    })
                })
                .collect();
            cast(&cast(&nanos, &DataType::Time64(TimeUnit::Nanosecond))?, t)?
        }
        DataType::Timestamp(unit, tz) => {
            let tz = tz.clone();
            match unit {
                TimeUnit::Second => timestamps::<TimestampSecondType>(&values, *unit, tz),
                TimeUnit::Millisecond => timestamps::<TimestampMillisecondType>(&values, *unit, tz),
                TimeUnit::Microsecond => timestamps::<TimestampMicrosecondType>(&values, *unit, tz),
                TimeUnit::Nanosecond => timestamps::<TimestampNanosecondType>(&values, *unit, tz),
            }
        }
        other => {
            return Err(DataFusionError::Internal(format!(
                "not a date or timestamp type: {other}"
            )));
        }
    })
}

// ---------------------------------------------------------------------------------------
// Formats.

/// Refuses a constant format (argument `i`) that is not a Java date-time pattern.
fn check_format(scalars: &[Option<&ScalarValue>], i: usize) -> Result<()> {
    match scalar_str(scalars, i) {
        Some(format) => Pattern::new(format)
            .map(|_| ())
            .map_err(DataFusionError::Plan),
        None => Ok(()),
    }
}

/// Compiles formats, reusing the last one.
#[derive(Default)]
struct Formats {
    last: Option<(String, Pattern)>,
}

impl Formats {
    fn get(&mut self, format: &str) -> Result<&Pattern> {
        if self.last.as_ref().is_some_and(|(f, _)| f != format) {
            self.last = None;
        }
        match &mut self.last {
            Some((_, pattern)) => Ok(pattern),
            slot @ None => {
                let pattern = Pattern::new(format).map_err(exec_error)?;
                Ok(&slot.insert((format.to_string(), pattern)).1)
            }
        }
    }
}

/// The format argument `i`, if given, with a default.
fn format_arg(args: &Args, i: usize) -> Result<Option<Col<'_, StringArray>>> {
    if args.count() > i {
        Ok(Some(args.str(i)?))
    } else {
        Ok(None)
    }
}

/// `DATE_FORMAT(t, format)`: `t` (a string in the default format is read first) formatted
/// by a Java pattern.
fn date_format(args: &Args) -> Result<ArrayRef> {
    let times = Times::new(args, 0)?;
    let format = args.str(1)?;
    let mut formats = Formats::default();
    let values = (0..args.rows)
        .map(|r| {
            let (Some(t), Some(format)) = (times.get(r), format.get(r)) else {
                return Ok(None);
            };
            Ok(Some(formats.get(format)?.format(&t)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(StringArray::from(values)))
}

/// `TO_TIMESTAMP(string [, format])`: NULL when the string does not fit. Without a format,
/// `yyyy-MM-dd[ HH:mm:ss[.fraction]]`; an offset in the text is not applied (the result is the
/// wall clock as written, as in Flink).
fn to_timestamp(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let format = format_arg(args, 1)?;
    let mut formats = Formats::default();
    let values = (0..args.rows)
        .map(|r| {
            let Some(s) = s.get(r) else { return Ok(None) };
            Ok(match &format {
                None => parse_default_timestamp(s),
                Some(f) => match f.get(r) {
                    None => None,
                    Some(f) => formats.get(f)?.parse(s, Parse::Strict).map(|p| p.local),
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    to_temporal(values, &timestamp_ms())
}

/// `TO_DATE(string [, format])`: NULL when the string does not fit. Without a format,
/// `yyyy-MM-dd`; with one, parsed as `SimpleDateFormat` does.
fn to_date(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let format = format_arg(args, 1)?;
    let mut formats = Formats::default();
    let values = (0..args.rows)
        .map(|r| {
            let Some(s) = s.get(r) else { return Ok(None) };
            Ok(match &format {
                None => parse_default_date(s),
                Some(f) => match f.get(r) {
                    None => None,
                    Some(f) => formats
                        .get(f)?
                        .parse(s, Parse::Lenient)
                        .map(|p| p.utc().date()),
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(
        values
            .into_iter()
            .map(|d| d.map(epoch_days))
            .collect::<Date32Array>(),
    ))
}

/// The format Flink uses when none is given.
const DEFAULT_FORMAT: &str = "yyyy-MM-dd HH:mm:ss";

/// `FROM_UNIXTIME(seconds [, format])`: epoch seconds as a string in the session time zone.
fn from_unixtime(args: &Args) -> Result<ArrayRef> {
    let seconds = args.int(0)?;
    let format = format_arg(args, 1)?;
    let mut formats = Formats::default();
    let values = (0..args.rows)
        .map(|r| {
            let Some(t) = seconds.get(r).and_then(|s| from_epoch(s, TimeUnit::Second)) else {
                return Ok(None);
            };
            let format = match &format {
                None => DEFAULT_FORMAT,
                Some(f) => match f.get(r) {
                    Some(f) => f,
                    None => return Ok(None),
                },
            };
            Ok(Some(formats.get(format)?.format(&t)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(StringArray::from(values)))
}

/// `UNIX_TIMESTAMP()`: now in epoch seconds. `UNIX_TIMESTAMP(string [, format])`: the string
/// (read as `SimpleDateFormat` does, in the session time zone unless it has an offset) in
/// epoch seconds; `-9223372036854775808` when it does not fit.
fn unix_timestamp(args: &Args) -> Result<ArrayRef> {
    if args.count() == 0 {
        let now = Utc::now().timestamp();
        return Ok(Arc::new(Int64Array::from(vec![now; args.rows])));
    }
    let s = args.str(0)?;
    let format = format_arg(args, 1)?;
    let mut formats = Formats::default();
    let values = (0..args.rows)
        .map(|r| {
            let Some(s) = s.get(r) else { return Ok(None) };
            let format = match &format {
                None => DEFAULT_FORMAT,
                Some(f) => match f.get(r) {
                    Some(f) => f,
                    None => return Ok(None),
                },
            };
            let parsed = formats.get(format)?.parse(s, Parse::Lenient);
            // Java's integer division of milliseconds: towards zero.
            Ok(Some(parsed.map_or(i64::MIN, |p| {
                p.utc().and_utc().timestamp_millis() / 1000
            })))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Int64Array::from(values)))
}

/// Refuses a constant precision other than 0 and 3.
fn check_precision(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    match scalars.get(1).copied().flatten() {
        Some(p) if !p.is_null() => match p.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(0 | 3)) => Ok(()),
            other => Err(DataFusionError::Plan(format!(
                "the precision must be 0 (epoch seconds) or 3 (epoch milliseconds), got {other}"
            ))),
        },
        _ => Ok(()),
    }
}

/// `TO_TIMESTAMP_LTZ(epoch [, precision])`: epoch seconds (precision 0) or milliseconds (3,
/// the default) as a TIMESTAMP_LTZ(3).
fn to_timestamp_ltz(args: &Args) -> Result<ArrayRef> {
    let precision = if args.count() > 1 {
        Some(args.int(1)?)
    } else {
        None
    };
    let input = args.array(0);
    let at = |r: usize| if args.is_scalar(0) { 0 } else { r };
    let scale = |r: usize| -> Result<Option<i64>> {
        match &precision {
            None => Ok(Some(1)),
            Some(p) => match p.get(r) {
                None => Ok(None),
                Some(0) => Ok(Some(1000)),
                Some(3) => Ok(Some(1)),
                Some(other) => Err(exec_error(format!(
                    "the precision must be 0 (epoch seconds) or 3 (epoch milliseconds), got \
                     {other}"
                ))),
            },
        }
    };
    let millis: Vec<Option<i64>> = if input.data_type().is_integer() {
        let values = cast(input, &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        (0..args.rows)
            .map(|r| {
                let Some(scale) = scale(r)? else {
                    return Ok(None);
                };
                let v = values.is_valid(at(r)).then(|| values.value(at(r)));
                Ok(v.and_then(|v| v.checked_mul(scale)))
            })
            .collect::<Result<_>>()?
    } else {
        let values = cast(input, &DataType::Float64)?;
        let values = values.as_primitive::<Float64Type>();
        (0..args.rows)
            .map(|r| {
                let Some(scale) = scale(r)? else {
                    return Ok(None);
                };
                let v = values.is_valid(at(r)).then(|| values.value(at(r)));
                // Java's (long) cast: towards zero.
                Ok(v.map(|v| (v * scale as f64) as i64))
            })
            .collect::<Result<_>>()?
    };
    let out: PrimitiveArray<TimestampMillisecondType> = millis.into_iter().collect();
    Ok(Arc::new(out.with_timezone(LTZ_TIME_ZONE)))
}

// ---------------------------------------------------------------------------------------
// Units and arithmetic.

/// A unit of `TIMESTAMPADD`, `TIMESTAMPDIFF`, `FLOOR … TO` and `CEIL … TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    const NAMES: &str = "NANOSECOND, MICROSECOND, MILLISECOND, SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR";

    fn parse(name: &str) -> Option<Unit> {
        let upper = name.trim().to_ascii_uppercase();
        let upper = upper.strip_prefix("SQL_TSI_").unwrap_or(&upper);
        Some(match upper {
            "NANOSECOND" => Unit::Nanosecond,
            "MICROSECOND" | "FRAC_SECOND" => Unit::Microsecond,
            "MILLISECOND" => Unit::Millisecond,
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            _ => return None,
        })
    }

    fn parse_or_error(name: &str) -> Result<Unit> {
        Unit::parse(name).ok_or_else(|| {
            exec_error(format!(
                "unknown time unit '{name}'; use one of {}",
                Unit::NAMES
            ))
        })
    }

    /// Months in one unit, for month-based units.
    fn months(self) -> Option<u32> {
        match self {
            Unit::Month => Some(1),
            Unit::Quarter => Some(3),
            Unit::Year => Some(12),
            _ => None,
        }
    }

    /// `n` units as a duration, for the others.
    fn duration(self, n: i64) -> Option<Duration> {
        match self {
            Unit::Nanosecond => Some(Duration::nanoseconds(n)),
            Unit::Microsecond => Some(Duration::microseconds(n)),
            Unit::Millisecond => Duration::try_milliseconds(n),
            Unit::Second => Duration::try_seconds(n),
            Unit::Minute => Duration::try_minutes(n),
            Unit::Hour => Duration::try_hours(n),
            Unit::Day => Duration::try_days(n),
            Unit::Week => Duration::try_weeks(n),
            Unit::Month | Unit::Quarter | Unit::Year => None,
        }
    }

    /// `t` plus `n` units; month-based units keep the day of month where it exists and clamp
    /// it to the month's last day otherwise.
    fn add(self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        match self.months() {
            Some(per) => add_months(t, n.checked_mul(i64::from(per))?),
            None => t.checked_add_signed(self.duration(n)?),
        }
    }
}

fn add_months(t: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        t.checked_add_months(m)
    } else {
        t.checked_sub_months(m)
    }
}

/// Refuses a constant unit (the first argument) that is not a time unit.
fn check_unit(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    match scalar_str(scalars, 0) {
        Some(unit) if Unit::parse(unit).is_none() => Err(DataFusionError::Plan(format!(
            "unknown time unit '{unit}'; use one of {}",
            Unit::NAMES
        ))),
        _ => Ok(()),
    }
}

/// A unit argument's values, parsed once when constant.
struct Units<'a> {
    col: Col<'a, StringArray>,
    constant: Option<Unit>,
}

impl<'a> Units<'a> {
    fn new(args: &'a Args, i: usize) -> Result<Units<'a>> {
        let col = args.str(i)?;
        let constant = match (args.is_scalar(i), col.get(0)) {
            (true, Some(name)) => Some(Unit::parse_or_error(name)?),
            _ => None,
        };
        Ok(Units { col, constant })
    }

    fn get(&self, row: usize) -> Result<Option<Unit>> {
        if let Some(unit) = self.constant {
            return Ok(Some(unit));
        }
        self.col.get(row).map(Unit::parse_or_error).transpose()
    }
}

/// `TIMESTAMPADD`'s result: the timestamp's type; for a DATE, a DATE when the unit is a day
/// or longer and a TIMESTAMP(3) otherwise.
fn timestampadd_type(types: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
    let t = types.get(2).cloned().unwrap_or(DataType::Null);
    if !matches!(t, DataType::Date32 | DataType::Date64) {
        return Ok(t);
    }
    Ok(match scalar_str(scalars, 0).and_then(Unit::parse) {
        Some(unit) if unit >= Unit::Day => DataType::Date32,
        _ => timestamp_ms(),
    })
}

/// `TIMESTAMPADD(unit, n, t)`.
fn timestampadd(args: &Args) -> Result<ArrayRef> {
    let units = Units::new(args, 0)?;
    let n = args.int(1)?;
    let times = Times::new(args, 2)?;
    let values = (0..args.rows)
        .map(|r| {
            let (Some(unit), Some(n), Some(t)) = (units.get(r)?, n.get(r), times.get(r)) else {
                return Ok(None);
            };
            unit.add(t, n)
                .ok_or_else(|| exec_error(format!("{t} plus {n} {unit:?} is out of range")))
                .map(Some)
        })
        .collect::<Result<Vec<_>>>()?;
    to_temporal(values, &args.return_type)
}

/// Whole months from `a` to `b`: the most `m` with `a + m months <= b` (negated when `b` is
/// before `a`), as Calcite counts them.
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> Option<i64> {
    if b < a {
        return months_between(b, a).map(|m| -m);
    }
    let mut m = (b - a).num_days() / 31;
    while add_months(a, m + 1)? <= b {
        m += 1;
    }
    Some(m)
}

/// `TIMESTAMPDIFF(unit, a, b)`: whole units from `a` to `b`, towards zero.
fn timestampdiff(args: &Args) -> Result<ArrayRef> {
    let units = Units::new(args, 0)?;
    let a = Times::new(args, 1)?;
    let b = Times::new(args, 2)?;
    let values = (0..args.rows)
        .map(|r| {
            let (Some(unit), Some(a), Some(b)) = (units.get(r)?, a.get(r), b.get(r)) else {
                return Ok(None);
            };
            let d = b - a;
            let n = match unit {
                Unit::Nanosecond => d.num_nanoseconds(),
                Unit::Microsecond => d.num_microseconds(),
                Unit::Millisecond => Some(d.num_milliseconds()),
                Unit::Second => Some(d.num_seconds()),
                Unit::Minute => Some(d.num_minutes()),
                Unit::Hour => Some(d.num_hours()),
                Unit::Day => Some(d.num_days()),
                Unit::Week => Some(d.num_weeks()),
                Unit::Month | Unit::Quarter | Unit::Year => {
                    months_between(a, b).map(|m| m / i64::from(unit.months().unwrap_or(1)))
                }
            };
            n.and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| exec_error(format!("{unit:?}s from {a} to {b} overflow an INT")))
                .map(Some)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Int32Array::from(values)))
}

/// `t` rounded down to a whole `unit` (weeks start on Sunday).
fn floor(t: NaiveDateTime, unit: Unit) -> Option<NaiveDateTime> {
    let date = t.date();
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0);
    match unit {
        Unit::Year => day(NaiveDate::from_ymd_opt(date.year(), 1, 1)?),
        Unit::Quarter => day(NaiveDate::from_ymd_opt(
            date.year(),
            date.month0() / 3 * 3 + 1,
            1,
        )?),
        Unit::Month => day(date.with_day(1)?),
        Unit::Week => day(date - Duration::days(date.weekday().num_days_from_sunday().into())),
        Unit::Day => day(date),
        Unit::Hour => t.with_nanosecond(0)?.with_second(0)?.with_minute(0),
        Unit::Minute => t.with_nanosecond(0)?.with_second(0),
        Unit::Second => t.with_nanosecond(0),
        Unit::Millisecond => t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000),
        Unit::Microsecond => t.with_nanosecond(t.nanosecond() / 1_000 * 1_000),
        Unit::Nanosecond => Some(t),
    }
}

/// `FLOOR(t TO unit)` and `CEIL(t TO unit)`, planned as `floor_time`/`ceil_time('UNIT', t)`.
fn round_time(args: &Args, up: bool) -> Result<ArrayRef> {
    let units = Units::new(args, 0)?;
    let times = Times::new(args, 1)?;
    let values = (0..args.rows)
        .map(|r| {
            let (Some(unit), Some(t)) = (units.get(r)?, times.get(r)) else {
                return Ok(None);
            };
            let down = floor(t, unit);
            Ok(match down {
                Some(d) if up && d != t => unit.add(d, 1),
                other => other,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    to_temporal(values, &args.return_type)
}

// ---------------------------------------------------------------------------------------
// Parts.

/// A part `EXTRACT` and `YEAR(…)` … `SECOND(…)` take out of a date or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Millennium,
    Century,
    Decade,
    Year,
    IsoYear,
    Quarter,
    Month,
    /// ISO week of the year.
    Week,
    DayOfYear,
    Day,
    /// 1 (Sunday) to 7 (Saturday).
    DayOfWeek,
    /// 1 (Monday) to 7 (Sunday).
    IsoDayOfWeek,
    Hour,
    Minute,
    Second,
    /// Seconds and milliseconds, in milliseconds.
    Millisecond,
    /// Seconds and microseconds, in microseconds.
    Microsecond,
    /// Seconds and nanoseconds, in nanoseconds.
    Nanosecond,
    /// Seconds since the epoch.
    Epoch,
}

impl Part {
    const NAMES: &str = "MILLENNIUM, CENTURY, DECADE, YEAR, ISOYEAR, QUARTER, MONTH, WEEK, DOY, \
        DAY, DOW, ISODOW, HOUR, MINUTE, SECOND, MILLISECOND, MICROSECOND, NANOSECOND, EPOCH";

    fn parse(name: &str) -> Option<Part> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "MILLENNIUM" => Part::Millennium,
            "CENTURY" => Part::Century,
            "DECADE" => Part::Decade,
            "YEAR" => Part::Year,
            "ISOYEAR" => Part::IsoYear,
            "QUARTER" => Part::Quarter,
            "MONTH" => Part::Month,
            "WEEK" => Part::Week,
            "DOY" | "DAYOFYEAR" => Part::DayOfYear,
            "DAY" | "DAYOFMONTH" => Part::Day,
            "DOW" | "DAYOFWEEK" => Part::DayOfWeek,
            "ISODOW" => Part::IsoDayOfWeek,
            "HOUR" => Part::Hour,
            "MINUTE" => Part::Minute,
            "SECOND" => Part::Second,
            "MILLISECOND" => Part::Millisecond,
            "MICROSECOND" => Part::Microsecond,
            "NANOSECOND" => Part::Nanosecond,
            "EPOCH" => Part::Epoch,
            _ => return None,
        })
    }

    fn of(self, t: NaiveDateTime) -> i64 {
        let year = i64::from(t.year());
        let seconds = i64::from(t.second());
        let nanos = i64::from(t.nanosecond() % 1_000_000_000);
        match self {
            Part::Millennium => (year + 999).div_euclid(1000),
            Part::Century => (year + 99).div_euclid(100),
            Part::Decade => year.div_euclid(10),
            Part::Year => year,
            Part::IsoYear => i64::from(t.iso_week().year()),
            Part::Quarter => i64::from(t.month0() / 3 + 1),
            Part::Month => i64::from(t.month()),
            Part::Week => i64::from(t.iso_week().week()),
            Part::DayOfYear => i64::from(t.ordinal()),
            Part::Day => i64::from(t.day()),
            Part::DayOfWeek => i64::from(t.weekday().number_from_sunday()),
            Part::IsoDayOfWeek => i64::from(t.weekday().number_from_monday()),
            Part::Hour => i64::from(t.hour()),
            Part::Minute => i64::from(t.minute()),
            Part::Second => seconds,
            Part::Millisecond => seconds * 1_000 + nanos / 1_000_000,
            Part::Microsecond => seconds * 1_000_000 + nanos / 1_000,
            Part::Nanosecond => seconds * 1_000_000_000 + nanos,
            Part::Epoch => t.and_utc().timestamp(),
        }
    }
}

/// Refuses a constant part (the first argument) `EXTRACT` does not know.
fn check_part(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    match scalar_str(scalars, 0) {
        Some(part) if Part::parse(part).is_none() => Err(DataFusionError::Plan(format!(
            "cannot extract '{part}'; use one of {}",
            Part::NAMES
        ))),
        _ => Ok(()),
    }
}

/// `part` of every row's date or timestamp (the last argument).
fn parts(args: &Args, part: impl Fn(usize) -> Result<Option<Part>>) -> Result<ArrayRef> {
    let times = Times::new(args, args.count() - 1)?;
    let values = (0..args.rows)
        .map(|r| Ok(part(r)?.zip(times.get(r)).map(|(p, t)| p.of(t))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Int64Array::from(values)))
}

/// `YEAR(t)` and the like.
fn date_part(args: &Args, part: Part) -> Result<ArrayRef> {
    parts(args, |_| Ok(Some(part)))
}

/// `EXTRACT(part FROM t)`.
fn extract(args: &Args) -> Result<ArrayRef> {
    let names = args.str(0)?;
    parts(args, |r| {
        names
            .get(r)
            .map(|name| {
                Part::parse(name).ok_or_else(|| {
                    exec_error(format!(
                        "cannot extract '{name}'; use one of {}",
                        Part::NAMES
                    ))
                })
            })
            .transpose()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    }

    #[test]
    fn months() {
        let jan31 = at(2023, 1, 31, 10, 0, 0);
        assert_eq!(months_between(jan31, at(2023, 2, 28, 10, 0, 0)), Some(1));
        assert_eq!(months_between(jan31, at(2023, 2, 28, 9, 0, 0)), Some(0));
        assert_eq!(months_between(at(2023, 2, 28, 9, 0, 0), jan31), Some(0));
        assert_eq!(months_between(at(2024, 3, 1, 0, 0, 0), jan31), Some(-13));
        assert_eq!(Unit::Month.add(jan31, 1), Some(at(2023, 2, 28, 10, 0, 0)));
        assert_eq!(
            Unit::Year.add(at(2024, 2, 29, 0, 0, 0), -1),
            Some(at(2023, 2, 28, 0, 0, 0))
        );
    }

    #[test]
    fn rounding() {
        let t = at(1994, 9, 27, 13, 14, 15); // a Tuesday
        assert_eq!(floor(t, Unit::Week), Some(at(1994, 9, 25, 0, 0, 0)));
        assert_eq!(floor(t, Unit::Quarter), Some(at(1994, 7, 1, 0, 0, 0)));
        assert_eq!(floor(t, Unit::Hour), Some(at(1994, 9, 27, 13, 0, 0)));
        assert_eq!(Part::DayOfWeek.of(t), 3);
        assert_eq!(Part::Week.of(t), 39);
        assert_eq!(Part::DayOfYear.of(t), 270);
        assert_eq!(Part::Millisecond.of(t), 15_000);
        assert_eq!(Part::Century.of(t), 20);
        assert_eq!(Part::Millennium.of(at(2000, 1, 1, 0, 0, 0)), 2);
    }
}
