//! JSON functions: `JSON_VALUE` and `JSON_EXISTS` with Flink's default error behaviour
//! (`NULL ON EMPTY NULL ON ERROR`, `FALSE ON ERROR`).
//!
//! Paths are SQL/JSON paths without filters or wildcards: an optional `lax` (the default) or
//! `strict` mode, `$`, then member steps `.name`, `['name']`, `["name"]` (also written
//! `.['name']`) and array steps `[n]`. In lax mode a missing member or element is an empty
//! result, in strict mode an error; both give NULL from `JSON_VALUE`, while `JSON_EXISTS`
//! gives FALSE. `JSON_VALUE(… RETURNING type)` is rewritten into a cast of the string
//! ([`rewrite`](super::rewrite)).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use super::udf::{Args, Func, Param, Returns, scalar_str};

use Param::Str;

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Func::new(
            "JSON_VALUE(json, path)",
            &[&[Str, Str]],
            Returns::Type(DataType::Utf8),
            json_value,
        )
        .check(check_path)
        .udf(),
        Func::new(
            "JSON_EXISTS(json, path)",
            &[&[Str, Str]],
            Returns::Type(DataType::Boolean),
            json_exists,
        )
        .check(check_path)
        .udf(),
    ]
}

/// Refuses a constant path (the second argument) that is not in the supported subset.
fn check_path(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    match scalar_str(scalars, 1) {
        Some(path) => JsonPath::parse(path).map(|_| ()).map_err(|e| {
            DataFusionError::Plan(format!(
                "unsupported JSON path '{path}': {e}; write [lax|strict] $ followed by \
                 .member, ['member'] or [index] steps"
            ))
        }),
        None => Ok(()),
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// An object member.
    Member(String),
    /// An array element, from 0.
    Index(usize),
}

/// A parsed JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JsonPath {
    strict: bool,
    steps: Vec<Step>,
}

/// What a path finds in a document.
#[derive(Debug, PartialEq)]
enum Found<'a> {
    /// The value at the path.
    Value(&'a Value),
    /// Nothing there (lax mode).
    Empty,
    /// Nothing there (strict mode), or a step that does not fit the value.
    Error,
}

impl JsonPath {
    /// Parses `[lax|strict] $ steps…`.
    fn parse(path: &str) -> std::result::Result<JsonPath, String> {
        let trimmed = path.trim_start();
        let (strict, rest) = if let Some(rest) = trimmed.strip_prefix("strict ") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("lax ") {
            (false, rest)
        } else {
            (false, trimmed)
        };
        let rest = rest.trim();
        let Some(mut rest) = rest.strip_prefix('$') else {
            return Err("a path starts with $".into());
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(".[").or_else(|| rest.strip_prefix('[')) {
                let (step, tail) = bracket_step(after)?;
                steps.push(step);
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty() || name == "*" || !name.chars().all(is_member_char) {
                    return Err(format!("unexpected member name '{name}'"));
                }
                steps.push(Step::Member(name.to_string()));
                rest = &after[end..];
            } else {
                return Err(format!("unexpected '{rest}'"));
            }
        }
        Ok(JsonPath { strict, steps })
    }

    /// Follows the path in `doc`.
    fn find<'a>(&self, doc: &'a Value) -> Found<'a> {
        let mut at = doc;
        for step in &self.steps {
            let next = match (step, at) {
                (Step::Member(name), Value::Object(map)) => map.get(name),
                (Step::Index(i), Value::Array(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(v) => at = v,
                None if self.strict => return Found::Error,
                None => return Found::Empty,
            }
        }
        Found::Value(at)
    }
}

/// Characters of an unquoted member name.
fn is_member_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A bracketed step after its `[`: `'name']`, `"name"]` or `n]`, and the rest of the path.
fn bracket_step(after: &str) -> std::result::Result<(Step, &str), String> {
    if let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &after[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| format!("unclosed {quote} in ['…']"))?;
        let tail = body[end + 1..]
            .strip_prefix(']')
            .ok_or_else(|| "expected ] after the quoted member".to_string())?;
        return Ok((Step::Member(body[..end].to_string()), tail));
    }
    let end = after.find(']').ok_or("unclosed [")?;
    let index = after[..end].trim();
    let index = index
        .parse::<usize>()
        .map_err(|_| format!("unsupported array step [{index}]: write a non-negative index"))?;
    Ok((Step::Index(index), &after[end + 1..]))
}

/// Parses paths, reusing the last one.
#[derive(Default)]
struct Paths {
    last: Option<(String, Option<JsonPath>)>,
}

impl Paths {
    fn get(&mut self, path: &str) -> Option<&JsonPath> {
        if self.last.as_ref().is_none_or(|(p, _)| p != path) {
            self.last = Some((path.to_string(), JsonPath::parse(path).ok()));
        }
        self.last.as_ref().and_then(|(_, p)| p.as_ref())
    }
}

/// `JSON_VALUE`: the scalar at the path as a string; NULL for JSON null, an object or array,
/// a missing value and invalid JSON.
fn json_value(args: &Args) -> Result<ArrayRef> {
    let json = args.str(0)?;
    let path = args.str(1)?;
    let mut paths = Paths::default();
    let values: Vec<Option<String>> = (0..args.rows)
        .map(|r| {
            let (json, path) = (json.get(r)?, path.get(r)?);
            let path = paths.get(path)?;
            let doc: Value = serde_json::from_str(json).ok()?;
            match path.find(&doc) {
                Found::Value(Value::String(s)) => Some(s.clone()),
                Found::Value(Value::Bool(b)) => Some(b.to_string()),
                Found::Value(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        })
        .collect();
    Ok(Arc::new(StringArray::from(values)))
}

/// `JSON_EXISTS`: whether the path finds a value (JSON null included); FALSE for invalid
/// JSON or path, NULL for NULL arguments.
fn json_exists(args: &Args) -> Result<ArrayRef> {
    let json = args.str(0)?;
    let path = args.str(1)?;
    let mut paths = Paths::default();
    let values: Vec<Option<bool>> = (0..args.rows)
        .map(|r| {
            let (json, path) = (json.get(r)?, path.get(r)?);
            let Some(path) = paths.get(path) else {
                return Some(false);
            };
            Some(match serde_json::from_str::<Value>(json) {
                Ok(doc) => matches!(path.find(&doc), Found::Value(_)),
                Err(_) => false,
            })
        })
        .collect();
    Ok(Arc::new(BooleanArray::from(values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> Step {
        Step::Member(name.into())
    }

    #[test]
    fn paths() {
        let p = JsonPath::parse("$.a[0].b").unwrap();
        assert_eq!(p.steps, vec![member("a"), Step::Index(0), member("b")]);
        assert!(!p.strict);
        let p = JsonPath::parse("strict $.['contains blank']").unwrap();
        assert_eq!(p.steps, vec![member("contains blank")]);
        assert!(p.strict);
        let p = JsonPath::parse(r#"lax $.["a.b"][1]"#).unwrap();
        assert_eq!(p.steps, vec![member("a.b"), Step::Index(1)]);
        assert_eq!(JsonPath::parse("$").unwrap().steps, vec![]);
        for bad in [
            "a.b", "$.a[*]", "$.*", "$..a", "$.a[", "$['a'", "$.a[-1]", "$ x",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes() {
        let doc: Value = serde_json::from_str(r#"{"a": [1, {"b": null}]}"#).unwrap();
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&doc);
        assert_eq!(find("$.a[0]"), Found::Value(&Value::from(1)));
        assert_eq!(find("$.a[1].b"), Found::Value(&Value::Null));
        assert_eq!(find("$.a[2]"), Found::Empty);
        assert_eq!(find("strict $.a[2]"), Found::Error);
        assert_eq!(find("$.a.b"), Found::Empty);
    }
}
