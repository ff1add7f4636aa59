//! Hash functions returning lower-case hexadecimal strings of the UTF-8 bytes' digest, as
//! Flink does (DataFusion's `sha224` … `sha512` return bytes; its `md5` already matches).

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ScalarUDF;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::udf::{Args, Func, Param, Returns, exec_error};

use Param::{Int, Str};

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Func::new(
            "SHA1(string)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            |a| hashed(a, digest::<Sha1>),
        )
        .udf(),
        Func::new(
            "SHA224(string)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            |a| hashed(a, digest::<Sha224>),
        )
        .udf(),
        Func::new(
            "SHA256(string)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            |a| hashed(a, digest::<Sha256>),
        )
        .udf(),
        Func::new(
            "SHA384(string)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            |a| hashed(a, digest::<Sha384>),
        )
        .udf(),
        Func::new(
            "SHA512(string)",
            &[&[Str]],
            Returns::Type(DataType::Utf8),
            |a| hashed(a, digest::<Sha512>),
        )
        .udf(),
        Func::new(
            "SHA2(string, bits)",
            &[&[Str, Int]],
            Returns::Type(DataType::Utf8),
            sha2,
        )
        .check(check_bits)
        .udf(),
    ]
}

/// The lower-case hex digest of `s` by `D`.
fn digest<D: Digest>(s: &str) -> String {
    let mut out = String::with_capacity(2 * <D as Digest>::output_size());
    for byte in D::digest(s.as_bytes()).iter() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Hashes the first argument of every row with `f`.
fn hashed(args: &Args, f: fn(&str) -> String) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let values: Vec<Option<String>> = (0..args.rows).map(|r| s.get(r).map(f)).collect();
    Ok(Arc::new(StringArray::from(values)))
}

/// The SHA-2 digest of `bits` bits, if there is one.
fn sha2_of(bits: i64) -> Option<fn(&str) -> String> {
    match bits {
        224 => Some(digest::<Sha224>),
        256 => Some(digest::<Sha256>),
        384 => Some(digest::<Sha384>),
        512 => Some(digest::<Sha512>),
        _ => None,
    }
}

/// Refuses a constant bit length SHA-2 does not have.
fn check_bits(scalars: &[Option<&ScalarValue>]) -> Result<()> {
    let bits = match scalars.get(1).copied().flatten() {
        Some(v) if !v.is_null() => v.cast_to(&DataType::Int64)?,
        _ => return Ok(()),
    };
    match bits {
        ScalarValue::Int64(Some(b)) if sha2_of(b).is_none() => Err(DataFusionError::Plan(format!(
            "the bit length must be 224, 256, 384 or 512, got {b}"
        ))),
        _ => Ok(()),
    }
}

/// `SHA2(string, bits)`: SHA-224, SHA-256, SHA-384 or SHA-512 by `bits`.
fn sha2(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let bits = args.int(1)?;
    let values = (0..args.rows)
        .map(|r| {
            let (Some(s), Some(bits)) = (s.get(r), bits.get(r)) else {
                return Ok(None);
            };
            let f = sha2_of(bits).ok_or_else(|| {
                exec_error(format!(
                    "the bit length must be 224, 256, 384 or 512, got {bits}"
                ))
            })?;
            Ok(Some(f(s)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(StringArray::from(values)))
}
