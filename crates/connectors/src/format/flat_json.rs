//! A fast path for the common case of NDJSON: flat objects whose wanted fields are numbers,
//! booleans or strings without escapes. One pass per record, no tape; fields the schema does
//! not name are skipped without being decoded.
//!
//! Anything outside that case (an escape, a nested value, a duplicate or missing field, a value
//! of another type, malformed text) makes [`FlatJsonDecoder::decode`] answer `None`, and the
//! caller decodes the batch with arrow-json, which also produces the precise error. So the fast
//! path never decides what is valid; it only avoids work on input that is plainly fine.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};

/// A column being built.
enum Column {
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Utf8(StringBuilder),
}

/// Decodes flat JSON objects into a schema of Int32, Int64, Float64, Boolean and Utf8 fields.
pub struct FlatJsonDecoder {
    schema: SchemaRef,
    names: Vec<Vec<u8>>,
    nullable: Vec<bool>,
    seen: Vec<bool>,
}

impl FlatJsonDecoder {
    /// A decoder for `schema`, or `None` if a field has a type this fast path does not handle.
    pub fn new(schema: SchemaRef) -> Option<Self> {
        let supported = schema.fields().iter().all(|f| {
            matches!(
                f.data_type(),
                DataType::Int32
                    | DataType::Int64
                    | DataType::Float64
                    | DataType::Boolean
                    | DataType::Utf8
            )
        });
        if !supported {
            return None;
        }
        let names = schema
            .fields()
            .iter()
            .map(|f| f.name().as_bytes().to_vec())
            .collect();
        let nullable = schema.fields().iter().map(|f| f.is_nullable()).collect();
        let n = schema.fields().len();
        Some(FlatJsonDecoder {
            schema,
            names,
            nullable,
            seen: vec![false; n],
        })
    }

    /// Decodes every record, or returns `None` if any record is outside the fast path.
    pub fn decode<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]>,
        capacity: usize,
    ) -> Option<RecordBatch> {
        let mut columns: Vec<Column> = self
            .schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int32 => Column::Int32(Int32Builder::with_capacity(capacity)),
                DataType::Int64 => Column::Int64(Int64Builder::with_capacity(capacity)),
                DataType::Float64 => Column::Float64(Float64Builder::with_capacity(capacity)),
                DataType::Boolean => Column::Boolean(BooleanBuilder::with_capacity(capacity)),
                _ => Column::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
            })
            .collect();
        for record in records {
            self.record(record, &mut columns)?;
        }
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Int32(mut b) => Arc::new(b.finish()),
                    Column::Int64(mut b) => Arc::new(b.finish()),
                    Column::Float64(mut b) => Arc::new(b.finish()),
                    Column::Boolean(mut b) => Arc::new(b.finish()),
                    Column::Utf8(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(self.schema.clone(), arrays).ok()
    }

    fn record(&mut self, r: &[u8], columns: &mut [Column]) -> Option<()> {
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut at = skip_ws(r, 0);
        if r.get(at) != Some(&b'{') {
            return None;
        }
        at = skip_ws(r, at + 1);
        if r.get(at) == Some(&b'}') {
            at += 1;
        } else {
            loop {
                // "key"
                if r.get(at) != Some(&b'"') {
                    return None;
                }
                let key_start = at + 1;
                let key_end = key_start + memchr::memchr2(b'"', b'\\', &r[key_start..])?;
                if r[key_end] != b'"' {
                    return None;
                }
                at = skip_ws(r, key_end + 1);
                if r.get(at) != Some(&b':') {
                    return None;
                }
                at = skip_ws(r, at + 1);
                let key = &r[key_start..key_end];
                at = match self.names.iter().position(|n| n == key) {
                    Some(i) => {
                        if std::mem::replace(&mut self.seen[i], true) {
                            return None;
                        }
                        value(r, at, &mut columns[i])?
                    }
                    None => skip_value(r, at)?,
                };
                at = skip_ws(r, at);
                match r.get(at) {
                    Some(b',') => at = skip_ws(r, at + 1),
                    Some(b'}') => {
                        at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if skip_ws(r, at) != r.len() {
            return None;
        }
        // Missing fields are NULL where the schema allows it.
        for (i, seen) in self.seen.iter().enumerate() {
            if !seen {
                if !self.nullable[i] {
                    return None;
                }
                append_null(&mut columns[i]);
            }
        }
        Some(())
    }
}

fn skip_ws(r: &[u8], mut at: usize) -> usize {
    while at < r.len() && matches!(r[at], b' ' | b'\t' | b'\n' | b'\r') {
        at += 1;
    }
    at
}

/// The end of a scalar token (number or literal) starting at `at`.
fn token_end(r: &[u8], mut at: usize) -> usize {
    while at < r.len() && !matches!(r[at], b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
        at += 1;
    }
    at
}

fn append_null(c: &mut Column) {
    match c {
        Column::Int32(b) => b.append_null(),
        Column::Int64(b) => b.append_null(),
        Column::Float64(b) => b.append_null(),
        Column::Boolean(b) => b.append_null(),
        Column::Utf8(b) => b.append_null(),
    }
}

/// Parses a wanted value into its column; returns the position after it.
fn value(r: &[u8], at: usize, column: &mut Column) -> Option<usize> {
    if r.get(at) == Some(&b'"') {
        // Only string columns take strings here; escapes go the slow way.
        let Column::Utf8(b) = column else { return None };
        let start = at + 1;
        let end = start + memchr::memchr2(b'"', b'\\', &r[start..])?;
        if r[end] != b'"' {
            return None;
        }
        b.append_value(std::str::from_utf8(&r[start..end]).ok()?);
        return Some(end + 1);
    }
    let end = token_end(r, at);
    let token = &r[at..end];
    if token == b"null" {
        append_null(column);
        return Some(end);
    }
    match column {
        Column::Int32(b) => b.append_value(parse_int(token)?.try_into().ok()?),
        Column::Int64(b) => b.append_value(parse_int(token)?),
        Column::Float64(b) => {
            if !is_json_number(token) {
                return None;
            }
            b.append_value(std::str::from_utf8(token).ok()?.parse::<f64>().ok()?)
        }
        Column::Boolean(b) => match token {
            b"true" => b.append_value(true),
            b"false" => b.append_value(false),
            _ => return None,
        },
        Column::Utf8(_) => return None,
    }
    Some(end)
}

/// A JSON integer: optional minus, digits, no leading zeros, in range.
fn parse_int(t: &[u8]) -> Option<i64> {
    let (neg, digits) = match t.first()? {
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as i64;
    }
    Some(if neg { -v } else { v })
}

/// Whether `t` is a number as JSON writes them (so that Rust's parser accepts nothing more,
/// such as `inf` or `+1`).
fn is_json_number(t: &[u8]) -> bool {
    let mut i = 0;
    if t.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    i = skip_digits(t, i);
    if i == int_start || (i - int_start > 1 && t[int_start] == b'0') {
        return false;
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        i = skip_digits(t, i);
        if i == s {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        i = skip_digits(t, i);
        if i == s {
            return false;
        }
    }
    i == t.len()
}

/// The position after the run of ASCII digits starting at `i`.
fn skip_digits(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && t[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Skips a value of a field the schema does not name; nested values go the slow way.
fn skip_value(r: &[u8], at: usize) -> Option<usize> {
    match r.get(at)? {
        b'"' => {
            let mut i = at + 1;
            loop {
                i += memchr::memchr2(b'"', b'\\', &r[i..])?;
                if r[i] == b'"' {
                    return Some(i + 1);
                }
                i += 2; // an escape: skip the backslash and the escaped byte
                if i > r.len() {
                    return None;
                }
            }
        }
        b'{' | b'[' => None,
        _ => {
            let end = token_end(r, at);
            let t = &r[at..end];
            (t == b"null" || t == b"true" || t == b"false" || is_json_number(t)).then_some(end)
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Schema};
    use arrow_json::ReaderBuilder;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Int64, true),
            Field::new("ip", DataType::Utf8, true),
            Field::new("status", DataType::Int32, true),
            Field::new("lat", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    fn arrow_json(records: &[&str]) -> RecordBatch {
        let mut d = ReaderBuilder::new(schema()).build_decoder().unwrap();
        for r in records {
            d.decode(r.as_bytes()).unwrap();
        }
        d.flush().unwrap().unwrap()
    }

    #[test]
    fn agrees_with_arrow_json_where_it_answers() {
        let records = [
            r#"{"ts":1704067200000,"ip":"1.2.3.4","status":200,"lat":25.3,"ok":true,"ua":"Mozilla/5.0 (X11; \"q\")","n":null}"#,
            r#" { "ts" : -5 , "ip" : "", "status" : 404, "lat" : 1e-7, "ok" : false } "#,
            r#"{"ts":7,"lat":-0.0,"extra":[1,2]}"#,
            r#"{"lat":12345678901234567890,"status":null}"#,
            r#"{"ip":"héllo","lat":0.1}"#,
        ];
        let mut fast = FlatJsonDecoder::new(schema()).unwrap();
        // The third record has a nested value: the whole batch goes the slow way.
        assert!(
            fast.decode(records.iter().map(|r| r.as_bytes()), 8)
                .is_none()
        );
        let plain: Vec<&str> = records
            .iter()
            .copied()
            .filter(|r| !r.contains('['))
            .collect();
        let got = fast.decode(plain.iter().map(|r| r.as_bytes()), 8).unwrap();
        assert_eq!(got, arrow_json(&plain));
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        let mut fast = FlatJsonDecoder::new(schema()).unwrap();
        for bad in [
            r#"{"ip":"a\"b"}"#,
            r#"{"status":"200"}"#,
            r#"{"status":2.5}"#,
            r#"{"status":3000000000}"#,
            r#"{"ts":01}"#,
            r#"{"lat":inf}"#,
            r#"{"lat":+1}"#,
            r#"{"ts":1,"ts":2}"#,
            r#"{"ts":1"#,
            r#"{"ts":1}{"ts":2}"#,
            r#"{"ts":1,}"#,
            r#"[1]"#,
            "",
        ] {
            assert!(
                fast.decode(std::iter::once(bad.as_bytes()), 1).is_none(),
                "accepted {bad}"
            );
        }
    }
}
