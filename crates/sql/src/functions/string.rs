//! String functions whose Flink semantics differ from DataFusion's or that DataFusion lacks.
//! Positions and lengths count characters; positions start at 1.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{Args, Func, Param, Returns};

use Param::{Int, Str};

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        substr_udf(),
        Func::new(
            "CONCAT(string1, string2, …)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            concat,
        )
        .variadic()
        .udf(),
        Func::new(
            "LEFT(string, length)",
            &[&[Str, Int]],
            Returns::Type(DataType::Utf8),
            left,
        )
        .udf(),
        Func::new(
            "RIGHT(string, length)",
            &[&[Str, Int]],
            Returns::Type(DataType::Utf8),
            right,
        )
        .udf(),
        Func::new(
            "LPAD(string, length, padding)",
            &[&[Str, Int, Str]],
            Returns::Type(DataType::Utf8),
            lpad,
        )
        .udf(),
        Func::new(
            "RPAD(string, length, padding)",
            &[&[Str, Int, Str]],
            Returns::Type(DataType::Utf8),
            rpad,
        )
        .udf(),
        Func::new(
            "LOCATE(search, string [, from])",
            &[&[Str, Str], &[Str, Str, Int]],
            Returns::Type(DataType::Int32),
            locate,
        )
        .udf(),
        overlay_udf(),
        Func::new(
            "CHR(integer)",
            &[&[Int]],
            Returns::Type(DataType::Utf8),
            chr,
        )
        .udf(),
        Func::new(
            "SPLIT_INDEX(string, delimiter, index)",
            &[&[Str, Str, Int]],
            Returns::Type(DataType::Utf8),
            split_index,
        )
        .udf(),
    ]
}

/// `SUBSTR`, also called `SUBSTRING`.
pub(super) fn substr_udf() -> ScalarUDF {
    Func::new(
        "SUBSTR(string, position [, length])",
        &[&[Str, Int], &[Str, Int, Int]],
        Returns::Type(DataType::Utf8),
        substr,
    )
    .alias("substring")
    .udf()
}

/// `OVERLAY`, planned from `OVERLAY(s PLACING r FROM p [FOR n])`.
pub(super) fn overlay_udf() -> ScalarUDF {
    Func::new(
        "OVERLAY(string, replacement, position [, length])",
        &[&[Str, Str, Int], &[Str, Str, Int, Int]],
        Returns::Type(DataType::Utf8),
        overlay,
    )
    .udf()
}

/// Collects one optional string per row.
fn strings(args: &Args, mut f: impl FnMut(usize) -> Result<Option<String>>) -> Result<ArrayRef> {
    let values = (0..args.rows).map(&mut f).collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(StringArray::from(values)))
}

/// `s`'s characters `start..end` (character indexes, clamped).
fn char_slice(s: &str, start: usize, end: usize) -> String {
    s.chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect()
}

/// Flink's `SUBSTRING`: a positive position counts from 1, a negative one from the end, 0 is
/// the first character; a negative length gives NULL.
fn substr(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let pos = args.int(1)?;
    let len = if args.count() > 2 {
        Some(args.int(2)?)
    } else {
        None
    };
    strings(args, |r| {
        let (Some(s), Some(pos)) = (s.get(r), pos.get(r)) else {
            return Ok(None);
        };
        let len = match &len {
            Some(l) => match l.get(r) {
                None => return Ok(None),
                Some(l) if l < 0 => return Ok(None),
                Some(l) => Some(l),
            },
            None => None,
        };
        let chars = s.chars().count() as i64;
        let start = match pos {
            p if p > 0 => p - 1,
            p if p < 0 => chars + p,
            _ => 0,
        };
        if start < 0 || start >= chars {
            return Ok(Some(String::new()));
        }
        let end = len.map_or(chars, |l| chars.min(start.saturating_add(l)));
        Ok(Some(char_slice(s, start as usize, end as usize)))
    })
}

/// Flink's `CONCAT`: NULL as soon as one argument is.
fn concat(args: &Args) -> Result<ArrayRef> {
    let cols = (0..args.count())
        .map(|i| args.str(i))
        .collect::<Result<Vec<_>>>()?;
    strings(args, |r| {
        let mut out = String::new();
        for col in &cols {
            match col.get(r) {
                Some(s) => out.push_str(s),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    })
}

/// `LEFT`: the first `n` characters, empty for a negative `n`.
fn left(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let n = args.int(1)?;
    strings(args, |r| {
        Ok(match (s.get(r), n.get(r)) {
            (Some(s), Some(n)) => Some(s.chars().take(n.max(0) as usize).collect()),
            _ => None,
        })
    })
}

/// `RIGHT`: the last `n` characters, empty for a negative `n`.
fn right(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let n = args.int(1)?;
    strings(args, |r| {
        Ok(match (s.get(r), n.get(r)) {
            (Some(s), Some(n)) => {
                let chars = s.chars().count();
                Some(
                    s.chars()
                        .skip(chars.saturating_sub(n.max(0) as usize))
                        .collect(),
                )
            }
            _ => None,
        })
    })
}

/// `base` padded to `len` characters with `pad` on the left (`left`) or right, or cut to
/// `len` characters; NULL for a negative length or an empty padding, as in Flink.
fn pad(base: &str, len: i64, pad: &str, left: bool) -> Option<String> {
    if len < 0 || pad.is_empty() {
        return None;
    }
    let len = len as usize;
    let base_len = base.chars().count();
    let fill: String = pad
        .chars()
        .cycle()
        .take(len.saturating_sub(base_len))
        .collect();
    let kept: String = base.chars().take(len).collect();
    Some(if left { fill + &kept } else { kept + &fill })
}

fn lpad(args: &Args) -> Result<ArrayRef> {
    padded(args, true)
}

fn rpad(args: &Args) -> Result<ArrayRef> {
    padded(args, false)
}

fn padded(args: &Args, left: bool) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let len = args.int(1)?;
    let p = args.str(2)?;
    strings(args, |r| {
        Ok(match (s.get(r), len.get(r), p.get(r)) {
            (Some(s), Some(len), Some(p)) => pad(s, len, p, left),
            _ => None,
        })
    })
}

/// `LOCATE(search, string [, from])`: the 1-based character position of the first `search`
/// in `string` at or after character `from` (default 1), 0 when there is none; 1 for an empty
/// `search`, as Flink's string search has it.
fn locate(args: &Args) -> Result<ArrayRef> {
    let search = args.str(0)?;
    let s = args.str(1)?;
    let from = if args.count() > 2 {
        Some(args.int(2)?)
    } else {
        None
    };
    let values = (0..args.rows)
        .map(|r| {
            let (search, s) = (search.get(r)?, s.get(r)?);
            let from = match &from {
                Some(f) => f.get(r)?,
                None => 1,
            };
            if search.is_empty() {
                return Some(1);
            }
            let skip = (from - 1).max(0) as usize;
            let Some((byte_start, _)) = s.char_indices().nth(skip) else {
                return Some(0);
            };
            Some(match s[byte_start..].find(search) {
                Some(at) => (skip + s[byte_start..byte_start + at].chars().count() + 1) as i32,
                None => 0,
            })
        })
        .collect::<Vec<_>>();
    Ok(Arc::new(Int32Array::from(values)))
}

/// Flink's `OVERLAY`: `length` (by default the replacement's length) characters of `s` from
/// `position` replaced by `r`; `s` unchanged for a position outside it, and nothing of `s`
/// kept after the replacement when the replaced part reaches its end or `length` is not
/// positive.
fn overlay(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let r = args.str(1)?;
    let pos = args.int(2)?;
    let len = if args.count() > 3 {
        Some(args.int(3)?)
    } else {
        None
    };
    strings(args, |row| {
        let (Some(s), Some(r), Some(pos)) = (s.get(row), r.get(row), pos.get(row)) else {
            return Ok(None);
        };
        let len = match &len {
            Some(l) => match l.get(row) {
                Some(l) => l,
                None => return Ok(None),
            },
            None => r.chars().count() as i64,
        };
        let chars = s.chars().count() as i64;
        if pos <= 0 || pos > chars {
            return Ok(Some(s.to_string()));
        }
        let mut out: String = s.chars().take((pos - 1) as usize).collect();
        out.push_str(r);
        if len > 0 && pos.saturating_add(len) <= chars {
            out.extend(s.chars().skip((pos - 1 + len) as usize));
        }
        Ok(Some(out))
    })
}

/// Flink's `CHR`: the character of the integer's low byte; empty for a negative integer.
fn chr(args: &Args) -> Result<ArrayRef> {
    let n = args.int(0)?;
    strings(args, |r| {
        Ok(n.get(r).map(|n| {
            if n < 0 {
                String::new()
            } else {
                char::from((n & 0xFF) as u8).to_string()
            }
        }))
    })
}

/// `SPLIT_INDEX(string, delimiter, index)`: the `index`th (from 0) piece of `string` cut at
/// every `delimiter` (at whitespace for an empty delimiter); NULL when out of range, for a
/// negative index and for an empty string.
fn split_index(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let delimiter = args.str(1)?;
    let index = args.int(2)?;
    strings(args, |r| {
        let (Some(s), Some(delimiter), Some(index)) = (s.get(r), delimiter.get(r), index.get(r))
        else {
            return Ok(None);
        };
        if index < 0 || s.is_empty() {
            return Ok(None);
        }
        let index = index as usize;
        let piece = if delimiter.is_empty() {
            s.split(char::is_whitespace).nth(index)
        } else {
            s.split(delimiter).nth(index)
        };
        Ok(piece.map(str::to_string))
    })
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn padding() {
        assert_eq!(pad("hi", 4, "??", true).as_deref(), Some("??hi"));
        assert_eq!(pad("hi", 1, "??", true).as_deref(), Some("h"));
        assert_eq!(pad("hi", 5, "ab", true).as_deref(), Some("abahi"));
        assert_eq!(pad("hi", 5, "ab", false).as_deref(), Some("hiaba"));
        assert_eq!(pad("hi", 0, "x", false).as_deref(), Some(""));
        assert_eq!(pad("hi", -1, "x", false), None);
        assert_eq!(pad("hi", 3, "", false), None);
    }
}
