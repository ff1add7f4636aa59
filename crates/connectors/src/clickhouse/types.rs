//! ClickHouse column types and Arrow values encoded as RowBinary for them.
//!
//! | ClickHouse type | Arrow values taken | RowBinary |
//! |---|---|---|
//! | `Int8`…`Int64`, `UInt8`…`UInt64`, `Bool` | integers, booleans | little-endian, range-checked |
//! | `Float32`, `Float64` | integers, floats, decimals | IEEE 754 |
//! | `Decimal(P, S)`, `Decimal32/64/128(S)` | integers, floats, decimals | rescaled to `S`, checked against `P` digits |
//! | `String`, `FixedString(N)` | strings, binaries | length-prefixed; zero-padded to `N`, longer refused |
//! | `Date` | dates | days since 1970 (up to 2149-06-06) |
//! | `DateTime[('tz')]` | timestamps, dates | seconds since 1970, rounded down (up to 2106) |
//! | `DateTime64(p[, 'tz'])` (ClickHouse 20.1 on) | timestamps, dates | ticks of 10^-p s |
//! | `Nullable(T)` | as `T`, or NULL | a null flag, then `T` |
//!
//! `LowCardinality(T)` is written as `T`. A `TIMESTAMP` without time zone is taken as UTC,
//! as Spate keeps it; the column's time zone only changes how ClickHouse shows it.
//!
//! A value its column cannot hold (out of range, too long, NULL in a column that is not
//! `Nullable`) fails its row only, with the reason: the sink sends the row to the dead letters.

use std::fmt;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    LargeBinaryArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int64Type, TimeUnit, UInt64Type,
};
use arrow::error::ArrowError;

/// A ClickHouse column type the sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChType {
    /// `Int8`…`Int64` (`signed`) or `UInt8`…`UInt64`, of `bytes` bytes; `Bool` is `UInt8`.
    Int {
        /// Whether negative values are taken.
        signed: bool,
        /// The width: 1, 2, 4 or 8.
        bytes: u8,
    },
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Decimal(precision, scale)`.
    Decimal {
        /// Digits in all, 1 to 38.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// `String`.
    String,
    /// `FixedString(N)`.
    FixedString(usize),
    /// `Date`: days since 1970-01-01, 16 bits.
    Date,
    /// `DateTime`: seconds since 1970-01-01 UTC, 32 bits.
    DateTime,
    /// `DateTime64(precision)`: ticks of 10^-precision s since 1970-01-01 UTC, 64 bits.
    DateTime64(u32),
    /// `Nullable(T)`.
    Nullable(Box<ChType>),
}

/// What the sink writes, for messages.
const WRITTEN: &str = "Spate writes (Nullable and LowCardinality of) Int8…Int64, UInt8…UInt64, \
Bool, Float32, Float64, Decimal, String, FixedString, Date, DateTime and DateTime64 columns";

impl ChType {
    /// Parses a type as `DESCRIBE TABLE` writes it, e.g. `Nullable(DateTime('UTC'))`.
    pub fn parse(text: &str) -> Result<ChType, String> {
        let text = text.trim();
        let unknown = || format!("the ClickHouse type {text} is not written by Spate: {WRITTEN}");
        let (name, args) = match text.split_once('(') {
            Some((name, rest)) => {
                let args = rest.strip_suffix(')').ok_or_else(unknown)?;
                (name.trim(), Some(args))
            }
            None => (text, None),
        };
        match (name, args) {
            ("Nullable", Some(inner)) => {
                return Ok(ChType::Nullable(Box::new(ChType::parse(inner)?)));
            }
            ("LowCardinality", Some(inner)) => return ChType::parse(inner),
            _ => {}
        }
        let args: Vec<&str> = args
            .map(|a| a.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let number = |arg: &str, max: u32| arg.parse::<u32>().ok().filter(|n| *n <= max);
        let decimal = |precision: u32, scale: &str| match number(scale, precision) {
            Some(scale) if (1..=38).contains(&precision) => Ok(ChType::Decimal {
                precision: precision as u8,
                scale: scale as i8,
            }),
            _ => Err(unknown()),
        };
        let int = |signed, bytes| Ok(ChType::Int { signed, bytes });
        match (name, args.as_slice()) {
            ("Int8", []) => int(true, 1),
            ("Int16", []) => int(true, 2),
            ("Int32", []) => int(true, 4),
            ("Int64", []) => int(true, 8),
            ("UInt8" | "Bool", []) => int(false, 1),
            ("UInt16", []) => int(false, 2),
            ("UInt32", []) => int(false, 4),
            ("UInt64", []) => int(false, 8),
            ("Float32", []) => Ok(ChType::Float32),
            ("Float64", []) => Ok(ChType::Float64),
            ("String", []) => Ok(ChType::String),
            ("FixedString", [n]) => number(n, u32::MAX)
                .filter(|n| *n > 0)
                .map(|n| ChType::FixedString(n as usize))
                .ok_or_else(unknown),
            ("Date", []) => Ok(ChType::Date),
            ("DateTime", [] | [_]) => Ok(ChType::DateTime),
            ("DateTime64", [p] | [p, _]) => {
                number(p, 9).map(ChType::DateTime64).ok_or_else(unknown)
            }
            ("Decimal", [p, s]) => decimal(number(p, 38).ok_or_else(unknown)?, s),
            ("Decimal32", [s]) => decimal(9, s),
            ("Decimal64", [s]) => decimal(18, s),
            ("Decimal128", [s]) => decimal(38, s),
            _ => Err(unknown()),
        }
    }

    /// The type without `Nullable`, and whether it was `Nullable`.
    fn split(&self) -> (&ChType, bool) {
        match self {
            ChType::Nullable(inner) => (inner, true),
            other => (other, false),
        }
    }

    /// Checks that values of `data_type` can be written to a column of this type.
    pub fn check_source(&self, data_type: &DataType) -> Result<(), String> {
        let (base, _) = self.split();
        let numeric = data_type.is_integer()
            || data_type.is_floating()
            || matches!(
                data_type,
                DataType::Decimal128(..) | DataType::Decimal256(..)
            );
        let takes = match base {
            _ if *data_type == DataType::Null => true,
            ChType::Int { .. } => data_type.is_integer() || *data_type == DataType::Boolean,
            ChType::Float32 | ChType::Float64 | ChType::Decimal { .. } => numeric,
            ChType::String | ChType::FixedString(_) => matches!(
                data_type,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            ),
            ChType::Date => matches!(data_type, DataType::Date32 | DataType::Date64),
            ChType::DateTime | ChType::DateTime64(_) => matches!(
                data_type,
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            ),
            ChType::Nullable(_) => false,
        };
        let castable = base
            .canonical()
            .iter()
            .all(|target| can_cast_types(data_type, target));
        match takes && castable {
            true => Ok(()),
            false => Err(format!(
                "{data_type} values cannot be written to a ClickHouse {self} column"
            )),
        }
    }

    /// The Arrow types values pass through on their way to this (non-`Nullable`) type.
    fn canonical(&self) -> Vec<DataType> {
        match self {
            ChType::Int { .. } => vec![DataType::Int64],
            ChType::Float32 | ChType::Float64 => vec![DataType::Float64],
            ChType::Decimal { scale, .. } => vec![DataType::Decimal128(38, *scale)],
            ChType::String | ChType::FixedString(_) => vec![DataType::LargeBinary],
            ChType::Date => vec![DataType::Date32],
            ChType::DateTime | ChType::DateTime64(_) => {
                vec![
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    DataType::Int64,
                ]
            }
            ChType::Nullable(inner) => inner.canonical(),
        }
    }
}

impl fmt::Display for ChType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChType::Int { signed, bytes } => {
                write!(f, "{}Int{}", if *signed { "" } else { "U" }, bytes * 8)
            }
            ChType::Float32 => write!(f, "Float32"),
            ChType::Float64 => write!(f, "Float64"),
            ChType::Decimal { precision, scale } => write!(f, "Decimal({precision}, {scale})"),
            ChType::String => write!(f, "String"),
            ChType::FixedString(n) => write!(f, "FixedString({n})"),
            ChType::Date => write!(f, "Date"),
            ChType::DateTime => write!(f, "DateTime"),
            ChType::DateTime64(p) => write!(f, "DateTime64({p})"),
            ChType::Nullable(inner) => write!(f, "Nullable({inner})"),
        }
    }
}

/// A column of a batch converted for one ClickHouse type, ready to encode row by row.
pub struct Prepared {
    /// The column as it came, for messages.
    original: ArrayRef,
    /// Which of the original values are NULL.
    original_nulls: Option<NullBuffer>,
    values: Values,
}

/// Values in the form their ClickHouse type is encoded from.
enum Values {
    Signed(Int64Array),
    Unsigned(UInt64Array),
    Float(Float64Array),
    Decimal(Decimal128Array),
    Bytes(LargeBinaryArray),
    Days(Date32Array),
    /// Time since 1970-01-01 UTC, in `per_second`ths of a second.
    Ticks {
        values: Int64Array,
        per_second: i64,
    },
}

impl Values {
    fn is_null(&self, row: usize) -> bool {
        match self {
            Values::Signed(a) => a.is_null(row),
            Values::Unsigned(a) => a.is_null(row),
            Values::Float(a) => a.is_null(row),
            Values::Decimal(a) => a.is_null(row),
            Values::Bytes(a) => a.is_null(row),
            Values::Days(a) => a.is_null(row),
            Values::Ticks { values, .. } => values.is_null(row),
        }
    }
}

/// Converts `array` for columns of type `ty` (as checked by [`ChType::check_source`]).
pub fn prepare(ty: &ChType, array: &ArrayRef) -> Result<Prepared, ArrowError> {
    let (base, _) = ty.split();
    let values = match base {
        ChType::Int { .. } if *array.data_type() == DataType::UInt64 => {
            Values::Unsigned(array.as_primitive::<UInt64Type>().clone())
        }
        ChType::Int { .. } => Values::Signed(
            cast(array, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone(),
        ),
        ChType::Float32 | ChType::Float64 => Values::Float(
            cast(array, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .clone(),
        ),
        ChType::Decimal { scale, .. } => Values::Decimal(
            cast(array, &DataType::Decimal128(38, *scale))?
                .as_primitive::<Decimal128Type>()
                .clone(),
        ),
        ChType::String | ChType::FixedString(_) => Values::Bytes(
            cast(array, &DataType::LargeBinary)?
                .as_binary::<i64>()
                .clone(),
        ),
        ChType::Date => Values::Days(
            cast(array, &DataType::Date32)?
                .as_primitive::<Date32Type>()
                .clone(),
        ),
        ChType::DateTime | ChType::DateTime64(_) => {
            let (timestamps, per_second) = match array.data_type() {
                DataType::Timestamp(unit, _) => (array.clone(), per_second(*unit)),
                _ => (
                    cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
                    1_000,
                ),
            };
            Values::Ticks {
                values: cast(&timestamps, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
                per_second,
            }
        }
        ChType::Nullable(_) => unreachable!("split removes Nullable"),
    };
    Ok(Prepared {
        original_nulls: array.logical_nulls(),
        original: array.clone(),
        values,
    })
}

fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

impl Prepared {
    /// Appends the RowBinary encoding of row `row` as a value of type `ty` to `out`, or says
    /// why the value does not fit (leaving `out` partly written: the caller drops the row).
    pub fn encode(&self, ty: &ChType, row: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let (base, nullable) = ty.split();
        if self.values.is_null(row) {
            let was_null = self.original_nulls.as_ref().is_some_and(|n| n.is_null(row));
            return match (was_null, nullable) {
                (false, _) => Err(format!("{} does not fit {base}", self.show(row))),
                (true, false) => Err(format!("NULL in a column of type {base}, not Nullable")),
                (true, true) => {
                    out.push(1);
                    Ok(())
                }
            };
        }
        if nullable {
            out.push(0);
        }
        let out_of_range = || format!("{} is out of the range of {base}", self.show(row));
        match (base, &self.values) {
            (ChType::Int { signed, bytes }, Values::Signed(a)) => {
                let v = a.value(row);
                let bits = u32::from(*bytes) * 8;
                let fits = match signed {
                    true => bits == 64 || (-(1i64 << (bits - 1))..1i64 << (bits - 1)).contains(&v),
                    false => v >= 0 && (bits == 64 || v < 1i64 << bits),
                };
                if !fits {
                    return Err(out_of_range());
                }
                out.extend_from_slice(&v.to_le_bytes()[..usize::from(*bytes)]);
            }
            (ChType::Int { signed, bytes }, Values::Unsigned(a)) => {
                let v = a.value(row);
                let bits = u32::from(*bytes) * 8 - u32::from(*signed);
                if bits < 64 && v >= 1u64 << bits {
                    return Err(out_of_range());
                }
                out.extend_from_slice(&v.to_le_bytes()[..usize::from(*bytes)]);
            }
            (ChType::Float64, Values::Float(a)) => {
                out.extend_from_slice(&a.value(row).to_le_bytes())
            }
            (ChType::Float32, Values::Float(a)) => {
                let v = a.value(row);
                let narrow = v as f32;
                if narrow.is_infinite() && v.is_finite() {
                    return Err(out_of_range());
                }
                out.extend_from_slice(&narrow.to_le_bytes());
            }
            (ChType::Decimal { precision, .. }, Values::Decimal(a)) => {
                let v = a.value(row);
                if v.unsigned_abs() >= 10u128.pow(u32::from(*precision)) {
                    return Err(out_of_range());
                }
                let width = match precision {
                    0..=9 => 4,
                    10..=18 => 8,
                    _ => 16,
                };
                out.extend_from_slice(&v.to_le_bytes()[..width]);
            }
            (ChType::String, Values::Bytes(a)) => {
                let v = a.value(row);
                write_length(out, v.len());
                out.extend_from_slice(v);
            }
            (ChType::FixedString(n), Values::Bytes(a)) => {
                let v = a.value(row);
                if v.len() > *n {
                    return Err(format!(
                        "{} is {} bytes long, longer than {base}",
                        self.show(row),
                        v.len()
                    ));
                }
                out.extend_from_slice(v);
                out.resize(out.len() + n - v.len(), 0);
            }
            (ChType::Date, Values::Days(a)) => {
                let days = u16::try_from(a.value(row)).map_err(|_| out_of_range())?;
                out.extend_from_slice(&days.to_le_bytes());
            }
            (ChType::DateTime, Values::Ticks { values, per_second }) => {
                let seconds = values.value(row).div_euclid(*per_second);
                let seconds = u32::try_from(seconds).map_err(|_| out_of_range())?;
                out.extend_from_slice(&seconds.to_le_bytes());
            }
            (ChType::DateTime64(precision), Values::Ticks { values, per_second }) => {
                let ticks = (i128::from(values.value(row)) * 10i128.pow(*precision))
                    .div_euclid(i128::from(*per_second));
                let ticks = i64::try_from(ticks).map_err(|_| out_of_range())?;
                out.extend_from_slice(&ticks.to_le_bytes());
            }
            _ => unreachable!("prepare converts values for their type"),
        }
        Ok(())
    }

    /// Row `row`'s value as shown in messages.
    fn show(&self, row: usize) -> String {
        arrow::util::display::array_value_to_string(&self.original, row)
            .unwrap_or_else(|_| "the value".into())
    }
}

/// Appends a string's length as RowBinary does: LEB128.
fn write_length(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
        NullArray, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray, UInt64Array,
    };

    use super::*;

    fn ty(text: &str) -> ChType {
        ChType::parse(text).unwrap()
    }

    /// Each row of `array` encoded for `text`, or the reason it does not fit.
    fn encode(text: &str, array: ArrayRef) -> Vec<Result<Vec<u8>, String>> {
        let t = ty(text);
        t.check_source(array.data_type()).unwrap();
        let prepared = prepare(&t, &array).unwrap();
        (0..array.len())
            .map(|row| {
                let mut out = Vec::new();
                prepared.encode(&t, row, &mut out).map(|()| out)
            })
            .collect()
    }

    #[test]
    fn types_parse_as_describe_writes_them() {
        assert_eq!(
            ty("Nullable(DateTime('Europe/Berlin'))"),
            ChType::Nullable(Box::new(ChType::DateTime))
        );
        assert_eq!(ty("LowCardinality(String)"), ChType::String);
        assert_eq!(
            ty("Decimal(10, 2)"),
            ChType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            ty("Decimal64(4)"),
            ChType::Decimal {
                precision: 18,
                scale: 4
            }
        );
        assert_eq!(ty("DateTime64(3, 'UTC')"), ChType::DateTime64(3));
        assert_eq!(ty("FixedString(16)"), ChType::FixedString(16));
        assert_eq!(
            ty("Bool"),
            ChType::Int {
                signed: false,
                bytes: 1
            }
        );
        for bad in [
            "Array(Int32)",
            "Decimal(40, 2)",
            "Decimal(5, 6)",
            "DateTime64(12)",
            "Enum8('a' = 1)",
        ] {
            let e = ChType::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("Spate writes"), "{e}");
        }
    }

    #[test]
    fn sources_are_checked_against_the_column_type() {
        assert!(ty("UInt8").check_source(&DataType::Boolean).is_ok());
        assert!(ty("Nullable(Int32)").check_source(&DataType::Null).is_ok());
        assert!(
            ty("Decimal(10, 2)")
                .check_source(&DataType::Float64)
                .is_ok()
        );
        assert!(ty("DateTime").check_source(&DataType::Date32).is_ok());
        assert_eq!(
            ty("Int32").check_source(&DataType::Utf8).unwrap_err(),
            "Utf8 values cannot be written to a ClickHouse Int32 column"
        );
        assert!(
            ty("Date")
                .check_source(&DataType::Timestamp(TimeUnit::Millisecond, None))
                .is_err()
        );
        assert!(ty("String").check_source(&DataType::Int64).is_err());
    }

    #[test]
    fn integers_are_range_checked_per_row() {
        let rows = encode("UInt8", Arc::new(Int64Array::from(vec![0, 255, 256, -1])));
        assert_eq!(rows[0], Ok(vec![0]));
        assert_eq!(rows[1], Ok(vec![255]));
        assert_eq!(rows[2], Err("256 is out of the range of UInt8".into()));
        assert_eq!(rows[3], Err("-1 is out of the range of UInt8".into()));
        let rows = encode("Int16", Arc::new(Int32Array::from(vec![-32768, 32768])));
        assert_eq!(rows[0], Ok((-32768i16).to_le_bytes().to_vec()));
        assert!(rows[1].is_err());
        let rows = encode("Int64", Arc::new(UInt64Array::from(vec![1, u64::MAX])));
        assert_eq!(rows[0], Ok(1i64.to_le_bytes().to_vec()));
        assert!(rows[1].is_err());
        let rows = encode("UInt64", Arc::new(UInt64Array::from(vec![u64::MAX])));
        assert_eq!(rows[0], Ok(u64::MAX.to_le_bytes().to_vec()));
        let rows = encode("Bool", Arc::new(BooleanArray::from(vec![true, false])));
        assert_eq!(rows, vec![Ok(vec![1]), Ok(vec![0])]);
    }

    #[test]
    fn nulls_need_a_nullable_column() {
        let array: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None]));
        let rows = encode("Nullable(Int32)", array.clone());
        assert_eq!(rows[0], Ok(vec![0, 7, 0, 0, 0]));
        assert_eq!(rows[1], Ok(vec![1]));
        let rows = encode("Int32", array);
        assert_eq!(
            rows[1],
            Err("NULL in a column of type Int32, not Nullable".into())
        );
        let rows = encode("Nullable(String)", Arc::new(NullArray::new(1)));
        assert_eq!(rows[0], Ok(vec![1]));
        assert!(encode("String", Arc::new(NullArray::new(1)))[0].is_err());
    }

    #[test]
    fn strings_are_length_prefixed_or_padded() {
        let long = "x".repeat(200);
        let rows = encode(
            "String",
            Arc::new(StringArray::from(vec!["ab", long.as_str()])),
        );
        assert_eq!(rows[0], Ok(vec![2, b'a', b'b']));
        let encoded = rows[1].as_ref().unwrap();
        assert_eq!(&encoded[..2], &[0xc8, 0x01]);
        assert_eq!(encoded.len(), 202);
        let rows = encode(
            "FixedString(3)",
            Arc::new(StringArray::from(vec!["ab", "abcd"])),
        );
        assert_eq!(rows[0], Ok(vec![b'a', b'b', 0]));
        assert_eq!(
            rows[1],
            Err("abcd is 4 bytes long, longer than FixedString(3)".into())
        );
    }

    #[test]
    fn dates_and_times_count_from_1970() {
        let rows = encode("Date", Arc::new(Date32Array::from(vec![19000, -1, 70000])));
        assert_eq!(rows[0], Ok(19000u16.to_le_bytes().to_vec()));
        assert!(rows[1].is_err() && rows[2].is_err());
        let ms = TimestampMillisecondArray::from(vec![1_700_000_000_999, -1])
            .with_timezone("Europe/Berlin");
        let rows = encode("DateTime('UTC')", Arc::new(ms.clone()));
        assert_eq!(rows[0], Ok(1_700_000_000u32.to_le_bytes().to_vec()));
        assert!(rows[1].is_err(), "before 1970");
        let rows = encode("DateTime64(3)", Arc::new(ms));
        assert_eq!(rows[1], Ok((-1i64).to_le_bytes().to_vec()));
        let us = TimestampMicrosecondArray::from(vec![1_500_001]);
        assert_eq!(
            encode("DateTime64(9)", Arc::new(us.clone()))[0],
            Ok(1_500_001_000i64.to_le_bytes().to_vec())
        );
        assert_eq!(
            encode("DateTime64(0)", Arc::new(us))[0],
            Ok(1i64.to_le_bytes().to_vec())
        );
        let rows = encode("DateTime", Arc::new(Date32Array::from(vec![1])));
        assert_eq!(rows[0], Ok(86_400u32.to_le_bytes().to_vec()));
    }

    #[test]
    fn decimals_and_floats_take_their_width() {
        let decimals = Decimal128Array::from(vec![12_345, 99_999_999_999])
            .with_precision_and_scale(12, 2)
            .unwrap();
        let rows = encode("Decimal(10, 2)", Arc::new(decimals.clone()));
        assert_eq!(rows[0], Ok(12_345i64.to_le_bytes().to_vec()));
        assert_eq!(
            rows[1],
            Err("999999999.99 is out of the range of Decimal(10, 2)".into())
        );
        let rows = encode("Decimal32(3)", Arc::new(decimals));
        assert_eq!(rows[0], Ok(123_450i32.to_le_bytes().to_vec()));
        let rows = encode("Decimal128(1)", Arc::new(Int64Array::from(vec![-3])));
        assert_eq!(rows[0], Ok((-30i128).to_le_bytes().to_vec()));
        let rows = encode("Float32", Arc::new(Float64Array::from(vec![1.5, 1e300])));
        assert_eq!(rows[0], Ok(1.5f32.to_le_bytes().to_vec()));
        assert!(rows[1].is_err());
        let rows = encode("Decimal(3, 0)", Arc::new(Float64Array::from(vec![1e40])));
        assert_eq!(rows[0], Err("1e40 does not fit Decimal(3, 0)".into()));
    }
}
