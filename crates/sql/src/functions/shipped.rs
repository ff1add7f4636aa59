//! The user-defined functions Spate ships, declared in a job as Flink declares a Java UDF:
//! `CREATE FUNCTION name AS 'class'` with the class name the function has in Flink, so that
//! the job file runs unchanged. Spate loads no Java; a class not listed here is refused when
//! the job is read.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{Args, Func, Param::Str, Returns};

/// Each shipped function: its Flink class name and its signature.
pub const SHIPPED: &[(&str, &str)] = &[(
    "com.github.nexmark.flink.udf.CountChar",
    "count_char(string, character)",
)];

/// The function implemented by Flink class `class_name`, registered as `name` too.
pub fn shipped_udf(class_name: &str, name: &str) -> Option<ScalarUDF> {
    let func = match class_name {
        "com.github.nexmark.flink.udf.CountChar" => Func::new(
            "COUNT_CHAR(string, character)",
            &[&[Str, Str]],
            Returns::Type(DataType::Int64),
            count_char,
        ),
        _ => return None,
    };
    Some(func.alias(name).udf())
}

/// Nexmark's `CountChar`: how many characters of `string` equal the first character of
/// `character`; 0 for a NULL string, NULL for a NULL or empty `character`.
fn count_char(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let character = args.str(1)?;
    let counts: Int64Array = (0..args.rows)
        .map(|r| {
            let c = character.get(r)?.chars().next()?;
            Some(
                s.get(r)
                    .map_or(0, |s| s.chars().filter(|&x| x == c).count() as i64),
            )
        })
        .collect();
    Ok(Arc::new(counts))
}
