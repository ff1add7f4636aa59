//! The values bound to a portal's `$n` parameters, as SQL literals: text values by their
//! declared type (numbers and booleans bare, everything else a quoted string the query
//! casts as it needs), binary values of the common fixed-size types decoded.

use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use super::sql;

/// The portal's statement with its parameters bound.
pub(super) fn bind_portal(portal: &Portal<String>) -> PgWireResult<String> {
    let statement = &portal.statement;
    let values = portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let binary = match &portal.parameter_format {
                Format::UnifiedText => false,
                Format::UnifiedBinary => true,
                Format::Individual(codes) => codes.get(i) == Some(&1),
            };
            let ty = statement.parameter_types.get(i).cloned().flatten();
            literal(ty.as_ref(), value.as_deref(), binary)
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(invalid)?;
    sql::bind(&statement.statement, &values).map_err(invalid)
}

fn invalid(message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        "22023".to_string(),
        message,
    )))
}

/// One value as a SQL literal.
pub(super) fn literal(
    ty: Option<&Type>,
    value: Option<&[u8]>,
    binary: bool,
) -> Result<String, String> {
    let Some(value) = value else {
        return Ok("NULL".into());
    };
    let ty = ty.cloned().unwrap_or(Type::UNKNOWN);
    if binary {
        return binary_literal(&ty, value);
    }
    let text =
        std::str::from_utf8(value).map_err(|_| "a text parameter is not UTF-8".to_string())?;
    let bad = || format!("{text:?} is not a value of type {}", ty.name());
    Ok(match ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => {
            text.trim().parse::<i64>().map_err(|_| bad())?.to_string()
        }
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => {
            let trimmed = text.trim();
            match trimmed.parse::<f64>() {
                Ok(v) if v.is_finite() => trimmed.to_string(),
                Ok(_) => format!("CAST({} AS DOUBLE)", sql::quote(trimmed)),
                Err(_) => return Err(bad()),
            }
        }
        Type::BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "on" | "yes" | "y" => "TRUE".into(),
            "f" | "false" | "0" | "off" | "no" | "n" => "FALSE".into(),
            _ => return Err(bad()),
        },
        Type::DATE => format!("DATE {}", sql::quote(text)),
        Type::TIMESTAMP => format!("TIMESTAMP {}", sql::quote(text)),
        _ => sql::quote(text),
    })
}

/// A binary value of a fixed-size or text type as a SQL literal.
fn binary_literal(ty: &Type, value: &[u8]) -> Result<String, String> {
    let wrong = || format!("a binary {} parameter of {} bytes", ty.name(), value.len());
    let bytes = |n: usize| -> Result<&[u8], String> {
        match value.len() == n {
            true => Ok(value),
            false => Err(wrong()),
        }
    };
    Ok(match *ty {
        Type::INT2 => i16::from_be_bytes(bytes(2)?.try_into().map_err(|_| wrong())?).to_string(),
        Type::INT4 => i32::from_be_bytes(bytes(4)?.try_into().map_err(|_| wrong())?).to_string(),
        Type::INT8 => i64::from_be_bytes(bytes(8)?.try_into().map_err(|_| wrong())?).to_string(),
        Type::FLOAT4 => {
            let v = f32::from_be_bytes(bytes(4)?.try_into().map_err(|_| wrong())?);
            finite(f64::from(v))?
        }
        Type::FLOAT8 => finite(f64::from_be_bytes(
            bytes(8)?.try_into().map_err(|_| wrong())?,
        ))?,
        Type::BOOL => match bytes(1)?[0] {
            0 => "FALSE".into(),
            _ => "TRUE".into(),
        },
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            sql::quote(std::str::from_utf8(value).map_err(|_| wrong())?)
        }
        _ => {
            return Err(format!(
                "binary parameters of type {} are not supported: send them as text",
                ty.name()
            ));
        }
    })
}

/// A finite double's literal; the special values as casts.
fn finite(v: f64) -> Result<String, String> {
    Ok(match v.is_finite() {
        true => format!("{v:?}"),
        false => format!("CAST('{v}' AS DOUBLE)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_values_become_literals() {
        assert_eq!(
            literal(Some(&Type::INT4), Some(b" 42"), false).unwrap(),
            "42"
        );
        assert!(literal(Some(&Type::INT4), Some(b"1; DROP"), false).is_err());
        assert_eq!(literal(None, Some(b"it's"), false).unwrap(), "'it''s'");
        assert_eq!(literal(Some(&Type::INT8), None, false).unwrap(), "NULL");
        assert_eq!(
            literal(Some(&Type::BOOL), Some(b"t"), false).unwrap(),
            "TRUE"
        );
        assert_eq!(
            literal(Some(&Type::INT8), Some(&7i64.to_be_bytes()), true).unwrap(),
            "7"
        );
        assert_eq!(
            literal(Some(&Type::FLOAT8), Some(&1.5f64.to_be_bytes()), true).unwrap(),
            "1.5"
        );
        assert!(literal(Some(&Type::INT4), Some(&[0, 1]), true).is_err());
        assert_eq!(
            literal(Some(&Type::TIMESTAMP), Some(b"2024-01-02 03:04:05"), false).unwrap(),
            "TIMESTAMP '2024-01-02 03:04:05'"
        );
    }
}
