//! The models `ML_PREDICT` calls: the [`Predictor`] a connector registry hands the planner
//! for a `CREATE MODEL`, and the scalar function that calls it on each batch.
//!
//! The planner scores a table's rows in a projection: the function takes the `DESCRIPTOR`'s
//! columns, cast to the model's `INPUT` types, and returns one struct of the model's `OUTPUT`
//! columns, which an outer projection spreads into columns. Each batch calls the model once.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::catalog::ModelDef;

/// A model that scores rows: what `CREATE MODEL … WITH ('provider' = …)` resolves to.
pub trait Predictor: Send + Sync + std::fmt::Debug {
    /// The outputs for the rows of `inputs`: one array per input column of the model, in its
    /// `INPUT` order and types. Returns one array per `OUTPUT` column, in order, each as long
    /// as the inputs; an error fails the batch with its message.
    fn predict(&self, inputs: &[ArrayRef]) -> std::result::Result<Vec<ArrayRef>, String>;
}

/// The scalar function scoring rows with one model.
#[derive(Debug)]
pub(crate) struct PredictUdf {
    name: String,
    model: String,
    inputs: Vec<DataType>,
    outputs: Fields,
    predictor: Arc<dyn Predictor>,
    signature: Signature,
}

impl PredictUdf {
    /// The function `name` calling `predictor` for `model`.
    pub(crate) fn new(name: String, model: &ModelDef, predictor: Arc<dyn Predictor>) -> Self {
        let outputs: Fields = model
            .outputs
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect();
        PredictUdf {
            name,
            model: model.name.clone(),
            inputs: model.inputs.iter().map(|c| c.data_type.clone()).collect(),
            outputs,
            predictor,
            signature: Signature::variadic_any(Volatility::Volatile),
        }
    }
}

impl PartialEq for PredictUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.predictor, &other.predictor)
    }
}

impl Eq for PredictUdf {}

impl Hash for PredictUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() != self.inputs.len() {
            return Err(DataFusionError::Plan(format!(
                "model {} takes {} input column(s), got {}",
                self.model,
                self.inputs.len(),
                arg_types.len()
            )));
        }
        Ok(DataType::Struct(self.outputs.clone()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let inputs = args
            .args
            .into_iter()
            .zip(&self.inputs)
            .map(|(value, data_type)| Ok(cast(&value.into_array(rows)?, data_type)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let outputs = self
            .predictor
            .predict(&inputs)
            .map_err(|e| DataFusionError::Execution(format!("model {}: {e}", self.model)))?;
        if outputs.len() != self.outputs.len() || outputs.iter().any(|a| a.len() != rows) {
            return Err(DataFusionError::Execution(format!(
                "model {}: the provider answered {} column(s) for {rows} row(s), expected {} \
                 of {rows}",
                self.model,
                outputs.len(),
                self.outputs.len()
            )));
        }
        let columns = outputs
            .iter()
            .zip(self.outputs.iter())
            .map(|(array, field)| Ok(cast(array, field.data_type())?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let scored = StructArray::try_new(self.outputs.clone(), columns, None)?;
        Ok(ColumnarValue::Array(Arc::new(scored)))
    }
}
