//! `COALESCE` and `IFNULL`, evaluated at run time: DataFusion's rely on its optimizer to turn
//! them into `CASE`, which a streaming job's expressions never go through.

use std::sync::Arc;

use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::is_null;
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// The functions of this family.
pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Coalesce::new(
            "coalesce",
            "COALESCE(value1 [, value2]*)",
            None,
        )),
        ScalarUDF::new_from_impl(Coalesce::new(
            "ifnull",
            "IFNULL(input, null_replacement)",
            Some(2),
        )),
    ]
}

/// The first argument that is not NULL, in the arguments' common type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Coalesce {
    name: &'static str,
    usage: &'static str,
    /// The exact number of arguments, if there is one.
    arity: Option<usize>,
    signature: Signature,
}

impl Coalesce {
    fn new(name: &'static str, usage: &'static str, arity: Option<usize>) -> Coalesce {
        Coalesce {
            name,
            usage,
            arity,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn common_type(&self, types: &[DataType]) -> Result<DataType> {
        let count_ok = match self.arity {
            Some(n) => types.len() == n,
            None => !types.is_empty(),
        };
        if !count_ok {
            return Err(DataFusionError::Plan(format!(
                "{}: takes {} argument(s), got {}",
                self.usage,
                self.arity
                    .map_or("1 or more".to_string(), |n| n.to_string()),
                types.len()
            )));
        }
        type_union_resolution(types).ok_or_else(|| {
            let names: Vec<String> = types.iter().map(ToString::to_string).collect();
            DataFusionError::Plan(format!(
                "{}: the arguments have no common type ({})",
                self.usage,
                names.join(", ")
            ))
        })
    }
}

impl ScalarUDFImpl for Coalesce {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let common = self.common_type(arg_types)?;
        Ok(vec![common; arg_types.len()])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.common_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        // NULL only when every argument may be.
        let nullable = args.arg_fields.iter().all(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name,
            self.common_type(&types)?,
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut values = args.args.into_iter();
        let Some(first) = values.next() else {
            return Ok(ColumnarValue::Array(new_null_array(
                args.return_field.data_type(),
                rows,
            )));
        };
        let mut result: ArrayRef = first.into_array(rows)?;
        for next in values {
            if result.null_count() == 0 {
                break;
            }
            let next = next.into_array(rows)?;
            result = zip(&is_null(&result)?, &next, &result)?;
        }
        Ok(ColumnarValue::Array(result))
    }
}
