//! Feature columns from Arrow: any numeric column (integers, floats, decimals) becomes `f64`
//! values, with nulls as `f64::NAN` (missing).

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;

use crate::error::{MlError, Result};

/// The column `name` of `batch` as `f64` values. A missing or non-numeric column is an error
/// naming it.
pub fn numeric_column(batch: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| MlError::MissingColumn(name.to_string()))?;
    if !column.data_type().is_numeric() {
        return Err(MlError::NonNumericColumn {
            column: name.to_string(),
            data_type: column.data_type().to_string(),
        });
    }
    let as_float = arrow::compute::cast(column, &DataType::Float64)?;
    let floats = as_float.as_primitive::<Float64Type>();
    Ok(if floats.null_count() == 0 {
        floats.values().to_vec()
    } else {
        floats
            .iter()
            .map(|value| value.unwrap_or(f64::NAN))
            .collect()
    })
}

/// The named columns of `batch`, in the order of `names`.
pub fn numeric_columns(batch: &RecordBatch, names: &[String]) -> Result<Vec<Vec<f64>>> {
    names
        .iter()
        .map(|name| numeric_column(batch, name))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Decimal128Array, Float32Array, Int64Array, StringArray, UInt8Array,
    };

    use super::*;

    fn batch() -> RecordBatch {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "ints",
                Arc::new(Int64Array::from(vec![Some(3), None, Some(-7)])),
            ),
            ("bytes", Arc::new(UInt8Array::from(vec![1, 2, 255]))),
            (
                "floats",
                Arc::new(Float32Array::from(vec![Some(0.5), Some(1.25), None])),
            ),
            (
                "decimals",
                Arc::new(
                    Decimal128Array::from(vec![Some(12_345), None, Some(-50)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            ("names", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn same(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| (a.is_nan() && e.is_nan()) || a == e)
    }

    #[test]
    fn numeric_types_become_floats_and_nulls_missing() {
        let batch = batch();
        assert!(same(
            &numeric_column(&batch, "ints").unwrap(),
            &[3.0, f64::NAN, -7.0]
        ));
        assert!(same(
            &numeric_column(&batch, "bytes").unwrap(),
            &[1.0, 2.0, 255.0]
        ));
        assert!(same(
            &numeric_column(&batch, "floats").unwrap(),
            &[0.5, 1.25, f64::NAN]
        ));
        assert!(same(
            &numeric_column(&batch, "decimals").unwrap(),
            &[123.45, f64::NAN, -0.5]
        ));
    }

    #[test]
    fn missing_and_non_numeric_columns_are_named() {
        let batch = batch();
        let missing = numeric_column(&batch, "speed").unwrap_err();
        assert!(matches!(&missing, MlError::MissingColumn(name) if name == "speed"));
        assert_eq!(missing.to_string(), "record batch has no column `speed`");
        let text = numeric_column(&batch, "names").unwrap_err();
        assert!(
            matches!(&text, MlError::NonNumericColumn { column, data_type } if column == "names" && data_type == "Utf8")
        );
    }
}
