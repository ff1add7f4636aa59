//! Regular-expression functions. Patterns are Java regular expressions in Flink; the common
//! syntax (classes, groups, quantifiers, anchors, flags) means the same in the `regex` crate,
//! which has no look-around or back-references: a constant pattern using them is refused at
//! planning. As in Flink, a pattern that fails at run time (a non-constant one) gives NULL
//! (`REGEXP`: FALSE).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use regex::{NoExpand, Regex};

use super::udf::{Args, Func, Param, Returns, scalar_str};

use Param::{Int, Str};

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Func::new(
            "REGEXP_EXTRACT(string, regex [, group])",
            &[&[Str, Str], &[Str, Str, Int]],
            Returns::Type(DataType::Utf8),
            regexp_extract,
        )
        .check(check_pattern)
        .udf(),
        Func::new(
            "REGEXP_REPLACE(string, regex, replacement)",
            &[&[Str, Str, Str]],
            Returns::Type(DataType::Utf8),
            regexp_replace,
        )
        .check(check_pattern)
        .udf(),
        Func::new(
            "REGEXP(string, regex)",
            &[&[Str, Str]],
            Returns::Type(DataType::Boolean),
            regexp,
        )
        .check(check_pattern)
        .udf(),
    ]
}

/// Refuses a constant pattern (the second argument) the `regex` crate cannot compile.
fn check_pattern(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    match scalar_str(scalars, 1) {
        Some(pattern) => Regex::new(pattern).map(|_| ()).map_err(|e| {
            DataFusionError::Plan(format!(
                "invalid or unsupported regular expression '{pattern}' (look-around and \
                 back-references are not supported): {e}"
            ))
        }),
        None => Ok(()),
    }
}

/// Compiles patterns, reusing the last one: a constant pattern is compiled once per batch.
#[derive(Default)]
struct Patterns {
    last: Option<(String, Option<Regex>)>,
}

impl Patterns {
    /// The compiled `pattern`, `None` when it does not compile.
    fn get(&mut self, pattern: &str) -> Option<&Regex> {
        if self.last.as_ref().is_none_or(|(p, _)| p != pattern) {
            self.last = Some((pattern.to_string(), Regex::new(pattern).ok()));
        }
        self.last.as_ref().and_then(|(_, r)| r.as_ref())
    }
}

/// `REGEXP_EXTRACT`: group `group` (0, the whole match, by default) of the first match; NULL
/// when nothing matches, the group does not exist or took no part in the match.
fn regexp_extract(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let pattern = args.str(1)?;
    let group = if args.count() > 2 {
        Some(args.int(2)?)
    } else {
        None
    };
    let mut patterns = Patterns::default();
    let values: Vec<Option<String>> = (0..args.rows)
        .map(|r| {
            let (s, pattern) = (s.get(r)?, pattern.get(r)?);
            let group = match &group {
                Some(g) => usize::try_from(g.get(r)?).ok()?,
                None => 0,
            };
            let captures = patterns.get(pattern)?.captures(s)?;
            captures.get(group).map(|m| m.as_str().to_string())
        })
        .collect();
    Ok(Arc::new(StringArray::from(values)))
}

/// `REGEXP_REPLACE`: every match replaced by `replacement`, taken literally (Flink quotes it,
/// so `$1` is not a group reference).
fn regexp_replace(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let pattern = args.str(1)?;
    let replacement = args.str(2)?;
    let mut patterns = Patterns::default();
    let values: Vec<Option<String>> = (0..args.rows)
        .map(|r| {
            let (s, pattern, replacement) = (s.get(r)?, pattern.get(r)?, replacement.get(r)?);
            let regex = patterns.get(pattern)?;
            Some(regex.replace_all(s, NoExpand(replacement)).into_owned())
        })
        .collect();
    Ok(Arc::new(StringArray::from(values)))
}

/// `REGEXP`: whether any (possibly empty) part of the string matches; FALSE for an empty or
/// invalid pattern, as in Flink.
fn regexp(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let pattern = args.str(1)?;
    let mut patterns = Patterns::default();
    let values: Vec<Option<bool>> = (0..args.rows)
        .map(|r| {
            let (s, pattern) = (s.get(r)?, pattern.get(r)?);
            let regex = patterns.get(pattern).filter(|_| !pattern.is_empty());
            Some(regex.is_some_and(|regex| regex.is_match(s)))
        })
        .collect();
    Ok(Arc::new(BooleanArray::from(values)))
}
