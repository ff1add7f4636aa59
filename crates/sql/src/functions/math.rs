//! Numeric functions Flink has and DataFusion lacks or computes differently.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::udf::{Args, Func, Param, Returns, exec_error};

use Param::{Float, Int, Number, Str};

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Func::new(
            "LOG([base,] x)",
            &[&[Float], &[Float, Float]],
            Returns::Type(DataType::Float64),
            log,
        )
        .udf(),
        Func::new(
            "BIN(integer)",
            &[&[Int]],
            Returns::Type(DataType::Utf8),
            bin,
        )
        .udf(),
        Func::new(
            "HEX(integer or string)",
            &[&[Int], &[Str]],
            Returns::Type(DataType::Utf8),
            hex,
        )
        .udf(),
        Func::new(
            "TRUNCATE(number [, digits])",
            &[&[Number], &[Number, Int]],
            Returns::Computed(truncate_type),
            truncate,
        )
        .udf(),
        Func::new("SIGN(number)", &[&[Number]], Returns::FirstArg, sign).udf(),
        Func::new("E()", &[&[]], Returns::Type(DataType::Float64), e).udf(),
        Func::new(
            "MOD(number1, number2)",
            &[&[Number, Number]],
            Returns::Computed(mod_type),
            modulo,
        )
        .udf(),
        ScalarUDF::new_from_impl(Rand::new(false)),
        ScalarUDF::new_from_impl(Rand::new(true)),
    ]
}

/// `LOG(x)` is the natural logarithm, `LOG(base, x)` the logarithm of `x` to `base`.
fn log(args: &Args) -> Result<ArrayRef> {
    let values: Vec<Option<f64>> = if args.count() == 1 {
        let x = args.float(0)?;
        (0..args.rows).map(|r| x.get(r).map(f64::ln)).collect()
    } else {
        let base = args.float(0)?;
        let x = args.float(1)?;
        (0..args.rows)
            .map(|r| Some(x.get(r)?.ln() / base.get(r)?.ln()))
            .collect()
    };
    Ok(Arc::new(Float64Array::from(values)))
}

/// `BIN`: the binary digits of the integer (two's complement for negative numbers).
fn bin(args: &Args) -> Result<ArrayRef> {
    let x = args.int(0)?;
    let values: Vec<Option<String>> = (0..args.rows)
        .map(|r| x.get(r).map(|v| format!("{:b}", v as u64)))
        .collect();
    Ok(Arc::new(StringArray::from(values)))
}

/// `HEX`: the upper-case hexadecimal digits of an integer (two's complement for negative
/// numbers) or of a string's UTF-8 bytes.
fn hex(args: &Args) -> Result<ArrayRef> {
    let values: Vec<Option<String>> = if args.array(0).data_type() == &DataType::Utf8 {
        let s = args.str(0)?;
        (0..args.rows)
            .map(|r| {
                s.get(r)
                    .map(|s| s.bytes().map(|b| format!("{b:02X}")).collect())
            })
            .collect()
    } else {
        let x = args.int(0)?;
        (0..args.rows)
            .map(|r| x.get(r).map(|v| format!("{:X}", v as u64)))
            .collect()
    };
    Ok(Arc::new(StringArray::from(values)))
}

/// `TRUNCATE(x, n)`: `x` cut (towards zero) to `n` decimal places, or to a multiple of
/// `10^-n` for a negative `n`; `n` is 0 when left out.
fn truncate(args: &Args) -> Result<ArrayRef> {
    let input = args.array(0);
    let digits = if args.count() > 1 {
        Some(args.int(1)?)
    } else {
        None
    };
    let digits_at = |r: usize| match &digits {
        Some(d) => d.get(r),
        None => Some(0),
    };
    let at = |r: usize| if args.is_scalar(0) { 0 } else { r };
    match input.data_type() {
        DataType::Decimal128(_, scale) => {
            let values = input.as_primitive::<Decimal128Type>();
            let DataType::Decimal128(precision, target_scale) = args.return_type else {
                return Err(DataFusionError::Internal(format!(
                    "TRUNCATE of a decimal planned as {}",
                    args.return_type
                )));
            };
            // The truncated value is a multiple of this; the result drops those digits.
            let rescale = 10i128.pow(u32::try_from(scale - target_scale).unwrap_or(0));
            let out: Decimal128Array = (0..args.rows)
                .map(|r| {
                    let v = values.is_valid(at(r)).then(|| values.value(at(r)))?;
                    Some(truncate_decimal(v, i64::from(*scale), digits_at(r)?) / rescale)
                })
                .collect();
            Ok(Arc::new(
                out.with_precision_and_scale(precision, target_scale)?,
            ))
        }
        t if t.is_integer() => {
            let values = cast(input, &DataType::Int64)?;
            let values = values.as_primitive::<Int64Type>();
            let out: Int64Array = (0..args.rows)
                .map(|r| {
                    let v = values.is_valid(at(r)).then(|| values.value(at(r)))?;
                    Some(truncate_decimal(i128::from(v), 0, digits_at(r)?) as i64)
                })
                .collect();
            Ok(cast(&out, t)?)
        }
        t => {
            let values = cast(input, &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            let out: Float64Array = (0..args.rows)
                .map(|r| {
                    let v = values.is_valid(at(r)).then(|| values.value(at(r)))?;
                    Some(truncate_float(v, digits_at(r)?))
                })
                .collect();
            Ok(cast(&out, t)?)
        }
    }
}

/// `TRUNCATE`'s result: the number's type; for a DECIMAL(p, s) cut to a constant `d < s`
/// places, DECIMAL(1 + p - s + d, d) (DECIMAL(1 + p - s, 0) for a negative `d`), as in Flink.
fn truncate_type(types: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
    let t = types.first().cloned().unwrap_or(DataType::Float64);
    let DataType::Decimal128(p, s) = t else {
        return Ok(t);
    };
    let digits = if types.len() < 2 {
        Some(0)
    } else {
        match scalars
            .get(1)
            .copied()
            .flatten()
            .map(|v| v.cast_to(&DataType::Int64))
        {
            Some(Ok(ScalarValue::Int64(Some(d)))) => Some(d),
            _ => None,
        }
    };
    let (p, s) = (i64::from(p), i64::from(s));
    Ok(match digits {
        Some(d) if d < s => {
            let d = d.max(0);
            DataType::Decimal128((1 + p - s + d).clamp(1, 38) as u8, d as i8)
        }
        _ => t,
    })
}

/// The unscaled decimal `v` (of scale `scale`) cut to `digits` decimal places.
fn truncate_decimal(v: i128, scale: i64, digits: i64) -> i128 {
    let drop = scale - digits;
    if drop <= 0 {
        return v;
    }
    match u32::try_from(drop).ok().and_then(|d| 10i128.checked_pow(d)) {
        Some(factor) => v - v % factor,
        None => 0,
    }
}

/// `v` cut to `digits` decimal places, on its shortest decimal form (as Java's
/// `BigDecimal.valueOf(double)` sees it).
fn truncate_float(v: f64, digits: i64) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let text = format!("{v}");
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let kept = if digits >= 0 {
        let frac: String = frac.chars().take(digits as usize).collect();
        format!("{sign}{int}.{frac}0")
    } else {
        let zeroed = (-digits) as usize;
        if zeroed >= int.len() {
            return 0.0;
        }
        format!("{sign}{}{}", &int[..int.len() - zeroed], "0".repeat(zeroed))
    };
    kept.parse().unwrap_or(v)
}

/// `SIGN`: -1, 0 or 1 in the type of the argument.
fn sign(args: &Args) -> Result<ArrayRef> {
    let input = args.array(0);
    let values = cast(input, &DataType::Float64)?;
    let out: Float64Array = values
        .as_primitive::<Float64Type>()
        .iter()
        .map(|v| {
            v.map(|v| {
                if v == 0.0 || v.is_nan() {
                    v
                } else {
                    v.signum()
                }
            })
        })
        .collect();
    Ok(cast(&out, input.data_type())?)
}

/// `E()`: Euler's number.
fn e(_args: &Args) -> Result<ArrayRef> {
    Ok(Arc::new(Float64Array::from(vec![std::f64::consts::E])))
}

/// `MOD`'s result: BIGINT for integers, DOUBLE otherwise.
fn mod_type(types: &[DataType], _scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
    Ok(if types.iter().all(DataType::is_integer) {
        DataType::Int64
    } else {
        DataType::Float64
    })
}

/// `MOD(a, b)`: the remainder of `a / b`, negative only when `a` is.
fn modulo(args: &Args) -> Result<ArrayRef> {
    let operand = |i: usize| -> Result<ArrayRef> {
        let a = cast(args.array(i), &args.return_type)?;
        Ok(if args.is_scalar(i) && args.rows != 1 {
            ScalarValue::try_from_array(&a, 0)?.to_array_of_size(args.rows)?
        } else {
            a
        })
    };
    arrow::compute::kernels::numeric::rem(&operand(0)?, &operand(1)?)
        .map_err(|e| exec_error(e.to_string()))
}

/// `java.util.Random`: the 48-bit linear congruential generator whose sequences Flink's
/// `RAND(seed)` and `RAND_INTEGER(seed, bound)` produce.
#[derive(Debug, Clone)]
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// Uniform in [0, 1).
    fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        let low = i64::from(self.next(27));
        (high + low) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, bound); `bound` is positive.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

/// `RAND([seed])` and `RAND_INTEGER([seed,] bound)`. A seeded call continues its sequence
/// from row to row and batch to batch, as Flink's generator per operator does.
#[derive(Debug)]
struct Rand {
    integer: bool,
    signature: Signature,
    /// Generators by seed; `None` for the unseeded one.
    generators: Mutex<HashMap<Option<i64>, JavaRandom>>,
}

impl Rand {
    fn new(integer: bool) -> Rand {
        let arities = if integer { [1, 2] } else { [0, 1] };
        Rand {
            integer,
            signature: Signature::one_of(
                arities
                    .iter()
                    .map(|&n| {
                        if n == 0 {
                            TypeSignature::Nullary
                        } else {
                            TypeSignature::Uniform(n, vec![DataType::Int64])
                        }
                    })
                    .collect(),
                Volatility::Volatile,
            ),
            generators: Mutex::new(HashMap::new()),
        }
    }

    fn usage(&self) -> &'static str {
        if self.integer {
            "RAND_INTEGER([seed,] bound)"
        } else {
            "RAND([seed])"
        }
    }
}

impl PartialEq for Rand {
    fn eq(&self, other: &Self) -> bool {
        self.integer == other.integer
    }
}

impl Eq for Rand {}

impl Hash for Rand {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.integer.hash(state);
    }
}

impl ScalarUDFImpl for Rand {
    fn name(&self) -> &str {
        if self.integer { "rand_integer" } else { "rand" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.integer {
            DataType::Int32
        } else {
            DataType::Float64
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let ints = arrays
            .iter()
            .map(|a| a.as_primitive_opt::<Int64Type>().cloned())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| DataFusionError::Internal(format!("{}: not BIGINTs", self.usage())))?;
        let seeded = ints.len() == if self.integer { 2 } else { 1 };
        let mut generators = self
            .generators
            .lock()
            .map_err(|_| exec_error(format!("{}: generator poisoned", self.usage())))?;
        let mut values_f = Vec::with_capacity(if self.integer { 0 } else { rows });
        let mut values_i = Vec::with_capacity(if self.integer { rows } else { 0 });
        for r in 0..rows {
            let value = |i: usize| ints[i].is_valid(r).then(|| ints[i].value(r));
            let seed = if seeded {
                match value(0) {
                    Some(s) => Some(s),
                    None => {
                        values_f.push(None);
                        values_i.push(None);
                        continue;
                    }
                }
            } else {
                None
            };
            let generator = generators.entry(seed).or_insert_with(|| {
                JavaRandom::new(seed.unwrap_or_else(|| RandomState::new().hash_one(r) as i64))
            });
            if self.integer {
                let Some(bound) = value(ints.len() - 1) else {
                    values_i.push(None);
                    continue;
                };
                let bound = i32::try_from(bound)
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| {
                        exec_error(format!(
                            "{}: the bound must be a positive INT, got {bound}",
                            self.usage()
                        ))
                    })?;
                values_i.push(Some(generator.next_int(bound)));
            } else {
                values_f.push(Some(generator.next_double()));
            }
        }
        Ok(ColumnarValue::Array(if self.integer {
            Arc::new(Int32Array::from(values_i))
        } else {
            Arc::new(Float64Array::from(values_f))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_sequences() {
        // java.util.Random(42): nextInt(10) x5 and nextDouble.
        let mut r = JavaRandom::new(42);
        let ints: Vec<i32> = (0..5).map(|_| r.next_int(10)).collect();
        assert_eq!(ints, vec![0, 3, 8, 4, 0]);
        let mut r = JavaRandom::new(42);
        assert!((r.next_double() - 0.7275636800328681).abs() < 1e-15);
        let mut r = JavaRandom::new(0);
        assert_eq!(r.next_int(16), 11);
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_float(42.324, 2), 42.32);
        assert_eq!(truncate_float(42.324, 0), 42.0);
        assert_eq!(truncate_float(-42.329, 2), -42.32);
        assert_eq!(truncate_float(1234.5, -2), 1200.0);
        assert_eq!(truncate_float(12.5, -3), 0.0);
        assert_eq!(truncate_decimal(42324, 3, 2), 42320);
        assert_eq!(truncate_decimal(-42329, 3, 2), -42320);
        assert_eq!(truncate_decimal(1234, 0, -2), 1200);
        assert_eq!(truncate_decimal(1234, 0, 2), 1234);
    }
}
