//! `SUM` and `AVG` with Flink's result types: over a `TINYINT`, `SMALLINT`, `INT` or `BIGINT`
//! the result has the argument's type, the average truncated toward zero (Flink's `AVG` of
//! integers divides integers); DataFusion widens them to `BIGINT` and `DOUBLE`. Other argument
//! types are left to DataFusion's functions, which these wrap: integers are widened for them
//! and their results narrowed back, so their fast per-group accumulators still do the work.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::percentile_cont::percentile_cont_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};

/// Flink's `SUM` and `AVG`, and `PERCENTILE(expr, percentage)`: the exact percentile of a
/// numeric expression as a `DOUBLE`, interpolating linearly between the two nearest values,
/// NULLs ignored — DataFusion's `percentile_cont` computes exactly that. (Flink's array of
/// percentages and frequency argument are not taken: the call is refused with the arity.)
pub(super) fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(IntegerTyped::new(sum_udaf())),
        AggregateUDF::new_from_impl(IntegerTyped::new(avg_udaf())),
        percentile_cont_udaf()
            .as_ref()
            .clone()
            .with_aliases(["percentile"]),
    ]
}

/// A DataFusion aggregate whose result over a signed integer has the argument's type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntegerTyped {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl IntegerTyped {
    fn new(inner: Arc<AggregateUDF>) -> Self {
        IntegerTyped {
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The type the wrapped function takes `arg` as.
    fn inner_input(&self, arg: &DataType) -> Result<DataType> {
        let field: FieldRef = Arc::new(Field::new("arg", arg.clone(), true));
        let coerced = fields_with_udf(&[field], self.inner.as_ref())?;
        Ok(coerced[0].data_type().clone())
    }

    /// For an integer argument, the wrapped function's arguments (argument and result of
    /// its types) and the argument's type; `None` for other arguments.
    fn integer_args<'a>(
        &self,
        args: &AccumulatorArgs<'a>,
        fields: &'a mut Vec<FieldRef>,
    ) -> Result<Option<(AccumulatorArgs<'a>, DataType, DataType)>> {
        let [arg] = args.expr_fields else {
            return Ok(None);
        };
        if !is_signed_integer(arg.data_type()) {
            return Ok(None);
        }
        let input = self.inner_input(arg.data_type())?;
        let result = self.inner.return_type(std::slice::from_ref(&input))?;
        *fields = vec![Arc::new(arg.as_ref().clone().with_data_type(input.clone()))];
        let inner = AccumulatorArgs {
            return_field: Arc::new(
                args.return_field
                    .as_ref()
                    .clone()
                    .with_data_type(result)
                    .with_nullable(true),
            ),
            expr_fields: fields.as_slice(),
            ..*args
        };
        Ok(Some((inner, input, args.return_type().clone())))
    }
}

fn is_signed_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

impl AggregateUDFImpl for IntegerTyped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_signed_integer(t) => Ok(vec![t.clone()]),
            _ => {
                let fields: Vec<FieldRef> = arg_types
                    .iter()
                    .map(|t| Arc::new(Field::new("arg", t.clone(), true)))
                    .collect();
                Ok(fields_with_udf(&fields, self.inner.as_ref())?
                    .iter()
                    .map(|f| f.data_type().clone())
                    .collect())
            }
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if is_signed_integer(t) => Ok(t.clone()),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let mut fields = Vec::new();
        Ok(match self.integer_args(&args, &mut fields)? {
            Some((inner, input, output)) => Box::new(Narrowing {
                inner: self.inner.accumulator(inner)?,
                input,
                output,
            }),
            None => self.inner.accumulator(args)?,
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let mut fields = Vec::new();
        Ok(match self.integer_args(&args, &mut fields)? {
            Some((inner, input, output)) => Box::new(Narrowing {
                inner: self.inner.inner().create_sliding_accumulator(inner)?,
                input,
                output,
            }),
            None => self.inner.inner().create_sliding_accumulator(args)?,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        match args.input_fields {
            [arg] if is_signed_integer(arg.data_type()) => {
                let input = self.inner_input(arg.data_type())?;
                let result = self.inner.return_type(std::slice::from_ref(&input))?;
                let input_fields = [Arc::new(arg.as_ref().clone().with_data_type(input))];
                self.inner.state_fields(StateFieldsArgs {
                    input_fields: &input_fields,
                    return_field: Arc::new(
                        args.return_field.as_ref().clone().with_data_type(result),
                    ),
                    ..args
                })
            }
            _ => self.inner.state_fields(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        let mut fields = Vec::new();
        match self.integer_args(&args, &mut fields) {
            Ok(Some((inner, ..))) => self.inner.groups_accumulator_supported(inner),
            Ok(None) => self.inner.groups_accumulator_supported(args),
            Err(_) => false,
        }
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let mut fields = Vec::new();
        Ok(match self.integer_args(&args, &mut fields)? {
            Some((inner, input, output)) => Box::new(NarrowingGroups {
                inner: self.inner.create_groups_accumulator(inner)?,
                input,
                output,
            }),
            None => self.inner.create_groups_accumulator(args)?,
        })
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }
}

/// Casts `values`' first column to `to`.
fn widen(values: &[ArrayRef], to: &DataType) -> Result<Vec<ArrayRef>> {
    values
        .iter()
        .map(|v| Ok(arrow::compute::cast(v, to)?))
        .collect()
}

/// An accumulator fed widened integers whose result is narrowed back.
#[derive(Debug)]
struct Narrowing {
    inner: Box<dyn Accumulator>,
    input: DataType,
    output: DataType,
}

impl Accumulator for Narrowing {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(&widen(values, &self.input)?)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(&widen(values, &self.input)?)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()?.cast_to(&self.output)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.inner.size()
    }
}

/// [`Narrowing`] for all groups at once.
struct NarrowingGroups {
    inner: Box<dyn GroupsAccumulator>,
    input: DataType,
    output: DataType,
}

impl GroupsAccumulator for NarrowingGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner.update_batch(
            &widen(values, &self.input)?,
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(arrow::compute::cast(
            &self.inner.evaluate(emit_to)?,
            &self.output,
        )?)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner
            .convert_to_state(&widen(values, &self.input)?, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}
