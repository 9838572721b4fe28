//! Mean pooling over spans of token rows, in f32.

use candle_core::{DType, Tensor};

use crate::error::{ModelError, Result};

/// Mean of rows `start..start + count` of `hidden` `(n, dim)` for each `(start, count)`,
/// stacked as `(spans, dim)` f32. A span with no rows is an error (its mean would be NaN).
pub fn mean_rows(hidden: &Tensor, spans: &[(usize, usize)]) -> Result<Tensor> {
    let means = spans
        .iter()
        .map(|&(start, count)| {
            if count == 0 {
                return Err(ModelError::Input(
                    "a sequence has nothing to pool (an empty protein?)".into(),
                ));
            }
            Ok(hidden
                .narrow(0, start, count)?
                .to_dtype(DType::F32)?
                .mean(0)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&means, 0)?)
}
