//! Flink's CSV layout, written by the filesystem sink and read by the filesystem source: no
//! header, RFC 4180 quoting, an empty field for NULL, and timestamps like
//! `2024-01-01 00:00:10` or `2024-01-01 00:00:10.5`.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use spate_engine::EngineError;

use super::json::Rejected;

/// Rows per decoded chunk.
const BATCH_ROWS: usize = 8192;

/// Decodes CSV records (one row each, as the filesystem source cuts them) into batches of a
/// fixed schema. An empty field is NULL; a record with the wrong number of fields or a value
/// that does not parse as its column's type is rejected alone.
#[derive(Debug)]
pub struct CsvDecoder {
    schema: SchemaRef,
    text: Vec<u8>,
}

impl CsvDecoder {
    /// A decoder producing batches of `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        CsvDecoder {
            schema,
            text: Vec::new(),
        }
    }

    /// Decodes `records` into one batch, returning the records that failed.
    pub fn decode<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<(RecordBatch, Vec<Rejected>), EngineError> {
        self.text.clear();
        let mut count = 0;
        for record in records.clone() {
            self.text.extend_from_slice(record);
            self.text.push(b'\n');
            count += 1;
        }
        if let Ok(batch) = self.read(count) {
            return Ok((batch, Vec::new()));
        }
        // Find the culprits one record at a time.
        let mut good = Vec::new();
        let mut rejected = Vec::new();
        for (index, record) in records.enumerate() {
            self.text.clear();
            self.text.extend_from_slice(record);
            self.text.push(b'\n');
            match self.read(1) {
                Ok(batch) => good.push(batch),
                Err(reason) => rejected.push(Rejected { index, reason }),
            }
        }
        Ok((
            arrow::compute::concat_batches(&self.schema, &good)?,
            rejected,
        ))
    }

    /// Reads the `count` records in `self.text`.
    fn read(&self, count: usize) -> Result<RecordBatch, String> {
        let reader = arrow::csv::ReaderBuilder::new(self.schema.clone())
            .with_header(false)
            .with_batch_size(BATCH_ROWS)
            .build(self.text.as_slice())
            .map_err(|e| e.to_string())?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let batch =
            arrow::compute::concat_batches(&self.schema, &batches).map_err(|e| e.to_string())?;
        match batch.num_rows() == count {
            true => Ok(batch),
            false => Err(format!(
                "expected {count} CSV record(s), found {}",
                batch.num_rows()
            )),
        }
    }
}

/// Appends the rows of `batch` to `out` as CSV lines.
pub fn write_csv(batch: &RecordBatch, out: &mut String) -> Result<(), EngineError> {
    let options = FormatOptions::default();
    let mut formatters = Vec::with_capacity(batch.num_columns());
    for col in batch.columns() {
        formatters.push(ArrayFormatter::try_new(col.as_ref(), &options)?);
    }
    let mut field = String::new();
    // Window bounds repeat on every row: format each distinct timestamp once.
    let mut last_ts: Vec<Option<(i64, String)>> = vec![None; batch.num_columns()];
    for row in 0..batch.num_rows() {
        for (c, col) in batch.columns().iter().enumerate() {
            if c > 0 {
                out.push(',');
            }
            if col.is_null(row) {
                continue;
            }
            field.clear();
            match col.data_type() {
                DataType::Timestamp(unit, zone) => {
                    let v = col
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .value(row);
                    debug_assert_eq!(*unit, TimeUnit::Millisecond);
                    match &last_ts[c] {
                        Some((ms, text)) if *ms == v => field.push_str(text),
                        _ => {
                            format_timestamp_ms(v, &mut field);
                            // TIMESTAMP_LTZ is written as an instant, in UTC.
                            if zone.is_some() {
                                field.push('Z');
                            }
                            last_ts[c] = Some((v, field.clone()));
                        }
                    }
                }
                DataType::Float64 => {
                    let v = col
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .value(row);
                    format_java_double(v, &mut field);
                }
                DataType::Float32 => {
                    let v = col
                        .as_primitive::<arrow::datatypes::Float32Type>()
                        .value(row);
                    format_java_float(v, &mut field);
                }
                DataType::Decimal128(_, scale) => {
                    let v = col
                        .as_primitive::<arrow::datatypes::Decimal128Type>()
                        .value(row);
                    // A number: Jackson never quotes it, even as `3E+1`.
                    format_java_decimal(v, i32::from(*scale), out);
                    continue;
                }
                _ => {
                    write!(field, "{}", formatters[c].value(row)).expect("write to String");
                }
            }
            push_quoted(&field, out);
        }
        out.push('\n');
    }
    Ok(())
}

/// Formats a DOUBLE as Java's `Double.toString` (and so Flink) does: the shortest digits that
/// read back to the same value, in plain notation from 10^-3 up to 10^7 (`1.5`, `2.0`) and in
/// scientific notation outside it (`2.1651E7`, `1.73E-4`).
pub fn format_java_double(v: f64, out: &mut String) {
    let plain = v == 0.0 || (1e-3..1e7).contains(&v.abs());
    java_notation(v, plain, || format!("{v}"), || format!("{v:E}"), out);
}

/// Formats a DECIMAL (`unscaled` × 10^-`scale`) as Flink's CSV writer does: Jackson
/// normalizes the `BigDecimal` (`stripTrailingZeros`) and writes its `toString`, so `5.00` is
/// `5`, `16.500` is `16.5` and `30.0` is `3E+1` (scientific notation once the scale is
/// negative, or the exponent below -6).
pub fn format_java_decimal(unscaled: i128, scale: i32, out: &mut String) {
    let (mut unscaled, mut scale) = (unscaled, scale);
    if unscaled == 0 {
        out.push('0');
        return;
    }
    while unscaled % 10 == 0 {
        unscaled /= 10;
        scale -= 1;
    }
    if unscaled < 0 {
        out.push('-');
    }
    let digits = unscaled.unsigned_abs().to_string();
    let adjusted = i64::from(-scale) + digits.len() as i64 - 1;
    if scale >= 0 && adjusted >= -6 {
        let scale = scale as usize;
        if scale == 0 {
            out.push_str(&digits);
        } else if digits.len() > scale {
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            write!(out, "{whole}.{fraction}").expect("write to String");
        } else {
            write!(out, "0.{}{digits}", "0".repeat(scale - digits.len())).expect("write to String");
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            write!(out, ".{rest}").expect("write to String");
        }
        write!(out, "E{}{adjusted}", if adjusted >= 0 { "+" } else { "" })
            .expect("write to String");
    }
}

/// Formats a FLOAT as Java's `Float.toString` does (the shortest digits of the 32-bit value).
pub fn format_java_float(v: f32, out: &mut String) {
    let plain = v == 0.0 || (1e-3..1e7).contains(&v.abs());
    java_notation(
        f64::from(v),
        plain,
        || format!("{v}"),
        || format!("{v:E}"),
        out,
    );
}

fn java_notation(
    v: f64,
    plain: bool,
    decimal: impl FnOnce() -> String,
    scientific: impl FnOnce() -> String,
    out: &mut String,
) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if plain {
        let text = decimal();
        out.push_str(&text);
        if !text.contains('.') {
            out.push_str(".0");
        }
    } else {
        let text = scientific();
        match text.split_once('E') {
            Some((mantissa, exponent)) if !mantissa.contains('.') => {
                write!(out, "{mantissa}.0E{exponent}").expect("write to String")
            }
            _ => out.push_str(&text),
        }
    }
}

/// Formats milliseconds since the epoch as Flink prints a `TIMESTAMP(3)`: no trailing zeros in
/// the fraction, and no fraction at all for whole seconds.
pub fn format_timestamp_ms(ms: i64, out: &mut String) {
    format_timestamp(ms, TimeUnit::Millisecond, out);
}

/// Formats a timestamp of `unit` since the epoch as Flink writes one: `2024-01-01 00:00:10`,
/// with the fraction of a second only as far as it is not zero.
pub fn format_timestamp(value: i64, unit: TimeUnit, out: &mut String) {
    let (per_second, digits) = match unit {
        TimeUnit::Second => (1, 0),
        TimeUnit::Millisecond => (1_000, 3),
        TimeUnit::Microsecond => (1_000_000, 6),
        TimeUnit::Nanosecond => (1_000_000_000, 9),
    };
    let secs = value.div_euclid(per_second);
    let frac = value.rem_euclid(per_second);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S")).expect("write to String"),
        None => write!(out, "{value}").expect("write to String"),
    }
    if frac != 0 {
        let digits = format!("{frac:0digits$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn push_quoted(field: &str, out: &mut String) {
    // As Flink's CSV writer (Jackson) does: any character below '-' (space, punctuation
    // such as , and ", control characters) gets the field quoted.
    let needs = field.bytes().any(|b| b < b'-');
    if !needs {
        out.push_str(field);
        return;
    }
    out.push('"');
    for ch in field.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_like_javas_normalized_big_decimal() {
        let cases = [
            (500, 2, "5"),
            (16_500, 3, "16.5"),
            (300, 1, "3E+1"),
            (-300, 1, "-3E+1"),
            (25, 2, "0.25"),
            (1125, 3, "1.125"),
            (0, 3, "0"),
            (12, 9, "1.2E-8"),
            (12, 7, "0.0000012"),
            (-1_000_001, 0, "-1000001"),
        ];
        for (unscaled, scale, expected) in cases {
            let mut s = String::new();
            format_java_decimal(unscaled, scale, &mut s);
            assert_eq!(s, expected, "{unscaled} scale {scale}");
        }
    }

    #[test]
    fn timestamps_print_like_flink() {
        let mut s = String::new();
        format_timestamp_ms(1_704_067_210_000, &mut s);
        assert_eq!(s, "2024-01-01 00:00:10");
        s.clear();
        format_timestamp_ms(1_704_067_210_500, &mut s);
        assert_eq!(s, "2024-01-01 00:00:10.5");
        s.clear();
        format_timestamp_ms(1_704_067_210_025, &mut s);
        assert_eq!(s, "2024-01-01 00:00:10.025");
        s.clear();
        format_timestamp(1_704_067_210_000_250, TimeUnit::Microsecond, &mut s);
        assert_eq!(s, "2024-01-01 00:00:10.00025");
        s.clear();
        format_timestamp(-1, TimeUnit::Second, &mut s);
        assert_eq!(s, "1969-12-31 23:59:59");
    }

    #[test]
    fn written_rows_read_back() {
        use std::sync::Arc;

        use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
        use arrow::datatypes::{Field, Schema};

        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![
                    Some("plain"),
                    Some("a, \"quoted\"\nline"),
                    None,
                ])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_704_067_210_000),
                    Some(1_704_067_210_500),
                    None,
                ])),
                Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
            ],
        )
        .unwrap();
        let mut text = String::new();
        write_csv(&batch, &mut text).unwrap();
        // The second row spans two lines; the source cuts records at balanced quotes.
        let records: Vec<&[u8]> = vec![
            b"1,plain,\"2024-01-01 00:00:10\",1.5",
            b",\"a, \"\"quoted\"\"\nline\",\"2024-01-01 00:00:10.5\",",
            b"3,,,-2.0",
        ];
        assert_eq!(
            text.as_bytes(),
            records.iter().fold(Vec::new(), |mut all, r| {
                all.extend_from_slice(r);
                all.push(b'\n');
                all
            })
        );
        let mut decoder = CsvDecoder::new(schema);
        let (read, rejected) = decoder.decode(records.iter().copied()).unwrap();
        assert!(rejected.is_empty());
        assert_eq!(read, batch);
        // Bad records are rejected alone.
        let bad: Vec<&[u8]> = vec![b"1,a,,", b"x,b,,", b"2,c", b"4,d,2024-01-01 00:00:00,0.5"];
        let (read, rejected) = decoder.decode(bad.iter().copied()).unwrap();
        assert_eq!(read.num_rows(), 2);
        let ids: Vec<usize> = rejected.iter().map(|r| r.index).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn quoting() {
        let quoted = |field: &str| {
            let mut s = String::new();
            push_quoted(field, &mut s);
            s
        };
        assert_eq!(quoted("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(quoted("2024-01-01 00:00:10"), "\"2024-01-01 00:00:10\"");
        assert_eq!(quoted("a+b"), "\"a+b\"");
        assert_eq!(quoted("a-b.c_d:9"), "a-b.c_d:9");
    }

    #[test]
    fn doubles_print_like_java() {
        let java = |v: f64| {
            let mut s = String::new();
            format_java_double(v, &mut s);
            s
        };
        assert_eq!(java(1.5), "1.5");
        assert_eq!(java(2.0), "2.0");
        assert_eq!(java(-0.0), "-0.0");
        assert_eq!(java(0.001), "0.001");
        assert_eq!(java(9_999_999.5), "9999999.5");
        assert_eq!(java(21_651_000.0), "2.1651E7");
        assert_eq!(java(1.0e10), "1.0E10");
        assert_eq!(java(1.7299999999999998e-4), "1.7299999999999998E-4");
        assert_eq!(java(f64::NAN), "NaN");
        assert_eq!(java(f64::NEG_INFINITY), "-Infinity");
        let mut float = String::new();
        format_java_float(3.566, &mut float);
        assert_eq!(float, "3.566");
    }
}
