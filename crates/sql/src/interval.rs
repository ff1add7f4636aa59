//! `INTERVAL '…' UNIT` literals as milliseconds, as window sizes and watermark delays use them.

use datafusion::sql::sqlparser::ast::{DateTimeField, Expr, Interval, Value};

/// The length of an interval literal in milliseconds: `INTERVAL '2' SECOND` → 2000,
/// `INTERVAL '500' MILLISECOND` → 500, `INTERVAL '1' MINUTE` → 60000,
/// `INTERVAL '0.5' SECOND` → 500. Units from MILLISECOND to DAY (singular or plural).
///
/// The error names what is not supported: month and year intervals (not a fixed length),
/// `… TO …` ranges, sub-millisecond lengths, non-literal values.
pub fn interval_millis(interval: &Interval) -> Result<i64, String> {
    if let Some(last) = &interval.last_field {
        return Err(format!("an INTERVAL … TO {last} range"));
    }
    let unit_ms: f64 = match &interval.leading_field {
        Some(DateTimeField::Millisecond | DateTimeField::Milliseconds) => 1.0,
        Some(DateTimeField::Second | DateTimeField::Seconds) => 1_000.0,
        Some(DateTimeField::Minute | DateTimeField::Minutes) => 60_000.0,
        Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600_000.0,
        Some(DateTimeField::Day | DateTimeField::Days) => 86_400_000.0,
        Some(other) => return Err(format!("an INTERVAL in {other}")),
        None => return Err("an INTERVAL without a unit".into()),
    };
    let text = match interval.value.as_ref() {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) | Value::Number(text, _) => text,
            other => return Err(format!("an INTERVAL of {other}")),
        },
        other => return Err(format!("an INTERVAL of the expression {other}")),
    };
    let amount: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("an INTERVAL of '{text}'"))?;
    let ms = amount * unit_ms;
    if !ms.is_finite() || (ms - ms.round()).abs() > 1e-6 || ms.abs() > i64::MAX as f64 {
        return Err(format!("an INTERVAL of '{text}' (not whole milliseconds)"));
    }
    Ok(ms.round() as i64)
}

/// The length of `expr` in milliseconds when it is an interval literal.
pub fn expr_millis(expr: &Expr) -> Option<Result<i64, String>> {
    match expr {
        Expr::Interval(interval) => Some(interval_millis(interval)),
        Expr::Nested(inner) => expr_millis(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;
    use crate::dialect::FlinkDialect;

    fn millis(sql: &str) -> Result<i64, String> {
        let expr = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .unwrap();
        expr_millis(&expr).expect("an interval")
    }

    #[test]
    fn units() {
        assert_eq!(millis("INTERVAL '2' SECOND"), Ok(2_000));
        assert_eq!(millis("INTERVAL '500' MILLISECOND"), Ok(500));
        assert_eq!(millis("INTERVAL '1' MINUTE"), Ok(60_000));
        assert_eq!(millis("INTERVAL '5' MINUTES"), Ok(300_000));
        assert_eq!(millis("INTERVAL '1' HOUR"), Ok(3_600_000));
        assert_eq!(millis("INTERVAL '1' DAY"), Ok(86_400_000));
        assert_eq!(millis("INTERVAL '0.5' SECOND"), Ok(500));
    }

    #[test]
    fn unsupported() {
        assert!(millis("INTERVAL '1' MONTH").is_err());
        assert!(millis("INTERVAL '0.0001' SECOND").is_err());
        assert!(millis("INTERVAL '1:30' MINUTE TO SECOND").is_err());
    }
}
