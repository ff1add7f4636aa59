//! Flink's CSV layout for the filesystem sink: no header, RFC 4180 quoting, and timestamps like
//! `2024-01-01 00:00:10` or `2024-01-01 00:00:10.5`.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use spate_engine::EngineError;

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
                DataType::Timestamp(unit, _) => {
                    let v = col
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .value(row);
                    debug_assert_eq!(*unit, TimeUnit::Millisecond);
                    match &last_ts[c] {
                        Some((ms, text)) if *ms == v => field.push_str(text),
                        _ => {
                            format_timestamp_ms(v, &mut field);
                            last_ts[c] = Some((v, field.clone()));
                        }
                    }
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

/// Formats milliseconds since the epoch as Flink prints a `TIMESTAMP(3)`: no trailing zeros in
/// the fraction, and no fraction at all for whole seconds.
pub fn format_timestamp_ms(ms: i64, out: &mut String) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S")).expect("write to String"),
        None => write!(out, "{ms}").expect("write to String"),
    }
    if frac != 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn push_quoted(field: &str, out: &mut String) {
    let needs = field.contains([',', '"', '\n', '\r']);
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
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_quoted("a,\"b\"", &mut s);
        assert_eq!(s, "\"a,\"\"b\"\"\"");
    }
}
