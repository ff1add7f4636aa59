//! Arrow columns as PostgreSQL columns: each Arrow type's PostgreSQL type, and values in
//! PostgreSQL's text format, or its binary format for a client that asks for it (NULL as
//! NULL).

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Date64Array, LargeBinaryArray,
};
use arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{NaiveDate, NaiveDateTime};
use pgwire::api::Type;

/// The PostgreSQL type of an Arrow type; types without a match are sent as `text`.
pub(super) fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal32(..) | DataType::Decimal64(..) => Type::NUMERIC,
        DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::VARCHAR,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Null => Type::TEXT,
        _ => Type::TEXT,
    }
}

/// The values of `column` in PostgreSQL's text format, `None` for NULL.
pub(super) fn text_values(column: &ArrayRef) -> Result<Vec<Option<String>>, ArrowError> {
    let n = column.len();
    let each = |f: &dyn Fn(usize) -> String| -> Vec<Option<String>> {
        (0..n).map(|i| (!column.is_null(i)).then(|| f(i))).collect()
    };
    Ok(match column.data_type() {
        DataType::Boolean => {
            let a: &BooleanArray = column.as_boolean();
            each(&|i| if a.value(i) { "t" } else { "f" }.to_string())
        }
        DataType::Int8 => number(column.as_primitive::<Int8Type>(), n),
        DataType::Int16 => number(column.as_primitive::<Int16Type>(), n),
        DataType::Int32 => number(column.as_primitive::<Int32Type>(), n),
        DataType::Int64 => number(column.as_primitive::<Int64Type>(), n),
        DataType::UInt8 => number(column.as_primitive::<UInt8Type>(), n),
        DataType::UInt16 => number(column.as_primitive::<UInt16Type>(), n),
        DataType::UInt32 => number(column.as_primitive::<UInt32Type>(), n),
        DataType::UInt64 => number(column.as_primitive::<UInt64Type>(), n),
        DataType::Float16 => {
            let a = column.as_primitive::<Float16Type>();
            each(&|i| float(f64::from(a.value(i).to_f32())))
        }
        DataType::Float32 => {
            let a = column.as_primitive::<Float32Type>();
            each(&|i| float32(a.value(i)))
        }
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            each(&|i| float(a.value(i)))
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            each(&|i| a.value(i).to_string())
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            each(&|i| a.value(i).to_string())
        }
        DataType::Utf8View => {
            let a = column.as_string_view();
            each(&|i| a.value(i).to_string())
        }
        DataType::Binary => {
            let a: &BinaryArray = column.as_binary();
            each(&|i| bytea(a.value(i)))
        }
        DataType::LargeBinary => {
            let a: &LargeBinaryArray = column.as_binary();
            each(&|i| bytea(a.value(i)))
        }
        DataType::Date32 => {
            let a: &Date32Array = column.as_primitive();
            each(&|i| date(a.value_as_date(i)))
        }
        DataType::Date64 => {
            let a: &Date64Array = column.as_primitive();
            each(&|i| date(a.value_as_date(i)))
        }
        DataType::Timestamp(unit, tz) => {
            let with_tz = tz.is_some();
            let at = |i: usize| -> Option<NaiveDateTime> {
                match unit {
                    TimeUnit::Second => column
                        .as_primitive::<TimestampSecondType>()
                        .value_as_datetime(i),
                    TimeUnit::Millisecond => column
                        .as_primitive::<TimestampMillisecondType>()
                        .value_as_datetime(i),
                    TimeUnit::Microsecond => column
                        .as_primitive::<TimestampMicrosecondType>()
                        .value_as_datetime(i),
                    TimeUnit::Nanosecond => column
                        .as_primitive::<TimestampNanosecondType>()
                        .value_as_datetime(i),
                }
            };
            each(&|i| timestamp(at(i), with_tz))
        }
        DataType::List(_) => {
            let a = column.as_list::<i32>();
            let items = (0..n)
                .map(|i| match a.is_null(i) {
                    true => Ok(None),
                    false => text_values(&a.value(i)).map(|v| Some(array(v))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(items);
        }
        DataType::LargeList(_) => {
            let a = column.as_list::<i64>();
            let items = (0..n)
                .map(|i| match a.is_null(i) {
                    true => Ok(None),
                    false => text_values(&a.value(i)).map(|v| Some(array(v))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(items);
        }
        // Decimals, and every other type, as Arrow writes them.
        _ => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            each(&|i| formatter.value(i).to_string())
        }
    })
}

/// The values of `column` as the client asked for them: text, or PostgreSQL's binary
/// format of the column's [`pg_type`].
pub(super) fn values(column: &ArrayRef, binary: bool) -> Result<Vec<Option<Vec<u8>>>, ArrowError> {
    let text = || -> Result<Vec<Option<Vec<u8>>>, ArrowError> {
        Ok(text_values(column)?
            .into_iter()
            .map(|v| v.map(String::into_bytes))
            .collect())
    };
    if !binary {
        return text();
    }
    let n = column.len();
    let each = |f: &dyn Fn(usize) -> Vec<u8>| -> Vec<Option<Vec<u8>>> {
        (0..n).map(|i| (!column.is_null(i)).then(|| f(i))).collect()
    };
    /// Days from the Unix epoch to PostgreSQL's, 2000-01-01.
    const PG_EPOCH_DAYS: i64 = 10_957;
    const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;
    Ok(match column.data_type() {
        DataType::Boolean => {
            let a = column.as_boolean();
            each(&|i| vec![u8::from(a.value(i))])
        }
        DataType::Int8 => {
            let a = column.as_primitive::<Int8Type>();
            each(&|i| i16::from(a.value(i)).to_be_bytes().to_vec())
        }
        DataType::UInt8 => {
            let a = column.as_primitive::<UInt8Type>();
            each(&|i| i16::from(a.value(i)).to_be_bytes().to_vec())
        }
        DataType::Int16 => {
            let a = column.as_primitive::<Int16Type>();
            each(&|i| a.value(i).to_be_bytes().to_vec())
        }
        DataType::UInt16 => {
            let a = column.as_primitive::<UInt16Type>();
            each(&|i| i32::from(a.value(i)).to_be_bytes().to_vec())
        }
        DataType::Int32 => {
            let a = column.as_primitive::<Int32Type>();
            each(&|i| a.value(i).to_be_bytes().to_vec())
        }
        DataType::UInt32 => {
            let a = column.as_primitive::<UInt32Type>();
            each(&|i| i64::from(a.value(i)).to_be_bytes().to_vec())
        }
        DataType::Int64 => {
            let a = column.as_primitive::<Int64Type>();
            each(&|i| a.value(i).to_be_bytes().to_vec())
        }
        DataType::Float16 => {
            let a = column.as_primitive::<Float16Type>();
            each(&|i| a.value(i).to_f32().to_be_bytes().to_vec())
        }
        DataType::Float32 => {
            let a = column.as_primitive::<Float32Type>();
            each(&|i| a.value(i).to_be_bytes().to_vec())
        }
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            each(&|i| a.value(i).to_be_bytes().to_vec())
        }
        DataType::Binary => {
            let a: &BinaryArray = column.as_binary();
            each(&|i| a.value(i).to_vec())
        }
        DataType::LargeBinary => {
            let a: &LargeBinaryArray = column.as_binary();
            each(&|i| a.value(i).to_vec())
        }
        DataType::Date32 => {
            let a: &Date32Array = column.as_primitive();
            each(&|i| {
                ((i64::from(a.value(i)) - PG_EPOCH_DAYS) as i32)
                    .to_be_bytes()
                    .to_vec()
            })
        }
        DataType::Date64 => {
            let a: &Date64Array = column.as_primitive();
            each(&|i| {
                ((a.value(i).div_euclid(86_400_000) - PG_EPOCH_DAYS) as i32)
                    .to_be_bytes()
                    .to_vec()
            })
        }
        DataType::Timestamp(unit, _) => {
            let micros = |i: usize| -> i64 {
                match unit {
                    TimeUnit::Second => column
                        .as_primitive::<TimestampSecondType>()
                        .value(i)
                        .saturating_mul(1_000_000),
                    TimeUnit::Millisecond => column
                        .as_primitive::<TimestampMillisecondType>()
                        .value(i)
                        .saturating_mul(1_000),
                    TimeUnit::Microsecond => {
                        column.as_primitive::<TimestampMicrosecondType>().value(i)
                    }
                    TimeUnit::Nanosecond => column
                        .as_primitive::<TimestampNanosecondType>()
                        .value(i)
                        .div_euclid(1_000),
                }
            };
            each(&|i| {
                micros(i)
                    .saturating_sub(PG_EPOCH_MICROS)
                    .to_be_bytes()
                    .to_vec()
            })
        }
        data_type if pg_type(data_type) == Type::NUMERIC => text_values(column)?
            .into_iter()
            .map(|v| v.map(|text| numeric(&text)))
            .collect(),
        // Strings, and every type sent as text: text's binary format is its UTF-8 bytes.
        _ => text()?,
    })
}

/// A decimal number's text (`-123.45`) in PostgreSQL's binary `numeric` format: digit
/// count, weight (of the first base-10000 digit), sign, display scale, then the digits.
fn numeric(text: &str) -> Vec<u8> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int_part = int_part.trim_start_matches('0');
    let group = |s: &str| s.parse::<i16>().unwrap_or(0);
    // Base-10000 digits of the integer part, from the left, the first one short.
    let mut digits: Vec<i16> = Vec::new();
    let first = int_part.len() % 4;
    if first > 0 {
        digits.push(group(&int_part[..first]));
    }
    digits.extend(
        int_part.as_bytes()[first..]
            .chunks(4)
            .map(|c| group(std::str::from_utf8(c).unwrap_or("0"))),
    );
    let mut weight = digits.len() as i16 - 1;
    // The fraction's, padded with zeros to whole groups.
    for chunk in frac_part.as_bytes().chunks(4) {
        let mut padded = std::str::from_utf8(chunk).unwrap_or("0").to_string();
        while padded.len() < 4 {
            padded.push('0');
        }
        digits.push(group(&padded));
    }
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    out.extend((digits.len() as i16).to_be_bytes());
    out.extend(weight.to_be_bytes());
    out.extend(
        (if negative && !digits.is_empty() {
            0x4000u16
        } else {
            0
        })
        .to_be_bytes(),
    );
    out.extend((frac_part.len() as i16).to_be_bytes());
    for d in digits {
        out.extend(d.to_be_bytes());
    }
    out
}

/// Integers as decimal text.
fn number<T>(a: &arrow::array::PrimitiveArray<T>, n: usize) -> Vec<Option<String>>
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: ToString,
{
    (0..n)
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

/// A double as PostgreSQL writes it (`Infinity`, `-Infinity`, `NaN` for the special values).
fn float(v: f64) -> String {
    match v {
        f64::INFINITY => "Infinity".into(),
        f64::NEG_INFINITY => "-Infinity".into(),
        v if v.is_nan() => "NaN".into(),
        v => v.to_string(),
    }
}

/// A real, printed with its own shortest representation (not widened to a double's).
fn float32(v: f32) -> String {
    match v.is_finite() {
        true => v.to_string(),
        false => float(f64::from(v)),
    }
}

/// An array's items (`None` for NULL) as PostgreSQL's array text: `{a,"b c",NULL}`.
fn array(items: Vec<Option<String>>) -> String {
    let item = |v: Option<String>| match v {
        None => "NULL".to_string(),
        Some(v)
            if v.is_empty()
                || v.eq_ignore_ascii_case("NULL")
                || v.chars()
                    .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace()) =>
        {
            format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
        }
        Some(v) => v,
    };
    let items: Vec<String> = items.into_iter().map(item).collect();
    format!("{{{}}}", items.join(","))
}

/// Bytes as PostgreSQL's hex `bytea` text.
fn bytea(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn date(d: Option<NaiveDate>) -> String {
    d.map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, with `+00` for a time with a zone (sent in UTC, the
/// session's time zone).
fn timestamp(at: Option<NaiveDateTime>, with_tz: bool) -> String {
    let Some(at) = at else {
        return String::new();
    };
    let mut text = at.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = at.and_utc().timestamp_subsec_nanos();
    if nanos > 0 {
        let fraction = match nanos % 1000 {
            0 => format!("{:06}", nanos / 1000),
            _ => format!("{nanos:09}"),
        };
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    if with_tz {
        text.push_str("+00");
    }
    text
}

/// The UTC time `seconds` after the epoch; for tests.
#[cfg(test)]
fn utc(seconds: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp(seconds, 0).map(|d| d.naive_utc())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Decimal128Array, Float64Array, Int8Array, ListArray, StringArray,
        TimestampMicrosecondArray, TimestampSecondArray,
    };

    use super::*;

    #[test]
    fn values_are_written_as_postgres_text() {
        let column: ArrayRef = Arc::new(Int8Array::from(vec![Some(-3), None]));
        assert_eq!(text_values(&column).unwrap(), [Some("-3".into()), None]);
        assert_eq!(pg_type(column.data_type()), Type::INT2);
        let column: ArrayRef = Arc::new(Float64Array::from(vec![1.5, f64::INFINITY, f64::NAN]));
        assert_eq!(
            text_values(&column).unwrap(),
            [
                Some("1.5".into()),
                Some("Infinity".into()),
                Some("NaN".into())
            ]
        );
        let column: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        assert_eq!(
            text_values(&column).unwrap(),
            [Some("t".into()), Some("f".into()), None]
        );
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("a b"), None]));
        assert_eq!(text_values(&column).unwrap(), [Some("a b".into()), None]);
        let column: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(12345), Some(-5), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(
            text_values(&column).unwrap(),
            [Some("123.45".into()), Some("-0.05".into()), None]
        );
        assert_eq!(pg_type(column.data_type()), Type::NUMERIC);
    }

    #[test]
    fn numerics_in_binary() {
        let parts = |b: Vec<u8>| -> Vec<i16> {
            b.chunks(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]))
                .collect()
        };
        // ndigits, weight, sign, dscale, digits…
        assert_eq!(parts(numeric("123.45")), [2, 0, 0, 2, 123, 4500]);
        assert_eq!(parts(numeric("-0.05")), [1, -1, 0x4000, 2, 500]);
        assert_eq!(parts(numeric("10000")), [1, 1, 0, 0, 1]);
        assert_eq!(
            parts(numeric("123456789.1")),
            [4, 2, 0, 1, 1, 2345, 6789, 1000]
        );
        assert_eq!(parts(numeric("0.00")), [0, 0, 0, 2]);
        let column: ArrayRef = Arc::new(TimestampSecondArray::from(vec![946_684_801]));
        assert_eq!(
            values(&column, true).unwrap(),
            [Some(1_000_000i64.to_be_bytes().to_vec())]
        );
        let column: ArrayRef = Arc::new(Int8Array::from(vec![Some(-3), None]));
        assert_eq!(
            values(&column, true).unwrap(),
            [Some((-3i16).to_be_bytes().to_vec()), None]
        );
    }

    #[test]
    fn timestamps_of_every_unit_and_zone() {
        let column: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![Some(1_700_000_000), None]));
        assert_eq!(
            text_values(&column).unwrap(),
            [Some("2023-11-14 22:13:20".into()), None]
        );
        assert_eq!(pg_type(column.data_type()), Type::TIMESTAMP);
        let column: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![1_700_000_000_250_000]).with_timezone("UTC"),
        );
        assert_eq!(
            text_values(&column).unwrap(),
            [Some("2023-11-14 22:13:20.25+00".into())]
        );
        assert_eq!(pg_type(column.data_type()), Type::TIMESTAMPTZ);
        let column: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            Some(vec![]),
            None,
        ]));
        assert_eq!(
            text_values(&column).unwrap(),
            [Some("{1,NULL,3}".into()), Some("{}".into()), None]
        );
        assert_eq!(
            array(vec![
                Some("a b".into()),
                Some("".into()),
                Some("x\"y".into())
            ]),
            "{\"a b\",\"\",\"x\\\"y\"}"
        );
        let column: ArrayRef = Arc::new(Date32Array::from(vec![19_675]));
        assert_eq!(text_values(&column).unwrap(), [Some("2023-11-14".into())]);
        assert_eq!(timestamp(utc(0), false), "1970-01-01 00:00:00");
    }
}
