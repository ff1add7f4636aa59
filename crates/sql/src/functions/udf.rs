//! [`Func`]: a scalar function described by what its parameters accept, what it returns and
//! how it evaluates, so each Flink function is a few lines plus its semantics.
//!
//! Arguments are checked and coerced at planning: strings to `Utf8`, integers to `Int64`,
//! numbers to `Float64`; a wrong type or count is a planning error naming the function and
//! its Flink signature. Evaluation sees every argument as an array, a constant as an array of
//! one value ([`Args`]), so constants (a pattern, a format) are not repeated per row.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayAccessor, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// What one parameter accepts, and the type an accepted argument is coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Param {
    /// A character string, as `Utf8`.
    Str,
    /// An integer, as `Int64`.
    Int,
    /// A number (integer, floating point or decimal), as `Float64`.
    Float,
    /// A number, kept as it is.
    Number,
    /// A `DATE`, `TIME` or `TIMESTAMP` (any precision, with or without time zone), kept as it
    /// is.
    Temporal,
    /// A `DATE`, `TIME`, `TIMESTAMP` or a string (as `Utf8`).
    TemporalOrStr,
}

impl Param {
    /// The type an argument of type `t` is coerced to, if the parameter accepts it.
    fn coerce(self, t: &DataType) -> Option<DataType> {
        let string = matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        );
        let temporal = matches!(
            t,
            DataType::Timestamp(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Time32(_)
                | DataType::Time64(_)
        );
        match self {
            Param::Str => string.then_some(DataType::Utf8),
            Param::Int => (t.is_integer() || t.is_null()).then_some(DataType::Int64),
            Param::Float => (t.is_numeric() || t.is_null()).then_some(DataType::Float64),
            Param::Number if t.is_null() => Some(DataType::Float64),
            Param::Number => t.is_numeric().then(|| t.clone()),
            Param::Temporal if t.is_null() => {
                Some(DataType::Timestamp(TimeUnit::Millisecond, None))
            }
            Param::Temporal => temporal.then(|| t.clone()),
            Param::TemporalOrStr if temporal => Some(t.clone()),
            Param::TemporalOrStr => string.then_some(DataType::Utf8),
        }
    }

    /// The parameter's kind, for messages.
    fn describe(self) -> &'static str {
        match self {
            Param::Str => "a string",
            Param::Int => "an integer",
            Param::Float | Param::Number => "a number",
            Param::Temporal => "a DATE, TIME or TIMESTAMP",
            Param::TemporalOrStr => "a DATE, TIME, TIMESTAMP or string",
        }
    }
}

/// How a function's result type follows from its (coerced) argument types.
#[derive(Debug)]
pub(crate) enum Returns {
    /// Always this type.
    Type(DataType),
    /// The type of the first argument.
    FirstArg,
    /// Computed from the argument types and the constant arguments (`None` for arguments that
    /// are not constants, all `None` when the constants are not known).
    Computed(fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>),
}

/// Evaluates a function over its coerced arguments.
pub(crate) type Eval = fn(&Args) -> Result<ArrayRef>;

/// Checks constant arguments (patterns, units, formats) at planning; `None` for arguments that
/// are not constants.
pub(crate) type Check = fn(&[Option<&ScalarValue>]) -> Result<()>;

/// A scalar function described by its parameters, result and evaluation.
pub(crate) struct Func {
    /// The function's Flink signature, e.g. `SPLIT_INDEX(string, delimiter, index)`, for
    /// messages; the name before `(` in lower case is the registered name.
    usage: &'static str,
    name: String,
    aliases: Vec<String>,
    /// The accepted parameter lists, one per arity.
    params: &'static [&'static [Param]],
    returns: Returns,
    signature: Signature,
    eval: Eval,
    check: Option<Check>,
    /// Whether the last parameter repeats.
    variadic: bool,
}

impl Func {
    /// A deterministic function.
    pub(crate) fn new(
        usage: &'static str,
        params: &'static [&'static [Param]],
        returns: Returns,
        eval: Eval,
    ) -> Func {
        let name = usage
            .split('(')
            .next()
            .unwrap_or(usage)
            .trim()
            .to_ascii_lowercase();
        Func {
            usage,
            name,
            aliases: Vec::new(),
            params,
            returns,
            signature: Signature::user_defined(Volatility::Immutable),
            eval,
            check: None,
            variadic: false,
        }
    }

    /// Makes the function volatile: evaluated per row, never folded into a constant.
    pub(crate) fn volatile(mut self) -> Func {
        self.signature = Signature::user_defined(Volatility::Volatile);
        self
    }

    /// Lets the last parameter repeat any number of times.
    pub(crate) fn variadic(mut self) -> Func {
        self.variadic = true;
        self
    }

    /// Adds another name for the function.
    pub(crate) fn alias(mut self, alias: &str) -> Func {
        self.aliases.push(alias.to_string());
        self
    }

    /// Checks constant arguments at planning.
    pub(crate) fn check(mut self, check: Check) -> Func {
        self.check = Some(check);
        self
    }

    /// The function as a DataFusion UDF.
    pub(crate) fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    /// The result type for arguments of `types`, `scalars` the constant ones.
    fn result_type(
        &self,
        types: &[DataType],
        scalars: &[Option<&ScalarValue>],
    ) -> Result<DataType> {
        match &self.returns {
            Returns::Type(t) => Ok(t.clone()),
            Returns::FirstArg => types
                .first()
                .cloned()
                .ok_or_else(|| self.argument_error("takes at least one argument".into())),
            Returns::Computed(f) => f(types, scalars),
        }
    }

    /// A planning error about this function's arguments.
    fn argument_error(&self, message: String) -> DataFusionError {
        DataFusionError::Plan(format!("{}: {message}", self.usage))
    }
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func").field("usage", &self.usage).finish()
    }
}

impl PartialEq for Func {
    fn eq(&self, other: &Self) -> bool {
        self.usage == other.usage
    }
}

impl Eq for Func {}

impl Hash for Func {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.usage.hash(state);
    }
}

impl ScalarUDFImpl for Func {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let candidates: Vec<&[Param]> = if self.variadic {
            self.params
                .iter()
                .copied()
                .filter(|p| arg_types.len() >= p.len())
                .collect()
        } else {
            self.params
                .iter()
                .copied()
                .filter(|p| p.len() == arg_types.len())
                .collect()
        };
        if candidates.is_empty() {
            let counts: Vec<String> = self.params.iter().map(|p| p.len().to_string()).collect();
            let more = if self.variadic { " or more" } else { "" };
            return Err(self.argument_error(format!(
                "takes {}{more} argument(s), got {}",
                counts.join(" or "),
                arg_types.len()
            )));
        }
        // The first parameter list that takes every argument; else the first mismatch.
        let mut mismatch: Option<(usize, Vec<&str>)> = None;
        for params in candidates {
            let param_at = |i: usize| params[i.min(params.len() - 1)];
            let coerced: std::result::Result<Vec<DataType>, usize> = arg_types
                .iter()
                .enumerate()
                .map(|(i, t)| param_at(i).coerce(t).ok_or(i))
                .collect();
            match coerced {
                Ok(types) => return Ok(types),
                Err(i) => match &mut mismatch {
                    Some((at, kinds)) if *at == i => kinds.push(param_at(i).describe()),
                    Some(_) => {}
                    None => mismatch = Some((i, vec![param_at(i).describe()])),
                },
            }
        }
        let (i, mut kinds) = mismatch.expect("a candidate failed");
        kinds.dedup();
        Err(self.argument_error(format!(
            "argument {} must be {}, got {}",
            i + 1,
            kinds.join(" or "),
            arg_types[i]
        )))
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.result_type(arg_types, &vec![None; arg_types.len()])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(check) = self.check {
            check(args.scalar_arguments).map_err(|e| self.argument_error(e.strip_backtrace()))?;
        }
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Arc::new(Field::new(
            &self.name,
            self.result_type(&types, args.scalar_arguments)?,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .into_iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Ok((s.to_array_of_size(1)?, true)),
                ColumnarValue::Array(a) => Ok((a, false)),
            })
            .collect::<Result<Vec<_>>>()?;
        // Constants in, a constant out: evaluated once.
        let constant = all_scalar && self.signature.volatility != Volatility::Volatile;
        let out = (self.eval)(&Args {
            arrays,
            rows: if constant { 1 } else { rows },
            return_type: args.return_field.data_type().clone(),
        })
        .map_err(|e| match e {
            DataFusionError::Execution(m) => {
                DataFusionError::Execution(format!("{}: {m}", self.usage))
            }
            other => other,
        })?;
        if constant {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// A function's evaluated arguments: each an array of `rows` values, or of one value for a
/// constant.
pub(crate) struct Args {
    arrays: Vec<(ArrayRef, bool)>,
    /// The number of result rows.
    pub rows: usize,
    /// The result type chosen at planning.
    pub return_type: DataType,
}

impl Args {
    /// The number of arguments.
    pub fn count(&self) -> usize {
        self.arrays.len()
    }

    /// Argument `i` as it is.
    pub fn array(&self, i: usize) -> &ArrayRef {
        &self.arrays[i].0
    }

    /// Whether argument `i` is a constant.
    pub fn is_scalar(&self, i: usize) -> bool {
        self.arrays[i].1
    }

    /// Argument `i`, a `Utf8` string.
    pub fn str(&self, i: usize) -> Result<Col<'_, StringArray>> {
        self.col(i)
    }

    /// Argument `i`, an `Int64`.
    pub fn int(&self, i: usize) -> Result<Col<'_, Int64Array>> {
        self.col(i)
    }

    /// Argument `i`, a `Float64`.
    pub fn float(&self, i: usize) -> Result<Col<'_, Float64Array>> {
        self.col(i)
    }

    /// Argument `i` as an array of type `A`.
    pub fn col<A: Array + 'static>(&self, i: usize) -> Result<Col<'_, A>> {
        let (array, scalar) = &self.arrays[i];
        let array = array.as_any().downcast_ref::<A>().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "argument {} has type {}, not the coerced type",
                i + 1,
                array.data_type()
            ))
        })?;
        Ok(Col {
            array,
            scalar: *scalar,
        })
    }
}

/// One argument's values by result row.
pub(crate) struct Col<'a, A> {
    array: &'a A,
    scalar: bool,
}

impl<'a, A: Array> Col<'a, A>
where
    &'a A: ArrayAccessor,
{
    /// The value for result row `row`, `None` for NULL.
    pub fn get(&self, row: usize) -> Option<<&'a A as ArrayAccessor>::Item> {
        let i = if self.scalar { 0 } else { row };
        if self.array.is_null(i) {
            None
        } else {
            Some(self.array.value(i))
        }
    }
}

/// Constant argument `i` as a string; `None` when it is not a constant string.
pub(crate) fn scalar_str<'a>(scalars: &[Option<&'a ScalarValue>], i: usize) -> Option<&'a str> {
    match scalars.get(i).copied().flatten() {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Some(s.as_str()),
        _ => None,
    }
}

/// An evaluation error.
pub(crate) fn exec_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(message.into())
}
